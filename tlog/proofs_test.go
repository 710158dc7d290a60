package tlog_test

import (
	"context"
	"testing"

	"github.com/trustd-dev/trustd/tlog"
)

// TestInclusionProofsBatch: proofs read together are the proofs read one by
// one, every one verifies, and the batch costs one read.
func TestInclusionProofsBatch(t *testing.T) {
	ctx := context.Background()
	const n = 37
	leaves := leafHashes("batch", n)
	m := buildTree(t, leaves, 5)
	root := mustRoot(t, m, n)
	for _, indices := range [][]uint64{{0}, {36}, {0, 1, 2, 3}, {5, 17, 17, 36, 0}, {}} {
		c := &countingReader{NodeReader: m}
		got, err := tlog.InclusionProofs(ctx, c, indices, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(indices) > 0 && c.calls != 1 {
			t.Errorf("%v: %d reads, want 1", indices, c.calls)
		}
		for i, index := range indices {
			one, err := tlog.InclusionProof(ctx, m, index, n)
			if err != nil {
				t.Fatal(err)
			}
			if !equalProofs(got[i], one) {
				t.Errorf("proof of %d in a batch differs from the proof alone", index)
			}
			if err := tlog.VerifyInclusion(leaves[index], index, n, got[i], root); err != nil {
				t.Errorf("proof of %d: %v", index, err)
			}
		}
	}
	if _, err := tlog.InclusionProofs(ctx, m, []uint64{n}, n); err == nil {
		t.Error("a proof of a leaf beyond the tree")
	}
}
