package statement

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// maxBatch bounds how many submissions share one transaction.
const maxBatch = 256

// pending is one verified submission waiting to be appended.
type pending struct {
	rec  store.Statement
	leaf []byte
	// done receives the outcome; lead tells a waiting submitter to take
	// over committing. Both are buffered so senders never block.
	done chan result
	lead chan struct{}
}

type result struct {
	rec     store.Statement
	created bool
	err     error
}

// batcher groups concurrent appends into shared transactions (group
// commit): the log lock and the commit are paid once per batch rather than
// once per statement. There is no background goroutine: the first
// submitter to find nobody committing becomes the leader, commits batches
// until its own entry is done, then hands leadership to the next waiter.
type batcher struct {
	store store.Store
	index indexers
	mu    sync.Mutex
	queue []*pending
	busy  bool
	// edge holds the tree's right edge as of the last batch this log
	// committed (see edgeNodes), so the next batch need not read it.
	edge edgeCache
}

// edgeCache keeps the nodes of the tree's right edge (the roots of the
// perfect subtrees a tree of size leaves is made of) after the last
// committed append. Stored nodes never change, so a cached node is right
// whatever was appended since; when another writer (another trustd on the
// same database) grew the log, the edge asked for is other nodes, which are
// read.
type edgeCache struct {
	mu sync.Mutex
	m  map[compact.NodeID][]byte
}

// update keeps, of the cached nodes and those read and written by a
// committed append that left the tree at size leaves, the right edge of
// that tree.
func (c *edgeCache) update(size uint64, seen map[compact.NodeID][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[compact.NodeID][]byte{}
	for _, id := range compact.RangeNodes(0, size, nil) {
		if h, ok := seen[id]; ok {
			next[id] = h
		} else if h, ok := c.m[id]; ok {
			next[id] = h
		}
	}
	c.m = next
}

// edgeNodes is a transaction's tlog.NodeWriter that answers reads from the
// edge cache first, and records the nodes it reads and writes for the
// cache's update once the transaction commits.
type edgeNodes struct {
	w     nodeWriter
	cache *edgeCache
	seen  map[compact.NodeID][]byte
}

func (e *edgeNodes) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var (
		missing []compact.NodeID
		at      []int
	)
	e.cache.mu.Lock()
	for i, id := range ids {
		if h, ok := e.cache.m[id]; ok {
			out[i] = h
		} else {
			missing, at = append(missing, id), append(at, i)
		}
	}
	e.cache.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := e.w.LogNodes(ctx, missing)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = got[j]
		e.seen[missing[j]] = got[j]
	}
	return out, nil
}

func (e *edgeNodes) PutLogNodes(ctx context.Context, ns []tlog.Node) error {
	if err := e.w.PutLogNodes(ctx, ns); err != nil {
		return err
	}
	for _, n := range ns {
		e.seen[n.ID] = n.Hash
	}
	return nil
}

func (b *batcher) append(ctx context.Context, rec store.Statement, leaf []byte) (store.Statement, bool, error) {
	p := &pending{rec: rec, leaf: leaf, done: make(chan result, 1), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	if !b.busy {
		b.busy = true
		p.lead <- struct{}{}
	}
	b.mu.Unlock()

	for {
		select {
		case r := <-p.done:
			return r.rec, r.created, r.err
		case <-p.lead:
			b.leadUntilDone(ctx, p)
		}
	}
}

// leadUntilDone commits batches from the queue until p's own is committed,
// then passes leadership to the oldest waiter, if any.
func (b *batcher) leadUntilDone(ctx context.Context, p *pending) {
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()

		b.commit(context.WithoutCancel(ctx), batch)

		mine := false
		for _, q := range batch {
			mine = mine || q == p
		}
		b.mu.Lock()
		if mine || len(b.queue) == 0 {
			if len(b.queue) > 0 {
				b.queue[0].lead <- struct{}{}
			} else {
				b.busy = false
			}
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}

// commit appends the batch in one transaction. When that fails, each entry
// is retried alone so one bad entry cannot fail the others.
func (b *batcher) commit(ctx context.Context, batch []*pending) {
	results, err := b.appendAll(ctx, batch)
	if err == nil {
		for i, q := range batch {
			q.done <- results[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- result{err: err}
		return
	}
	for _, q := range batch {
		rs, err := b.appendAll(ctx, []*pending{q})
		if err != nil {
			q.done <- result{err: err}
			continue
		}
		q.done <- rs[0]
	}
}

func (b *batcher) appendAll(ctx context.Context, batch []*pending) ([]result, error) {
	recs := make([]store.Statement, len(batch))
	for i, q := range batch {
		recs[i] = q.rec
	}
	results := make([]result, len(batch))
	leaves := make([][]byte, len(batch))
	for i, q := range batch {
		leaves[i] = q.leaf
	}
	var (
		nodes *edgeNodes
		size  uint64
	)
	err := b.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		nodes = &edgeNodes{w: nodeWriter{w}, cache: &b.edge, seen: map[compact.NodeID][]byte{}}
		out, created, err := appendIn(ctx, w, recs, leaves, b.index, nodes)
		if err != nil {
			return err
		}
		size = 0
		for i := range batch {
			results[i] = result{rec: out[i], created: created[i]}
			if created[i] {
				size = max(size, uint64(out[i].Seq))
			}
		}
		return nil
	})
	if err == nil && size > 0 {
		b.edge.update(size, nodes.seen)
	}
	return results, err
}

// indexers are a log's indexers by predicate type: per entry, and per
// batch (which replace the per-entry one of their type).
type indexers struct {
	each  map[string]Indexer
	batch map[string]BatchIndexer
}

// run runs the indexers of the new entries out (created[i]): each
// per-entry indexer once per entry in log order, then each batch indexer
// once with all the entries of its type, in log order.
func (ix indexers) run(ctx context.Context, w store.Writer, out []store.Statement, created []bool) error {
	var (
		types   []string
		byType  = map[string][]store.Statement{}
		entries []store.Statement
	)
	for i := range out {
		if created[i] {
			entries = append(entries, out[i])
		}
	}
	slices.SortFunc(entries, func(a, b store.Statement) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range entries {
		if f := ix.each[e.PredicateType]; f != nil {
			if err := f(ctx, w, e); err != nil {
				return fmt.Errorf("index %s entry %d: %w", e.PredicateType, e.Seq, err)
			}
			continue
		}
		if ix.batch[e.PredicateType] != nil {
			if byType[e.PredicateType] == nil {
				types = append(types, e.PredicateType)
			}
			byType[e.PredicateType] = append(byType[e.PredicateType], e)
		}
	}
	for _, pt := range types {
		es := byType[pt]
		if err := ix.batch[pt](ctx, w, es); err != nil {
			return fmt.Errorf("index %s entries %d to %d: %w", pt, es[0].Seq, es[len(es)-1].Seq, err)
		}
	}
	return nil
}

// appendIn appends recs (whose leaf hashes are leaves) to the log inside
// the transaction w: the statements, the index entries their predicate
// types' indexers derive from them, then the Merkle tree nodes of the new
// entries, computed once for all of them.
func appendIn(ctx context.Context, w store.Writer, recs []store.Statement, leaves [][]byte, index indexers, nodes tlog.NodeWriter) ([]store.Statement, []bool, error) {
	out, created, err := w.AppendStatements(ctx, recs)
	if err != nil {
		return nil, nil, err
	}
	if err := index.run(ctx, w, out, created); err != nil {
		return nil, nil, err
	}
	var (
		first int64
		fresh [][]byte
	)
	for i := range recs {
		if created[i] {
			if first == 0 {
				first = out[i].Seq
			}
			fresh = append(fresh, leaves[i])
		}
	}
	if len(fresh) == 0 {
		return out, created, nil
	}
	if nodes == nil {
		nodes = nodeWriter{w}
	}
	if _, err := tlog.AppendBatch(ctx, nodes, uint64(first-1), fresh); err != nil {
		return nil, nil, err
	}
	return out, created, nil
}
