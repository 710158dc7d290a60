package tlog

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/compact"
	tdproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size in bytes of every hash in the log (SHA-256).
const HashSize = 32

// MaxProofHashes bounds the number of hashes accepted in an inclusion or
// consistency proof; no proof for a tree of fewer than 2^63 leaves is longer.
const MaxProofHashes = 64

// hasher is the RFC 6962 SHA-256 tree hasher used for every computation.
var hasher = rfc6962.DefaultHasher

// rangeFactory builds compact ranges with the RFC 6962 node hash.
var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// NodeReader reads stored tree nodes. LogNodes returns one hash per requested
// ID, in order; a node that is not stored is an error wrapping ErrMissingNode.
type NodeReader interface {
	LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

// Node is one complete tree node: a leaf (level 0) or the root of a perfect
// subtree, with its hash.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// NodeWriter stores newly completed tree nodes in addition to reading them.
// Nodes are write-once: a node is never rewritten with a different hash.
type NodeWriter interface {
	NodeReader
	PutLogNodes(ctx context.Context, nodes []Node) error
}

// LeafHash returns the RFC 6962 leaf hash of a log entry, SHA-256(0x00 ||
// entry); for trustd the entry is a statement's envelope bytes verbatim.
func LeafHash(entry []byte) []byte {
	return hasher.HashLeaf(entry)
}

// EmptyRoot returns the root hash of the empty tree, SHA-256 of no bytes.
func EmptyRoot() []byte {
	return hasher.EmptyRoot()
}

// Append adds one leaf to a tree of size leaves, writes the leaf and every
// parent node it completes, and returns the root hash of the tree of size+1.
// Callers must serialise appends to one tree (the store does so in its
// transaction); a write-once node store turns a lost race into an error.
func Append(ctx context.Context, w NodeWriter, size uint64, leafHash []byte) ([]byte, error) {
	return AppendBatch(ctx, w, size, [][]byte{leafHash})
}

// AppendBatch adds leaves to a tree of size leaves like repeated Append calls,
// but reads the tree edge once and writes all new nodes in one PutLogNodes
// call. It returns the root of the grown tree; with no leaves it writes
// nothing and returns the root of the tree of size.
func AppendBatch(ctx context.Context, w NodeWriter, size uint64, leafHashes [][]byte) ([]byte, error) {
	n := uint64(len(leafHashes))
	if n > math.MaxUint64-size {
		return nil, fmt.Errorf("tlog: append %d leaves to tree of %d: size overflows", n, size)
	}
	// Copy the leaf hashes so the stored nodes never alias caller memory.
	leaves := make([][]byte, len(leafHashes))
	for i, h := range leafHashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("tlog: append leaf %d to tree of %d: leaf hash is %d bytes, want %d", size+uint64(i), size, len(h), HashSize)
		}
		leaves[i] = bytes.Clone(h)
	}
	r, err := readRange(ctx, w, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: append to tree of %d: %w", size, err)
	}
	nodes := make([]Node, 0, 2*len(leaves)+1)
	visit := func(id compact.NodeID, hash []byte) {
		nodes = append(nodes, Node{ID: id, Hash: hash})
	}
	for i, h := range leaves {
		if err := r.Append(h, visit); err != nil {
			return nil, fmt.Errorf("tlog: append leaf %d to tree of %d: %w", size+uint64(i), size, err)
		}
	}
	if len(nodes) > 0 {
		if err := w.PutLogNodes(ctx, nodes); err != nil {
			return nil, fmt.Errorf("tlog: append %d leaves to tree of %d: write nodes: %w", n, size, err)
		}
	}
	return rangeRoot(r), nil
}

// Root returns the root hash of the tree of size leaves, read from the stored
// nodes of its right edge; the empty tree has the RFC 6962 empty root.
func Root(ctx context.Context, r NodeReader, size uint64) ([]byte, error) {
	cr, err := readRange(ctx, r, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: root of tree of %d: %w", size, err)
	}
	return rangeRoot(cr), nil
}

// InclusionProof returns the RFC 9162 inclusion proof for leaf index in the
// tree of size leaves, reading all the nodes it needs in one LogNodes call.
func InclusionProof(ctx context.Context, r NodeReader, index, size uint64) ([][]byte, error) {
	nodes, err := tdproof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof %d in %d: %w", index, size, err)
	}
	p, err := fetchProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof %d in %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 9162 consistency proof from the tree of
// size1 leaves to the tree of size2 leaves (empty if size1 is 0 or equals
// size2), reading all the nodes it needs in one LogNodes call.
func ConsistencyProof(ctx context.Context, r NodeReader, size1, size2 uint64) ([][]byte, error) {
	nodes, err := tdproof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof %d to %d: %w", size1, size2, err)
	}
	p, err := fetchProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// fetchProof reads the nodes of a proof and folds the ones that stand for an
// ephemeral node into its hash.
func fetchProof(ctx context.Context, r NodeReader, nodes tdproof.Nodes) ([][]byte, error) {
	hashes, err := readNodes(ctx, r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = [][]byte{}
	}
	return p, nil
}

// readRange reads the compact range [0, size), the perfect subtrees along the
// right edge of the tree of size leaves.
func readRange(ctx context.Context, r NodeReader, size uint64) (*compact.Range, error) {
	hashes, err := readNodes(ctx, r, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// rangeRoot returns the root hash of a compact range that starts at 0: its
// perfect subtrees hashed together from right to left.
func rangeRoot(r *compact.Range) []byte {
	hashes := r.Hashes()
	if len(hashes) == 0 {
		return EmptyRoot()
	}
	root := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		root = hasher.HashChildren(hashes[i], root)
	}
	return root
}

// readNodes fetches ids in one call (none if ids is empty) and checks that
// the reader returned one hash of HashSize bytes per node.
func readNodes(ctx context.Context, r NodeReader, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	hashes, err := r.LogNodes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read %d nodes: %w", len(ids), err)
	}
	if len(hashes) != len(ids) {
		return nil, fmt.Errorf("read %d nodes: store returned %d hashes", len(ids), len(hashes))
	}
	for i, h := range hashes {
		switch {
		case len(h) == 0:
			return nil, fmt.Errorf("node (level %d, index %d): %w", ids[i].Level, ids[i].Index, ErrMissingNode)
		case len(h) != HashSize:
			return nil, fmt.Errorf("node (level %d, index %d): stored hash is %d bytes, want %d", ids[i].Level, ids[i].Index, len(h), HashSize)
		}
	}
	return hashes, nil
}
