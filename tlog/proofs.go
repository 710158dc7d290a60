package tlog

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	tdproof "github.com/transparency-dev/merkle/proof"
)

// InclusionProofs returns the inclusion proofs of several leaves in the
// tree of size leaves, as InclusionProof would one by one, reading every
// node they need in one LogNodes call: what proving a bundle of evidence
// under one checkpoint costs.
func InclusionProofs(ctx context.Context, r NodeReader, indices []uint64, size uint64) ([][][]byte, error) {
	all := make([]tdproof.Nodes, len(indices))
	pos := map[compact.NodeID]int{}
	var ids []compact.NodeID
	for i, index := range indices {
		nodes, err := tdproof.Inclusion(index, size)
		if err != nil {
			return nil, fmt.Errorf("tlog: inclusion proof %d in %d: %w", index, size, err)
		}
		all[i] = nodes
		for _, id := range nodes.IDs {
			if _, ok := pos[id]; !ok {
				pos[id] = len(ids)
				ids = append(ids, id)
			}
		}
	}
	hashes, err := readNodes(ctx, r, ids)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proofs in %d: %w", size, err)
	}
	out := make([][][]byte, len(indices))
	for i, nodes := range all {
		hs := make([][]byte, len(nodes.IDs))
		for j, id := range nodes.IDs {
			hs[j] = hashes[pos[id]]
		}
		p, err := nodes.Rehash(hs, hasher.HashChildren)
		if err != nil {
			return nil, fmt.Errorf("tlog: inclusion proof %d in %d: %w", indices[i], size, err)
		}
		if p == nil {
			p = [][]byte{}
		}
		out[i] = p
	}
	return out, nil
}
