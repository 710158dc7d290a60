package evidence_test

import (
	"testing"
	"time"

	"github.com/trustd-dev/trustd/evidence"
)

// TestStatus: a fact's status is decided by the one time rule over the
// revocation state the evaluator reads: each reason × effective before or
// after the entry was observed, for the statement and for its signer; a
// reinstatement is told apart from a revocation; a set without
// revocations knows nothing.
func TestStatus(t *testing.T) {
	observed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := observed.Add(48 * time.Hour)
	env := []byte(`{"entry":7}`)
	stmtID := evidence.Entry{Envelope: env}.EnvelopeDigest().String()
	state := func(action, reason string, effective time.Time) *evidence.RevocationState {
		return &evidence.RevocationState{Action: action, Reason: reason, Effective: effective, Revokers: []string{"sec"}, Seq: 41}
	}
	before, after, future := observed.Add(-time.Hour), observed.Add(time.Hour), at.Add(time.Hour)
	tests := []struct {
		name       string
		kind       string
		state      *evidence.RevocationState
		noRevKinds bool
		want       string
	}{
		{"nothing", "", nil, false, evidence.StatusValid},
		{"never revoked", evidence.TargetKey, nil, false, evidence.StatusValid},
		{"no revocation state served", "", nil, true, evidence.StatusUnknown},
		{"key compromised after", evidence.TargetKey, state("revoke", "compromised", after), false, evidence.StatusRevoked},
		{"key malicious before", evidence.TargetKey, state("revoke", "malicious", before), false, evidence.StatusRevoked},
		{"key no reason after", evidence.TargetKey, state("revoke", "", after), false, evidence.StatusRevoked},
		{"key superseded before observed", evidence.TargetKey, state("revoke", "superseded", before), false, evidence.StatusRevoked},
		{"key superseded at observed", evidence.TargetKey, state("revoke", "superseded", observed), false, evidence.StatusRevoked},
		{"key superseded after observed", evidence.TargetKey, state("revoke", "superseded", after), false, evidence.StatusSuperseded},
		{"key retired after observed", evidence.TargetKey, state("revoke", "retired", after), false, evidence.StatusSuperseded},
		{"key withdrawn before observed", evidence.TargetKey, state("revoke", "withdrawn", before), false, evidence.StatusRevoked},
		{"key reinstated", evidence.TargetKey, state("reinstate", "", after), false, evidence.StatusReinstated},
		{"statement withdrawn in force", evidence.TargetStatement, state("revoke", "withdrawn", after), false, evidence.StatusRevoked},
		{"statement withdrawn from the future", evidence.TargetStatement, state("revoke", "withdrawn", future), false, evidence.StatusSuperseded},
		{"statement malicious from the future", evidence.TargetStatement, state("revoke", "malicious", future), false, evidence.StatusRevoked},
		{"statement reinstated", evidence.TargetStatement, state("reinstate", "", after), false, evidence.StatusReinstated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &evidence.Bundle{At: at, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindRevocations},
				Entries: []evidence.Entry{{Seq: 7, Envelope: env, SignerKeyIDs: []string{"k1"}, RecordedAt: observed}},
				Revocations: []evidence.Revocation{
					{Kind: evidence.TargetStatement, ID: stmtID}, {Kind: evidence.TargetKey, ID: "k1"},
				}}
			if tc.noRevKinds {
				b.Kinds = b.Kinds[:1]
			}
			for i := range b.Revocations {
				if b.Revocations[i].Kind == tc.kind {
					b.Revocations[i].State = tc.state
				}
			}
			st, ok := evidence.NewSet(b).Status(7)
			if !ok || st.Status != tc.want {
				t.Fatalf("Status = %+v, %v; want %s", st, ok, tc.want)
			}
			if (st.By != nil) != (tc.state != nil && !tc.noRevKinds) || (st.By != nil && (st.By.Kind != tc.kind || st.By.State.Seq != 41)) {
				t.Errorf("decided by %+v; want the %s state at seq 41", st.By, tc.kind)
			}
		})
	}
	if _, ok := evidence.NewSet(&evidence.Bundle{}).Status(7); ok {
		t.Error("Status of an entry the set does not hold: ok")
	}
}
