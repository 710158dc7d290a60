package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/trustd-dev/trustd/store"
)

// maxMemo bounds each of the Service's memos of immutable facts; past it
// a memo starts over.
const maxMemo = 1 << 16

// memo keeps what never changes once written, so that checking the same
// log entries and keys again costs no store read: an entry's envelope
// digest, signers and recorded time, and a registered key's type.
// Revocation states move: they are read every time, except large sets,
// remembered with the revocation head they were read at (States).
type memo struct {
	mu       sync.Mutex
	heads    map[int64]store.Statement
	keyTypes map[string]string
	// states are large sets of States read, by the hash of their targets'
	// keys (States).
	states map[[32]byte]States
	// revokedAt are large KeysRevokedAt answers, by the hash of the keys.
	revokedAt map[[24]byte]keptRevokedAt
}

// heads returns the entries seqs with their envelope digest, signers and
// recorded time (no bytes), reading the ones not seen before in one store
// read. Errors: store.ErrNotFound (wrapped) for an entry not in the log.
func (s *Service) heads(ctx context.Context, seqs []int64) (map[int64]store.Statement, error) {
	out := make(map[int64]store.Statement, len(seqs))
	var missing []int64
	s.memo.mu.Lock()
	for _, seq := range seqs {
		if h, ok := s.memo.heads[seq]; ok {
			out[seq] = h
		} else {
			missing = append(missing, seq)
		}
	}
	s.memo.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := s.store.StatementsBySeq(ctx, missing, false)
	if err != nil {
		return nil, fmt.Errorf("revocation: statements: %w", err)
	}
	s.memo.mu.Lock()
	if s.memo.heads == nil || len(s.memo.heads)+len(got) > maxMemo {
		s.memo.heads = map[int64]store.Statement{}
	}
	for _, h := range got {
		out[h.Seq] = h
		s.memo.heads[h.Seq] = h
	}
	s.memo.mu.Unlock()
	for _, seq := range missing {
		if _, ok := out[seq]; !ok {
			return nil, fmt.Errorf("revocation: statement %d: %w", seq, store.ErrNotFound)
		}
	}
	return out, nil
}

// keyType returns the type of registered key id (a key id is never
// registered again under another type). Errors: store.ErrNotFound.
func (s *Service) keyType(ctx context.Context, id string) (string, error) {
	s.memo.mu.Lock()
	typ, ok := s.memo.keyTypes[id]
	s.memo.mu.Unlock()
	if ok {
		return typ, nil
	}
	k, err := s.store.Key(ctx, id)
	if err != nil {
		return "", err
	}
	s.memo.mu.Lock()
	if s.memo.keyTypes == nil || len(s.memo.keyTypes) >= maxMemo {
		s.memo.keyTypes = map[string]string{}
	}
	s.memo.keyTypes[id] = k.Type
	s.memo.mu.Unlock()
	return k.Type, nil
}

// keyTypes reads into the memo, in one read, the types of those of ids
// that keyType would ask the store for one at a time (unknown ids are left
// to it).
func (s *Service) keyTypes(ctx context.Context, ids []string) {
	var want []string
	s.memo.mu.Lock()
	for _, id := range ids {
		if _, ok := s.memo.keyTypes[id]; !ok {
			want = append(want, id)
		}
	}
	s.memo.mu.Unlock()
	if len(want) == 0 {
		return
	}
	keys, err := s.store.KeysByID(ctx, want)
	if err != nil {
		return // keyType asks again, and says what failed
	}
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	if s.memo.keyTypes == nil || len(s.memo.keyTypes)+len(keys) > maxMemo {
		s.memo.keyTypes = map[string]string{}
	}
	for _, k := range keys {
		s.memo.keyTypes[k.ID] = k.Type
	}
}

// States is the index state of a set of targets, read at once (see
// Service.States).
type States struct {
	s    *Service
	recs map[[32]byte]*Record
	head int64
}

// Head is the revocation head (the last revocation event's log entry)
// read with the states: every revocation up to it is in them.
func (st States) Head() int64 { return st.head }

// States reads the current state of every target of ts, and the
// revocation head, in one store read,
// for answering many questions about them (an evidence bundle, a subject
// view) without a read per target. The ids must be canonical
// (CanonicalID).
//
// The states of a large set of targets (a reputation query's voters) are
// remembered with the revocation head they were read at and served again
// while the head has not moved: the index changes only when a revocation
// event is appended, which moves the head, so one cheap read of the head
// replaces reading thousands of states.
func (s *Service) States(ctx context.Context, ts []Target) (States, error) {
	keys := make([][]byte, len(ts))
	for i, t := range ts {
		k := t.Key()
		keys[i] = k[:]
	}
	var set [32]byte
	if len(ts) >= minRememberedStates {
		// The set, whatever order its targets come in (callers gather
		// them from maps).
		sorted := slices.Clone(keys)
		slices.SortFunc(sorted, bytes.Compare)
		h := sha256.New()
		for _, k := range sorted {
			h.Write(k)
		}
		h.Sum(set[:0])
		head, err := s.store.RevocationHead(ctx)
		if err != nil {
			return States{}, fmt.Errorf("revocation: head: %w", err)
		}
		s.memo.mu.Lock()
		st, ok := s.memo.states[set]
		s.memo.mu.Unlock()
		if ok && st.head == head {
			return st, nil
		}
	}
	got, head, err := s.store.RevocationsOf(ctx, keys)
	if err != nil {
		return States{}, fmt.Errorf("revocation: states of %d targets: %w", len(ts), err)
	}
	st, err := s.StatesFrom(got, head)
	if err != nil || len(ts) < minRememberedStates {
		return st, err
	}
	s.memo.mu.Lock()
	if s.memo.states == nil || len(s.memo.states) >= maxRememberedSets {
		s.memo.states = map[[32]byte]States{}
	}
	s.memo.states[set] = st
	s.memo.mu.Unlock()
	return st, nil
}

// Sets of targets at least minRememberedStates large are remembered by
// States, at most maxRememberedSets of them.
const (
	minRememberedStates = 256
	maxRememberedSets   = 16
)

// StatesFrom is States over index records already read with their head
// (store.DigestLookup's): every target a caller looks up must have been
// among those the records were read for, or it counts as never revoked.
func (s *Service) StatesFrom(got []store.RevocationRecord, head int64) (States, error) {
	out := States{s: s, recs: make(map[[32]byte]*Record, len(got)), head: head}
	for _, g := range got {
		if len(g.TargetKey) != 32 {
			return States{}, fmt.Errorf("revocation: stored target key of %s:%s is %d bytes", g.Kind, g.TargetID, len(g.TargetKey))
		}
		r := fromStore(g)
		out.recs[[32]byte(g.TargetKey)] = &r
	}
	return out, nil
}

// NextChange returns the earliest effective time after now among the
// states read (zero when none): until then, every answer judged at the
// time of use (InForce, KeyRevoked at now) stays the same, as long as the
// head does not move and no OpenPGP certificate is judged.
func (st States) NextChange(now time.Time) time.Time {
	var next time.Time
	for _, r := range st.recs {
		if r.Effective.After(now) && (next.IsZero() || r.Effective.Before(next)) {
			next = r.Effective
		}
	}
	return next
}

// Lookup returns the state of t as Service.Lookup would (nil: never
// revoked); t must be one of the targets read.
func (st States) Lookup(t Target) *Record { return st.recs[t.Key()] }

// KeyRevoked is Service.KeyRevoked with the key's index state taken from
// st (the key must be one of the targets read); only an OpenPGP key's
// certificate is read from the store.
func (st States) KeyRevoked(ctx context.Context, keyID string, signed, observed time.Time) (*Record, error) {
	return st.s.keyRevoked(ctx, st.recs[TargetKey(KindKey, keyID)], keyID, signed, observed)
}

// StatementRevoked is Service.StatementRevoked of entry e as the store
// gave it (Seq, EnvelopeDigest, SignerKeyIDs, RecordedAt), with the states
// taken from st: the statement and its signers' keys must be among the
// targets read.
func (st States) StatementRevoked(ctx context.Context, e store.Statement, signedAt time.Time) (*Record, error) {
	if r := st.Lookup(Target{Kind: KindStatement, ID: e.EnvelopeDigest.String()}); r != nil && r.InForce(st.s.cfg.Now()) {
		return r, nil
	}
	var first *Record
	for _, k := range e.SignerKeyIDs {
		kr, err := st.KeyRevoked(ctx, k, signedAt, e.RecordedAt)
		if err != nil || kr == nil {
			return nil, err
		}
		if first == nil {
			first = kr
		}
	}
	return first, nil
}
