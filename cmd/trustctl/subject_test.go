package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/tufstore"
)

// subjectFixture is a lookup holding one fact of each kind and status: a
// direct fact naming both digests, a fact reached only through an alias
// with its linking claim, a revoked, a superseded and a reinstated one, a
// TUF target against its role's version now (still listed, and no longer
// listed), an OpenPGP manifest, and a forged record of a reserved type.
func subjectFixture() *trustv1.GetSubjectResponse {
	at := func(h int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2026, 6, 1, h, 0, 0, 0, time.UTC))
	}
	const (
		d256 = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
		d512 = "sha512:f7fbba6e0636f890e56fbbf3283e524c6fa3204ae298382d624741d0dc6638326e282c41be5e4254d8820772c5518a2c5a8c0c7f7eda19594a7eb539453e1ed7"
	)
	claim := &trustv1.AliasClaim{Source: trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT, Reference: "3/0", StatementSeq: 3, SignerKeyIds: []string{"k1"},
		Digests: []string{d256, d512}, ClaimedAt: at(1)}
	rev := func(kind, id, action, reason string, h int, by string, seq uint64) *trustv1.Revocation {
		return &trustv1.Revocation{Kind: kind, Id: id, Action: action, Reason: reason, Effective: at(h), Revokers: []string{by}, Seq: seq, RecordedAt: at(h)}
	}
	return &trustv1.GetSubjectResponse{NextPageToken: "2", Subject: &trustv1.Subject{
		Id: 7, Digest: d256, FirstSeen: at(1), At: at(20), EvidenceTruncated: true, OmittedClaims: 3,
		KeyLabels: map[string]string{"k1": "release-bot", "sec": "security"},
		Aliases: []*trustv1.Alias{
			{Digest: d256, Queried: true, SameSubject: true, Claims: []*trustv1.AliasClaim{claim}},
			{Digest: d512, SameSubject: true, Claims: []*trustv1.AliasClaim{claim}, Revocation: rev("digest", d512, "reinstate", "other", 9, "sec", 30)},
		},
		Facts: []*trustv1.Fact{
			{Seq: 13, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/scan/v1", SignerKeyIds: []string{"k2"},
				Digests: []string{d256, d512}, RecordedAt: at(12), Status: trustv1.FactStatus_FACT_STATUS_VALID},
			{Seq: 12, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/sbom/v1", SignerKeyIds: []string{"k1"},
				Digests: []string{d512}, RecordedAt: at(11), ViaAlias: d512, ViaClaims: []*trustv1.AliasClaim{claim},
				Status: trustv1.FactStatus_FACT_STATUS_REVOKED, Revocation: rev("key", "k1", "revoke", "compromised", 13, "sec", 41)},
			{Seq: 11, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/test/v1", SignerKeyIds: []string{"k2"},
				Digests: []string{d256}, RecordedAt: at(11), Status: trustv1.FactStatus_FACT_STATUS_REINSTATED,
				Revocation: rev("statement", "sha256:41c7", "reinstate", "withdrawn", 14, "k2", 43)},
			{Seq: 10, PayloadType: tufstore.PayloadType, PredicateType: tufstore.PredicateType, SignerKeyIds: []string{"t1"},
				Digests: []string{d256, d512}, RecordedAt: at(10), Status: trustv1.FactStatus_FACT_STATUS_VALID,
				Tuf: &trustv1.TUFTargetFact{Repo: "acme/app", Role: "targets", Targets: []string{"app.tar"}, Version: 1, CurrentVersion: 4, ListedNow: true}},
			{Seq: 9, PayloadType: tufstore.PayloadType, PredicateType: tufstore.PredicateType, SignerKeyIds: []string{"t1"},
				Digests: []string{d256}, RecordedAt: at(9), Status: trustv1.FactStatus_FACT_STATUS_VALID,
				Tuf: &trustv1.TUFTargetFact{Repo: "acme/app", Role: "releases", Targets: []string{"old.tar"}, Version: 2, CurrentVersion: 5}},
			{Seq: 8, PayloadType: recordtype.PGPManifestPayloadType, PredicateType: recordtype.PGPManifest, SignerKeyIds: []string{"AAAA"},
				Digests: []string{d256}, RecordedAt: at(8), Manifest: "SHA256SUMS", Status: trustv1.FactStatus_FACT_STATUS_SUPERSEDED,
				Revocation: rev("key", "AAAA", "revoke", "superseded", 15, "AAAA", 44)},
			{Seq: 7, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.TUFMetadata, SignerKeyIds: []string{"stranger"},
				Digests: []string{d256}, RecordedAt: at(7), Ignored: true, Status: trustv1.FactStatus_FACT_STATUS_VALID},
		},
	}}
}

// TestSubjectGolden pins both outputs of `trustctl subject`: one line (text)
// or one object (JSON) per fact, each with its status, the claim linking
// an alias-reached fact, TUF targets against their role's version now, key
// labels, and revocation and reinstatement told apart.
func TestSubjectGolden(t *testing.T) {
	resp := subjectFixture()
	var text bytes.Buffer
	printSubject(&text, resp)
	golden(t, "subject.txt.golden", text.Bytes())
	var js bytes.Buffer
	if err := printJSON(&js, subjectToJSON(resp)); err != nil {
		t.Fatal(err)
	}
	golden(t, "subject.json.golden", js.Bytes())

	// Each fact once, in both outputs (the summary of revoked facts
	// after the list only cites them).
	for _, f := range resp.GetSubject().GetFacts() {
		n := 0
		for _, line := range strings.Split(text.String(), "\n") {
			if p := fmt.Sprintf("  #%d ", f.GetSeq()); strings.HasPrefix(line, p) && !strings.HasPrefix(line, p+"REVOKED:") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("fact %d printed %d times, want once:\n%s", f.GetSeq(), n, text.String())
		}
	}
	var doc struct {
		Facts []map[string]any `json:"facts"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Facts) != len(resp.GetSubject().GetFacts()) {
		t.Fatalf("JSON facts %d (%v), want one object per fact (%d)", len(doc.Facts), err, len(resp.GetSubject().GetFacts()))
	}
	for _, f := range doc.Facts {
		for _, field := range []string{"seq", "predicate_type", "payload_type", "recorded_at", "signers", "digests", "status", "ignored"} {
			if _, ok := f[field]; !ok {
				t.Errorf("fact %v lacks %q", f["seq"], field)
			}
		}
	}
}
