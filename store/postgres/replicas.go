package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// Defaults of Options.
const (
	// DefaultReadWait is how long a read with a minimum position waits for
	// a standby to replay that far before it goes to the primary.
	DefaultReadWait = 200 * time.Millisecond
	// DefaultProbeInterval is how often a standby marked unhealthy is
	// tried again.
	DefaultProbeInterval = time.Second
	// pollInterval is how often a waiting read asks the standbys how far
	// they replayed.
	pollInterval = 5 * time.Millisecond
)

// Options configure a Store beyond its primary.
type Options struct {
	// ReadURLs are hot standbys replicating the primary. Reads in a
	// store.ReadSession go to a healthy one (round robin), all other
	// reads and every write to the primary.
	ReadURLs []string
	// ReadWait bounds how long a read session with a MinPosition waits
	// for a standby to replay that far before reading from the primary
	// (0: DefaultReadWait).
	ReadWait time.Duration
	// ProbeInterval is how often unhealthy standbys are probed again (0:
	// DefaultProbeInterval).
	ProbeInterval time.Duration
	// Logger logs standbys going unhealthy and coming back (nil: none).
	Logger *slog.Logger
}

// standby is one hot standby and whether reads may go to it.
type standby struct {
	pool    *pgxpool.Pool
	addr    string // host:port, for logs (never the URL: it may hold a password)
	healthy atomic.Bool
}

// router spreads read sessions over the standbys.
type router struct {
	primary  conn
	standbys []*standby
	wait     time.Duration
	log      *slog.Logger
	next     atomic.Uint64
	stop     chan struct{}
	done     sync.WaitGroup
	// served counts reads by where they went, for tests and metrics.
	servedStandby, servedPrimary atomic.Uint64
}

func newRouter(primary *pgxpool.Pool, o Options) (*router, error) {
	r := &router{primary: conn{primary}, wait: o.ReadWait, log: o.Logger, stop: make(chan struct{})}
	if r.wait <= 0 {
		r.wait = DefaultReadWait
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for i, url := range o.ReadURLs {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("postgres: parse read url %d: %w: %s", i+1, store.ErrInvalid, redact(err))
		}
		// Connecting is lazy: a standby down at start is probed like
		// one that went down later.
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("postgres: read url %d: %w: %s", i+1, store.ErrInvalid, redact(err))
		}
		sb := &standby{pool: pool, addr: fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port)}
		sb.healthy.Store(true)
		r.standbys = append(r.standbys, sb)
	}
	if len(r.standbys) > 0 {
		every := o.ProbeInterval
		if every <= 0 {
			every = DefaultProbeInterval
		}
		r.done.Add(1)
		go r.probe(every)
	}
	return r, nil
}

func (r *router) close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	r.done.Wait()
	for _, sb := range r.standbys {
		sb.pool.Close()
	}
}

// probe tries unhealthy standbys again every interval until the store
// closes.
func (r *router) probe(every time.Duration) {
	defer r.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		for _, sb := range r.standbys {
			if sb.healthy.Load() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			_, err := r.replayed(ctx, sb)
			cancel()
			if err == nil {
				sb.healthy.Store(true)
				r.log.Info("postgres read standby healthy again", "standby", sb.addr)
			}
		}
	}
}

// fail marks sb unhealthy after err, when err says the standby (rather
// than the query) is at fault.
func (r *router) fail(sb *standby, err error) {
	if !errors.Is(dialect{}.MapError(err), store.ErrUnavailable) {
		return
	}
	if sb.healthy.Swap(false) {
		r.log.Warn("postgres read standby unhealthy; reading from the primary until it answers again", "standby", sb.addr, "error", redact(err))
	}
}

// replayed returns the WAL position sb has replayed (on a server not in
// recovery, its current one).
func (r *router) replayed(ctx context.Context, sb *standby) (uint64, error) {
	var lsn string
	if err := sb.pool.QueryRow(ctx, `SELECT COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text`).Scan(&lsn); err != nil {
		return 0, err
	}
	return parseLSN(lsn)
}

// healthy returns the healthy standbys, rotated by the round robin.
func (r *router) healthy() []*standby {
	n := len(r.standbys)
	start := int(r.next.Add(1) % uint64(n))
	out := make([]*standby, 0, n)
	for i := range n {
		if sb := r.standbys[(start+i)%n]; sb.healthy.Load() {
			out = append(out, sb)
		}
	}
	return out
}

// choose picks the backend of a read session: a healthy standby that has
// replayed past minPos (any when minPos is ""), waiting up to r.wait for one;
// nil for the primary.
func (r *router) choose(ctx context.Context, minPos string) (*standby, error) {
	if minPos == "" {
		if c := r.healthy(); len(c) > 0 {
			return c[0], nil
		}
		return nil, nil
	}
	want, err := parseLSN(minPos)
	if err != nil {
		return nil, fmt.Errorf("postgres: minimum read position: %w: %v", store.ErrInvalid, err)
	}
	deadline := time.Now().Add(r.wait)
	for {
		c := r.healthy()
		if len(c) == 0 {
			return nil, nil
		}
		for _, sb := range c {
			got, err := r.replayed(ctx, sb)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r.fail(sb, err)
				continue
			}
			if got >= want {
				return sb, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(left, pollInterval)):
		}
	}
}

// backend returns the querier for a read in ctx: the session's standby,
// or the primary (sb nil).
func (r *router) backend(ctx context.Context) (querier, *standby, error) {
	sess := store.ReadSessionFrom(ctx)
	if sess == nil || len(r.standbys) == 0 {
		return r.primary.q, nil, nil
	}
	v, err := sess.Backend(func() (any, error) {
		sb, err := r.choose(ctx, sess.MinPosition)
		return sb, err
	})
	if err != nil {
		return nil, nil, err
	}
	sb, _ := v.(*standby)
	if sb == nil {
		return r.primary.q, nil, nil
	}
	return sb.pool, sb, nil
}

// fallBack decides after a read on sb failed with err whether to read
// again from the primary: for any error but an empty result and the
// caller's own cancellation. The session stays on the primary then.
func (r *router) fallBack(ctx context.Context, sb *standby, err error) bool {
	if sb == nil || errors.Is(err, pgx.ErrNoRows) || ctx.Err() != nil {
		return false
	}
	r.fail(sb, err)
	if sess := store.ReadSessionFrom(ctx); sess != nil {
		sess.Repin((*standby)(nil))
	}
	return true
}

func (r *router) count(sb *standby) {
	if sb == nil {
		r.servedPrimary.Add(1)
	} else {
		r.servedStandby.Add(1)
	}
}

// routed is the sqlstore.Conn of reads outside a transaction: queries go
// where router.backend says, falling back to the primary; writes go to
// the primary.
type routed struct{ r *router }

func (c routed) Exec(ctx context.Context, sql string, args ...any) error {
	return c.r.primary.Exec(ctx, sql, args...)
}

func (c routed) ExecBatch(ctx context.Context, stmts []sqlstore.Stmt) error {
	return c.r.primary.ExecBatch(ctx, stmts)
}

// QueryBatch runs stmts where router.backend says; when the standby fails
// it starts over on the primary, so scan may see rows of the first
// statements twice and must be idempotent (the store's scans fill maps).
func (c routed) QueryBatch(ctx context.Context, stmts []sqlstore.Stmt, scan func(i int, r sqlstore.Rows) error) error {
	q, sb, err := c.r.backend(ctx)
	if err != nil {
		return err
	}
	if err := (conn{q}).QueryBatch(ctx, stmts, scan); err != nil {
		if !c.r.fallBack(ctx, sb, err) {
			return err
		}
		sb = nil
		if err := c.r.primary.QueryBatch(ctx, stmts, scan); err != nil {
			return err
		}
	}
	c.r.count(sb)
	return nil
}

func (c routed) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return routedRow{c.r, ctx, sql, args}
}

func (c routed) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	q, sb, err := c.r.backend(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		if !c.r.fallBack(ctx, sb, err) {
			return nil, err
		}
		sb = nil
		if rows, err = c.r.primary.q.Query(ctx, sql, args...); err != nil {
			return nil, err
		}
	}
	c.r.count(sb)
	return &routedRows{Rows: rows, r: c.r, sb: sb, ctx: ctx, sql: sql, args: args}, nil
}

// routedRow runs its query when scanned, so that a failed standby is
// replaced by the primary transparently.
type routedRow struct {
	r    *router
	ctx  context.Context
	sql  string
	args []any
}

func (w routedRow) Scan(dest ...any) error {
	q, sb, err := w.r.backend(w.ctx)
	if err != nil {
		return err
	}
	err = q.QueryRow(w.ctx, w.sql, w.args...).Scan(dest...)
	if err != nil && w.r.fallBack(w.ctx, sb, err) {
		sb = nil
		err = w.r.primary.q.QueryRow(w.ctx, w.sql, w.args...).Scan(dest...)
	}
	w.r.count(sb)
	return err
}

// routedRows are a standby's rows that start over on the primary when the
// standby fails before the first row was read (pgx reports most failures
// there rather than from Query).
type routedRows struct {
	pgx.Rows
	r    *router
	sb   *standby
	ctx  context.Context
	sql  string
	args []any
	read bool
}

func (w *routedRows) Next() bool {
	if w.Rows.Next() {
		w.read = true
		return true
	}
	err := w.Rows.Err()
	if err == nil || w.read || !w.r.fallBack(w.ctx, w.sb, err) {
		return false
	}
	w.Rows.Close()
	rows, qerr := w.r.primary.q.Query(w.ctx, w.sql, w.args...)
	if qerr != nil {
		w.Rows = errRows{Rows: w.Rows, err: qerr}
		return false
	}
	w.Rows, w.sb = rows, nil
	return w.Next()
}

// errRows are closed rows whose error is err.
type errRows struct {
	pgx.Rows
	err error
}

func (e errRows) Next() bool { return false }
func (e errRows) Err() error { return e.err }

// CommitPosition implements store.Positioner: the primary's WAL insert
// position, which is past the commit record of every transaction
// committed before the call (also with synchronous_commit off, whose
// commits are inserted but may not be flushed yet: a standby reaches it
// once they are). "" without read standbys.
func (s *Store) CommitPosition(ctx context.Context) (string, error) {
	if len(s.router.standbys) == 0 {
		return "", nil
	}
	var lsn string
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		return "", fmt.Errorf("postgres: commit position: %w", dialect{}.MapError(err))
	}
	return lsn, nil
}

var _ store.Positioner = (*Store)(nil)

// parseLSN parses a PostgreSQL WAL position, two hexadecimal numbers of up
// to 8 digits joined by a slash ("16/B374D848"), into its 64-bit value.
// It is the one parser of the x-trustd-min-lsn header.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, fmt.Errorf("position %.40q is not a WAL position (like 16/B374D848)", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("position %.40q is not a WAL position (like 16/B374D848)", s)
	}
	return h<<32 | l, nil
}

// ReadsServed returns how many reads outside transactions the standbys and
// the primary answered since the store opened.
func (s *Store) ReadsServed() (standby, primary uint64) {
	return s.router.servedStandby.Load(), s.router.servedPrimary.Load()
}
