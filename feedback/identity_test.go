package feedback_test

import (
	"context"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/feedback"
	ident "github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// TestReputationVerifiedIdentity combines the web of trust with
// --verified-only over the real identity verifier: of two voters the root
// trusts, only the one bound both ways to a Sigstore identity counts, with
// its web-of-trust weight; a voter bound but not reached does not count.
func TestReputationVerifiedIdentity(t *testing.T) {
	const issuer = "https://accounts.example.com"
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := b.Open(t)
			idv, err := ident.New(s, ident.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, s, feedback.Options{Identities: idv}, idv.Validators())
			vs, err := ca.NewVirtualSigstore()
			if err != nil {
				t.Fatal(err)
			}
			tr, err := attest.LoadTrustedRoot(attesttest.WriteTrustedRoot(t, vs))
			if err != nil {
				t.Fatal(err)
			}
			as := attest.New(s, f.log, attest.Options{Sigstore: tr})
			bind := func(who identity, subject string) {
				stmt, err := ident.Statement(ident.Binding{KeyID: who.id, Issuer: issuer, Subject: subject})
				if err != nil {
					t.Fatal(err)
				}
				f.submit(t, signEnv(t, stmt, who))
				bundle := attesttest.Attest(t, vs, subject, issuer, stmt, time.Now().Add(time.Minute), attesttest.Opts{TLog: true})
				if _, _, err := as.Put(ctx, attest.PutRequest{Data: bundle}); err != nil {
					t.Fatalf("bundle: %v", err)
				}
			}
			root, alice, bob, carol := f.identity(t), f.identity(t), f.identity(t), f.identity(t)
			bind(alice, "alice@example.com")
			bind(carol, "carol@example.com") // verified, but nobody trusts carol
			f.trust(t, root, alice, feedback.LevelMedium, t0)
			f.trust(t, root, bob, feedback.LevelHigh, t0)
			app := artifact("app")
			for _, v := range []identity{alice, bob, carol} {
				f.submit(t, voteEnv(t, v, app, feedback.Like, t0))
			}

			q := feedback.Query{Digest: app.Digests[0], TrustRoots: []string{root.id}}
			if rep := f.reputation(t, q); rep.Quality.Positive != 2 {
				t.Fatalf("web of trust: %d likes, want alice and bob", rep.Quality.Positive)
			}
			q.VerifiedOnly = true
			rep := f.reputation(t, q)
			if rep.Quality.Positive != 1 || rep.Voters != 1 {
				t.Fatalf("web of trust, verified only: %+v, want alice alone", rep)
			}
			medium := f.reputation(t, feedback.Query{Digest: app.Digests[0], TrustRoots: []string{root.id}})
			if rep.Quality.PositiveWeight <= 0 || rep.Quality.PositiveWeight >= medium.Quality.PositiveWeight {
				t.Fatalf("alice's weight %v, want her medium-trust share of %v", rep.Quality.PositiveWeight, medium.Quality.PositiveWeight)
			}
			if g := f.reputation(t, feedback.Query{Digest: app.Digests[0], VerifiedOnly: true}); g.Quality.Positive != 2 {
				t.Fatalf("verified only: %d likes, want alice and carol", g.Quality.Positive)
			}
		})
	}
}
