package tlog

import (
	"context"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// MemNodes is an in-memory, map-backed NodeWriter for tests and benchmarks.
// It is safe for concurrent use, and its zero value is an empty store.
//
// Like the SQL stores, it is write-once: PutLogNodes fails, storing nothing,
// if a node is already stored with a different hash.
type MemNodes struct {
	mu    sync.RWMutex
	nodes map[compact.NodeID][HashSize]byte
}

// LogNodes returns copies of the hashes of ids, in order; an absent node is an
// error wrapping ErrMissingNode.
func (m *MemNodes) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([][]byte, len(ids))
	buf := make([]byte, len(ids)*HashSize)
	for i, id := range ids {
		h, ok := m.nodes[id]
		if !ok {
			return nil, fmt.Errorf("tlog: node (level %d, index %d): %w", id.Level, id.Index, ErrMissingNode)
		}
		out[i] = buf[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
		copy(out[i], h[:])
	}
	return out, nil
}

// PutLogNodes stores nodes atomically: either all of them are stored or, if
// one has a hash of the wrong size or conflicts with a stored node, none.
// Storing a node again with the same hash is a no-op.
func (m *MemNodes) PutLogNodes(ctx context.Context, nodes []Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	batch := make(map[compact.NodeID][HashSize]byte, len(nodes))
	for _, n := range nodes {
		if len(n.Hash) != HashSize {
			return fmt.Errorf("tlog: put node (level %d, index %d): hash is %d bytes, want %d", n.ID.Level, n.ID.Index, len(n.Hash), HashSize)
		}
		h := [HashSize]byte(n.Hash)
		old, ok := m.nodes[n.ID]
		if !ok {
			old, ok = batch[n.ID]
		}
		if ok && h != old {
			return fmt.Errorf("tlog: put node (level %d, index %d): already stored with a different hash", n.ID.Level, n.ID.Index)
		}
		batch[n.ID] = h
	}
	if m.nodes == nil {
		m.nodes = make(map[compact.NodeID][HashSize]byte)
	}
	for id, h := range batch {
		m.nodes[id] = h
	}
	return nil
}

// Len returns the number of stored nodes.
func (m *MemNodes) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.nodes)
}
