package feedback_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

func TestWilsonLowerBound(t *testing.T) {
	tests := []struct {
		pos, neg, want float64
	}{
		{0, 0, 0},
		{1, 0, 0.2065},
		{10, 0, 0.7225},
		{100, 0, 0.9630},
		{60, 40, 0.5020},
		{0, 10, 0},
	}
	for _, tc := range tests {
		if got := feedback.WilsonLowerBound(tc.pos, tc.neg); math.Abs(got-tc.want) > 0.0005 {
			t.Errorf("WilsonLowerBound(%v, %v) = %.4f, want %.4f", tc.pos, tc.neg, got, tc.want)
		}
	}
	// Confidence, not ratio: 95 of 100 outranks 5 of 5.
	if feedback.WilsonLowerBound(95, 5) <= feedback.WilsonLowerBound(5, 0) {
		t.Error("95/100 does not outrank 5/5")
	}
}

// web builds identities named by letters and trust statements between
// them, and returns the identities by name.
func (f *fixture) web(t *testing.T, names string, edges [][3]string) map[string]identity {
	ids := map[string]identity{}
	for _, n := range names {
		ids[string(n)] = f.identity(t)
	}
	for i, e := range edges {
		f.trust(t, ids[e[0]], ids[e[1]], e[2], t0.Add(-time.Hour+time.Duration(i)*time.Second))
	}
	return ids
}

func TestWebOfTrust(t *testing.T) {
	const H, M, L, D = feedback.LevelHigh, feedback.LevelMedium, feedback.LevelLow, feedback.LevelDistrust
	tests := []struct {
		name  string
		edges [][3]string
		roots string
		depth int
		// likes by voter (every named voter likes the app); want is the
		// expected weight of each voter's like, 0 when not counted.
		want map[string]float64
	}{
		{"direct levels", [][3]string{{"r", "a", H}, {"r", "b", M}, {"r", "c", L}}, "r", 3,
			map[string]float64{"r": 1, "a": 1, "b": 0.5, "c": 0.25, "x": 0}},
		{"weakest link along a path", [][3]string{{"r", "a", H}, {"a", "b", L}, {"b", "c", H}}, "r", 3,
			map[string]float64{"a": 1, "b": 0.25, "c": 0.25}},
		{"depth limit", [][3]string{{"r", "a", H}, {"a", "b", H}, {"b", "c", H}, {"c", "d", H}}, "r", 3,
			map[string]float64{"a": 1, "b": 1, "c": 1, "d": 0}},
		{"depth 1", [][3]string{{"r", "a", H}, {"a", "b", H}}, "r", 1,
			map[string]float64{"a": 1, "b": 0}},
		{"stronger of two paths wins", [][3]string{{"r", "a", L}, {"r", "b", H}, {"a", "c", H}, {"b", "c", M}}, "r", 3,
			map[string]float64{"a": 0.25, "b": 1, "c": 0.5}},
		{"longer but stronger path wins within depth", [][3]string{{"r", "c", L}, {"r", "a", H}, {"a", "b", H}, {"b", "c", H}}, "r", 3,
			map[string]float64{"c": 1}},
		{"cycle", [][3]string{{"r", "a", H}, {"a", "b", M}, {"b", "a", H}, {"b", "r", H}}, "r", 8,
			map[string]float64{"r": 1, "a": 1, "b": 0.5}},
		{"distrust cuts a key and its downstream", [][3]string{{"r", "a", H}, {"r", "b", H}, {"b", "c", H}, {"c", "e", H}, {"a", "b", D}}, "r", 3,
			map[string]float64{"a": 1, "b": 0, "c": 0, "e": 0}},
		{"downstream reachable another way survives", [][3]string{{"r", "a", H}, {"r", "b", H}, {"b", "c", H}, {"a", "c", M}, {"a", "b", D}}, "r", 3,
			map[string]float64{"a": 1, "b": 0, "c": 0.5}},
		// Depth bounds whose statements count, distrust as much as trust:
		// an identity first reached at the last hop votes, but neither
		// vouches for nor cuts anyone.
		{"distrust at the last hop does not cut", [][3]string{{"r", "a", H}, {"a", "b", H}, {"b", "c", H}, {"c", "a", D}}, "r", 3,
			map[string]float64{"a": 1, "b": 1, "c": 1}},
		{"distrust one hop before the last cuts", [][3]string{{"r", "a", H}, {"a", "b", H}, {"b", "c", H}, {"b", "a", D}}, "r", 3,
			map[string]float64{"a": 0, "b": 0, "c": 0}},
		{"roots are never cut", [][3]string{{"r", "a", H}, {"a", "r", D}}, "r", 3,
			map[string]float64{"r": 1, "a": 1}},
		{"two roots", [][3]string{{"r", "a", L}, {"s", "a", H}}, "rs", 3,
			map[string]float64{"r": 1, "s": 1, "a": 1}},
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					f := newFixture(t, b.Open(t), feedback.Options{})
					ids := f.web(t, "rsabcdex", tc.edges)
					app := artifact("app.tar")
					var want float64
					var voters int64
					for name, w := range tc.want {
						f.submit(t, voteEnv(t, ids[name], app, feedback.Like, t0.Add(-time.Minute)))
						want += w
						if w > 0 {
							voters++
						}
					}
					var roots []string
					for _, r := range tc.roots {
						roots = append(roots, ids[string(r)].id)
					}
					rep := f.reputation(t, feedback.Query{Digest: app.Digests[0], TrustRoots: roots, Depth: tc.depth})
					if !rep.WebOfTrust || math.Abs(rep.Quality.PositiveWeight-want) > 1e-9 || rep.Voters != voters {
						t.Fatalf("weight %v voters %d, want %v and %d", rep.Quality.PositiveWeight, rep.Voters, want, voters)
					}
					// The global figures count everyone.
					if g := f.reputation(t, feedback.Query{Digest: app.Digests[0]}); g.Quality.Positive != int64(len(tc.want)) {
						t.Fatalf("global likes %d, want %d", g.Quality.Positive, len(tc.want))
					}
				})
			}
		})
	}
}

func TestSybilControls(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{})
	const H = feedback.LevelHigh
	// c is reached by r→a→c and r→b→c; s only through a; m through p and
	// q, which are both reached only through x: two introducers, but one
	// identity (x) could forge both.
	ids := f.web(t, "rabcsxpqm", [][3]string{{"r", "a", H}, {"r", "b", H}, {"a", "c", H}, {"b", "c", H}, {"a", "s", H},
		{"r", "x", H}, {"x", "p", H}, {"x", "q", H}, {"p", "m", H}, {"q", "m", H}})
	app := artifact("app.tar")
	for _, n := range "csm" {
		f.submit(t, voteEnv(t, ids[string(n)], app, feedback.Like, t0.Add(-time.Minute)))
	}
	q := feedback.Query{Digest: app.Digests[0], TrustRoots: []string{ids["r"].id}}
	if rep := f.reputation(t, q); rep.Quality.Positive != 3 {
		t.Fatalf("without K: %d likes", rep.Quality.Positive)
	}
	q.MinPaths = 2
	if rep := f.reputation(t, q); rep.Quality.Positive != 1 {
		t.Fatalf("K=2: %d likes, want only c (two paths sharing only the root)", rep.Quality.Positive)
	}
	q.MinPaths = 3
	if rep := f.reputation(t, q); rep.Quality.Positive != 0 {
		t.Fatalf("K=3: %d likes, want none", rep.Quality.Positive)
	}

	// Half-life: a vote one half-life old weighs one half.
	old := f.identity(t)
	f.submit(t, voteEnv(t, old, app, feedback.Dislike, t0.Add(-24*time.Hour)))
	rep := f.reputation(t, feedback.Query{Digest: app.Digests[0], HalfLife: 24 * time.Hour})
	if math.Abs(rep.Quality.NegativeWeight-0.5) > 1e-3 || rep.Quality.Negative != 1 {
		t.Fatalf("half-life: negative weight %v", rep.Quality.NegativeWeight)
	}

	// Verified identities only.
	_, err := f.svc.Reputation(context.Background(), feedback.Query{Digest: app.Digests[0], VerifiedOnly: true})
	if !errors.Is(err, feedback.ErrNoIdentities) {
		t.Fatalf("verified-only without a verifier: %v", err)
	}
	fv := feedback.New(f.store, feedback.Options{Now: func() time.Time { return t0 }, Identities: verifiedSet{ids["c"].id: true}})
	rep, err = fv.Reputation(context.Background(), feedback.Query{Digest: app.Digests[0], VerifiedOnly: true})
	if err != nil || rep.Quality.Positive != 1 || rep.Quality.Negative != 0 {
		t.Fatalf("verified-only: %+v, %v", rep.Quality, err)
	}
}

type verifiedSet map[string]bool

func (v verifiedSet) Verified(_ context.Context, keyID string) (bool, error) { return v[keyID], nil }

type revokedSet map[string]time.Time

func (r revokedSet) KeyRevokedAt(_ context.Context, keyID string) (time.Time, bool, error) {
	at, ok := r[keyID]
	return at, ok, nil
}

func (r revokedSet) RevokedKeys(context.Context) (map[string]time.Time, error) { return r, nil }

func TestRevokedVoters(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), feedback.Options{})
			app := artifact("app.tar")
			alice, mallory := f.identity(t), f.identity(t)
			f.submit(t, voteEnv(t, alice, app, feedback.Like, t0.Add(-time.Minute)))
			f.submit(t, voteEnv(t, mallory, app, feedback.Dislike, t0.Add(-time.Minute)))
			f.submit(t, voteEnv(t, mallory, app, feedback.Distrust, t0.Add(-time.Minute)))
			q := feedback.Query{Digest: app.Digests[0]}
			// Revoked from before the votes were recorded: they stop counting.
			svc := feedback.New(f.store, feedback.Options{Revocations: revokedSet{mallory.id: time.Now().Add(-time.Hour)}})
			rep, err := svc.Reputation(context.Background(), q)
			if err != nil || rep.Quality.Negative != 0 || rep.Trust.Negative != 0 || rep.Voters != 1 || rep.Quality.Positive != 1 {
				t.Fatalf("revoked voter counted: %+v %v", rep, err)
			}
			// Revoked later than the votes were recorded: they still count.
			svc = feedback.New(f.store, feedback.Options{Revocations: revokedSet{mallory.id: time.Now().Add(time.Hour)}})
			if rep, err = svc.Reputation(context.Background(), q); err != nil || rep.Quality.Negative != 1 || rep.Voters != 2 {
				t.Fatalf("votes before the revocation dropped: %+v %v", rep, err)
			}
			// The web-of-trust path applies the same rule.
			svc = feedback.New(f.store, feedback.Options{Revocations: revokedSet{mallory.id: time.Now().Add(-time.Hour)}})
			q.TrustRoots = []string{alice.id, mallory.id}
			if rep, err = svc.Reputation(context.Background(), q); err != nil || rep.Quality.Negative != 0 || rep.Voters != 1 {
				t.Fatalf("web of trust counted a revoked voter: %+v %v", rep, err)
			}
			// A hard revocation (the zero time: every vote) drops the votes
			// on both paths, however long before it they were recorded.
			svc = feedback.New(f.store, feedback.Options{Revocations: revokedSet{mallory.id: time.Time{}}})
			for _, roots := range [][]string{nil, {alice.id, mallory.id}} {
				hq := feedback.Query{Digest: app.Digests[0], TrustRoots: roots}
				if rep, err = svc.Reputation(context.Background(), hq); err != nil || rep.Quality.Negative != 0 || rep.Voters != 1 {
					t.Fatalf("roots %v: a compromised voter counted: %+v %v", roots, rep, err)
				}
			}
			// A revoked key's trust statements reach nobody: carol, trusted
			// only by mallory, drops out.
			carol := f.identity(t)
			f.trust(t, mallory, carol, feedback.LevelHigh, t0.Add(-time.Hour))
			f.submit(t, voteEnv(t, carol, app, feedback.Like, t0.Add(-time.Minute)))
			q.TrustRoots = []string{alice.id}
			plain := feedback.New(f.store, feedback.Options{})
			f.trust(t, alice, mallory, feedback.LevelHigh, t0.Add(-time.Hour))
			if rep, err := plain.Reputation(context.Background(), q); err != nil || rep.Reached != 3 {
				t.Fatalf("before revocation: %+v %v", rep, err)
			}
			if rep, err = svc.Reputation(context.Background(), q); err != nil || rep.Reached != 1 || rep.Quality.Positive != 1 {
				t.Fatalf("revoked key still introduces: %+v %v", rep, err)
			}
		})
	}
}

// TestAttackerAlias: an attacker signs an attestation whose subject lists
// a malicious digest together with a popular one (an alias claim). Neither
// digest's reputation changes; a publisher's link (a TUF target listing
// both hashes of one file) does carry votes across, once per voter.
func TestAttackerAlias(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			f := newFixture(t, s, feedback.Options{Publishers: revocation.New(s, revocation.Config{})})
			popular := artifact("popular.tar")
			pop256, pop512 := popular.Digests[0], popular.Digests[1]
			mal := artifact("malware.tar").Digests[1] // sha512: joins the popular subject when claimed with it

			// The publisher's TUF target lists both hashes.
			f.tufRepo(t, "acme/popular").list(t, "popular.tar", pop256, pop512)
			voters := make([]identity, 5)
			for i := range voters {
				voters[i] = f.identity(t)
				// Each voter likes the sha256 digest; two of them like the
				// sha512 one too: they must count once.
				f.submit(t, voteEnv(t, voters[i], envelope.Subject{Digests: []digestT{pop256}}, feedback.Like, t0.Add(-time.Hour)))
				if i < 2 {
					f.submit(t, voteEnv(t, voters[i], envelope.Subject{Digests: []digestT{pop512}}, feedback.Like, t0.Add(-time.Hour)))
				}
			}
			extra := f.identity(t)
			f.submit(t, voteEnv(t, extra, envelope.Subject{Digests: []digestT{pop512}}, feedback.Like, t0.Add(-time.Hour)))

			rep := f.reputation(t, feedback.Query{Digest: pop256})
			if rep.Quality.Positive != 6 || rep.Voters != 6 || len(rep.Aliases) != 2 {
				t.Fatalf("through the publisher's alias: %d likes, %d voters, %d aliases; want 6, 6, 2", rep.Quality.Positive, rep.Voters, len(rep.Aliases))
			}

			// The attack: a signed attestation linking the malicious digest
			// to the popular one, and dislikes of the malicious digest.
			attacker := f.identity(t)
			payload, err := envelope.NewStatement("https://example.com/scan/v1", []byte(`{}`), envelope.Subject{Name: "x", Digests: []digestT{mal, pop256}})
			if err != nil {
				t.Fatal(err)
			}
			f.submit(t, signEnv(t, payload, attacker))
			f.submit(t, voteEnv(t, attacker, envelope.Subject{Digests: []digestT{mal}}, feedback.Like, t0.Add(-time.Minute)))
			for range 3 {
				sock := f.identity(t)
				f.submit(t, voteEnv(t, sock, envelope.Subject{Digests: []digestT{mal}}, feedback.Dislike, t0.Add(-time.Minute)))
			}

			after := f.reputation(t, feedback.Query{Digest: pop256})
			if after.Quality != rep.Quality || after.Voters != rep.Voters || len(after.Aliases) != 2 {
				t.Fatalf("popular digest changed: %+v -> %+v", rep, after)
			}
			m := f.reputation(t, feedback.Query{Digest: mal})
			if m.Quality.Positive != 1 || m.Quality.Negative != 3 || len(m.Aliases) != 1 {
				t.Fatalf("malicious digest got the popular one's votes: %+v", m)
			}
			// Naming the attacker as an accepted attestation signer is the
			// caller's choice, and then the link counts.
			named := f.reputation(t, feedback.Query{Digest: mal, AttestationSigners: []string{attacker.id}})
			if len(named.Aliases) != 2 || named.Quality.Positive != 6 {
				t.Fatalf("named attestation signer: %+v", named)
			}
		})
	}
}

// TestAliasFloodAddsNoReads: a stranger logs many self-signed statements
// whose subject lists someone else's digest beside another: each is an
// alias claim naming it. A reputation query of the digest weighs every
// claim, but must not read each claim's log entry again to learn what it
// is (one round trip a claim), or the stranger sets how slow everyone's
// query of the artifact is.
func TestAliasFloodAddsNoReads(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			f := newFixture(t, s, feedback.Options{Publishers: revocation.New(s, revocation.Config{})})
			popular := artifact("popular.tar")
			f.tufRepo(t, "acme/popular").list(t, "popular.tar", popular.Digests[0], popular.Digests[1])
			f.submit(t, voteEnv(t, f.identity(t), envelope.Subject{Digests: []digestT{popular.Digests[0]}}, feedback.Like, t0.Add(-time.Hour)))
			counted := &teststore.Reads{Store: s}
			svc := feedback.New(counted, feedback.Options{Now: func() time.Time { return t0 }, Publishers: revocation.New(s, revocation.Config{})})
			query := func() (feedback.Reputation, int64) {
				t.Helper()
				before := counted.N()
				rep, err := svc.Reputation(context.Background(), feedback.Query{Digest: popular.Digests[0]})
				if err != nil {
					t.Fatal(err)
				}
				return rep, counted.N() - before
			}
			rep, reads := query()

			stranger := f.identity(t)
			for i := range 20 {
				payload, err := envelope.NewStatement("https://example.com/scan/v1", []byte(`{}`),
					envelope.Subject{Name: "x", Digests: []digestT{popular.Digests[0], artifact(fmt.Sprint("flood-", i)).Digests[1]}})
				if err != nil {
					t.Fatal(err)
				}
				f.submit(t, signEnv(t, payload, stranger))
			}
			after, flooded := query()
			if after.Quality != rep.Quality || len(after.Aliases) != len(rep.Aliases) {
				t.Errorf("the flood changed the reputation: %+v -> %+v", rep, after)
			}
			if flooded != reads {
				t.Errorf("20 claims by a stranger took the query from %d to %d reads", reads, flooded)
			}
		})
	}
}

// TestMirrorAlias: anybody may list digests together in a TUF repository
// of their own (creation is open on loopback), but only a publisher of
// both digests, by revocation's first-publication rule, links them. A
// stranger's target listing the owner's sha256 with the sha512 of other
// bytes moves neither the owner's figures (votes on that sha512 stay out)
// nor the sha512's (the owner's voters vouch for nothing the stranger
// made); the owner's own target, and the stranger's own first release,
// still link their two hashes.
func TestMirrorAlias(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			f := newFixture(t, s, feedback.Options{Publishers: revocation.New(s, revocation.Config{})})
			app, tool, mal := artifact("app.tar.gz"), artifact("tool.tar.gz"), artifact("malware.tar.gz")
			owner, stranger := f.tufRepo(t, "acme/app"), f.tufRepo(t, "stranger/mirror")
			owner.list(t, "app.tar.gz", app.Digests...)
			stranger.list(t, "tool.tar.gz", tool.Digests...)
			// The attack: the owner's sha256 with an unrelated sha512.
			stranger.list(t, "app.tar.gz", app.Digests[0], mal.Digests[1])

			vote := func(d digestT, value string, n int) {
				for range n {
					f.submit(t, voteEnv(t, f.identity(t), envelope.Subject{Digests: []digestT{d}}, value, t0.Add(-time.Hour)))
				}
			}
			vote(app.Digests[0], feedback.Like, 3)
			vote(app.Digests[1], feedback.Like, 1)
			vote(mal.Digests[1], feedback.Dislike, 4)
			vote(tool.Digests[1], feedback.Like, 2)

			for _, tc := range []struct {
				name            string
				query           digestT
				aliases         []digestT
				likes, dislikes int64
			}{
				{"the owner's sha256", app.Digests[0], app.Digests, 4, 0},
				{"the owner's sha512", app.Digests[1], app.Digests, 4, 0},
				{"the sha512 the stranger listed with the owner's sha256", mal.Digests[1], mal.Digests[1:], 0, 4},
				{"the stranger's own release", tool.Digests[0], tool.Digests, 2, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rep := f.reputation(t, feedback.Query{Digest: tc.query})
					var got []digestT
					for _, a := range rep.Aliases {
						got = append(got, a.Digest)
					}
					if !sameDigests(got, tc.aliases) || rep.Quality.Positive != tc.likes || rep.Quality.Negative != tc.dislikes {
						t.Fatalf("aliases %v, %d likes, %d dislikes; want %v, %d, %d", got, rep.Quality.Positive, rep.Quality.Negative,
							tc.aliases, tc.likes, tc.dislikes)
					}
				})
			}
		})
	}
}

// sameDigests reports whether a and b hold the same digests, in any order.
func sameDigests(a, b []digestT) bool {
	if len(a) != len(b) {
		return false
	}
	for _, d := range a {
		if !slices.Contains(b, d) {
			return false
		}
	}
	return true
}

// TestResponses: only a publisher of the digest may respond (issue 13,
// point 7): a key with publisher evidence, here a configured attestation
// signer. A stranger who signed an attestation naming the digest, or who
// holds a forged record of trustd's TUF metadata type naming it (as an
// old database may), is not one.
func TestResponses(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			reg := newFixture(t, s, feedback.Options{})
			ctx := context.Background()
			app := artifact("app.tar")
			publisher, voter, stranger := reg.identity(t), reg.identity(t), reg.identity(t)
			f := newFixture(t, s, feedback.Options{Publishers: revocation.New(s, revocation.Config{AttestationPublishers: []string{publisher.id}})})
			provenance, err := envelope.NewStatement("https://slsa.dev/provenance/v1", []byte(`{}`), app)
			if err != nil {
				t.Fatal(err)
			}
			release := f.submit(t, signEnv(t, provenance, publisher))
			f.submit(t, signEnv(t, provenance, stranger))
			forged, err := envelope.NewStatement(tufstore.PredicateType, []byte(`{}`), app)
			if err != nil {
				t.Fatal(err)
			}
			teststore.AppendUnchecked(t, s, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: tufstore.PredicateType,
				Envelope: signEnv(t, forged, stranger), Payload: forged, SignerKeyIDs: []string{stranger.id},
				Subjects: []store.StatementSubject{{Name: app.Name, Digests: app.Digests}}})
			vote := f.submit(t, voteEnv(t, voter, app, feedback.Distrust, t0.Add(-time.Hour)))

			respond := func(who identity, text string) error {
				p, err := feedback.ResponseStatement(app, feedback.ResponsePredicate{InReplyTo: vote.EnvelopeDigest.String(), Text: text, Timestamp: t0})
				if err != nil {
					t.Fatal(err)
				}
				before, _ := s.LogSize(ctx)
				_, _, err = f.log.Submit(ctx, signEnv(t, p, who))
				if after, _ := s.LogSize(ctx); err != nil && after != before {
					t.Errorf("log grew from %d to %d on a refused response", before, after)
				}
				return err
			}
			if err := respond(stranger, "trust me"); !errors.Is(err, feedback.ErrNotPublisher) {
				t.Fatalf("stranger's response: %v", err)
			}
			if err := respond(voter, "me too"); !errors.Is(err, feedback.ErrNotPublisher) {
				t.Fatalf("a voter is not a publisher: %v", err)
			}
			if err := respond(publisher, "false positive from scanner X"); err != nil {
				t.Fatal(err)
			}
			// A reply to something that is not a vote on this artifact.
			for _, target := range []string{"sha256:" + strings.Repeat("ab", 32), release.EnvelopeDigest.String()} {
				p, _ := feedback.ResponseStatement(app, feedback.ResponsePredicate{InReplyTo: target, Text: "x", Timestamp: t0})
				if _, _, err := f.log.Submit(ctx, signEnv(t, p, publisher)); !errors.Is(err, feedback.ErrInvalidPredicate) || !strings.Contains(err.Error(), "predicate.inReplyTo") {
					t.Fatalf("reply to %s: %v", target, err)
				}
			}
			rep := f.reputation(t, feedback.Query{Digest: app.Digests[0]})
			if len(rep.Responses) != 1 || rep.Responses[0].Body != "false positive from scanner X" ||
				rep.Responses[0].PublisherKeyID != publisher.id || rep.Responses[0].InReplyTo != vote.EnvelopeDigest.String() {
				t.Fatalf("responses %+v", rep.Responses)
			}
			// Without a publisher definition, nobody may respond.
			bare := newFixture(t, s, feedback.Options{})
			p, _ := feedback.ResponseStatement(app, feedback.ResponsePredicate{Text: "again", Timestamp: t0})
			if _, _, err := bare.log.Submit(ctx, signEnv(t, p, publisher)); !errors.Is(err, feedback.ErrNotPublisher) {
				t.Fatalf("response with no publisher definition: %v", err)
			}
		})
	}
}

func TestTrustStatementRejects(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{})
	alice, bob := f.identity(t), f.identity(t)
	self, err := feedback.TrustStatement(alice.key, feedback.TrustPredicate{Level: feedback.LevelHigh, Timestamp: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.log.Submit(context.Background(), signEnv(t, self, alice)); !errors.Is(err, feedback.ErrInvalidPredicate) {
		t.Fatalf("self trust: %v", err)
	}
	unknown := bob.key
	unknown.ID = "0000"
	p, _ := feedback.TrustStatement(unknown, feedback.TrustPredicate{Level: feedback.LevelHigh, Timestamp: t0})
	if _, _, err := f.log.Submit(context.Background(), signEnv(t, p, alice)); !errors.Is(err, feedback.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	wrong := bob.key
	wrong.PublicKey = []byte("other bytes")
	p, _ = feedback.TrustStatement(wrong, feedback.TrustPredicate{Level: feedback.LevelHigh, Timestamp: t0})
	if _, _, err := f.log.Submit(context.Background(), signEnv(t, p, alice)); !errors.Is(err, feedback.ErrInvalidPredicate) {
		t.Fatalf("subject not the key: %v", err)
	}
	// A withdrawn statement stops the trust; an older one replayed after it
	// does not restore it.
	f.trust(t, alice, bob, feedback.LevelHigh, t0.Add(-time.Hour))
	f.trust(t, alice, bob, feedback.LevelNone, t0.Add(-30*time.Minute))
	f.trust(t, alice, bob, feedback.LevelHigh, t0.Add(-45*time.Minute))
	app := artifact("app.tar")
	f.submit(t, voteEnv(t, bob, app, feedback.Like, t0))
	if rep := f.reputation(t, feedback.Query{Digest: app.Digests[0], TrustRoots: []string{alice.id}}); rep.Voters != 0 {
		t.Fatalf("withdrawn trust still reaches bob: %+v", rep)
	}
}

type digestT = digest.Digest
