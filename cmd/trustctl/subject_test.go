package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/client"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// TestSubjectSkipsForgedRecords: a subject whose evidence holds records of
// trustd's TUF metadata and OpenPGP manifest types that trustd did not
// write (forged rows of an old database, stored as in-toto statements) is
// printed, with those rows marked, rather than failing on them: they are
// not fetched as TUF metadata or read as manifests.
func TestSubjectSkipsForgedRecords(t *testing.T) {
	now := timestamppb.Now()
	s := &trustv1.Subject{Id: 1, FirstSeen: now, Evidence: []*trustv1.Evidence{
		{StatementSeq: 7, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.TUFMetadata, SignerKeyIds: []string{"stranger"}, Digest: "sha256:ab", RecordedAt: now},
		{StatementSeq: 8, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.PGPManifest, SignerKeyIds: []string{"stranger"}, Digest: "sha256:ab", RecordedAt: now},
	}}
	// A client with no connections: reaching the server would panic.
	c := &client.Client{}
	labels, err := tufEvidenceLabels(context.Background(), c, s)
	if err != nil || len(labels) != 0 {
		t.Fatalf("tufEvidenceLabels = %v, %v; want nothing", labels, err)
	}
	names, err := manifestNames(context.Background(), c, s)
	if err != nil || len(names) != 0 {
		t.Fatalf("manifestNames = %v, %v; want nothing", names, err)
	}
	var out bytes.Buffer
	printSubject(&out, s, names, labels, nil)
	if strings.Count(out.String(), "not appended by the path its type requires: ignored") != 2 {
		t.Errorf("output does not mark the forged rows:\n%s", out.String())
	}
}

// TestSubjectOneLinePerFact: an entry naming the queried digest and an
// alias is printed once, as the direct fact; an entry reached only through
// an alias is labelled with the claim and signer linking it; each line
// carries its status now, and key labels follow key ids.
func TestSubjectOneLinePerFact(t *testing.T) {
	now := timestamppb.Now()
	const (
		d256 = "sha256:aa"
		d512 = "sha512:bb"
	)
	s := &trustv1.Subject{Id: 1, Digest: d256, FirstSeen: now,
		Aliases: []*trustv1.Alias{
			{Digest: d256, Queried: true, SameSubject: true},
			{Digest: d512, SameSubject: true, Claims: []*trustv1.AliasClaim{{Source: trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT, Reference: "app.tar", StatementSeq: 3, SignerKeyIds: []string{"k1"}, ClaimedAt: now}}},
		},
		Evidence: []*trustv1.Evidence{
			{StatementSeq: 9, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/scan/v1", SignerKeyIds: []string{"k2"}, Digest: d512, ViaAlias: true, RecordedAt: now},
			{StatementSeq: 9, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/scan/v1", SignerKeyIds: []string{"k2"}, Digest: d256, RecordedAt: now},
			{StatementSeq: 7, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/sbom/v1", SignerKeyIds: []string{"k1"}, Digest: d512, ViaAlias: true, RecordedAt: now,
				Revoked: &trustv1.Revocation{Kind: "key", Id: "k1", Action: "revoke", Reason: "compromised", Effective: now, Revokers: []string{"k1"}, Seq: 41}},
		}}
	var out bytes.Buffer
	printSubject(&out, s, nil, nil, map[string]string{"k1": "release-bot"})
	text := out.String()
	for _, want := range []string{
		"evidence: 2\n",
		"#9 https://example.com/scan/v1 signed by k2 at " + ts(now.AsTime()) + " (also names " + d512 + "): valid\n",
		"#7 https://example.com/sbom/v1 signed by k1 (release-bot) at " + ts(now.AsTime()) + " [via alias " + d512 + ", claimed by k1 (release-bot) in statement app.tar #3]: REVOKED: key:k1 revoked (compromised)",
		"log entry 41\n",
		"revoked evidence: 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "#9 "); n != 1 {
		t.Errorf("entry 9 printed %d times, want once:\n%s", n, text)
	}
}

// TestTUFTargetLabel: a target is shown against its role's current
// version, and a target the current version no longer lists is said so.
func TestTUFTargetLabel(t *testing.T) {
	m := &trustv1.GetMetadataResponse{Repo: "acme/app", Role: "targets", Version: 1}
	listed := tufRole{version: 4, targets: map[string]map[string]string{"app.tar": {"sha256": "AA"}}}
	tests := []struct {
		name string
		cur  tufRole
		want string
	}{
		{"same version", tufRole{version: 1}, "TUF repo acme/app: target app.tar in role targets v1"},
		{"role unknown now", tufRole{}, "TUF repo acme/app: target app.tar in role targets v1"},
		{"still listed", listed, "TUF repo acme/app: target app.tar in role targets v4 (current; first listed in v1)"},
		{"other digest now", tufRole{version: 4, targets: map[string]map[string]string{"app.tar": {"sha256": "bb"}}}, "TUF repo acme/app: target app.tar was in role targets v1; not listed in current v4"},
		{"removed", tufRole{version: 4}, "TUF repo acme/app: target app.tar was in role targets v1; not listed in current v4"},
	}
	for _, tc := range tests {
		if got := tufTargetLabel(m, []string{"app.tar"}, tc.cur, "sha256", "aa"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
