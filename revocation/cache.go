package revocation

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// DefaultMaxStaleness is the default oldest list a client accepts or
// answers from.
const DefaultMaxStaleness = 48 * time.Hour

// Cache file names inside a cache directory.
const (
	cacheStateFile = "state.json"
	cacheBodyGlob  = "revocations-*.bin"
)

// ErrNoCache means the cache holds no list yet (run a sync first).
var ErrNoCache = errors.New("no revocation list cached")

// cacheState is the cache's state.json.
type cacheState struct {
	Number   int64     `json:"number"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
	Revokers []string  `json:"revokers"`
	Entries  int       `json:"entries"`
	Body     string    `json:"body"`   // file name of the entries
	SHA256   string    `json:"sha256"` // of the entries file
}

// Cache is a client's verified revocation list on disk: entries sorted by
// target key. In memory a bucket table indexed by a key's top bits (about
// one entry per bucket: target keys are SHA-256 outputs, so uniformly
// spread) finds an entry with two memory reads. It only ever moves
// forward: Apply refuses lists older than the one it holds or older than
// MaxStaleness.
type Cache struct {
	dir string
	// MaxStaleness bounds the age of a list Apply accepts and of the list
	// Check answers from (default DefaultMaxStaleness).
	MaxStaleness time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	has     bool
	state   cacheState
	entries []byte
	// buckets[b] is the index of the first entry whose key's top bits
	// are at least b; len(buckets) is 2^bits + 1.
	buckets []uint32
	bits    uint
}

// OpenCache loads the cache in dir (created 0700 if missing); an empty
// directory is an empty cache.
func OpenCache(dir string, maxStaleness time.Duration) (*Cache, error) {
	if maxStaleness <= 0 {
		maxStaleness = DefaultMaxStaleness
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("revocation: cache: %w", err)
	}
	c := &Cache{dir: dir, MaxStaleness: maxStaleness, Now: time.Now}
	raw, err := os.ReadFile(filepath.Join(dir, cacheStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revocation: cache: %w", err)
	}
	if err := json.Unmarshal(raw, &c.state); err != nil {
		return nil, fmt.Errorf("revocation: cache %s: %w", cacheStateFile, err)
	}
	body, err := os.ReadFile(filepath.Join(dir, filepath.Base(c.state.Body)))
	if err != nil {
		return nil, fmt.Errorf("revocation: cache: %w", err)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != c.state.SHA256 || len(body) != c.state.Entries*EntrySize {
		return nil, fmt.Errorf("revocation: cache %s: %w: the entries file does not match the cache state; sync again with a fresh cache", c.state.Body, ErrBadList)
	}
	c.has = true
	c.setEntries(body)
	return c, nil
}

func (c *Cache) setEntries(entries []byte) {
	n := len(entries) / EntrySize
	c.entries = entries
	c.bits = 8
	for c.bits < 24 && 1<<c.bits < n {
		c.bits++
	}
	c.buckets = make([]uint32, 1<<c.bits+1)
	i := 0
	for b := range c.buckets {
		for i < n && c.bucketOf(entries[i*EntrySize:]) < b {
			i++
		}
		c.buckets[b] = uint32(i)
	}
}

// bucketOf is the bucket of the key at the start of rec.
func (c *Cache) bucketOf(rec []byte) int { return int(binary.BigEndian.Uint64(rec) >> (64 - c.bits)) }

// Number is the number of the cached list, and false when there is none.
func (c *Cache) Number() (int64, bool) { return c.state.Number, c.has }

// Issued is when the cached list was issued.
func (c *Cache) Issued() time.Time { return c.state.Issued }

// Len is the number of revocations in force in the cache.
func (c *Cache) Len() int { return len(c.entries) / EntrySize }

// SizeOnDisk is the size of the cache's entries file in bytes.
func (c *Cache) SizeOnDisk() int64 { return int64(len(c.entries)) }

// Apply adds a verified list to the cache: a snapshot replaces it, a delta
// (whose Since must be the cache's number) is merged entry by entry with
// Merge. A list number names one state, so a list of the cached number
// must hold exactly the cached revocations, whenever it was issued: one
// issued earlier (by another replica, or before a restart) changes
// nothing and is no error; one that differs is refused, so no issue time
// lets it drop a revocation. Errors: ErrRollback for a list numbered
// before the cached one, issued before it, or of its number with other
// entries; ErrStale for one older than MaxStaleness or expired;
// ErrDeltaBase for a delta that does not start at the cache's number.
// Apply does not save; call Save.
func (c *Cache) Apply(v *Verified) error {
	now := c.Now()
	info := v.Info
	same := c.has && info.Number == c.state.Number
	if same {
		if err := c.sameState(v); err != nil {
			return err
		}
		if info.Issued.Before(c.state.Issued) {
			return nil // the state the cache holds, issued earlier: nothing new
		}
	}
	switch {
	case c.has && info.Number < c.state.Number:
		return fmt.Errorf("revocation: list %d: %w: the cache already holds list %d", info.Number, ErrRollback, c.state.Number)
	case c.has && info.Issued.Before(c.state.Issued):
		return fmt.Errorf("revocation: list %d: %w: issued %s, before the cached list's %s", info.Number, ErrRollback, ts(info.Issued), ts(c.state.Issued))
	case now.Sub(info.Issued) > c.MaxStaleness:
		return fmt.Errorf("revocation: list %d: %w: issued %s, more than %s ago", info.Number, ErrStale, ts(info.Issued), c.MaxStaleness)
	case now.After(info.Expires):
		return fmt.Errorf("revocation: list %d: %w: expired %s", info.Number, ErrStale, ts(info.Expires))
	case info.Delta() && (!c.has || info.Since != c.state.Number):
		have := "none"
		if c.has {
			have = fmt.Sprint(c.state.Number)
		}
		return fmt.Errorf("revocation: delta since %d: %w: the cache holds list %s", info.Since, ErrDeltaBase, have)
	}
	if !info.Delta() {
		c.state.Revokers = slices.Clone(v.revokers)
		c.setEntries(slices.Clone(v.entries))
	} else if err := c.merge(v); err != nil {
		return err
	}
	c.has = true
	c.state.Number, c.state.Issued, c.state.Expires, c.state.Entries = info.Number, info.Issued, info.Expires, c.Len()
	return nil
}

// sameState checks that v, a list of the cached number, holds the cached
// state: a snapshot the same entries, a delta (since that number) none.
func (c *Cache) sameState(v *Verified) error {
	differs := func(what string) error {
		return fmt.Errorf("revocation: list %d: %w: %s; the cached list of that number differs (a list number names one state)", v.Info.Number, ErrRollback, what)
	}
	if v.Info.Delta() {
		if v.Info.Since != c.state.Number {
			return fmt.Errorf("revocation: delta since %d: %w: the cache holds list %d", v.Info.Since, ErrDeltaBase, c.state.Number)
		}
		if v.Len() > 0 {
			return differs(fmt.Sprintf("a delta of %d events", v.Len()))
		}
		return nil
	}
	if v.Len() != c.Len() {
		return differs(fmt.Sprintf("%d entries where the cache holds %d", v.Len(), c.Len()))
	}
	for i := range v.Len() {
		a, err := v.Entry(i)
		if err != nil {
			return err
		}
		b, err := decodeEntry(c.entries[i*EntrySize:(i+1)*EntrySize], c.state.Revokers)
		if err != nil {
			return err
		}
		if a.Key != b.Key || a.Kind != b.Kind || a.Reason != b.Reason || a.Action != b.Action || a.Revoker != b.Revoker || !a.Effective.Equal(b.Effective) || a.Seq != b.Seq {
			return differs(fmt.Sprintf("entry %d (log entry %d) is another revocation", i, a.Seq))
		}
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// merge applies a delta's events in order onto the cached entries.
func (c *Cache) merge(v *Verified) error {
	changed := map[[32]byte]*Entry{}
	var keys [][32]byte
	for i := range v.Len() {
		ev, err := v.Entry(i)
		if err != nil {
			return err
		}
		cur, seen := changed[ev.Key]
		if !seen {
			keys = append(keys, ev.Key)
			if old, ok := c.find(ev.Key); ok {
				cur = &old
			}
		}
		var curRec *Record
		if cur != nil {
			r := cur.record()
			curRec = &r
		}
		next := entryOf(ev.Key, Merge(curRec, ev.record()))
		changed[ev.Key] = &next
	}
	slices.SortFunc(keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	b := bodyWriter{revokers: c.state.Revokers, index: map[string]uint32{}}
	for i, r := range b.revokers {
		b.index[r] = uint32(i)
	}
	b.buf.Grow(len(c.entries) + len(keys)*EntrySize)
	old := c.entries
	for _, k := range keys {
		// Copy the untouched entries before k verbatim.
		n := c.searchIn(old, k)
		b.buf.Write(old[:n*EntrySize])
		b.n += n
		old = old[n*EntrySize:]
		if len(old) > 0 && bytes.Equal(old[:32], k[:]) {
			old = old[EntrySize:]
		}
		if e := changed[k]; e.Action == ActionRevoke {
			if err := b.add(*e); err != nil {
				return err
			}
		}
	}
	b.buf.Write(old)
	c.state.Revokers = b.revokers
	c.setEntries(b.buf.Bytes())
	return nil
}

// searchIn returns the number of entries in es whose key is below k.
func (c *Cache) searchIn(es []byte, k [32]byte) int {
	n := len(es) / EntrySize
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(es[m*EntrySize:m*EntrySize+32], k[:]) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns the cached entry with key k.
func (c *Cache) find(k [32]byte) (Entry, bool) {
	b := c.bucketOf(k[:])
	p := binary.BigEndian.Uint64(k[:])
	for i := c.buckets[b]; i < c.buckets[b+1]; i++ {
		rec := c.entries[int(i)*EntrySize : int(i+1)*EntrySize]
		switch q := binary.BigEndian.Uint64(rec); {
		case q < p:
			continue
		case q > p:
			return Entry{}, false
		}
		switch bytes.Compare(rec[8:32], k[8:]) {
		case 0:
			e, err := decodeEntry(rec, c.state.Revokers)
			return e, err == nil
		case 1:
			return Entry{}, false
		}
	}
	return Entry{}, false
}

// CheckKey returns the revocation in force of the target with key k, if
// the cache holds one. Errors: ErrNoCache, ErrStale when the cached list
// is older than MaxStaleness or expired (absence then proves nothing).
func (c *Cache) CheckKey(k [32]byte) (*Entry, error) {
	if !c.has {
		return nil, ErrNoCache
	}
	now := c.Now()
	if now.Sub(c.state.Issued) > c.MaxStaleness || now.After(c.state.Expires) {
		return nil, fmt.Errorf("revocation: cached list %d: %w: issued %s; sync again", c.state.Number, ErrStale, ts(c.state.Issued))
	}
	if e, ok := c.find(k); ok {
		return &e, nil
	}
	return nil, nil
}

// Check returns the cached revocation of target (kind, id), as CheckKey.
// The id is put in canonical form first (a digest is parsed once).
func (c *Cache) Check(kind Kind, id string) (*Entry, error) {
	if kind == KindDigest {
		d, err := digest.Parse(id)
		if err != nil {
			return nil, inputerr.Wrap(opParse, "target.id", ErrInvalid, "not a digest", err)
		}
		return c.CheckDigest(d)
	}
	id, err := CanonicalID(kind, id)
	if err != nil {
		return nil, err
	}
	return c.CheckKey(TargetKey(kind, id))
}

// CheckDigest returns the cached revocation of digest d, as CheckKey; d
// is already canonical, so this skips parsing.
func (c *Cache) CheckDigest(d digest.Digest) (*Entry, error) {
	return c.CheckKey(DigestKey(d))
}

// Save writes the cache to its directory: the entries under a new name,
// then state.json by atomic rename, then removes older entries files.
func (c *Cache) Save() error {
	sum := sha256.Sum256(c.entries)
	name := fmt.Sprintf("revocations-%d-%s.bin", c.state.Number, hex.EncodeToString(sum[:8]))
	if err := writeFileAtomic(filepath.Join(c.dir, name), c.entries); err != nil {
		return err
	}
	c.state.Body, c.state.SHA256 = name, hex.EncodeToString(sum[:])
	raw, err := json.MarshalIndent(c.state, "", "  ")
	if err != nil {
		return fmt.Errorf("revocation: cache: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(c.dir, cacheStateFile), raw); err != nil {
		return err
	}
	olds, _ := filepath.Glob(filepath.Join(c.dir, cacheBodyGlob))
	for _, o := range olds {
		if filepath.Base(o) != name {
			_ = os.Remove(o)
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("revocation: cache: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("revocation: cache: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("revocation: cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("revocation: cache: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("revocation: cache: %w", err)
	}
	return nil
}

// Entries returns every cached entry, in key order (for comparing caches
// and for listing).
func (c *Cache) Entries() ([]Entry, error) {
	out := make([]Entry, c.Len())
	for i := range out {
		e, err := decodeEntry(c.entries[i*EntrySize:(i+1)*EntrySize], c.state.Revokers)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}
