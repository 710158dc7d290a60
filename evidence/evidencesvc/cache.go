package evidencesvc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/trustd-dev/trustd/store"
)

// maxCached bounds each cache; past it the cache starts over.
const maxCached = 4096

// cache keeps what never changes once written: log entries by sequence
// number, registered keys, and the log entry of each published TUF metadata file (a
// published version is never replaced). Revocation states, the latest
// timestamp and anything else that moves are read every time.
type cache struct {
	mu      sync.Mutex
	entries map[int64]store.Statement
	tuf     map[tufKey]tufFile
	// keys are registered keys by id (a key id is never registered again
	// with other bytes).
	keys map[string]store.Key
	// checkpoints are the checkpoints signed lately by tree size: a
	// checkpoint of a size is signed once, however many bundles read the
	// tree at that size (while appends go on, lookups read a few sizes).
	checkpoints map[uint64][]byte
}

// maxCheckpoints bounds the signed checkpoints kept.
const maxCheckpoints = 16

type tufKey struct {
	repo, role string
	version    int64
}

type tufFile struct {
	seq  int64
	data []byte
}

// statement returns log entry seq, reading it once.
func (b *Builder) statement(ctx context.Context, seq int64) (store.Statement, error) {
	b.cache.mu.Lock()
	st, ok := b.cache.entries[seq]
	b.cache.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := b.Store.Statement(ctx, seq)
	if err != nil {
		return store.Statement{}, err
	}
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	if b.cache.entries == nil || len(b.cache.entries) >= maxCached {
		b.cache.entries = map[int64]store.Statement{}
	}
	b.cache.entries[seq] = st
	return st, nil
}

// tufFileOf returns a published TUF file (version > 0) with the sequence
// number of its log entry, if cached.
func (b *Builder) tufFileOf(k tufKey) (tufFile, bool) {
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	f, ok := b.cache.tuf[k]
	return f, ok
}

func (b *Builder) keepTUFFile(k tufKey, f tufFile) {
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	if b.cache.tuf == nil || len(b.cache.tuf) >= maxCached {
		b.cache.tuf = map[tufKey]tufFile{}
	}
	b.cache.tuf[k] = f
}

// checkpoint returns a signed checkpoint of the tree of size (0: the log
// as it is now), signing one only for a size not signed lately.
func (b *Builder) checkpoint(ctx context.Context, size uint64) ([]byte, uint64, error) {
	if size == 0 {
		var err error
		if size, err = b.Store.LogSize(ctx); err != nil {
			return nil, 0, fmt.Errorf("evidence: log size: %w", err)
		}
	}
	b.cache.mu.Lock()
	if cp, ok := b.cache.checkpoints[size]; ok {
		b.cache.mu.Unlock()
		return cp, size, nil
	}
	b.cache.mu.Unlock()
	cp, size, err := b.Log.Checkpoint(ctx, size)
	if err != nil {
		return nil, 0, fmt.Errorf("evidence: checkpoint: %w", err)
	}
	b.cache.mu.Lock()
	if b.cache.checkpoints == nil || len(b.cache.checkpoints) >= maxCheckpoints {
		b.cache.checkpoints = map[uint64][]byte{}
	}
	b.cache.checkpoints[size] = cp
	b.cache.mu.Unlock()
	return cp, size, nil
}

// prefetch reads the log entries of seqs that are not cached in one store
// read, so that citing them one by one reads nothing more.
func (b *Builder) prefetch(ctx context.Context, seqs []int64) error {
	var missing []int64
	b.cache.mu.Lock()
	for _, seq := range seqs {
		if _, ok := b.cache.entries[seq]; !ok {
			missing = append(missing, seq)
		}
	}
	b.cache.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	got, err := b.Store.StatementsBySeq(ctx, missing, true)
	if err != nil {
		return fmt.Errorf("evidence: log entries: %w", err)
	}
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	if b.cache.entries == nil || len(b.cache.entries)+len(got) > maxCached {
		b.cache.entries = map[int64]store.Statement{}
	}
	for _, st := range got {
		b.cache.entries[st.Seq] = st
	}
	return nil
}

// keyOf returns registered key id, reading it once.
func (b *Builder) keyOf(ctx context.Context, id string) (store.Key, error) {
	b.cache.mu.Lock()
	k, ok := b.cache.keys[id]
	b.cache.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := b.Store.Key(ctx, id)
	if err != nil {
		return store.Key{}, err
	}
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	if b.cache.keys == nil || len(b.cache.keys) >= maxCached {
		b.cache.keys = map[string]store.Key{}
	}
	b.cache.keys[id] = k
	return k, nil
}

// KeysByID returns the registered keys with these ids, as
// store.Reader.KeysByID does (ordered by id, unregistered ids left out),
// reading only those not cached, in one store read. A registered key never
// changes (no label or bytes are rewritten), so GetSubject's labels need
// no store read once its signers were seen; an id not registered is read
// again each time, as it may be registered since.
func (b *Builder) KeysByID(ctx context.Context, ids []string) ([]store.Key, error) {
	var out []store.Key
	var missing []string
	b.cache.mu.Lock()
	for _, id := range ids {
		if k, ok := b.cache.keys[id]; ok {
			out = append(out, k)
		} else {
			missing = append(missing, id)
		}
	}
	b.cache.mu.Unlock()
	if len(missing) > 0 {
		got, err := b.Store.KeysByID(ctx, missing)
		if err != nil {
			return nil, err
		}
		b.cache.mu.Lock()
		if b.cache.keys == nil || len(b.cache.keys)+len(got) > maxCached {
			b.cache.keys = map[string]store.Key{}
		}
		for _, k := range got {
			b.cache.keys[k.ID] = k
		}
		b.cache.mu.Unlock()
		out = append(out, got...)
	}
	slices.SortFunc(out, func(a, b store.Key) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b store.Key) bool { return a.ID == b.ID }), nil
}
