package tuf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"
)

// File is one published metadata file: a role's signed JSON at one version,
// kept verbatim.
type File struct {
	Role    string // "root", "targets", "snapshot", "timestamp" or a delegated role
	Version int64  // the metadata's signed.version
	Data    []byte // the signed JSON exactly as served
}

// Pending is a proposal collecting signatures: a role's metadata at the next
// version, valid except that it is signed by fewer keys than the threshold.
// Several proposals may be pending for one role and version; each is keyed
// by its Digest.
type Pending struct {
	Role    string
	Version int64
	// Digest is the hex SHA-256 of the canonical JSON of the signed part
	// (ProposalDigest): what every key holder signs, and the proposal's key.
	Digest string
	Data   []byte // the signed JSON with every signature collected so far
}

// PendingWrite inserts or replaces one pending proposal under a
// compare-and-swap: the stored proposal for (Role, Version, Digest) must
// hold exactly Expect (nil: there must be none).
type PendingWrite struct {
	Pending
	Expect []byte
}

// PendingKey names every pending proposal for one role and version: when
// one of them is published, the others become void and are dropped with it.
type PendingKey struct {
	Role    string
	Version int64
}

// Change is everything one operation writes to one repository, applied all
// or nothing by State.Apply.
type Change struct {
	Repo string
	// Publish lists new metadata versions (the uploaded role, the new
	// snapshot and timestamp). Each (Repo, Role, Version) must not exist
	// yet: that uniqueness is the compare-and-swap that stops two concurrent
	// publishes from both winning, because each writes the next timestamp
	// (or root) version.
	Publish []File
	// PutPending inserts or replaces pending proposals, each under its own
	// compare-and-swap.
	PutPending []PendingWrite
	// DropPending deletes pending proposals (absent ones are ignored).
	DropPending []PendingKey
}

// State is the storage the Service needs, defined here on the consumer side.
// trustd implements it on PostgreSQL and SQLite; MemState is the in-memory
// implementation for tests and benchmarks.
//
// Contract:
//   - Get(ctx, repo, role, v) returns the bytes of the published File with
//     that role and version, byte for byte as given to Apply; v == 0 means
//     the highest published version of role. It returns an error matching
//     ErrNotFound (errors.Is) if there is none, including when the
//     repository does not exist.
//   - Pending returns every pending proposal of repo, each with the Digest
//     it was written with (any order; none is not an error).
//   - Apply applies c atomically (one transaction): either every file in
//     c.Publish is inserted, every PutPending written and every DropPending
//     deleted, or nothing changes. It returns an error matching ErrConflict,
//     changing nothing, if any (repo, role, version) in c.Publish already
//     exists (a unique key on those three columns does this), or if a
//     PutPending's stored bytes differ from its Expect (nil Expect: a
//     proposal for that role, version and digest exists). A DropPending
//     deletes every proposal for its role and version, whatever the digest. Published files are never
//     updated or deleted afterwards (append-only); a repository exists once
//     root version 1 is published.
//   - All three are safe for concurrent use, and a Get after a successful
//     Apply sees its writes.
type State interface {
	Get(ctx context.Context, repo, role string, version int64) ([]byte, error)
	Pending(ctx context.Context, repo string) ([]Pending, error)
	Apply(ctx context.Context, c Change) error
}

// MemState is an in-memory State for tests and benchmarks. It keeps every
// published version and counts the bytes written.
type MemState struct {
	mu           sync.RWMutex
	repos        map[string]*memRepo
	bytesWritten int64
}

type memRepo struct {
	files   map[string]map[int64][]byte // role → version → data
	latest  map[string]int64
	pending map[memPendingKey][]byte
}

type memPendingKey struct {
	role    string
	version int64
	digest  string
}

// NewMemState returns an empty MemState.
func NewMemState() *MemState {
	return &MemState{repos: map[string]*memRepo{}}
}

// Get implements State.
func (m *MemState) Get(_ context.Context, repo, role string, version int64) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.repos[repo]
	if r == nil {
		return nil, fmt.Errorf("memstate: repository %q: %w", repo, ErrNotFound)
	}
	if version == 0 {
		version = r.latest[role]
	}
	data, ok := r.files[role][version]
	if !ok {
		return nil, fmt.Errorf("memstate: %s %s version %d: %w", repo, role, version, ErrNotFound)
	}
	return data, nil
}

// Pending implements State.
func (m *MemState) Pending(_ context.Context, repo string) ([]Pending, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.repos[repo]
	if r == nil {
		return nil, nil
	}
	out := make([]Pending, 0, len(r.pending))
	for k, v := range r.pending {
		out = append(out, Pending{Role: k.role, Version: k.version, Digest: k.digest, Data: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// Apply implements State.
func (m *MemState) Apply(_ context.Context, c Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.repos[c.Repo]
	if r == nil {
		r = &memRepo{files: map[string]map[int64][]byte{}, latest: map[string]int64{}, pending: map[memPendingKey][]byte{}}
	}
	seen := map[PendingKey]bool{}
	for _, f := range c.Publish {
		k := PendingKey{f.Role, f.Version}
		if _, ok := r.files[f.Role][f.Version]; ok || seen[k] {
			return fmt.Errorf("memstate: %s %s version %d is already published: %w", c.Repo, f.Role, f.Version, ErrConflict)
		}
		seen[k] = true
	}
	for _, p := range c.PutPending {
		if p.Digest == "" {
			return fmt.Errorf("memstate: %s pending %s version %d: no digest", c.Repo, p.Role, p.Version)
		}
		cur, ok := r.pending[memPendingKey{p.Role, p.Version, p.Digest}]
		if (p.Expect == nil && ok) || (p.Expect != nil && (!ok || !bytes.Equal(cur, p.Expect))) {
			return fmt.Errorf("memstate: %s pending %s version %d changed meanwhile: %w", c.Repo, p.Role, p.Version, ErrConflict)
		}
	}
	if len(c.Publish) == 0 && m.repos[c.Repo] == nil {
		return fmt.Errorf("memstate: repository %q: %w", c.Repo, ErrNotFound)
	}
	m.repos[c.Repo] = r
	for _, f := range c.Publish {
		if r.files[f.Role] == nil {
			r.files[f.Role] = map[int64][]byte{}
		}
		r.files[f.Role][f.Version] = bytes.Clone(f.Data)
		if f.Version > r.latest[f.Role] {
			r.latest[f.Role] = f.Version
		}
		m.bytesWritten += int64(len(f.Data))
	}
	for _, k := range c.DropPending {
		for pk := range r.pending {
			if pk.role == k.Role && pk.version == k.Version {
				delete(r.pending, pk)
			}
		}
	}
	for _, p := range c.PutPending {
		r.pending[memPendingKey{p.Role, p.Version, p.Digest}] = bytes.Clone(p.Data)
		m.bytesWritten += int64(len(p.Data))
	}
	return nil
}

// Latest returns the highest published version of every role of repo, for
// tests that check what a change touched.
func (m *MemState) Latest(repo string) map[string]int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[string]int64{}
	if r := m.repos[repo]; r != nil {
		for k, v := range r.latest {
			out[k] = v
		}
	}
	return out
}

// Fingerprint returns a string that changes whenever anything stored for repo
// changes (published files or pending proposals), for tests asserting that a
// rejected operation stored nothing.
func (m *MemState) Fingerprint(repo string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := m.repos[repo]
	if r == nil {
		return "<none>"
	}
	var b bytes.Buffer
	roles := make([]string, 0, len(r.files))
	for role := range r.files {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		fmt.Fprintf(&b, "%s:%d:%d;", role, r.latest[role], len(r.files[role]))
	}
	keys := make([]memPendingKey, 0, len(r.pending))
	for k := range r.pending {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.role < b.role || (a.role == b.role && (a.version < b.version || (a.version == b.version && a.digest < b.digest)))
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "p:%s:%d:%s:%x;", k.role, k.version, k.digest, sha256.Sum256(r.pending[k]))
	}
	return b.String()
}

// BytesWritten returns the total size of every file and pending proposal
// written so far.
func (m *MemState) BytesWritten() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bytesWritten
}
