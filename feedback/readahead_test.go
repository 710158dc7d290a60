package feedback_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store"
)

// TestReadAheadBehindResubmission: a voter's second vote must see the
// first even when a batch of nothing but resubmitted envelopes came
// between them. The vote indexer's read goes with an append's first round
// trip, before the batch before it has committed; a batch that creates
// nothing leaves the log at the tip of the batch before, so the batch
// after it plans against that tip while the first may still be
// committing. Anyone can resubmit any envelope, so were the vote batch
// to read the voter's standing votes before the first vote committed, a
// stranger with one key could count each of its votes twice on someone
// else's artifact, at will. A deferred trigger holds the first vote's
// COMMIT on an advisory lock the test owns, after the batch published
// its tip. PostgreSQL only: SQLite's one writer has no batch planned
// while another commits.
func TestReadAheadBehindResubmission(t *testing.T) {
	ctx := context.Background()
	s, url := teststore.Postgres(t)
	f := newFixture(t, s, feedback.Options{})
	voter, other := f.identity(t), f.identity(t)
	app := artifact("readahead.tar")
	// app's digests are known before the race, so the second vote's
	// insert of them cannot fail on the first's and send it under the
	// lock; elsewhere is what the resubmitted envelope is about.
	f.submit(t, voteEnv(t, other, app, feedback.Like, t0.Add(-time.Hour)))
	resubmitted := voteEnv(t, other, artifact("elsewhere.tar"), feedback.Like, t0.Add(-time.Hour))
	f.submit(t, resubmitted)

	hold := testpg.HoldCommits(t, url)
	type outcome struct {
		rec store.Statement
		err error
	}
	submit := func(raw []byte) chan outcome {
		c := make(chan outcome, 1)
		go func() {
			rec, _, err := f.log.Submit(ctx, raw)
			c <- outcome{rec, err}
		}()
		return c
	}

	first := submit(voteEnv(t, voter, app, feedback.Like, t0.Add(-2*time.Minute)))
	hold.WaitFor(t, "advisory", 1) // the first vote is in its COMMIT
	if _, created, err := f.log.Submit(ctx, resubmitted); err != nil || created {
		t.Fatalf("resubmission while the first vote commits: created %v, %v", created, err)
	}
	second := submit(voteEnv(t, voter, app, feedback.Dislike, t0.Add(-time.Minute)))
	hold.WaitFor(t, "advisory", 2) // the second waits for the first's log lock
	hold.Release(t)
	for _, c := range []chan outcome{first, second} {
		if o := <-c; o.err != nil {
			t.Fatalf("vote: %v", o.err)
		}
	}
	d := app.Digests[0]
	got, err := s.VoteTotals(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	want := store.VoteTotals{Likes: 1, Dislikes: 1, Voters: 2}
	if counts(got) != want {
		t.Fatalf("totals %+v, want %+v (the voter's dislike replaces their like)", counts(got), want)
	}
	if rc := recount(t, s, d); rc != want {
		t.Fatalf("vote rows count %+v, want %+v", rc, want)
	}
}
