package statement_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// BenchmarkSubmit measures statements accepted per second at concurrency 16
// (ed25519, one subject), including verification and the log append. The
// envelopes are signed before the timer starts: signing is the client's
// work.
//
//	make test-go TESTFLAGS='-run ^$ -bench Submit -benchtime 20000x ./statement'
func BenchmarkSubmit(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s, figs := teststore.OpenWriteBench(b, be)
			f := newFixture(b, s, nil)
			k := newSigner(b, f.store, envelope.KeyTypeED25519, true)
			envs := make([][]byte, b.N)
			for i := range envs {
				envs[i] = sign(b, `{}`, []envelope.Subject{artifact(fmt.Sprintf("bench-%d", i))}, k)
			}
			var next atomic.Int64
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			figs.Start(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if _, _, err := f.log.Submit(context.Background(), envs[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "stmts/s")
			figs.Report(b, b.N, rate)
		})
	}
}

// storeNodes reads and writes tree nodes through a store, as the log does.
type storeNodes struct {
	r store.Reader
	w store.Writer
}

func (n storeNodes) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	if n.w != nil {
		return n.w.LogNodes(ctx, ids)
	}
	return n.r.LogNodes(ctx, ids)
}

func (n storeNodes) PutLogNodes(ctx context.Context, ns []tlog.Node) error {
	out := make([]store.LogNode, len(ns))
	for i, x := range ns {
		out[i] = store.LogNode{ID: x.ID, Hash: x.Hash}
	}
	return n.w.PutLogNodes(ctx, out)
}

// BenchmarkInclusionProofStore measures inclusion proof generation for a
// log of 1,000,000 entries whose nodes live in the store (one indexed
// query per proof), at a random index per op.
//
//	make test-go TESTFLAGS='-run ^$ -bench InclusionProofStore -benchtime 2000x ./statement'
func BenchmarkInclusionProofStore(b *testing.B) {
	const size, chunk = 1_000_000, 20_000
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b)
			ctx := context.Background()
			leaves := make([][]byte, chunk)
			for done := uint64(0); done < size; done += chunk {
				for i := range leaves {
					leaves[i] = tlog.LeafHash([]byte(fmt.Sprint(done + uint64(i))))
				}
				err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
					_, err := tlog.AppendBatch(ctx, storeNodes{w: w}, done, leaves)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for b.Loop() {
				if _, err := tlog.InclusionProof(ctx, storeNodes{r: s}, rng.Uint64N(size), size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
