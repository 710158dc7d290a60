package identity_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestVerifiedKeysDifferential checks VerifiedKeys (the binding index,
// read for all keys at once) against Verified (every binding statement
// read key by key) on random histories: keys and identities binding and
// rebinding, one side only, revoked keys, withdrawn bindings of either
// side, and a first part logged by a trustd without the index, indexed by
// the backfill.
func TestVerifiedKeysDifferential(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for round := range 2 {
				t.Run(fmt.Sprint("seed-", round), func(t *testing.T) {
					ctx := context.Background()
					rng := rand.New(rand.NewPCG(uint64(round), 5))
					s := b.Open(t)
					e := newEnv(t, s)
					e.legacy = true
					voters := make([]voter, 8)
					ids := make([]string, len(voters))
					for i := range voters {
						voters[i] = e.voter(t)
						ids[i] = voters[i].id
					}
					subjects := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
					var keySides []store.Statement
					retired := map[string]bool{}
					signed := map[string]bool{}
					compare := func(when string) {
						t.Helper()
						bulk, err := e.idv.VerifiedKeys(ctx, ids)
						if err != nil {
							t.Fatal(err)
						}
						// Asked again at the same log size: the kept answer.
						if again, err := e.idv.VerifiedKeys(ctx, ids); err != nil || !maps.Equal(again, bulk) {
							t.Fatalf("%s: asked again: %v, %v; first %v", when, again, err, bulk)
						}
						for _, id := range ids {
							one, err := e.idv.Verified(ctx, id)
							if err != nil {
								t.Fatal(err)
							}
							if bulk[id] != one {
								t.Fatalf("%s: key %s: VerifiedKeys %v, Verified %v", when, id, bulk[id], one)
							}
						}
					}
					for n := range 30 {
						if n == 15 {
							size, err := s.LogSize(ctx)
							if err != nil {
								t.Fatal(err)
							}
							if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
								return w.SetDerivedBackfill(ctx, store.BackfillIdentityBindings, int64(size))
							}); err != nil {
								t.Fatal(err)
							}
							e.legacy = false
							if _, err := e.idv.IndexLoggedBindings(ctx, s); err != nil {
								t.Fatal(err)
							}
							compare("after the backfill")
						}
						v, subject := voters[rng.IntN(len(voters))], subjects[rng.IntN(len(subjects))]
						switch op := rng.IntN(10); {
						case op < 4:
							// ed25519 signs the same binding into the same
							// envelope: the original entry again.
							keySides = append(keySides, e.bindKey(t, v, subject))
						case op < 8:
							// An identity signing a binding it signed before,
							// with a new certificate: the payload it logged
							// already, so the original entry again.
							pair := subject + " to key " + v.id
							if _, err := e.tryBindIdentity(t, v.id, subject); err != nil {
								t.Fatalf("%s: %v", pair, err)
							}
							signed[pair] = true
						case op < 9 && len(keySides) > 0:
							// The key withdraws its side (while it may).
							side := keySides[rng.IntN(len(keySides))]
							for _, c := range voters {
								if c.id == side.SignerKeyIDs[0] && !retired[c.id] {
									e.revoke(t, &c, revocation.KindStatement, side.EnvelopeDigest.String(), revocation.ReasonWithdrawn)
								}
							}
						case !retired[v.id]:
							e.revoke(t, nil, revocation.KindKey, v.id, revocation.ReasonRetired)
							retired[v.id] = true
						}
						if !e.legacy {
							compare(fmt.Sprintf("after step %d", n))
						}
					}
				})
			}
		})
	}
}

// TestVerifiedKeysKeptUntilEffective: an answer VerifiedKeys keeps is not
// served past the effective time of a revocation it consulted (a key
// retired from a time still to come), though the log has not grown.
func TestVerifiedKeysKeptUntilEffective(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b.Open(t))
			v := e.voter(t)
			e.bindKey(t, v, "soon@example.com")
			e.bindIdentity(t, v.id, "soon@example.com")
			effective := time.Now().Add(2 * time.Second)
			stmt, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke,
				Target: revocation.Target{Kind: revocation.KindKey, ID: v.id}, Reason: revocation.ReasonRetired, Effective: effective})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.log.Submit(ctx, e.sign(t, stmt, e.authority)); err != nil {
				t.Fatal(err)
			}
			for _, want := range []bool{true, true} {
				got, err := e.idv.VerifiedKeys(ctx, []string{v.id})
				if err != nil || got[v.id] != want {
					t.Fatalf("before the effective time: %v, %v; want %v", got, err, want)
				}
			}
			time.Sleep(time.Until(effective) + 100*time.Millisecond)
			got, err := e.idv.VerifiedKeys(ctx, []string{v.id})
			if err != nil || got[v.id] {
				t.Fatalf("after the effective time: %v, %v; want not verified", got, err)
			}
			if one := e.verified(t, v.id); one {
				t.Fatal("Verified: still verified after the effective time")
			}
		})
	}
}
