package feedback_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

func TestVotesAndTotals(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), feedback.Options{})
			app := artifact("app.tar")
			d := app.Digests[0]
			alice, bob, carol := f.identity(t), f.identity(t), f.identity(t)

			steps := []struct {
				name string
				env  []byte
				want store.VoteTotals
			}{
				{"alice likes", voteEnv(t, alice, app, feedback.Like, t0.Add(-time.Hour)), store.VoteTotals{Likes: 1, Voters: 1}},
				{"bob dislikes", voteEnv(t, bob, app, feedback.Dislike, t0.Add(-time.Hour)), store.VoteTotals{Likes: 1, Dislikes: 1, Voters: 2}},
				{"alice trusts too", voteEnv(t, alice, app, feedback.Trust, t0.Add(-50*time.Minute)), store.VoteTotals{Likes: 1, Dislikes: 1, Trusts: 1, Voters: 2}},
				{"bob changes his mind", voteEnv(t, bob, app, feedback.Like, t0.Add(-40*time.Minute)), store.VoteTotals{Likes: 2, Trusts: 1, Voters: 2}},
				{"carol distrusts", voteEnv(t, carol, app, feedback.Distrust, t0.Add(-30*time.Minute)), store.VoteTotals{Likes: 2, Trusts: 1, Distrusts: 1, Voters: 3}},
				{"alice withdraws her like", retractEnv(t, alice, app, feedback.AxisQuality, t0.Add(-20*time.Minute)), store.VoteTotals{Likes: 1, Trusts: 1, Distrusts: 1, Voters: 3}},
				{"alice withdraws her trust", retractEnv(t, alice, app, feedback.AxisTrust, t0.Add(-10*time.Minute)), store.VoteTotals{Likes: 1, Distrusts: 1, Voters: 2}},
			}
			for _, st := range steps {
				f.submit(t, st.env)
				got, err := f.store.VoteTotals(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				if counts(got) != st.want {
					t.Fatalf("%s: totals %+v, want %+v", st.name, counts(got), st.want)
				}
				if rc := recount(t, f.store, d); counts(got) != rc {
					t.Fatalf("%s: totals %+v, recount %+v", st.name, counts(got), rc)
				}
			}
			// The vote covers both digests of its subject.
			other, _ := f.store.VoteTotals(context.Background(), app.Digests[1])
			if counts(other) != steps[len(steps)-1].want {
				t.Fatalf("sha512 totals %+v", other)
			}
			rep := f.reputation(t, feedback.Query{Digest: d})
			if rep.Quality.Positive != 1 || rep.Trust.Negative != 1 || rep.Voters != 2 || !rep.LastVoteAt.Equal(t0.Add(-30*time.Minute)) {
				t.Fatalf("reputation %+v", rep)
			}
			if rep.Quality.Score <= 0 || rep.Quality.Score >= 1 || rep.Trust.Score != 0 {
				t.Fatalf("scores %v %v", rep.Quality.Score, rep.Trust.Score)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), feedback.Options{})
			app := artifact("app.tar")
			d := app.Digests[0]
			alice := f.identity(t)
			old := voteEnv(t, alice, app, feedback.Dislike, t0.Add(-2*time.Hour))
			newer := voteEnv(t, alice, app, feedback.Like, t0.Add(-time.Hour))
			f.submit(t, old)
			f.submit(t, newer)
			want := store.VoteTotals{Likes: 1, Voters: 1}

			// The same signed statement again: the log returns the original.
			if _, created, err := f.log.Submit(context.Background(), old); err != nil || created {
				t.Fatalf("replay: created %v, err %v", created, err)
			}
			// An older vote signed anew (a different envelope with an older
			// timestamp) arriving after the newer one changes nothing.
			older := voteEnv(t, alice, app, feedback.Dislike, t0.Add(-90*time.Minute))
			if st := f.submit(t, older); st.Seq == 0 {
				t.Fatal("older vote not logged")
			}
			got, _ := f.store.VoteTotals(context.Background(), d)
			if counts(got) != want {
				t.Fatalf("after replays: %+v, want %+v", counts(got), want)
			}
			standing := func() store.Vote {
				t.Helper()
				vs, err := f.store.Votes(context.Background(), []digest.Digest{d}, []string{alice.id})
				if err != nil || len(vs) != 1 {
					t.Fatalf("alice's votes on %s: %+v, %v", d, vs, err)
				}
				return vs[0]
			}
			before := standing()
			// Same timestamp as the standing vote: the first logged stands.
			// Were the later one to win, anybody could flip a vote back
			// and forth by logging again, re-encoded (a new envelope
			// around the same signature), whichever of the two does not
			// stand.
			tie := voteEnv(t, alice, app, feedback.Dislike, t0.Add(-time.Hour))
			f.submit(t, tie)
			// A stranger re-encodes alice's votes: each is the entry alice
			// logged (her payload is logged once), which changes nothing,
			// not even when her standing vote was recorded (revocation
			// voids votes by it).
			for _, env := range [][]byte{newer, tie, old} {
				var reencoded bytes.Buffer
				if err := json.Indent(&reencoded, env, "", "  "); err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(env)
				if st, created, err := f.log.Submit(context.Background(), reencoded.Bytes()); err != nil || created || st.EnvelopeDigest.Hex() != hex.EncodeToString(sum[:]) {
					t.Fatalf("re-encoded vote: entry %d (%s), created %v, %v; want alice's entry", st.Seq, st.EnvelopeDigest, created, err)
				}
			}
			got, _ = f.store.VoteTotals(context.Background(), d)
			if counts(got) != want {
				t.Fatalf("after a tie and re-encoded replays: %+v, want %+v", counts(got), want)
			}
			if after := standing(); after.Seq != before.Seq || !after.RecordedAt.Equal(before.RecordedAt) || after.Value != before.Value {
				t.Fatalf("alice's standing vote after replays %+v, want %+v", after, before)
			}
			// A retraction older than the standing vote withdraws nothing.
			f.submit(t, retractEnv(t, alice, app, feedback.AxisQuality, t0.Add(-3*time.Hour)))
			got, _ = f.store.VoteTotals(context.Background(), d)
			if counts(got) != recount(t, f.store, d) || counts(got) != want {
				t.Fatalf("after old retraction: %+v", got)
			}
		})
	}
}

func TestFutureTimestamp(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{MaxSkew: time.Minute})
	app := artifact("app.tar")
	alice := f.identity(t)
	_, _, err := f.log.Submit(context.Background(), voteEnv(t, alice, app, feedback.Like, t0.Add(2*time.Minute)))
	if !errors.Is(err, feedback.ErrFutureTimestamp) || !errors.Is(err, statement.ErrRejected) || !strings.Contains(err.Error(), "predicate.timestamp") {
		t.Fatalf("vote 2 minutes ahead: %v", err)
	}
	if got, _ := f.store.VoteTotals(context.Background(), app.Digests[0]); got.Voters != 0 {
		t.Fatalf("rejected vote counted: %+v", got)
	}
	f.submit(t, voteEnv(t, alice, app, feedback.Like, t0.Add(30*time.Second)))
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{RateLimit: feedback.RateLimit{N: 3, Per: time.Hour}})
	alice, bob := f.identity(t), f.identity(t)
	for i := range 3 {
		f.submit(t, voteEnv(t, alice, artifact(fmt.Sprint(i)), feedback.Like, t0))
	}
	_, _, err := f.log.Submit(context.Background(), voteEnv(t, alice, artifact("3"), feedback.Like, t0))
	if !errors.Is(err, feedback.ErrRateLimited) {
		t.Fatalf("fourth vote within the hour: %v", err)
	}
	f.submit(t, voteEnv(t, bob, artifact("3"), feedback.Like, t0))
}

func TestValidatorRejects(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{})
	alice, bob := f.identity(t), f.identity(t)
	app := artifact("app.tar")
	raw := func(pred string, subjects ...envelope.Subject) []byte {
		p, err := envelope.NewStatement(feedback.VotePredicateType, []byte(pred), subjects...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ts := t0.Format(time.RFC3339)
	long := strings.Repeat("x", feedback.MaxReasonBytes+1)
	tests := []struct {
		name    string
		env     []byte
		wantErr error
		field   string
	}{
		{"unknown axis", signEnv(t, raw(`{"axis":"speed","value":"like","timestamp":"`+ts+`"}`, app), alice), feedback.ErrInvalidPredicate, "predicate.axis"},
		{"value of the other axis", signEnv(t, raw(`{"axis":"quality","value":"trust","timestamp":"`+ts+`"}`, app), alice), feedback.ErrInvalidPredicate, "predicate.value"},
		{"reason too long", signEnv(t, raw(`{"axis":"quality","value":"like","reason":"`+long+`","timestamp":"`+ts+`"}`, app), alice), feedback.ErrInvalidPredicate, "predicate.reason"},
		{"no timestamp", signEnv(t, raw(`{"axis":"quality","value":"like"}`, app), alice), feedback.ErrInvalidPredicate, "predicate.timestamp"},
		{"unknown field", signEnv(t, raw(`{"axis":"quality","value":"like","weight":9,"timestamp":"`+ts+`"}`, app), alice), feedback.ErrInvalidPredicate, "predicate"},
		{"two subjects", signEnv(t, raw(`{"axis":"quality","value":"like","timestamp":"`+ts+`"}`, app, artifact("b")), alice), feedback.ErrInvalidPredicate, "subject"},
		{"two signers", signEnv(t, raw(`{"axis":"quality","value":"like","timestamp":"`+ts+`"}`, app), alice, bob), feedback.ErrInvalidPredicate, "signatures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.log.Submit(context.Background(), tc.env)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want %v naming %s", err, tc.wantErr, tc.field)
			}
		})
	}
	if n, _ := f.store.LogSize(context.Background()); n != 0 {
		t.Fatalf("rejected statements stored: log size %d", n)
	}
}

// TestConcurrentVotes has 64 voters vote and change their votes on one
// digest at once; the totals must equal a recount of the vote rows.
func TestConcurrentVotes(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), feedback.Options{})
			app := artifact("popular.tar")
			const voters, rounds = 64, 4
			ids := make([]identity, voters)
			envs := make([][][]byte, voters)
			values := []string{feedback.Like, feedback.Dislike, feedback.Trust, feedback.Distrust}
			for i := range ids {
				ids[i] = f.identity(t)
				for r := range rounds {
					at := t0.Add(-time.Hour + time.Duration(r)*time.Minute)
					if r == rounds-1 && i%5 == 0 {
						envs[i] = append(envs[i], retractEnv(t, ids[i], app, feedback.AxisQuality, at))
						continue
					}
					envs[i] = append(envs[i], voteEnv(t, ids[i], app, values[(i+r)%len(values)], at))
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, voters*rounds)
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Odd voters send their votes newest first: order of
					// arrival must not matter, only signed time.
					order := []int{0, 1, 2, 3}
					if i%2 == 1 {
						order = []int{3, 2, 1, 0}
					}
					for _, r := range order {
						if _, _, err := f.log.Submit(context.Background(), envs[i][r]); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			d := app.Digests[0]
			got, err := f.store.VoteTotals(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if rc := recount(t, f.store, d); counts(got) != rc {
				t.Fatalf("totals %+v != recount %+v", counts(got), rc)
			}
			// Each voter's newest signed vote per axis stands, whatever the
			// order of arrival.
			var want store.VoteTotals
			for i := range ids {
				last := map[string]string{}
				for r := range rounds {
					v := values[(i+r)%len(values)]
					if r == rounds-1 && i%5 == 0 {
						v = feedback.Retract
					}
					axis := feedback.AxisQuality
					if v == feedback.Trust || v == feedback.Distrust {
						axis = feedback.AxisTrust
					}
					last[axis] = v
				}
				any := false
				for _, v := range last {
					switch v {
					case feedback.Like:
						want.Likes++
					case feedback.Dislike:
						want.Dislikes++
					case feedback.Trust:
						want.Trusts++
					case feedback.Distrust:
						want.Distrusts++
					}
					any = any || v != feedback.Retract
				}
				if any {
					want.Voters++
				}
			}
			if counts(got) != want {
				t.Fatalf("totals %+v, want %+v", counts(got), want)
			}
		})
	}
}

// TestStrictFields: each feedback predicate refuses a field it does not
// define, naming it.
func TestStrictFields(t *testing.T) {
	ts := `"timestamp":"2026-06-01T12:00:00Z"`
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		in    string
	}{
		{"vote", func(d []byte) error { _, err := feedback.ParseVote(d); return err }, `{"axis":"quality","value":"like",` + ts + `,"weight":9}`},
		{"trust", func(d []byte) error { _, err := feedback.ParseTrust(d); return err }, `{"keyid":"k","level":"high",` + ts + `,"weight":9}`},
		{"response", func(d []byte) error { _, err := feedback.ParseResponse(d); return err }, `{"text":"hi",` + ts + `,"weight":9}`},
	} {
		var e *envelope.Error
		if err := tc.parse([]byte(tc.in)); !errors.Is(err, feedback.ErrInvalidPredicate) || !errors.As(err, &e) || e.Field != "predicate.weight" {
			t.Errorf("%s with an unknown field = %v, want ErrInvalidPredicate on predicate.weight", tc.name, err)
		}
	}
}
