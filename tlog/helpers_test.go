package tlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

// testOrigin is the origin (and key name) of the test log.
const testOrigin = "trustd.example/log"

// testKey returns a deterministic note key pair named name, derived from seed.
func testKey(t testing.TB, name string, seed byte) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// entry returns the distinct test entry (envelope bytes) for log index i in
// the history named by branch.
func entry(branch string, i uint64) []byte {
	return fmt.Appendf(nil, `{"payloadType":"application/vnd.in-toto+json","payload":%q,"seq":%d}`, branch, i+1)
}

// leafHashes returns the leaf hashes of entries 0..n-1 of branch.
func leafHashes(branch string, n uint64) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = tlog.LeafHash(entry(branch, uint64(i)))
	}
	return out
}

// naiveMTH is the RFC 6962 section 2.1 Merkle Tree Hash over leaf hashes,
// written directly with SHA-256 and recursion, independent of the library.
func naiveMTH(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := largestPow2Below(uint64(n))
		return naiveNode(naiveMTH(leaves[:k]), naiveMTH(leaves[k:]))
	}
}

// naiveNode is SHA-256(0x01 || left || right).
func naiveNode(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// largestPow2Below returns the largest power of two strictly less than n > 1.
func largestPow2Below(n uint64) uint64 {
	return 1 << (bits.Len64(n-1) - 1)
}

// naivePath is RFC 6962 section 2.1.1 PATH(m, D[n]) over leaf hashes.
func naivePath(m uint64, leaves [][]byte) [][]byte {
	n := uint64(len(leaves))
	if n == 1 {
		return [][]byte{}
	}
	k := largestPow2Below(n)
	if m < k {
		return append(naivePath(m, leaves[:k]), naiveMTH(leaves[k:]))
	}
	return append(naivePath(m-k, leaves[k:]), naiveMTH(leaves[:k]))
}

// naiveProof is RFC 6962 section 2.1.2 PROOF(m, D[n]) over leaf hashes, for
// 0 < m <= n.
func naiveProof(m uint64, leaves [][]byte) [][]byte {
	return naiveSubproof(m, leaves, true)
}

func naiveSubproof(m uint64, leaves [][]byte, b bool) [][]byte {
	n := uint64(len(leaves))
	if m == n {
		if b {
			return [][]byte{}
		}
		return [][]byte{naiveMTH(leaves)}
	}
	k := largestPow2Below(n)
	if m <= k {
		return append(naiveSubproof(m, leaves[:k], b), naiveMTH(leaves[k:]))
	}
	return append(naiveSubproof(m-k, leaves[k:], false), naiveMTH(leaves[:k]))
}

// compactRoot recomputes a root from scratch with a fresh compact.Range.
func compactRoot(t testing.TB, leaves [][]byte) []byte {
	t.Helper()
	if len(leaves) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := f.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildTree appends leaves to a fresh MemNodes in batches of chunk leaves
// (chunk 1 uses Append) and returns it.
func buildTree(t testing.TB, leaves [][]byte, chunk int) *tlog.MemNodes {
	t.Helper()
	ctx := context.Background()
	m := new(tlog.MemNodes)
	for start := 0; start < len(leaves); start += chunk {
		end := min(start+chunk, len(leaves))
		var err error
		if chunk == 1 {
			_, err = tlog.Append(ctx, m, uint64(start), leaves[start])
		} else {
			_, err = tlog.AppendBatch(ctx, m, uint64(start), leaves[start:end])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// flipBit returns a copy of p with bit bit of hash i inverted.
func flipBit(p [][]byte, i, bit int) [][]byte {
	q := make([][]byte, len(p))
	for j := range p {
		q[j] = bytes.Clone(p[j])
	}
	q[i][bit/8] ^= 1 << (bit % 8)
	return q
}

// countingReader counts LogNodes calls.
type countingReader struct {
	tlog.NodeReader
	calls int
}

func (c *countingReader) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	c.calls++
	return c.NodeReader.LogNodes(ctx, ids)
}

// tamperReader returns a stored node with one bit flipped.
type tamperReader struct {
	tlog.NodeReader
	id compact.NodeID
}

func (tr tamperReader) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	hs, err := tr.NodeReader.LogNodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id == tr.id {
			hs[i] = bytes.Clone(hs[i])
			hs[i][0] ^= 1
		}
	}
	return hs, nil
}

// fakeReader returns a fixed answer regardless of the request.
type fakeReader struct {
	hashes [][]byte
	err    error
}

func (f fakeReader) LogNodes(context.Context, []compact.NodeID) ([][]byte, error) {
	return f.hashes, f.err
}
