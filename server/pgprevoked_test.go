package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// TestReinstateRotatedPGPKey is what the differential test found: a
// delegated OpenPGP key rotated to a new one, and revoked by a revocation
// statement (before or after the rotation). Lifting that statement's
// revocation erased the rotation from the one revocation index (lookup
// said not revoked) while key show and the chain decisions still counted
// it (superseded); with the statement first, lifting it would also make
// valid the rotation the revoked key signed. The reinstatement is refused
// now, and lookup and key show agree.
func TestReinstateRotatedPGPKey(t *testing.T) {
	for _, b := range teststore.Backends() {
		for _, revokeFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/revoked before the rotation %v", b.Name, revokeFirst), func(t *testing.T) {
				ctx := context.Background()
				r := newDiffRun(t, b, 0, map[string]int{})
				dev := r.pgpKeys[0]
				fpr := dev.Certificate().Fingerprint
				submit := func(action revocation.Action) error {
					p := revocation.Predicate{Action: action, Target: revocation.Target{Kind: revocation.KindKey, ID: fpr},
						Reason: revocation.ReasonMalicious, Effective: time.Now().UTC().Truncate(time.Second)}
					_, err := r.f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: r.f.sign(t, p, r.f.authority)})
					return err
				}
				if revokeFirst {
					if err := submit(revocation.ActionRevoke); err != nil {
						t.Fatal(err)
					}
				}
				next := diffPGPKey(t, "next")
				r.registerPGP(t, next, "next")
				rot := pgp.Rotation{Old: fpr, New: next.Certificate().Fingerprint, Effective: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}
				if _, err := r.submitPGP(t, pgp.RotationPredicateType, rot, next, dev, next); err != nil {
					t.Fatal(err)
				}
				if !revokeFirst {
					if err := submit(revocation.ActionRevoke); err != nil {
						t.Fatal(err)
					}
				}
				if err := submit(revocation.ActionReinstate); status.Code(err) != codes.InvalidArgument {
					t.Errorf("reinstating the key = %v, want InvalidArgument (a rotation from it is logged)", err)
				}
				if e := r.keyAgrees(t, 0, fpr); e != "" {
					t.Errorf("key show and lookup disagree: %s", e)
				}
			})
		}
	}
}
