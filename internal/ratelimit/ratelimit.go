// Package ratelimit is the write quota trustd charges to signing keys and
// to peers: at most N writes per window for each key (a key id, a peer
// address), with bursts of up to N, in memory bounded however many keys a
// caller makes up. Each trustd process keeps its own counts, so N replicas
// behind a load balancer admit up to N times the quota in all.
package ratelimit

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrLimited is matched (errors.Is) by every refusal of a Limiter: the
// caller went over its quota and may retry after the delay the *Error
// carries.
var ErrLimited = errors.New("write rate limit exceeded")

// Error is a refusal: who went over which quota, and when a retry will be
// admitted.
type Error struct {
	// Who names the charged party, e.g. `key "abc…"` or "peer 192.0.2.1".
	Who string
	// Limit and Window are the quota: Limit writes per Window.
	Limit  int
	Window time.Duration
	// Flag is the setting that configures the quota, for the message.
	Flag string
	// Retry is how long until one more write is admitted.
	Retry time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: over %d writes per %s (trustd %s); retry in %s",
		e.Who, ErrLimited, e.Limit, e.Window, e.Flag, e.Retry.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrLimited) hold.
func (e *Error) Is(target error) bool { return target == ErrLimited }

// RetryDelay is how long the caller should wait before retrying.
func (e *Error) RetryDelay() time.Duration { return e.Retry }

// DefaultMaxKeys bounds the keys a Limiter tracks at once (about 100 bytes
// each); see Options.MaxKeys.
const DefaultMaxKeys = 1 << 17

// Options configure a Limiter.
type Options struct {
	// Limit writes per Window for each key; Limit <= 0 disables the
	// limiter (New returns nil, which admits everything).
	Limit  int
	Window time.Duration
	// Flag names the setting, for error messages (e.g.
	// "--write-rate-per-key").
	Flag string
	// Describe names a key in error messages; nil quotes it.
	Describe func(key string) string
	// Exempt keys are never charged (operator keys, benchmark keys).
	Exempt []string
	// MaxKeys bounds the keys tracked at once (0: DefaultMaxKeys). A key
	// whose quota is fully replenished is forgotten; when MaxKeys keys are
	// all still charged, new keys are refused until some replenish, so a
	// flood of made-up keys cannot grow memory.
	MaxKeys int
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
}

// Limiter admits up to Limit writes per Window for each key, with bursts
// of up to Limit (the generic cell rate algorithm: one timestamp per key).
// A nil *Limiter admits everything. It is safe for concurrent use.
type Limiter struct {
	opts     Options
	interval time.Duration // Window / Limit: the cost of one write
	exempt   map[string]bool

	mu        sync.Mutex
	tat       map[string]time.Time // when each key's quota is fully replenished
	lastSweep time.Time
}

// New returns a Limiter, or nil when opts.Limit <= 0 (no limit). Window
// must be positive when Limit is.
func New(opts Options) (*Limiter, error) {
	if opts.Limit <= 0 {
		return nil, nil
	}
	if opts.Window <= 0 {
		return nil, fmt.Errorf("ratelimit: %s: window %s must be positive", opts.Flag, opts.Window)
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Describe == nil {
		opts.Describe = func(k string) string { return fmt.Sprintf("%q", k) }
	}
	l := &Limiter{opts: opts, interval: opts.Window / time.Duration(opts.Limit), exempt: map[string]bool{}, tat: map[string]time.Time{}}
	if l.interval <= 0 {
		l.interval = 1
	}
	for _, k := range opts.Exempt {
		l.exempt[k] = true
	}
	return l, nil
}

// Charge takes one write from the quota of every key, all or none: when
// any key's quota is spent nothing is taken and the error (an *Error,
// matching ErrLimited) names the first such key. refund gives the writes
// back, for a write that did not happen after all; it may be called once.
// Exempt keys, empty keys and a nil Limiter are never charged.
func (l *Limiter) Charge(keys ...string) (refund func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.opts.Window {
		l.sweep(now)
	}
	charged := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" || l.exempt[k] || slices.Contains(charged, k) {
			continue
		}
		t, known := l.tat[k]
		if !known && len(l.tat) >= l.opts.MaxKeys {
			l.sweep(now)
		}
		if !known && len(l.tat) >= l.opts.MaxKeys {
			l.give(charged, now)
			return nil, &Error{Who: "write quota table full: " + l.opts.Describe(k), Limit: l.opts.Limit, Window: l.opts.Window, Flag: l.opts.Flag, Retry: l.interval}
		}
		if t.Before(now) {
			t = now
		}
		if ahead := t.Sub(now); ahead > l.opts.Window-l.interval {
			l.give(charged, now)
			return nil, &Error{Who: l.opts.Describe(k), Limit: l.opts.Limit, Window: l.opts.Window, Flag: l.opts.Flag,
				Retry: ahead - (l.opts.Window - l.interval)}
		}
		l.tat[k] = t.Add(l.interval)
		charged = append(charged, k)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.give(charged, l.opts.Now())
		})
	}, nil
}

// give returns one write to each key's quota; l.mu is held.
func (l *Limiter) give(keys []string, now time.Time) {
	for _, k := range keys {
		t, ok := l.tat[k]
		if !ok {
			continue
		}
		if t = t.Add(-l.interval); t.After(now) {
			l.tat[k] = t
		} else {
			delete(l.tat, k)
		}
	}
}

// sweep forgets every key whose quota is fully replenished; l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	l.lastSweep = now
}

// Tracked returns how many keys the limiter remembers, for tests and
// metrics.
func (l *Limiter) Tracked() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}
