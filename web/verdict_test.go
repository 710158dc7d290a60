package web

import (
	"testing"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// TestVerdictOf: the status at a glance follows GetSubject's answer: a
// revoked digest wins over everything; else one counting fact makes it
// valid (revoked facts noted); superseded only when nothing valid counts;
// revoked when every fact is; ignored entries count for nothing.
func TestVerdictOf(t *testing.T) {
	rev := &trustv1.Revocation{Kind: "digest", Id: "sha256:x", Action: "revoke", Reason: "malicious", Revokers: []string{"sec"}}
	soft := &trustv1.Revocation{Kind: "key", Id: "k", Action: "revoke", Reason: "superseded"}
	fact := func(st trustv1.FactStatus, r *trustv1.Revocation, ignored bool) *trustv1.Fact {
		return &trustv1.Fact{Status: st, Revocation: r, Ignored: ignored}
	}
	const (
		valid      = trustv1.FactStatus_FACT_STATUS_VALID
		revoked    = trustv1.FactStatus_FACT_STATUS_REVOKED
		superseded = trustv1.FactStatus_FACT_STATUS_SUPERSEDED
		reinstated = trustv1.FactStatus_FACT_STATUS_REINSTATED
		unknown    = trustv1.FactStatus_FACT_STATUS_UNKNOWN
	)
	tests := []struct {
		name    string
		subject *trustv1.Subject
		class   string
		by      *trustv1.Revocation
	}{
		{"digest revoked", &trustv1.Subject{Aliases: []*trustv1.Alias{{Digest: "sha256:x", Revocation: rev}}, Facts: []*trustv1.Fact{fact(valid, nil, false)}}, ClassRevoked, rev},
		{"digest reinstated", &trustv1.Subject{Aliases: []*trustv1.Alias{{Digest: "sha256:x", Revocation: &trustv1.Revocation{Action: "reinstate"}}}, Facts: []*trustv1.Fact{fact(valid, nil, false)}}, ClassValid, nil},
		{"valid", &trustv1.Subject{Facts: []*trustv1.Fact{fact(valid, nil, false), fact(revoked, rev, false)}}, ClassValid, nil},
		{"reinstated counts", &trustv1.Subject{Facts: []*trustv1.Fact{fact(reinstated, rev, false)}}, ClassValid, nil},
		{"superseded", &trustv1.Subject{Facts: []*trustv1.Fact{fact(superseded, soft, false), fact(revoked, rev, false)}}, ClassSuperseded, soft},
		{"every fact revoked", &trustv1.Subject{Facts: []*trustv1.Fact{fact(revoked, rev, false)}}, ClassRevoked, rev},
		{"ignored counts for nothing", &trustv1.Subject{Facts: []*trustv1.Fact{fact(valid, nil, true), fact(revoked, rev, false)}}, ClassRevoked, rev},
		{"unknown", &trustv1.Subject{Facts: []*trustv1.Fact{fact(unknown, nil, false)}}, ClassUnknown, nil},
		{"no evidence", &trustv1.Subject{}, ClassUnknown, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verdictOf(tc.subject)
			if v.Class != tc.class || v.By != tc.by {
				t.Errorf("verdictOf = %s by %v, want %s by %v", v.Class, v.By, tc.class, tc.by)
			}
		})
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
