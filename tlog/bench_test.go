package tlog_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/trustd-dev/trustd/tlog"
)

// benchSize is the size of the benchmark log.
const benchSize = 1_000_000

var (
	benchOnce  sync.Once
	benchNodes *tlog.MemNodes
	benchRoot  []byte
	benchErr   error
)

// benchLeaf is a cheap distinct leaf hash for benchmark entry i.
func benchLeaf(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	h := sha256.Sum256(b[:])
	return h[:]
}

// benchTree builds, once per test binary, a MemNodes tree of benchSize
// leaves with AppendBatch in batches of 1000. Benchmarks may append beyond
// benchSize; proofs and the root of the first benchSize leaves never change.
func benchTree(b *testing.B) (*tlog.MemNodes, []byte) {
	b.Helper()
	benchOnce.Do(func() {
		ctx := context.Background()
		m := new(tlog.MemNodes)
		batch := make([][]byte, 0, 1000)
		for size := uint64(0); size < benchSize; size += uint64(len(batch)) {
			batch = batch[:0]
			for i := size; i < size+1000 && i < benchSize; i++ {
				batch = append(batch, benchLeaf(i))
			}
			benchRoot, benchErr = tlog.AppendBatch(ctx, m, size, batch)
			if benchErr != nil {
				return
			}
		}
		benchNodes = m
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchNodes, benchRoot
}

// BenchmarkInclusionProof measures one inclusion proof for a random leaf of
// a 1,000,000-leaf log (one LogNodes call on MemNodes plus the rehash).
func BenchmarkInclusionProof(b *testing.B) {
	m, root := benchTree(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	// Check a few proofs before timing.
	for range 100 {
		i := rng.Uint64N(benchSize)
		p, err := tlog.InclusionProof(ctx, m, i, benchSize)
		if err != nil {
			b.Fatal(err)
		}
		if err := tlog.VerifyInclusion(benchLeaf(i), i, benchSize, p, root); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := tlog.InclusionProof(ctx, m, rng.Uint64N(benchSize), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyInclusion measures the client side: verifying one inclusion
// proof against the root of a 1,000,000-leaf log.
func BenchmarkVerifyInclusion(b *testing.B) {
	m, root := benchTree(b)
	ctx := context.Background()
	const index = 123_457
	p, err := tlog.InclusionProof(ctx, m, index, benchSize)
	if err != nil {
		b.Fatal(err)
	}
	leaf := benchLeaf(index)
	for b.Loop() {
		if err := tlog.VerifyInclusion(leaf, index, benchSize, p, root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistencyProof measures one consistency proof between random
// sizes of a 1,000,000-leaf log.
func BenchmarkConsistencyProof(b *testing.B) {
	m, _ := benchTree(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	for b.Loop() {
		size1 := 1 + rng.Uint64N(benchSize-1)
		if _, err := tlog.ConsistencyProof(ctx, m, size1, benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAppendMu guards benchAppendSize, the current size of the shared tree
// beyond benchSize.
var (
	benchAppendMu   sync.Mutex
	benchAppendSize uint64 = benchSize
)

// BenchmarkAppend measures appending one leaf to a log of (at least)
// 1,000,000 leaves: read the right edge, hash, write the new nodes.
func BenchmarkAppend(b *testing.B) {
	m, _ := benchTree(b)
	ctx := context.Background()
	benchAppendMu.Lock()
	defer benchAppendMu.Unlock()
	leaf := benchLeaf(1 << 40)
	for b.Loop() {
		if _, err := tlog.Append(ctx, m, benchAppendSize, leaf); err != nil {
			b.Fatal(err)
		}
		benchAppendSize++
	}
}

// BenchmarkAppendBatch100 measures appending 100 leaves in one AppendBatch
// call to a log of (at least) 1,000,000 leaves; ns/op is per batch.
func BenchmarkAppendBatch100(b *testing.B) {
	m, _ := benchTree(b)
	ctx := context.Background()
	benchAppendMu.Lock()
	defer benchAppendMu.Unlock()
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = benchLeaf(1<<41 + uint64(i))
	}
	for b.Loop() {
		if _, err := tlog.AppendBatch(ctx, m, benchAppendSize, batch); err != nil {
			b.Fatal(err)
		}
		benchAppendSize += uint64(len(batch))
	}
}
