package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/trustd-dev/trustd/tlog"
)

// testLog is a log as the server keeps it: entries, their tree, and the key
// that signs its checkpoints.
type testLog struct {
	entries [][]byte
	nodes   *tlog.MemNodes
	skey    string
}

// newTestLog builds a log of the first k entries of branch "main" followed by
// n-k entries of branch.
func newTestLog(t testing.TB, k, n uint64, branch, skey string) *testLog {
	t.Helper()
	l := &testLog{nodes: new(tlog.MemNodes), skey: skey}
	for i := range n {
		b := "main"
		if i >= k {
			b = branch
		}
		l.entries = append(l.entries, entry(b, i))
	}
	var leaves [][]byte
	for _, e := range l.entries {
		leaves = append(leaves, tlog.LeafHash(e))
	}
	if _, err := tlog.AppendBatch(context.Background(), l.nodes, 0, leaves); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkpoint signs the checkpoint of the first size entries, as the server
// serves it.
func (l *testLog) checkpoint(t testing.TB, size uint64) []byte {
	t.Helper()
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: size, Hash: mustRoot(t, l.nodes, size)}, l.skey)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (l *testLog) consistency(t testing.TB, size1, size2 uint64) [][]byte {
	t.Helper()
	p, err := tlog.ConsistencyProof(context.Background(), l.nodes, size1, size2)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func open(t testing.TB, signed []byte, vkey string) tlog.Checkpoint {
	t.Helper()
	cp, err := tlog.OpenCheckpoint(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestTamperedEntry changes stored entry data after a checkpoint was signed:
// the client's recomputed leaf hash no longer verifies against it, and a tree
// rebuilt over the tampered entries cannot be proven consistent with it.
func TestTamperedEntry(t *testing.T) {
	ctx := context.Background()
	skey, vkey := testKey(t, testOrigin, 1)
	const n = 37
	l := newTestLog(t, n, n, "", skey)
	signed := open(t, l.checkpoint(t, n), vkey)

	for _, k := range []uint64{0, 1, 17, 31, 32, 36} {
		// The server serves entry k with one byte changed but the proof of
		// its honest tree.
		tampered := bytes.Clone(l.entries[k])
		tampered[len(tampered)/2] ^= 0x20
		p, err := tlog.InclusionProof(ctx, l.nodes, k, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(l.entries[k]), k, n, p, signed.Hash); err != nil {
			t.Fatalf("honest entry %d: %v", k, err)
		}
		err = tlog.VerifyInclusion(tlog.LeafHash(tampered), k, n, p, signed.Hash)
		if !errors.Is(err, tlog.ErrProofInvalid) {
			t.Fatalf("tampered entry %d: VerifyInclusion = %v, want ErrProofInvalid", k, err)
		}
		if want := "tlog: inclusion proof "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q lacks context", err)
		}

		// The server rewrites its tree over the tampered entry (and grows
		// it): the proof it can now produce fails against the old root.
		rewritten := &testLog{nodes: new(tlog.MemNodes), skey: skey}
		rewritten.entries = slices.Clone(l.entries)
		rewritten.entries[k] = tampered
		rewritten.entries = append(rewritten.entries, entry("main", n))
		var leaves [][]byte
		for _, e := range rewritten.entries {
			leaves = append(leaves, tlog.LeafHash(e))
		}
		if _, err := tlog.AppendBatch(ctx, rewritten.nodes, 0, leaves); err != nil {
			t.Fatal(err)
		}
		next := open(t, rewritten.checkpoint(t, n+1), vkey)
		if err := tlog.CheckConsistent(signed, next, rewritten.consistency(t, n, n+1)); !errors.Is(err, tlog.ErrFork) {
			t.Fatalf("rewritten entry %d: CheckConsistent = %v, want ErrFork", k, err)
		}
	}
}

// TestTamperedNode serves one stored node with a flipped bit: every
// inclusion proof that uses it fails, and the root no longer matches.
func TestTamperedNode(t *testing.T) {
	ctx := context.Background()
	const n = 21
	leaves := leafHashes("main", n)
	m := buildTree(t, leaves, 4)
	root := naiveMTH(leaves)
	for _, id := range []compact.NodeID{{Level: 0, Index: 3}, {Level: 2, Index: 1}, {Level: 4, Index: 0}, {Level: 0, Index: 20}} {
		r := tamperReader{NodeReader: m, id: id}
		begin, end := id.Coverage()
		failures := 0
		for i := range uint64(n) {
			p, err := tlog.InclusionProof(ctx, r, i, n)
			if err != nil {
				t.Fatal(err)
			}
			err = tlog.VerifyInclusion(leaves[i], i, n, p, root)
			if inside := i >= begin && i < end; inside && err != nil {
				t.Fatalf("node %v: leaf %d under it should not need it: %v", id, i, err)
			}
			if err != nil {
				failures++
			}
		}
		if failures == 0 {
			t.Fatalf("tampered node %v went unnoticed by every inclusion proof", id)
		}
		// Root reads only the right edge; a tampered edge node changes it.
		onEdge := slices.Contains(compact.RangeNodes(0, n, nil), id)
		if got := mustRoot(t, r, n); bytes.Equal(got, root) == onEdge {
			t.Fatalf("tampered node %v (on right edge: %v): root %x, honest root %x", id, onEdge, got, root)
		}
	}
}

// TestForkDetected builds two histories that share the first k entries and
// then diverge, and checks that a watcher who saw a checkpoint from one
// detects any checkpoint of the other that it is shown, whatever proof the
// server sends.
func TestForkDetected(t *testing.T) {
	skey, vkey := testKey(t, testOrigin, 1)
	const n = 24
	a := newTestLog(t, n, n, "", skey)
	for k := range uint64(20) {
		b := newTestLog(t, k, n, "fork", skey)
		for prevSize := range uint64(n + 1) {
			prev := open(t, a.checkpoint(t, prevSize), vkey)
			for nextSize := prevSize; nextSize <= n; nextSize++ {
				next := open(t, b.checkpoint(t, nextSize), vkey)
				err := tlog.CheckConsistent(prev, next, b.consistency(t, prevSize, nextSize))
				if prevSize <= k {
					// The watcher saw only the shared prefix: nothing is
					// wrong with B from where it stands.
					if err != nil {
						t.Fatalf("k=%d %d->%d within shared prefix: %v", k, prevSize, nextSize, err)
					}
					continue
				}
				if !errors.Is(err, tlog.ErrFork) {
					t.Fatalf("k=%d %d->%d: CheckConsistent = %v, want ErrFork", k, prevSize, nextSize, err)
				}
				// A's own proof does not help B's checkpoint either.
				if prevSize < nextSize {
					if err := tlog.CheckConsistent(prev, next, a.consistency(t, prevSize, nextSize)); !errors.Is(err, tlog.ErrFork) {
						t.Fatalf("k=%d %d->%d with A's proof: %v", k, prevSize, nextSize, err)
					}
				}
			}
		}
	}
}

func TestCheckConsistent(t *testing.T) {
	skey, vkey := testKey(t, testOrigin, 1)
	a := newTestLog(t, 40, 40, "", skey)
	b := newTestLog(t, 10, 40, "fork", skey)
	cp := func(l *testLog, size uint64) tlog.Checkpoint { return open(t, l.checkpoint(t, size), vkey) }
	short := cp(a, 10)
	short.Hash = short.Hash[:31]
	other := cp(a, 10)
	other.Origin = "other.example/log"

	tests := []struct {
		name       string
		prev, next tlog.Checkpoint
		proof      [][]byte
		want       error
		message    string
	}{
		{"honest growth", cp(a, 10), cp(a, 30), a.consistency(t, 10, 30), nil, ""},
		{"honest growth from empty", cp(a, 0), cp(a, 30), nil, nil, ""},
		{"honest growth from power of two", cp(a, 16), cp(a, 40), a.consistency(t, 16, 40), nil, ""},
		{"same checkpoint", cp(a, 30), cp(a, 30), nil, nil, ""},
		{"rollback", cp(a, 30), cp(a, 29), nil, tlog.ErrRollback, "checkpoint for size 29 after one for size 30"},
		{"rollback to empty", cp(a, 1), cp(a, 0), nil, tlog.ErrRollback, ""},
		{"same size different root", cp(a, 30), cp(b, 30), nil, tlog.ErrFork, "two checkpoints for size 30 with different roots"},
		{"forked growth", cp(a, 20), cp(b, 30), b.consistency(t, 20, 30), tlog.ErrFork, "checkpoint for size 30 is not consistent with previously seen size 20"},
		{"forked growth is also a bad proof", cp(a, 20), cp(b, 30), b.consistency(t, 20, 30), tlog.ErrProofInvalid, "computed root"},
		{"honest growth, proof missing", cp(a, 10), cp(a, 30), nil, tlog.ErrFork, "empty proof"},
		{"honest growth, proof truncated", cp(a, 10), cp(a, 30), a.consistency(t, 10, 30)[1:], tlog.ErrFork, "wrong proof size"},
		{"honest growth, proof for other sizes", cp(a, 10), cp(a, 30), a.consistency(t, 11, 30), tlog.ErrFork, ""},
		{"honest growth, flipped bit", cp(a, 10), cp(a, 30), flipBit(a.consistency(t, 10, 30), 0, 3), tlog.ErrFork, ""},
		{"oversized proof", cp(a, 10), cp(a, 30), make([][]byte, 65), tlog.ErrFork, "proof has 65 hashes, limit 64"},
		{"short proof hash", cp(a, 10), cp(a, 30), [][]byte{make([]byte, 32), make([]byte, 31)}, tlog.ErrFork, "proof hash 1 is 31 bytes, want 32"},
		{"short previous root", short, cp(a, 30), a.consistency(t, 10, 30), tlog.ErrBadCheckpoint, "previous checkpoint root is 31 bytes"},
		{"different origin", other, cp(a, 30), a.consistency(t, 10, 30), tlog.ErrBadCheckpoint, `origin "trustd.example/log" differs`},
	}
	for _, tc := range tests {
		err := tlog.CheckConsistent(tc.prev, tc.next, tc.proof)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "tlog: ") || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: CheckConsistent = %v, want %v containing %q", tc.name, err, tc.want, tc.message)
		}
	}
}

func TestVerifyBounds(t *testing.T) {
	h := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name    string
		err     error
		message string
	}{
		{"index beyond size", tlog.VerifyInclusion(h, 5, 5, nil, h), "tlog: inclusion proof 5 in 5: proof invalid: index 5 is not below tree size 5"},
		{"short leaf hash", tlog.VerifyInclusion(h[:31], 0, 1, nil, h), "leaf hash is 31 bytes, want 32"},
		{"long root", tlog.VerifyInclusion(h, 0, 1, nil, append(h, 0)), "root hash is 33 bytes, want 32"},
		{"oversized inclusion proof", tlog.VerifyInclusion(h, 0, 1<<62, make([][]byte, 65), h), "proof has 65 hashes, limit 64"},
		{"short inclusion proof hash", tlog.VerifyInclusion(h, 0, 4, [][]byte{h, h[:1]}, h), "tlog: inclusion proof 0 in 4: proof invalid: proof hash 1 is 1 bytes, want 32"},
		{"wrong inclusion proof length", tlog.VerifyInclusion(h, 0, 4, [][]byte{h}, h), "wrong proof size 1, want 2"},
		{"root mismatch", tlog.VerifyInclusion(h, 0, 1, nil, tlog.EmptyRoot()), "computed root 0101"},
		{"consistency sizes reversed", tlog.VerifyConsistency(5, 4, nil, h, h), "tlog: consistency proof 5 to 4: proof invalid: size 5 is larger than size 4"},
		{"short first root", tlog.VerifyConsistency(1, 2, [][]byte{h}, nil, h), "first root hash is 0 bytes, want 32"},
		{"short second root", tlog.VerifyConsistency(1, 2, [][]byte{h}, h, h[:2]), "second root hash is 2 bytes, want 32"},
		{"oversized consistency proof", tlog.VerifyConsistency(1, 2, make([][]byte, 100), h, h), "proof has 100 hashes, limit 64"},
		{"non-empty proof for equal sizes", tlog.VerifyConsistency(3, 3, [][]byte{h}, h, h), "proof is not empty"},
		{"non-empty proof from empty", tlog.VerifyConsistency(0, 3, [][]byte{h}, h, h), "expected empty proof"},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tlog.ErrProofInvalid) || !strings.Contains(tc.err.Error(), tc.message) {
			t.Errorf("%s: %v, want ErrProofInvalid containing %q", tc.name, tc.err, tc.message)
		}
	}
}

// TestMaxProofHashes checks that MaxProofHashes never rejects a real proof:
// proofs for trees of up to 2^63 leaves have at most 64 hashes.
func TestMaxProofHashes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const top = uint64(1) << 63
	sizes := []uint64{1, 2, 3, top - 3, top - 2, top - 1, top}
	for range 2000 {
		sizes = append(sizes, 1+rng.Uint64N(top), top-rng.Uint64N(1<<20), 1+rng.Uint64N(1<<20))
	}
	longest := 0
	for _, size2 := range sizes {
		for _, size1 := range []uint64{1, 2, size2 / 3, size2 - 1, size2 - 2, 1 + rng.Uint64N(size2)} {
			if size1 == 0 || size1 > size2 {
				continue
			}
			c, err := proof.Consistency(size1, size2)
			if err != nil {
				t.Fatal(err)
			}
			i, err := proof.Inclusion(size1-1, size2)
			if err != nil {
				t.Fatal(err)
			}
			longest = max(longest, proofLen(t, c), proofLen(t, i))
		}
	}
	t.Logf("longest proof: %d hashes", longest)
	if longest > tlog.MaxProofHashes {
		t.Fatalf("a proof needs %d node hashes, more than MaxProofHashes %d", longest, tlog.MaxProofHashes)
	}
}

// proofLen is the number of hashes of a proof with the shape of nodes, once
// the nodes under its ephemeral node are folded into one.
func proofLen(t *testing.T, nodes proof.Nodes) int {
	t.Helper()
	h := make([][]byte, len(nodes.IDs))
	p, err := nodes.Rehash(h, func(left, _ []byte) []byte { return left })
	if err != nil {
		t.Fatal(err)
	}
	return len(p)
}
