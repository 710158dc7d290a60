package teststore

import (
	"context"
	"sync/atomic"

	"github.com/trustd-dev/trustd/store"
)

// Reads wraps a store and counts the reads a question about a digest could
// make once per thing anyone may log about it: log entries (one or a
// batch), evidence pages and TUF metadata (one file or a batch of
// digests). Attack tests compare the count before and after a
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

// StatementsBySeq implements store.Reader, counted.
func (r *Reads) StatementsBySeq(ctx context.Context, seqs []int64, envelopes bool) ([]store.Statement, error) {
	r.n.Add(1)
	return r.Store.StatementsBySeq(ctx, seqs, envelopes)
}

// StatementPayloads implements store.Reader, counted.
func (r *Reads) StatementPayloads(ctx context.Context, seqs []int64) ([]store.Statement, error) {
	r.n.Add(1)
	return r.Store.StatementPayloads(ctx, seqs)
}

// TUFMetadataDigests implements store.TUFReader, counted.
func (r *Reads) TUFMetadataDigests(ctx context.Context, refs []store.TUFRef) (map[store.TUFRef]string, error) {
	r.n.Add(1)
	return r.Store.TUFMetadataDigests(ctx, refs)
}
