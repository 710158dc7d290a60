package feedback_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// TestWebDifferential checks the web of trust the reputation query walks
// (the compiled graph, refreshed by what the log appended since) against
// the one trustd computed before (edges read from the store hop by hop),
// and the web as of every log size (versioned edges) against a replay of
// the logged trust statements up to it, on random webs: statements signed
// out of order (an older signed time never supersedes), withdrawals,
// distrust, revoked keys, and a first part logged by a trustd without
// the versioned table, replayed by the backfill.
func TestWebDifferential(t *testing.T) {
	levels := []string{feedback.LevelHigh, feedback.LevelMedium, feedback.LevelLow, feedback.LevelDistrust, feedback.LevelNone}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for round := range 3 {
				t.Run(fmt.Sprint("seed-", round), func(t *testing.T) {
					ctx := context.Background()
					rng := rand.New(rand.NewPCG(uint64(round), 17))
					s := b.Open(t)
					svc := feedback.New(s, feedback.Options{Now: func() time.Time { return t0 }})
					legacy := true
					ix := svc.Indexers()
					current := ix[feedback.TrustPredicateType]
					ix[feedback.TrustPredicateType] = func(ctx context.Context, w store.Writer, e store.Statement) error {
						if legacy {
							return svc.IndexTrustUnversioned(ctx, w, e)
						}
						return current(ctx, w, e)
					}
					skey, vkey, err := tlog.GenerateLogKey("web-differential")
					if err != nil {
						t.Fatal(err)
					}
					l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: svc.Validators(), Indexers: ix})
					if err != nil {
						t.Fatal(err)
					}
					f := &fixture{store: s, log: l, svc: svc}
					ids := make([]identity, 10)
					for i := range ids {
						ids[i] = f.identity(t)
					}
					revoked := revokedSet{}
					for _, i := range rng.Perm(len(ids))[:2] {
						revoked[ids[i].id] = []time.Time{{}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)}[rng.IntN(3)]
					}
					check := feedback.New(s, feedback.Options{Now: func() time.Time { return t0 }, Revocations: revoked})
					roots := func() []string {
						rs := []string{ids[rng.IntN(len(ids))].id}
						if rng.IntN(3) == 0 {
							rs = append(rs, ids[rng.IntN(len(ids))].id)
						}
						return rs
					}
					var sizes []int64
					for n := range 60 {
						if n == 30 {
							// The first half was logged before the
							// versioned web existed: the migration marks
							// it for the backfill.
							size, err := s.LogSize(ctx)
							if err != nil {
								t.Fatal(err)
							}
							if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
								return w.SetDerivedBackfill(ctx, store.BackfillTrustEdgeVersions, int64(size))
							}); err != nil {
								t.Fatal(err)
							}
							legacy = false
						}
						from, to := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
						if from.id == to.id {
							continue
						}
						f.trust(t, from, to, levels[rng.IntN(len(levels))], t0.Add(-time.Duration(rng.IntN(100))*time.Minute))
						size, err := s.LogSize(ctx)
						if err != nil {
							t.Fatal(err)
						}
						sizes = append(sizes, int64(size))
						if !legacy && n%5 == 0 {
							// The compiled graph, refreshed as the log
							// grows, against the old hop-by-hop read.
							rs, depth := roots(), 1+rng.IntN(4)
							old, err := feedback.OldWeb(ctx, check, rs, depth)
							if err != nil {
								t.Fatal(err)
							}
							got, err := feedback.NewWeb(ctx, check, rs, depth)
							if err != nil {
								t.Fatal(err)
							}
							if !reflect.DeepEqual(old, got) {
								t.Fatalf("after %d statements, roots %v depth %d:\nold %v\nnew %v", n, rs, depth, old, got)
							}
						}
					}
					n, err := svc.IndexLoggedTrust(ctx, s)
					if err != nil || n == 0 {
						t.Fatalf("backfill = %d, %v; want the legacy statements replayed", n, err)
					}
					if again, err := svc.IndexLoggedTrust(ctx, s); err != nil || again != 0 {
						t.Fatalf("second backfill = %d, %v; want nothing to do", again, err)
					}
					for _, size := range append(sizes, 1) {
						for range 3 {
							rs, depth := roots(), 1+rng.IntN(4)
							want, err := feedback.ReplayWeb(ctx, check, rs, depth, size)
							if err != nil {
								t.Fatal(err)
							}
							got, err := feedback.WebAt(ctx, check, rs, depth, size)
							if err != nil {
								t.Fatal(err)
							}
							if !reflect.DeepEqual(want, got) {
								t.Fatalf("as of log size %d, roots %v depth %d:\nreplayed %v\nversioned %v", size, rs, depth, want, got)
							}
						}
					}
					// And the reputation query's web now equals both.
					rs := roots()
					old, err := feedback.OldWeb(ctx, check, rs, 3)
					if err != nil {
						t.Fatal(err)
					}
					got, err := feedback.NewWeb(ctx, check, rs, 3)
					if err != nil {
						t.Fatal(err)
					}
					replayed, err := feedback.ReplayWeb(ctx, check, rs, 3, sizes[len(sizes)-1])
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(old, got) || !reflect.DeepEqual(replayed, got) {
						t.Fatalf("roots %v: old %v\nnew %v\nreplayed %v", rs, old, got, replayed)
					}
				})
			}
		})
	}
}
