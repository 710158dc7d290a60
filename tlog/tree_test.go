package tlog_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trustd-dev/trustd/tlog"
)

func TestLeafHashAndEmptyRoot(t *testing.T) {
	// RFC 6962 test vectors: the empty tree and the leaf hash of empty data.
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"empty root", tlog.EmptyRoot(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"empty leaf", tlog.LeafHash(nil), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
		{"root of size 0", mustRoot(t, new(tlog.MemNodes), 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, got, tc.want)
		}
	}
	if !bytes.Equal(tlog.LeafHash([]byte("x")), rfc6962.DefaultHasher.HashLeaf([]byte("x"))) {
		t.Error("LeafHash differs from rfc6962 HashLeaf")
	}
}

// TestAppendRoots builds trees of 0..300 leaves one leaf at a time and in
// batches of several chunk sizes, and checks every root against an
// independent recursive MTH and a fresh compact range, and that every build
// stores exactly the same complete nodes.
func TestAppendRoots(t *testing.T) {
	const n = 300
	ctx := context.Background()
	leaves := leafHashes("main", n)

	// One at a time, checking the returned root after every append.
	single := new(tlog.MemNodes)
	for i := range uint64(n) {
		root, err := tlog.Append(ctx, single, i, leaves[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := naiveMTH(leaves[:i+1]); !bytes.Equal(root, want) {
			t.Fatalf("Append to size %d: root %x, want %x", i+1, root, want)
		}
	}
	for size := uint64(0); size <= n; size++ {
		want := naiveMTH(leaves[:size])
		if got := compactRoot(t, leaves[:size]); !bytes.Equal(got, want) {
			t.Fatalf("compact range root of %d = %x, naive MTH %x", size, got, want)
		}
		if got := mustRoot(t, single, size); !bytes.Equal(got, want) {
			t.Fatalf("Root(%d) = %x, want %x", size, got, want)
		}
	}
	if got, want := single.Len(), completeNodes(n); got != want {
		t.Fatalf("stored %d nodes for %d leaves, want %d", got, n, want)
	}
	wantNodes := readAll(t, single, n)

	for _, chunk := range []int{2, 3, 5, 8, 13, 64, 100, 299, 300, 1000} {
		m := new(tlog.MemNodes)
		for start := 0; start < n; start += chunk {
			end := min(start+chunk, n)
			root, err := tlog.AppendBatch(ctx, m, uint64(start), leaves[start:end])
			if err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
			if want := naiveMTH(leaves[:end]); !bytes.Equal(root, want) {
				t.Fatalf("chunk %d: AppendBatch to size %d: root %x, want %x", chunk, end, root, want)
			}
		}
		if got, want := m.Len(), completeNodes(n); got != want {
			t.Fatalf("chunk %d: stored %d nodes, want %d", chunk, got, want)
		}
		got := readAll(t, m, n)
		for i := range got {
			if !bytes.Equal(got[i], wantNodes[i]) {
				t.Fatalf("chunk %d: node %d differs from the one-at-a-time build", chunk, i)
			}
		}
		for size := uint64(0); size <= n; size++ {
			if got, want := mustRoot(t, m, size), naiveMTH(leaves[:size]); !bytes.Equal(got, want) {
				t.Fatalf("chunk %d: Root(%d) = %x, want %x", chunk, size, got, want)
			}
		}
	}
}

// TestAppendLargeSizes grows one tree in random batches and checks the root
// at several large sizes against a fresh compact range over all leaves.
func TestAppendLargeSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("large trees in -short mode")
	}
	ctx := context.Background()
	checks := []uint64{1000, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 100003}
	leaves := leafHashes("large", checks[len(checks)-1])
	m := new(tlog.MemNodes)
	rng := rand.New(rand.NewPCG(1, 2))
	size := uint64(0)
	for _, target := range checks {
		for size < target {
			k := min(1+rng.Uint64N(700), target-size)
			root, err := tlog.AppendBatch(ctx, m, size, leaves[size:size+k])
			if err != nil {
				t.Fatal(err)
			}
			size += k
			if size == target {
				if want := compactRoot(t, leaves[:size]); !bytes.Equal(root, want) {
					t.Fatalf("size %d: root %x, want %x", size, root, want)
				}
			}
		}
		root := mustRoot(t, m, size)
		for range 20 {
			i := rng.Uint64N(size)
			p, err := tlog.InclusionProof(ctx, m, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i], p, root); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
		}
	}
	if got, want := m.Len(), completeNodes(size); got != want {
		t.Fatalf("stored %d nodes, want %d", got, want)
	}
}

func TestAppendBatchEmpty(t *testing.T) {
	ctx := context.Background()
	leaves := leafHashes("main", 5)
	m := buildTree(t, leaves, 2)
	before := m.Len()
	for _, size := range []uint64{0, 3, 5} {
		root, err := tlog.AppendBatch(ctx, m, size, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := naiveMTH(leaves[:size]); !bytes.Equal(root, want) {
			t.Errorf("empty batch at %d: root %x, want %x", size, root, want)
		}
	}
	if m.Len() != before {
		t.Errorf("empty batch wrote nodes: %d -> %d", before, m.Len())
	}
}

// TestInclusionProofsAll checks every inclusion proof of every tree up to 64
// leaves with the transparency-dev verifier, the tlog wrapper and the RFC
// 6962 PATH, and that flipped bits and wrong leaves fail.
func TestInclusionProofsAll(t *testing.T) {
	const n = 64
	ctx := context.Background()
	leaves := leafHashes("main", n)
	m := buildTree(t, leaves, 7)
	other := tlog.LeafHash([]byte("not in the log"))
	for size := uint64(1); size <= n; size++ {
		root := naiveMTH(leaves[:size])
		for i := range size {
			p, err := tlog.InclusionProof(ctx, m, i, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			if want := naivePath(i, leaves[:size]); !equalProofs(p, want) {
				t.Fatalf("InclusionProof(%d, %d) differs from RFC 6962 PATH", i, size)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i], p, root); err != nil {
				t.Fatalf("proof.VerifyInclusion(%d, %d): %v", i, size, err)
			}
			if err := tlog.VerifyInclusion(leaves[i], i, size, p, root); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", i, size, err)
			}
			for j := range p {
				for _, bit := range []int{0, 7, 100, 255} {
					bad := flipBit(p, j, bit)
					if proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i], bad, root) == nil {
						t.Fatalf("proof.VerifyInclusion(%d, %d) accepted hash %d bit %d flipped", i, size, j, bit)
					}
					if err := tlog.VerifyInclusion(leaves[i], i, size, bad, root); !errors.Is(err, tlog.ErrProofInvalid) {
						t.Fatalf("VerifyInclusion(%d, %d) with hash %d bit %d flipped: %v", i, size, j, bit, err)
					}
				}
			}
			wrong := [][]byte{other}
			if size > 1 {
				wrong = append(wrong, leaves[(i+1)%size])
			}
			for _, leaf := range wrong {
				if proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaf, p, root) == nil {
					t.Fatalf("proof.VerifyInclusion(%d, %d) accepted a wrong leaf", i, size)
				}
				if err := tlog.VerifyInclusion(leaf, i, size, p, root); !errors.Is(err, tlog.ErrProofInvalid) {
					t.Fatalf("VerifyInclusion(%d, %d) with a wrong leaf: %v", i, size, err)
				}
			}
		}
	}
}

// TestConsistencyProofsAll checks every consistency proof between trees up to
// 64 leaves with the transparency-dev verifier, the tlog wrapper and the RFC
// 6962 PROOF, and that flipped bits fail.
func TestConsistencyProofsAll(t *testing.T) {
	const n = 64
	ctx := context.Background()
	leaves := leafHashes("main", n)
	m := buildTree(t, leaves, 1)
	for size2 := uint64(0); size2 <= n; size2++ {
		root2 := naiveMTH(leaves[:size2])
		for size1 := uint64(0); size1 <= size2; size1++ {
			root1 := naiveMTH(leaves[:size1])
			p, err := tlog.ConsistencyProof(ctx, m, size1, size2)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
			}
			if size1 > 0 {
				if want := naiveProof(size1, leaves[:size2]); !equalProofs(p, want) {
					t.Fatalf("ConsistencyProof(%d, %d) differs from RFC 6962 PROOF", size1, size2)
				}
			} else if len(p) != 0 {
				t.Fatalf("ConsistencyProof(0, %d) has %d hashes, want 0", size2, len(p))
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2); err != nil {
				t.Fatalf("proof.VerifyConsistency(%d, %d): %v", size1, size2, err)
			}
			if err := tlog.VerifyConsistency(size1, size2, p, root1, root2); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", size1, size2, err)
			}
			for j := range p {
				for _, bit := range []int{0, 9, 131, 255} {
					bad := flipBit(p, j, bit)
					if proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, bad, root1, root2) == nil {
						t.Fatalf("proof.VerifyConsistency(%d, %d) accepted hash %d bit %d flipped", size1, size2, j, bit)
					}
					if err := tlog.VerifyConsistency(size1, size2, bad, root1, root2); !errors.Is(err, tlog.ErrProofInvalid) {
						t.Fatalf("VerifyConsistency(%d, %d) with hash %d bit %d flipped: %v", size1, size2, j, bit, err)
					}
				}
			}
			if size1 > 0 && size1 < size2 {
				// A root of another history of size1 is not consistent.
				if err := tlog.VerifyConsistency(size1, size2, p, naiveMTH(leafHashes("other", size1)), root2); !errors.Is(err, tlog.ErrProofInvalid) {
					t.Fatalf("VerifyConsistency(%d, %d) with another first root: %v", size1, size2, err)
				}
			}
		}
	}
}

// TestProofsOneRead checks that each proof and root reads its nodes in one
// LogNodes call (none when nothing is needed).
func TestProofsOneRead(t *testing.T) {
	ctx := context.Background()
	m := buildTree(t, leafHashes("main", 1000), 100)
	tests := []struct {
		name  string
		call  func(r tlog.NodeReader) error
		calls int
	}{
		{"inclusion 0 in 1", func(r tlog.NodeReader) error { _, err := tlog.InclusionProof(ctx, r, 0, 1); return err }, 0},
		{"inclusion 5 in 1000", func(r tlog.NodeReader) error { _, err := tlog.InclusionProof(ctx, r, 5, 1000); return err }, 1},
		{"inclusion 999 in 1000", func(r tlog.NodeReader) error { _, err := tlog.InclusionProof(ctx, r, 999, 1000); return err }, 1},
		{"consistency 0 to 1000", func(r tlog.NodeReader) error { _, err := tlog.ConsistencyProof(ctx, r, 0, 1000); return err }, 0},
		{"consistency 1000 to 1000", func(r tlog.NodeReader) error { _, err := tlog.ConsistencyProof(ctx, r, 1000, 1000); return err }, 0},
		{"consistency 7 to 1000", func(r tlog.NodeReader) error { _, err := tlog.ConsistencyProof(ctx, r, 7, 1000); return err }, 1},
		{"root 0", func(r tlog.NodeReader) error { _, err := tlog.Root(ctx, r, 0); return err }, 0},
		{"root 999", func(r tlog.NodeReader) error { _, err := tlog.Root(ctx, r, 999); return err }, 1},
	}
	for _, tc := range tests {
		c := &countingReader{NodeReader: m}
		if err := tc.call(c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.calls != tc.calls {
			t.Errorf("%s: %d LogNodes calls, want %d", tc.name, c.calls, tc.calls)
		}
	}
}

func TestTreeErrors(t *testing.T) {
	ctx := context.Background()
	leaves := leafHashes("main", 10)
	m := buildTree(t, leaves, 3)
	good := bytes.Repeat([]byte{1}, tlog.HashSize)
	tests := []struct {
		name    string
		call    func() error
		is      error
		message string
	}{
		{"inclusion index beyond size", func() error { _, err := tlog.InclusionProof(ctx, m, 10, 10); return err }, nil, "tlog: inclusion proof 10 in 10: "},
		{"inclusion in empty tree", func() error { _, err := tlog.InclusionProof(ctx, m, 0, 0); return err }, nil, "tlog: inclusion proof 0 in 0: "},
		{"inclusion beyond stored tree", func() error { _, err := tlog.InclusionProof(ctx, m, 3, 11); return err }, tlog.ErrMissingNode, "tlog: inclusion proof 3 in 11: "},
		{"consistency sizes reversed", func() error { _, err := tlog.ConsistencyProof(ctx, m, 5, 4); return err }, nil, "tlog: consistency proof 5 to 4: "},
		{"consistency beyond stored tree", func() error { _, err := tlog.ConsistencyProof(ctx, m, 5, 12); return err }, tlog.ErrMissingNode, "tlog: consistency proof 5 to 12: "},
		{"root beyond stored tree", func() error { _, err := tlog.Root(ctx, m, 11); return err }, tlog.ErrMissingNode, "tlog: root of tree of 11: "},
		{"append at wrong size", func() error { _, err := tlog.Append(ctx, m, 12, good); return err }, tlog.ErrMissingNode, "tlog: append to tree of 12: "},
		{"append short leaf hash", func() error { _, err := tlog.Append(ctx, m, 10, good[:31]); return err }, nil, "leaf hash is 31 bytes, want 32"},
		{"batch with nil leaf hash", func() error { _, err := tlog.AppendBatch(ctx, m, 10, [][]byte{good, nil}); return err }, nil, "append leaf 11 to tree of 10: leaf hash is 0 bytes"},
		{"size overflow", func() error { _, err := tlog.AppendBatch(ctx, m, ^uint64(0), [][]byte{good}); return err }, nil, "size overflows"},
		{"reader error", func() error {
			_, err := tlog.InclusionProof(ctx, fakeReader{err: errors.New("db down")}, 1, 4)
			return err
		}, nil, "db down"},
		{"reader returns too few hashes", func() error {
			_, err := tlog.InclusionProof(ctx, fakeReader{hashes: [][]byte{good}}, 1, 4)
			return err
		}, nil, "store returned 1 hashes"},
		{"reader returns short hash", func() error {
			_, err := tlog.InclusionProof(ctx, fakeReader{hashes: [][]byte{good, good[:5]}}, 1, 4)
			return err
		}, nil, "node (level 1, index 1): stored hash is 5 bytes, want 32"},
		{"reader returns nil hash", func() error {
			_, err := tlog.Root(ctx, fakeReader{hashes: [][]byte{nil}}, 4)
			return err
		}, tlog.ErrMissingNode, "node (level 2, index 0)"},
	}
	for _, tc := range tests {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error %q does not wrap %v", tc.name, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.message)
		}
	}
	// None of the failed appends changed the tree.
	if got, want := m.Len(), completeNodes(10); got != want {
		t.Errorf("failed appends changed the store: %d nodes, want %d", got, want)
	}
}

// TestConcurrentSubmissions runs many submitters against a sequencer that,
// like the store's transaction, serialises "assign next sequence number and
// append", and checks that the sequence is gap-free and the tree matches one
// recomputed from the stored entries.
func TestConcurrentSubmissions(t *testing.T) {
	const workers, perWorker = 16, 40
	ctx := context.Background()
	var (
		mu      sync.Mutex
		entries [][]byte
		nodes   tlog.MemNodes
		root    []byte
	)
	submit := func(e []byte) (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		size := uint64(len(entries))
		r, err := tlog.Append(ctx, &nodes, size, tlog.LeafHash(e))
		if err != nil {
			return 0, err
		}
		entries = append(entries, e)
		root = r
		return size + 1, nil
	}
	seqs := make(chan uint64, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				seq, err := submit(entry("w", uint64(w*perWorker+i)))
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- seq
			}
		})
	}
	wg.Wait()
	close(seqs)

	const total = workers * perWorker
	seen := make([]bool, total+1)
	for s := range seqs {
		if s == 0 || s > total || seen[s] {
			t.Fatalf("sequence number %d out of range or repeated", s)
		}
		seen[s] = true
	}
	for s := 1; s <= total; s++ {
		if !seen[s] {
			t.Fatalf("gap: sequence number %d never assigned", s)
		}
	}
	var recomputed [][]byte
	for _, e := range entries {
		recomputed = append(recomputed, tlog.LeafHash(e))
	}
	want := naiveMTH(recomputed)
	if !bytes.Equal(root, want) || !bytes.Equal(mustRoot(t, &nodes, total), want) {
		t.Fatalf("root %x does not match the root recomputed from stored entries %x", root, want)
	}
	for i := range uint64(total) {
		p, err := tlog.InclusionProof(ctx, &nodes, i, total)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, total, recomputed[i], p, want); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
}

// TestLostAppendRace shows that two unserialised appends at the same size
// cannot both land: the write-once node store rejects the second one whole.
func TestLostAppendRace(t *testing.T) {
	ctx := context.Background()
	leaves := leafHashes("main", 6)
	m := buildTree(t, leaves[:5], 1)
	first, err := tlog.Append(ctx, m, 5, leaves[5])
	if err != nil {
		t.Fatal(err)
	}
	before := m.Len()
	if _, err := tlog.Append(ctx, m, 5, tlog.LeafHash([]byte("racer"))); err == nil {
		t.Fatal("second append at the same size succeeded")
	}
	if m.Len() != before {
		t.Fatalf("rejected append stored nodes: %d -> %d", before, m.Len())
	}
	if got := mustRoot(t, m, 6); !bytes.Equal(got, first) {
		t.Fatalf("root after rejected append %x, want %x", got, first)
	}
	// Re-appending the same leaf is idempotent.
	if again, err := tlog.Append(ctx, m, 5, leaves[5]); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("idempotent re-append: %x, %v", again, err)
	}
}

func TestMemNodes(t *testing.T) {
	ctx := context.Background()
	var m tlog.MemNodes
	id := compact.NewNodeID(0, 0)
	if _, err := m.LogNodes(ctx, []compact.NodeID{id}); !errors.Is(err, tlog.ErrMissingNode) {
		t.Fatalf("empty store: %v", err)
	}
	h := bytes.Repeat([]byte{7}, tlog.HashSize)
	if err := m.PutLogNodes(ctx, []tlog.Node{{ID: id, Hash: h}}); err != nil {
		t.Fatal(err)
	}
	h[0] = 8 // the store keeps its own copy
	got, err := m.LogNodes(ctx, []compact.NodeID{id})
	if err != nil || got[0][0] != 7 {
		t.Fatalf("LogNodes = %x, %v", got, err)
	}
	got[0][1] = 9 // and hands out copies
	if again, _ := m.LogNodes(ctx, []compact.NodeID{id}); again[0][1] != 7 {
		t.Fatal("LogNodes returned the stored array")
	}
	bad := []struct {
		name  string
		nodes []tlog.Node
	}{
		{"short hash", []tlog.Node{{ID: compact.NewNodeID(0, 1), Hash: h[:3]}}},
		{"conflict with stored", []tlog.Node{{ID: compact.NewNodeID(0, 1), Hash: h}, {ID: id, Hash: h}}},
		{"conflict within batch", []tlog.Node{{ID: compact.NewNodeID(0, 2), Hash: h}, {ID: compact.NewNodeID(0, 2), Hash: bytes.Repeat([]byte{1}, 32)}}},
	}
	for _, tc := range bad {
		if err := m.PutLogNodes(ctx, tc.nodes); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if m.Len() != 1 {
			t.Fatalf("%s: partial write, %d nodes", tc.name, m.Len())
		}
	}
}

func mustRoot(t testing.TB, r tlog.NodeReader, size uint64) []byte {
	t.Helper()
	root, err := tlog.Root(context.Background(), r, size)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// completeNodes is the number of complete nodes of a tree of n leaves.
func completeNodes(n uint64) int {
	return int(2*n) - bits.OnesCount64(n)
}

// readAll reads every complete node of the tree of n leaves, level by level.
func readAll(t testing.TB, r tlog.NodeReader, n uint64) [][]byte {
	t.Helper()
	var ids []compact.NodeID
	for level := uint(0); n>>level > 0; level++ {
		for i := range n >> level {
			ids = append(ids, compact.NewNodeID(level, i))
		}
	}
	hs, err := r.LogNodes(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
