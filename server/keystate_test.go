package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
)

// TestKeyShowReadsRevocationStatements is what the differential test
// found: after trustctl revoke key FPR (a revocation statement) of a
// registered OpenPGP key, revocations lookup said revoked and key show
// (GetKey's OpenPGP status) said valid, since key show read only the
// log's OpenPGP facts. Both now read the one revocation state; a soft
// revocation effective later leaves the key valid until then in both.
func TestKeyShowReadsRevocationStatements(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Second)
			for _, tc := range []struct {
				name      string
				reason    revocation.Reason
				effective time.Time
				want      pgp.State
				hard      bool
			}{
				{"compromised", revocation.ReasonCompromised, now.Add(time.Hour), pgp.StateRevoked, true},
				{"malicious", revocation.ReasonMalicious, now, pgp.StateRevoked, true},
				{"unspecified", revocation.ReasonOther, now.Add(-time.Hour), pgp.StateRevoked, true},
				{"superseded, effective", revocation.ReasonSuperseded, now.Add(-time.Minute), pgp.StateRevoked, false},
				{"retired, effective later", revocation.ReasonRetired, now.Add(time.Hour), pgp.StateValid, false},
				{"withdrawn, effective", revocation.ReasonWithdrawn, now, pgp.StateRevoked, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f := newRevFixture(t, b.Open(t))
					keysClient := trustv1.NewKeyServiceClient(f.conn)
					added, err := keysClient.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pgpFixture(t, "ed25519.asc"), Label: "dev"})
					if err != nil {
						t.Fatal(err)
					}
					fpr := added.GetKey().GetId()
					p := revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindKey, ID: fpr}, Reason: tc.reason, Effective: tc.effective}
					if _, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: f.sign(t, p, f.authority)}); err != nil {
						t.Fatal(err)
					}
					lk, err := f.rev.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: string(revocation.KindKey), Id: fpr})
					if err != nil {
						t.Fatal(err)
					}
					got, err := keysClient.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: fpr})
					if err != nil {
						t.Fatal(err)
					}
					st := got.GetKey().GetPgp().GetStatus()
					if st.GetState() != string(tc.want) || (tc.want == pgp.StateRevoked && st.GetHard() != tc.hard) {
						t.Errorf("key show: %s (hard %v), want %s (hard %v)", st.GetSummary(), st.GetHard(), tc.want, tc.hard)
					}
					if lk.GetInForce() != (tc.want == pgp.StateRevoked) {
						t.Errorf("lookup: in force %v, key show %s", lk.GetInForce(), st.GetSummary())
					}
				})
			}
		})
	}
}
