package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TestRevokedPGPKeyRotation: the security authority revokes a delegated
// OpenPGP key as compromised with a revocation statement (trustctl revoke
// key FPR). Whoever holds the compromised key must not pass its authority
// on by rotating to a key of their own: a manifest the new key signs
// fails online verify and token issuance.
func TestRevokedPGPKeyRotation(t *testing.T) {
	for _, b := range teststore.Backends() {
		for _, revokeFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/revoked before the rotation %v", b.Name, revokeFirst), func(t *testing.T) {
				ctx := context.Background()
				r := newDiffRun(t, b, 0, map[string]int{})
				dev := r.pgpKeys[0]
				revoke := func() {
					p := revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindKey, ID: dev.Certificate().Fingerprint},
						Reason: revocation.ReasonCompromised, Effective: time.Now().UTC().Truncate(time.Second)}
					if _, err := r.f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: r.f.sign(t, p, r.f.authority)}); err != nil {
						t.Fatal(err)
					}
				}
				if revokeFirst {
					revoke()
				}
				next := diffPGPKey(t, "attacker")
				r.registerPGP(t, next, "attacker")
				rot := pgp.Rotation{Old: dev.Certificate().Fingerprint, New: next.Certificate().Fingerprint, Effective: time.Now().UTC().Truncate(time.Second)}
				if _, err := r.submitPGP(t, pgp.RotationPredicateType, rot, next, dev, next); err != nil {
					t.Logf("rotation refused: %v", err)
					return
				}
				r.pgpKeys = append(r.pgpKeys, next)
				a := r.arts[0]
				what := r.publishManifest(t, 0, a)
				if !revokeFirst {
					revoke()
				}
				res, err := client.Verify(ctx, a.bare, client.VerifyOptions{Policy: r.pol, TokenKeys: token.Keys{r.f.tokenKey}, Client: r.c})
				if err != nil {
					t.Fatal(err)
				}
				if res.Verdict.Outcome == policy.Pass {
					t.Errorf("after %s, online verify passes a manifest signed by a key the compromised key rotated to:\n%s", what, summary(res.Verdict))
				}
				resp, err := r.f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{a.digest}, PolicyName: "diff"})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetIssued() {
					t.Errorf("after %s, a token is issued", what)
				}
				// pgp verify --at: the chain decision refuses it too.
				sig := next.Certificate().Fingerprint
				for _, sk := range next.Certificate().Subkeys {
					if sk.Capabilities.Sign {
						sig = sk.Fingerprint
					}
				}
				dec, err := r.pgpc.Decide(ctx, &trustv1.DecideRequest{Name: "app-0.tar", Signer: sig, Roots: []string{r.pgpRoot.Certificate().Fingerprint}})
				if err != nil || dec.GetAllowed() {
					t.Errorf("Decide for the key the compromised key rotated to = %v, %v; want refused", dec, err)
				}
			})
		}
	}
}
