package web

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// TestVerdictOf: the status at a glance: a revoked digest wins over
// everything; else the entries of the digest's publishers decide it
// (published, superseded, revoked), whatever others signed; with no
// publisher's entry, facts in force vouch for nothing (anyone may sign
// them), and revoked or ignored facts count as before.
func TestVerdictOf(t *testing.T) {
	rev := &trustv1.Revocation{Kind: "digest", Id: "sha256:x", Action: "revoke", Reason: "malicious", Revokers: []string{"sec"}}
	fact := func(st trustv1.FactStatus, r *trustv1.Revocation, ignored bool) *trustv1.Fact {
		return &trustv1.Fact{Status: st, Revocation: r, Ignored: ignored}
	}
	state := func(reason string) *trustv1.Revocation {
		return &trustv1.Revocation{Kind: "statement", Id: "sha256:e", Action: "revoke", Reason: reason}
	}
	pub := func(status trustv1.FactStatus, by *trustv1.Revocation) []publication {
		return []publication{{Key: "publisher", Seq: 7, Status: status, By: by}}
	}
	const (
		valid      = trustv1.FactStatus_FACT_STATUS_VALID
		revoked    = trustv1.FactStatus_FACT_STATUS_REVOKED
		superseded = trustv1.FactStatus_FACT_STATUS_SUPERSEDED
		reinstated = trustv1.FactStatus_FACT_STATUS_REINSTATED
		unknown    = trustv1.FactStatus_FACT_STATUS_UNKNOWN
	)
	strangers := []*trustv1.Fact{fact(valid, nil, false), fact(valid, nil, false)}
	tests := []struct {
		name     string
		subject  *trustv1.Subject
		pubs     []publication
		class    string
		byReason string
	}{
		{"digest revoked", &trustv1.Subject{Aliases: []*trustv1.Alias{{Digest: "sha256:x", Revocation: rev}}, Facts: strangers}, pub(valid, nil), ClassRevoked, "malicious"},
		{"digest reinstated", &trustv1.Subject{Aliases: []*trustv1.Alias{{Digest: "sha256:x", Revocation: &trustv1.Revocation{Action: "reinstate"}}}, Facts: strangers}, pub(valid, nil), ClassValid, ""},
		{"published", &trustv1.Subject{Facts: []*trustv1.Fact{fact(valid, nil, false), fact(revoked, rev, false)}}, pub(valid, nil), ClassValid, ""},
		{"publisher's entry reinstated", &trustv1.Subject{Facts: []*trustv1.Fact{fact(reinstated, rev, false)}}, pub(reinstated, state("compromised")), ClassValid, ""},
		{"publisher's entry superseded, a stranger's valid", &trustv1.Subject{Facts: strangers}, pub(superseded, state("superseded")), ClassSuperseded, "superseded"},
		// The attacks: a stranger's statements about someone's revoked
		// release, or about bytes nobody published, vouch for nothing.
		{"publisher's entry revoked, a stranger's valid", &trustv1.Subject{Facts: strangers}, pub(revoked, state("compromised")), ClassRevoked, "compromised"},
		{"no publisher, a stranger's facts in force", &trustv1.Subject{Facts: strangers}, nil, ClassUnvouched, ""},
		{"no publisher, every fact revoked", &trustv1.Subject{Facts: []*trustv1.Fact{fact(revoked, rev, false)}}, nil, ClassRevoked, "malicious"},
		{"ignored counts for nothing", &trustv1.Subject{Facts: []*trustv1.Fact{fact(valid, nil, true), fact(revoked, rev, false)}}, nil, ClassRevoked, "malicious"},
		{"unknown", &trustv1.Subject{Facts: []*trustv1.Fact{fact(unknown, nil, false)}}, nil, ClassUnknown, ""},
		{"publisher's entry unknown", &trustv1.Subject{Facts: []*trustv1.Fact{fact(unknown, nil, false)}}, pub(unknown, nil), ClassUnknown, ""},
		{"no evidence", &trustv1.Subject{}, nil, ClassUnknown, ""},
		{"one of the publisher's entries counts", &trustv1.Subject{Facts: strangers}, append(pub(revoked, state("compromised")), publication{Key: "publisher", Seq: 9, Status: valid}), ClassValid, ""},
		{"one superseded, one revoked", &trustv1.Subject{Facts: strangers}, append(pub(revoked, state("compromised")), publication{Key: "publisher", Seq: 9, Status: superseded, By: state("retired")}), ClassSuperseded, "retired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verdictOf(tc.subject, tc.pubs)
			if v.Class != tc.class || v.By.GetReason() != tc.byReason {
				t.Errorf("verdictOf = %s by %q, want %s by %q", v.Class, v.By.GetReason(), tc.class, tc.byReason)
			}
			if v.Class == ClassValid && (v.Publisher != "publisher" || v.PublisherSeq == 0) {
				t.Errorf("verdict %s names publisher %q in entry %d, want its publisher's entry", v.Class, v.Publisher, v.PublisherSeq)
			}
		})
	}
}

// TestPublicationsOf: the entries deciding the verdict are those the
// digest's publishers wrote about it: the ones the bundle cites (judged
// there when older than the facts shown) and the facts naming the digest
// that a publisher key signed; never a stranger's, nor one reaching the
// digest only through an alias, nor one by a publisher of an alias.
func TestPublicationsOf(t *testing.T) {
	sum := func(s string) digest.Digest {
		h := sha256.Sum256([]byte(s))
		d, _ := digest.New(digest.SHA256, h[:])
		return d
	}
	d, alias := sum("artifact"), sum("other bytes")
	at := time.Unix(1000, 0).UTC()
	b := &evidence.Bundle{At: at, Kinds: []evidence.Kind{evidence.KindRevocations, evidence.KindPublishers},
		Entries: []evidence.Entry{{Seq: 3, Envelope: []byte("release"), SignerKeyIDs: []string{"pub"}, RecordedAt: at}},
		Publishers: []evidence.Publisher{
			{Key: "pub", Digest: d, Seq: 9}, {Key: "pub", Digest: d, Seq: 3}, {Key: "other", Digest: alias, Seq: 5},
		}}
	valid, revoked := trustv1.FactStatus_FACT_STATUS_VALID, trustv1.FactStatus_FACT_STATUS_REVOKED
	s := &trustv1.Subject{Facts: []*trustv1.Fact{
		{Seq: 10, SignerKeyIds: []string{"stranger"}, Status: valid},
		{Seq: 9, SignerKeyIds: []string{"tuf-role-key"}, Status: valid},
		{Seq: 8, SignerKeyIds: []string{"stranger", "pub"}, Status: revoked, Revocation: &trustv1.Revocation{Reason: "withdrawn"}},
		{Seq: 7, SignerKeyIds: []string{"pub"}, Status: valid, Ignored: true},
		{Seq: 6, SignerKeyIds: []string{"pub"}, Status: valid, ViaAlias: alias.String()},
		{Seq: 5, SignerKeyIds: []string{"other"}, Status: valid},
	}}
	got := publicationsOf(s, b, d)
	want := []publication{
		{Key: "pub", Seq: 3, Status: valid},
		{Key: "pub", Seq: 8, Status: revoked, By: &trustv1.Revocation{Reason: "withdrawn"}},
		{Key: "pub", Seq: 9, Status: valid},
	}
	if len(got) != len(want) {
		t.Fatalf("publicationsOf = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || got[i].Seq != want[i].Seq || got[i].Status != want[i].Status || got[i].By.GetReason() != want[i].By.GetReason() {
			t.Errorf("publication %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzParseQuery: a search is untrusted input; ParseQuery never panics,
// and what it accepts is a canonical digest that parses back to itself.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "sha256:" + "ab", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "zQmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk", "f1220", "<script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d, err := ParseQuery(q)
		if err != nil {
			return
		}
		again, err := ParseQuery(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseQuery(%q) = %s; parsing that gives %s, %v", q, d, again, err)
		}
	})
}
