package teststore

import (
	"context"
	"sync/atomic"

	"github.com/trustd-dev/trustd/store"
)

// Reads wraps a store and counts the reads a question about a digest could
// make once per thing anyone may log about it: log entries, evidence pages
// and TUF metadata. Attack tests compare the count before and after a
// stranger's flood: a count that grows with the flood is a cost a
// stranger sets.
type Reads struct {
	store.Store
	n atomic.Int64
}

// N returns the reads counted so far.
func (r *Reads) N() int64 { return r.n.Load() }

// Statement implements store.Reader, counted.
func (r *Reads) Statement(ctx context.Context, seq int64) (store.Statement, error) {
	r.n.Add(1)
	return r.Store.Statement(ctx, seq)
}

// Evidence implements store.Reader, counted.
func (r *Reads) Evidence(ctx context.Context, q store.EvidenceQuery) ([]store.Evidence, error) {
	r.n.Add(1)
	return r.Store.Evidence(ctx, q)
}

// TUFMetadata implements store.Reader, counted.
func (r *Reads) TUFMetadata(ctx context.Context, repo, role string, version int64) ([]byte, error) {
	r.n.Add(1)
	return r.Store.TUFMetadata(ctx, repo, role, version)
}
