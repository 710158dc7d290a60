package statement_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
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
			f := newFixture(b, be.Open(b), nil)
			k := newSigner(b, f.store, envelope.KeyTypeED25519, true)
			envs := make([][]byte, b.N)
			for i := range envs {
				envs[i] = sign(b, `{}`, []envelope.Subject{artifact(fmt.Sprintf("bench-%d", i))}, k)
			}
			var next atomic.Int64
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stmts/s")
		})
	}
}
