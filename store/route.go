package store

import (
	"context"
	"sync"
)

// ReadSession marks a context whose reads a backend with read standbys may
// serve from a standby: the lookups of one RPC. Without one every read goes
// to the primary, so a write path never decides on a standby's older view.
// A session keeps the backend it first chose for all of its reads (or the
// primary, after that backend failed), so one answer never mixes a newer
// standby's rows with an older one's tree: a log size read in a session is
// never ahead of the tree nodes the session reads next.
type ReadSession struct {
	// MinPosition is a commit position (Positioner.CommitPosition) the
	// caller has seen: the session's backend must have replayed at least
	// that far. Empty: any healthy standby will do.
	MinPosition string

	mu     sync.Mutex
	chosen bool
	pinned any
}

type readSessionKey struct{}

// WithReadSession returns ctx carrying a new read session wanting at least
// minPosition ("" for none).
func WithReadSession(ctx context.Context, minPosition string) context.Context {
	return context.WithValue(ctx, readSessionKey{}, &ReadSession{MinPosition: minPosition})
}

// ReadSessionFrom returns the read session of ctx, or nil.
func ReadSessionFrom(ctx context.Context) *ReadSession {
	s, _ := ctx.Value(readSessionKey{}).(*ReadSession)
	return s
}

// Backend returns the backend pinned to the session, calling choose to pin
// one on first use (concurrent first reads wait for the one choice). An
// error from choose pins nothing.
func (r *ReadSession) Backend(choose func() (any, error)) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.chosen {
		return r.pinned, nil
	}
	v, err := choose()
	if err != nil {
		return nil, err
	}
	r.chosen, r.pinned = true, v
	return v, nil
}

// Repin replaces the pinned backend, after it failed, by v (a backend at
// least as new: the primary).
func (r *ReadSession) Repin(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chosen, r.pinned = true, v
}

// Positioner is a Store whose commits have a position that its read
// standbys replay up to (PostgreSQL: a WAL LSN).
type Positioner interface {
	// CommitPosition returns a position at or after every commit
	// acknowledged before the call, to be handed back as a ReadSession's
	// MinPosition; "" when the store has no read standbys, so a
	// position would serve nothing.
	CommitPosition(ctx context.Context) (string, error)
}
