package identity_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// BenchmarkVerified measures one Verified call for a key bound both ways
// (the cost --verified-only adds per counted voter), and a reputation
// query with --verified-only over voters (half of them verified).
//
//	scripts/with-postgres.sh go test -run '^$' -bench Verified -benchtime 2s ./identity/
func BenchmarkVerified(b *testing.B) {
	const voters = 100
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			e := newEnv(b, be.Open(b))
			sum := sha256.Sum256([]byte("bench"))
			d, err := digest.New(digest.SHA256, sum[:])
			if err != nil {
				b.Fatal(err)
			}
			subj := envelope.Subject{Name: "bench", Digests: []digest.Digest{d}}
			var bound string
			for i := range voters {
				v := e.voter(b)
				if i%2 == 0 {
					subject := fmt.Sprintf("voter-%d@example.com", i)
					e.bindKey(b, v, subject)
					e.bindIdentity(b, v.id, subject)
					bound = v.id
				}
				payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Like, Timestamp: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := e.log.Submit(context.Background(), e.sign(b, payload, v)); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.Run("key", func(b *testing.B) {
				for b.Loop() {
					if ok, err := e.idv.Verified(ctx, bound); err != nil || !ok {
						b.Fatalf("Verified = %v, %v", ok, err)
					}
				}
			})
			b.Run(fmt.Sprintf("reputation-%d-voters", voters), func(b *testing.B) {
				for b.Loop() {
					rep, err := e.fb.Reputation(ctx, feedback.Query{Digest: d, VerifiedOnly: true})
					if err != nil || rep.Voters != voters/2 {
						b.Fatalf("Reputation = %d voters, %v", rep.Voters, err)
					}
				}
			})
		})
	}
}

// BenchmarkVerifiedOnly measures a reputation query with --verified-only
// over 100 and 10,000 voters (half of them bound both ways to a Sigstore
// identity), reporting p50 and p99: the voters' identities and
// revocations are read for all of them at once (VerifiedKeys,
// KeysRevokedAt). Seeding 10,000 voters through the log takes a minute or
// two on a small machine. TRUSTD_BENCH_VOTERS=N runs N voters instead.
//
//	scripts/with-postgres.sh go test -run '^$' -bench VerifiedOnly -benchtime 50x -timeout 30m ./identity/
func BenchmarkVerifiedOnly(b *testing.B) {
	for _, be := range teststore.Backends() {
		sizes := []int{100, 10_000}
		if n, err := strconv.Atoi(os.Getenv("TRUSTD_BENCH_VOTERS")); err == nil && n > 0 {
			sizes = []int{n} // e.g. to profile a size between
		}
		for _, voters := range sizes {
			b.Run(fmt.Sprintf("%s/voters-%d", be.Name, voters), func(b *testing.B) {
				e := newEnv(b, be.Open(b))
				sum := sha256.Sum256([]byte("bench"))
				d, err := digest.New(digest.SHA256, sum[:])
				if err != nil {
					b.Fatal(err)
				}
				subj := envelope.Subject{Name: "bench", Digests: []digest.Digest{d}}
				ctx := context.Background()
				start := time.Now()
				var (
					wg   sync.WaitGroup
					next atomic.Int64
				)
				for range 8 {
					wg.Go(func() {
						for i := int(next.Add(1) - 1); i < voters; i = int(next.Add(1) - 1) {
							v := e.voter(b)
							if i%2 == 0 {
								subject := fmt.Sprintf("voter-%d@example.com", i)
								e.bindKey(b, v, subject)
								e.bindIdentity(b, v.id, subject)
							}
							payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Like, Timestamp: time.Now()})
							if err != nil {
								b.Error(err)
								return
							}
							if _, _, err := e.log.Submit(ctx, e.sign(b, payload, v)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				if b.Failed() {
					return
				}
				b.Logf("seeded %d voters in %s", voters, time.Since(start).Round(time.Second))
				measure := func(b *testing.B, fb *feedback.Service) {
					// The first query after the log grew reads what the
					// later ones keep: reported apart, as cold_ms.
					t := time.Now()
					if _, err := fb.Reputation(ctx, feedback.Query{Digest: d, VerifiedOnly: true}); err != nil {
						b.Fatal(err)
					}
					cold := time.Since(t)
					var ds []time.Duration
					for b.Loop() {
						t := time.Now()
						rep, err := fb.Reputation(ctx, feedback.Query{Digest: d, VerifiedOnly: true})
						if err != nil || rep.Voters != int64(voters/2) {
							b.Fatalf("Reputation = %d voters, %v", rep.Voters, err)
						}
						ds = append(ds, time.Since(t))
					}
					slices.Sort(ds)
					pct := func(p float64) float64 {
						return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))].Microseconds()) / 1000
					}
					b.ReportMetric(pct(0.50), "p50_ms")
					b.ReportMetric(pct(0.99), "p99_ms")
					b.ReportMetric(float64(cold.Microseconds())/1000, "cold_ms")
				}
				b.Run("bulk", func(b *testing.B) { measure(b, e.fb) })
				if voters <= 100 {
					// The path before the binding index: a dozen reads per
					// voter (Verified and KeyRevokedAt one voter at a time).
					b.Run("per-voter", func(b *testing.B) {
						measure(b, feedback.New(e.store, feedback.Options{Identities: perVoter{e.idv}, Revocations: perKey{e.rev}}))
					})
				}
			})
		}
	}
}

// perVoter hides VerifiedKeys: Verified voter by voter.
type perVoter struct{ idv *identity.Verifier }

func (p perVoter) Verified(ctx context.Context, keyID string) (bool, error) {
	return p.idv.Verified(ctx, keyID)
}

// perKey hides KeysRevokedAt: KeyRevokedAt key by key.
type perKey struct{ feedback.Revocations }
