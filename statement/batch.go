package statement

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// maxBatch bounds how many submissions share one transaction.
const maxBatch = 256

// maxFlights bounds the batches on their way to the log at once: while
// one commits, holding the log lock, the next reads what it needs and
// plans its append against the tip the first will leave (see flight), so
// the database works on both. It is 1 on a store whose write transactions
// run one at a time (SQLite), where a second would only wait.
const maxFlights = 2

// concurrentWriter is implemented by stores whose write transactions run
// side by side (PostgreSQL).
type concurrentWriter interface {
	ConcurrentWrites() bool
}

// flightsFor returns how many batches may be in flight at once on s.
func flightsFor(s store.Store) int {
	if c, ok := s.(concurrentWriter); ok && c.ConcurrentWrites() {
		return maxFlights
	}
	return 1
}

// lockedAfterMove is how long appends read the log under its lock after
// an append planned against a tip found the log moved (another trustd on
// the same database appends, or an append bypassed the batcher): planning
// against a tip that others keep moving would fail every time.
const lockedAfterMove = time.Second

// pending is one verified submission waiting to be appended.
type pending struct {
	rec  store.Statement
	leaf []byte
	// done receives the outcome; lead tells a waiting submitter to take
	// over committing. Both are buffered so senders never block.
	done chan result
	lead chan struct{}
	// leading is set, under the batcher's lock, once lead is sent;
	// finished once done is.
	leading  bool
	finished atomic.Bool
}

type result struct {
	rec     store.Statement
	created bool
	err     error
}

// batcher groups concurrent appends into shared transactions (group
// commit): the log lock and the commit are paid once per batch rather than
// once per statement. There is no background goroutine: a submitter that
// finds fewer leaders than flights becomes one, commits batches until
// its own entry is done, then hands leadership to the oldest waiter.
type batcher struct {
	store store.Store
	index indexers
	// flights is flightsFor(store).
	flights int
	mu      sync.Mutex
	queue   []*pending
	// leaders counts the submitters leading; last is the newest flight,
	// the one the next batch is numbered after.
	leaders int
	last    *flight
	// arriving counts the submitters decoding and verifying an entry
	// (arrival) that is not queued yet; joined signals, under mu, each
	// one that is queued or gives up.
	arriving int
	joined   *sync.Cond
	// gatherWait is gatherWait but in tests.
	gatherWait time.Duration
	// lockedUntil ends the reads under the lock that a moved log started
	// (lockedAfterMove); replans counts the batches planned against a tip
	// that were retried under the lock.
	lockedUntil time.Time
	replans     atomic.Int64
	// edge holds the tree's right edge as of the last batch this log
	// committed (see edgeNodes), so the next batch need not read it.
	edge edgeCache
}

// newBatcher returns the batcher of appends to s.
func newBatcher(s store.Store, ix indexers) *batcher {
	b := &batcher{store: s, index: ix, flights: flightsFor(s), gatherWait: gatherWait}
	b.joined = sync.NewCond(&b.mu)
	return b
}

// flight is a batch on its way to the log. Once its entries are numbered
// and their tree nodes computed, it publishes the tip the log will have
// when it commits, and the next batch plans against that tip while this
// one commits: its reads do not wait for the log lock, which it takes
// with its writes, checking then that the tip is the log's (else it is
// retried under the lock, and stores nothing planned against the wrong
// tip; see store.Writer.AppendStatementsAt).
type flight struct {
	// planned is closed once the tip is published; tried once the first
	// attempt to commit the batch has ended, committed or not.
	planned, tried chan struct{}
	once           sync.Once
	mu             sync.Mutex
	tip            *store.LogTip
	// keys are the envelopes and digests of the batch: a next batch that
	// names one reads under the lock, since its reads may not see them.
	keys map[string]bool
	// before are the keys of the flight before when this one was planned
	// against its tip: a flight that creates nothing leaves the log at
	// that tip, and stands for it to the next batch (see appendAll).
	before map[string]bool
}

func newFlight() *flight { return &flight{planned: make(chan struct{}), tried: make(chan struct{})} }

// publish sets the tip the flight leaves (nil: unknown) and lets the next
// batch plan; only the first call counts.
func (f *flight) publish(tip *store.LogTip) {
	f.once.Do(func() {
		f.mu.Lock()
		f.tip = tip
		f.mu.Unlock()
		close(f.planned)
	})
}

// forget drops the published tip once the flight failed, so a batch not
// yet planned reads the log under its lock instead.
func (f *flight) forget() {
	f.mu.Lock()
	f.tip = nil
	f.mu.Unlock()
}

func (f *flight) currentTip() *store.LogTip {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tip
}

// batchKeys returns the envelopes, signed payloads and digests batch
// names.
func batchKeys(batch []*pending) map[string]bool {
	keys := map[string]bool{}
	for _, q := range batch {
		keys[q.rec.EnvelopeDigest.String()] = true
		if !q.rec.SignedDigest.IsZero() {
			keys[q.rec.SignedDigest.String()] = true
		}
		for _, s := range q.rec.Subjects {
			for _, d := range s.Digests {
				keys[d.String()] = true
			}
		}
	}
	return keys
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
// nodes it has seen (those of the tip it plans against, if any, and those
// it read or wrote) and the edge cache first, and records what it reads
// and writes for the cache's update once the transaction commits.
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
		if h, ok := e.seen[id]; ok {
			out[i] = h
		} else if h, ok := e.cache.m[id]; ok {
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

// tip returns the log's tip once the entries before next are in the tree:
// its right edge from the nodes seen and cached, nil when one is neither.
func (e *edgeNodes) tip(next int64) *store.LogTip {
	e.cache.mu.Lock()
	defer e.cache.mu.Unlock()
	t := &store.LogTip{Next: next}
	for _, id := range compact.RangeNodes(0, uint64(next-1), nil) {
		h, ok := e.seen[id]
		if !ok {
			if h, ok = e.cache.m[id]; !ok {
				return nil
			}
		}
		t.Edge = append(t.Edge, store.LogNode{ID: id, Hash: h})
	}
	return t
}

// gatherWait bounds how long a leader waits for the submitters still
// verifying their entries (see gather). Longer waits made bigger batches
// but fewer of them: BenchmarkVoteSubmit ran 3,018/s at 250 µs, 3,015 and
// 3,028/s at 500 µs, 2,853/s at 1 ms, and 2,889-2,902/s without waiting.
const gatherWait = 250 * time.Microsecond

// arrival is a submitter on its way to the queue, counted in
// batcher.arriving until its entry is queued or it gives up.
type arrival struct {
	b    *batcher
	done bool // guarded by b.mu
}

// arrive counts a submitter that is about to decode and verify an entry.
func (b *batcher) arrive() *arrival {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.arriving++
	return &arrival{b: b}
}

// settleLocked ends the arrival (once), b.mu held.
func (a *arrival) settleLocked() {
	if a == nil || a.done {
		return
	}
	a.done = true
	a.b.arriving--
	a.b.joined.Broadcast()
}

// leave ends the arrival of a submitter whose entry is not queued (it
// failed before, or was queued already: then nothing happens).
func (a *arrival) leave() {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	a.settleLocked()
}

// gather waits, b.mu held, while submitters are verifying entries, until
// they have queued them, the queue holds a full batch or b.gatherWait has
// passed. Verification takes a client's entry ~60 µs; a batch taken the
// moment the one before it is planned misses the entries of the clients
// just answered, and with two batches in flight each then paid the fixed
// cost of an append for about six entries where ten were on their way.
func (b *batcher) gather() {
	if b.arriving == 0 || len(b.queue) >= maxBatch {
		return
	}
	expired := false
	t := time.AfterFunc(b.gatherWait, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		expired = true
		b.joined.Broadcast()
	})
	defer t.Stop()
	for b.arriving > 0 && len(b.queue) < maxBatch && !expired {
		b.joined.Wait()
	}
}

// append queues rec (whose submitter's arrival a ends, when not nil) and
// returns once it is committed.
func (b *batcher) append(ctx context.Context, rec store.Statement, leaf []byte, a *arrival) (store.Statement, bool, error) {
	p := &pending{rec: rec, leaf: leaf, done: make(chan result, 1), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	a.settleLocked()
	if b.leaders < b.flights {
		b.leaders++
		p.leading = true
		p.lead <- struct{}{}
	}
	b.mu.Unlock()

	for {
		select {
		case r := <-p.done:
			// Leadership handed to p is sent before p's entry leaves the
			// queue, so before its outcome: if it came, it is here now.
			select {
			case <-p.lead:
				b.lead(ctx, p)
			default:
			}
			return r.rec, r.created, r.err
		case <-p.lead:
			b.lead(ctx, p)
		}
	}
}

// lead commits batches from the queue until p's entry is committed or the
// queue is empty, then passes leadership to the oldest waiter not leading
// already, if any.
func (b *batcher) lead(ctx context.Context, p *pending) {
	for {
		b.mu.Lock()
		if p.finished.Load() || len(b.queue) == 0 {
			b.leaders--
			for _, q := range b.queue {
				if !q.leading {
					b.leaders++
					q.leading = true
					q.lead <- struct{}{}
					break
				}
			}
			b.mu.Unlock()
			return
		}
		prev, f := b.last, newFlight()
		b.last = f
		b.mu.Unlock()

		// The batch is taken once the one before is numbered, so it
		// gathers what arrived meanwhile, and is numbered after it.
		var tip *store.LogTip
		if prev != nil {
			<-prev.planned
			tip = prev.currentTip()
		}
		b.mu.Lock()
		b.gather()
		n := min(len(b.queue), maxBatch)
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		if time.Now().Before(b.lockedUntil) {
			tip = nil
		}
		b.mu.Unlock()
		if tip != nil && (b.index.locked(batch) || overlaps(prev, batch)) {
			tip = nil
		}
		b.commit(context.WithoutCancel(ctx), batch, prev, tip, f)
	}
}

// overlaps reports whether batch names an envelope, signed payload or
// digest of prev's.
func overlaps(prev *flight, batch []*pending) bool {
	for _, q := range batch {
		if prev.keys[q.rec.EnvelopeDigest.String()] || (!q.rec.SignedDigest.IsZero() && prev.keys[q.rec.SignedDigest.String()]) {
			return true
		}
		for _, s := range q.rec.Subjects {
			for _, d := range s.Digests {
				if prev.keys[d.String()] {
					return true
				}
			}
		}
	}
	return false
}

// commit appends the batch in one transaction, planned against tip when
// not nil, and publishes f's tip. Under the lock from the start, it asks
// for the log lock only once prev's first attempt has ended, so the
// batches take it in the order they were numbered (planned against a tip,
// it waits for prev's turn in the database instead). When that fails, a
// batch planned against a tip is retried under the log lock, and then
// each entry of a failed batch alone, so one bad entry cannot fail the
// others.
func (b *batcher) commit(ctx context.Context, batch []*pending, prev *flight, tip *store.LogTip, f *flight) {
	if len(batch) == 0 {
		// An empty flight stands for prev to the next batch: prev's tip,
		// prev's keys (prev may still be committing while the next batch
		// reads), and prev's end.
		if prev != nil {
			f.keys = prev.keys
		}
		f.publish(tip)
		if prev != nil {
			<-prev.tried
		}
		close(f.tried)
		return
	}
	f.keys = batchKeys(batch)
	if tip != nil {
		f.before = prev.keys
	}
	if prev != nil && tip == nil {
		<-prev.tried
	}
	results, err := b.appendAll(ctx, batch, tip, f)
	if err != nil {
		f.forget()
	}
	close(f.tried)
	if err != nil && tip != nil {
		// Once more under the lock: the attempt may have failed on what
		// it could not see (the log moved, the batch before failed),
		// which the retry reads.
		b.replans.Add(1)
		b.mu.Lock()
		b.lockedUntil = time.Now().Add(lockedAfterMove)
		b.mu.Unlock()
		results, err = b.appendAll(ctx, batch, nil, nil)
	}
	if err == nil {
		for i, q := range batch {
			q.finished.Store(true)
			q.done <- results[i]
		}
		return
	}
	for _, q := range batch {
		r := result{err: err}
		if len(batch) > 1 {
			if rs, err := b.appendAll(ctx, []*pending{q}, nil, nil); err != nil {
				r = result{err: err}
			} else {
				r = rs[0]
			}
		}
		q.finished.Store(true)
		q.done <- r
	}
}

// appendAll appends the batch in one transaction, planned against tip when
// not nil, and publishes, when f is not nil, the tip it leaves: as soon as
// it is known, before the commit.
func (b *batcher) appendAll(ctx context.Context, batch []*pending, tip *store.LogTip, f *flight) ([]result, error) {
	if f != nil {
		defer f.publish(nil) // when it failed before publishing
	}
	recs := make([]store.Statement, len(batch))
	leaves := make([][]byte, len(batch))
	for i, q := range batch {
		recs[i], leaves[i] = q.rec, q.leaf
	}
	results := make([]result, len(batch))
	var (
		nodes *edgeNodes
		size  uint64
	)
	err := b.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		nodes = &edgeNodes{w: nodeWriter{w}, cache: &b.edge, seen: map[compact.NodeID][]byte{}}
		if tip != nil {
			for _, n := range tip.Edge {
				nodes.seen[n.ID] = n.Hash
			}
		}
		out, created, err := appendIn(ctx, w, recs, leaves, b.index, nodes, tip)
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
		if f != nil {
			switch {
			case size > 0:
				next := nodes.tip(int64(size) + 1)
				if next != nil && tip != nil {
					next.After = tip.Next // this append's turn
				}
				f.publish(next)
			case tip != nil:
				// Every envelope was in the log already: the batch took no
				// turn and leaves the log at the tip of the batch before,
				// which may still be committing. The next batch, planned
				// against that tip, must read under the lock what that
				// one writes, as it would behind it.
				maps.Copy(f.keys, f.before)
				f.publish(tip)
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
	ahead map[string]ReadAhead
}

// readAhead announces to w the reads of the batch indexers of recs.
func (ix indexers) readAhead(w store.Writer, recs []store.Statement) {
	if len(ix.ahead) == 0 {
		return
	}
	byType := map[string][]store.Statement{}
	for _, r := range recs {
		if ix.ahead[r.PredicateType] != nil {
			byType[r.PredicateType] = append(byType[r.PredicateType], r)
		}
	}
	for pt, rs := range byType {
		ix.ahead[pt](w, rs)
	}
}

// locked reports whether an entry of batch has a per-entry indexer. Such
// an indexer may read anything earlier entries left, so the batch reads
// under the log lock; a batch indexer reads only what the entries naming
// its entries' digests left (see BatchIndexer), which no append but the
// one before, checked apart (overlaps), can change unseen.
func (ix indexers) locked(batch []*pending) bool {
	for _, q := range batch {
		if ix.each[q.rec.PredicateType] != nil {
			return true
		}
	}
	return false
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
// entries, computed once for all of them. With a tip, the append is
// planned against it (store.Writer.AppendStatementsAt) and nodes must hold
// its edge.
func appendIn(ctx context.Context, w store.Writer, recs []store.Statement, leaves [][]byte, index indexers, nodes tlog.NodeWriter, tip *store.LogTip) ([]store.Statement, []bool, error) {
	var (
		out     []store.Statement
		created []bool
		err     error
	)
	for i := range recs {
		recs[i].Publication = recordtype.Publication(recs[i].PayloadType, recs[i].PredicateType)
	}
	index.readAhead(w, recs)
	if tip != nil {
		out, created, err = w.AppendStatementsAt(ctx, recs, *tip)
	} else {
		out, created, err = w.AppendStatements(ctx, recs)
	}
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
