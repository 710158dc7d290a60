// Package postgres is the PostgreSQL store backend, on pgx/v5 and pgxpool.
// It is the production backend: stateless trustd replicas share one
// database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/migrations"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// logLockKey is the advisory lock that serialises statement log appends.
const logLockKey = 0x7472757374640001

// Store is a store.Store on PostgreSQL.
type Store struct {
	sqlstore.Queries
	pool   *pgxpool.Pool
	router *router
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url, checks that it answers, and applies
// pending migrations. Errors wrap store.ErrUnavailable when the server cannot
// be reached and store.ErrInvalid when url is malformed.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with read standbys and their options (see Options).
// Standbys are connected lazily: one down at start is read around and
// probed until it answers.
func OpenWith(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w: %s", store.ErrInvalid, redact(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w: %s", store.ErrUnavailable, redact(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w: %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, store.ErrUnavailable, redact(err))
	}
	r, err := newRouter(pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, router: r}
	s.Queries = sqlstore.Queries{C: routed{r}, D: dialect{}}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres())
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(context.Context, store.Writer) error) error {
	err := s.update(ctx, func(t *tx) error {
		return fn(ctx, &sqlstore.Queries{C: t, D: dialect{}})
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", dialect{}.MapError(err))
	}
	return nil
}

// ConcurrentWrites reports that write transactions run side by side, so
// the log keeps a second batch in flight while one commits.
func (s *Store) ConcurrentWrites() bool { return true }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w: %s", store.ErrUnavailable, redact(err))
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.router.close()
	s.pool.Close()
	return nil
}

type dialect struct{}

var (
	_ sqlstore.NodeQuerier      = dialect{}
	_ sqlstore.DigestLister     = dialect{}
	_ sqlstore.ArrayInserter    = dialect{}
	_ sqlstore.LogLockStatement = dialect{}
	_ sqlstore.GenericPlanner   = dialect{}
)

// LogNodesQuery reads any number of nodes with one statement text, so
// PostgreSQL plans it once.
func (dialect) LogNodesQuery(ids []compact.NodeID) (string, []any) {
	levels := make([]int32, len(ids))
	idxs := make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idxs[i] = int32(id.Level), int64(id.Index)
	}
	// LATERAL makes each wanted node a primary-key probe: a plain join
	// with the unnest was planned as a hash join scanning all of
	// log_nodes, which grows with the log (it took most of an append's
	// time in the database at a few thousand entries).
	return `SELECT w.level, w.idx, n.hash FROM unnest($1::integer[], $2::bigint[]) AS w (level, idx)
		CROSS JOIN LATERAL (SELECT hash FROM log_nodes WHERE level = w.level AND idx = w.idx) n`, []any{levels, idxs}
}

// ArrayColumns binds rows as a column per array parameter, to be
// unnested: one statement inserts them whatever their number.
func (dialect) ArrayColumns(first int, types []string, rows [][]any) (string, []any) {
	args := make([]any, len(types))
	params := make([]string, len(types))
	for c := range types {
		args[c] = arrayColumn(types[c], rows, c)
		params[c] = fmt.Sprintf("$%d::%s[]", first+c, types[c])
	}
	return strings.Join(params, ", "), args
}

// arrayColumn returns column c of rows as a slice of the Go type pgx
// encodes as typ without looking at each element's type (a []string for
// text), or as a []any when a value is of another type or nil. An append
// encodes eight such columns per batch on its leader's path.
func arrayColumn(typ string, rows [][]any, c int) any {
	switch typ {
	case "text":
		return typedColumn(rows, c, func(v any) (string, bool) { s, ok := v.(string); return s, ok })
	case "bytea":
		return typedColumn(rows, c, func(v any) ([]byte, bool) { b, ok := v.([]byte); return b, ok && b != nil })
	case "timestamptz":
		return typedColumn(rows, c, func(v any) (time.Time, bool) { t, ok := v.(time.Time); return t, ok })
	case "bigint":
		return typedColumn(rows, c, func(v any) (int64, bool) { return intOf[int64](v, math.MinInt64, math.MaxInt64) })
	case "integer":
		return typedColumn(rows, c, func(v any) (int32, bool) { return intOf[int32](v, math.MinInt32, math.MaxInt32) })
	case "smallint":
		return typedColumn(rows, c, func(v any) (int16, bool) { return intOf[int16](v, math.MinInt16, math.MaxInt16) })
	}
	return anyColumn(rows, c)
}

// typedColumn is column c of rows as a []T, or a []any if as refuses a
// value.
func typedColumn[T any](rows [][]any, c int, as func(any) (T, bool)) any {
	col := make([]T, len(rows))
	for i, r := range rows {
		v, ok := as(r[c])
		if !ok {
			return anyColumn(rows, c)
		}
		col[i] = v
	}
	return col
}

func anyColumn(rows [][]any, c int) []any {
	col := make([]any, len(rows))
	for i, r := range rows {
		col[i] = r[c]
	}
	return col
}

// intOf converts an int, int64, int32 or int16 within lo..hi to T.
func intOf[T int16 | int32 | int64](v any, lo, hi int64) (T, bool) {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case int32:
		n = int64(x)
	case int16:
		n = int64(x)
	default:
		return 0, false
	}
	if n < lo || n > hi {
		return 0, false
	}
	return T(n), true
}

// DigestList binds ds as two text arrays, unnested.
func (dialect) DigestList(first int, ds []digest.Digest) (string, []any) {
	algs := make([]string, len(ds))
	values := make([]string, len(ds))
	for i, d := range ds {
		algs[i], values[i] = string(d.Algorithm()), d.Hex()
	}
	return fmt.Sprintf(`unnest($%d::text[], $%d::text[]) AS w (algorithm, value)`, first, first+1), []any{algs, values}
}

// OneStatementLookup makes DigestLookup one statement: one round trip
// and one snapshot.
func (dialect) OneStatementLookup() {}

// SignerFirstJoin walks a signer's entries and probes each one's
// subjects in a LATERAL subquery that OFFSET 0 keeps from being pulled
// up: without statistics (a freshly loaded database) the planner walked
// every entry naming the digest instead, 60-95 ms through 20,000 of a
// stranger's.
func (dialect) SignerFirstJoin() string {
	return `statement_signers sg CROSS JOIN LATERAL (SELECT seq, algorithm, value FROM statement_subjects WHERE seq = sg.seq OFFSET 0) ss
		JOIN statements s ON s.seq = ss.seq`
}

func (d dialect) LockLog(ctx context.Context, c sqlstore.Conn) error {
	st := d.LockLogStmt()
	return c.Exec(ctx, st.SQL, st.Args...)
}

// LockLogStmt is the advisory lock LockLog takes, for a pipeline. It also
// makes the reads an append sends after it plan for their arguments and
// the tables as they are (plan_cache_mode, local to the transaction, until
// ReadsDoneStmt): pgx prepares statements, and PostgreSQL's generic plan
// of a prepared lookup, made while a table is small and kept until the
// next analyze, scans the table where an index probe is right; at 5,000
// entries such plans took most of an append's database time (the
// known-digests lookup 9 ms a batch). The writes after them keep cached
// plans, their foreign key checks above all (one per row).
func (dialect) LockLogStmt() sqlstore.Stmt {
	return sqlstore.Stmt{SQL: `SELECT pg_advisory_xact_lock($1), ` + customPlans, Args: []any{int64(logLockKey)}}
}

// customPlans makes the statements after it in the transaction, until
// ReadsDoneStmt, plan for their arguments.
const customPlans = `set_config('plan_cache_mode', 'force_custom_plan', true)`

// ReadsDoneStmt puts plan_cache_mode back to PostgreSQL's default.
func (dialect) ReadsDoneStmt() sqlstore.Stmt {
	return sqlstore.Stmt{SQL: `SELECT set_config('plan_cache_mode', 'auto', true)`}
}

// GenericPlans makes the writes between them use their cached generic
// plans (see sqlstore.GenericPlanner).
func (d dialect) GenericPlans() (begin, end sqlstore.Stmt) {
	return sqlstore.Stmt{SQL: `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`}, d.ReadsDoneStmt()
}

// SQLSTATE codes mapped to store errors.
const (
	uniqueViolation     = "23505"
	lockNotAvailable    = "55P03"
	foreignKeyViolation = "23503"
	checkViolation      = "23514"
	notNullViolation    = "23502"
)

// unavailableStates are the SQLSTATEs of a server that is going away,
// starting up or out of connections: a retry, later or on a reconnected
// session, may succeed. Class 08 (connection exceptions) counts whole.
var unavailableStates = map[string]bool{
	"57P01": true, // admin_shutdown: a fast shutdown or restart terminated the session
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now: starting up or shutting down
	"57P05": true, // idle_session_timeout
	"53300": true, // too_many_connections
	"25P03": true, // idle_in_transaction_session_timeout
}

func (dialect) MapError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil, sqlstore.Mapped(err):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == uniqueViolation, pgErr.Code == serializationFailure, pgErr.Code == lockNotAvailable:
			return fmt.Errorf("%w: %s", store.ErrConflict, pgErr.Message)
		case pgErr.Code == foreignKeyViolation, pgErr.Code == checkViolation, pgErr.Code == notNullViolation:
			return fmt.Errorf("%w: %s", store.ErrInvalid, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), unavailableStates[pgErr.Code]:
			return fmt.Errorf("%w: %s (SQLSTATE %s)", store.ErrUnavailable, pgErr.Message, pgErr.Code)
		}
		return fmt.Errorf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case connectionLost(err):
		return fmt.Errorf("%w: %s", store.ErrUnavailable, redact(err))
	}
	return err
}

// connectionLost reports whether err is the failure to reach the server
// or the loss of the connection to it (refused, reset, closed, timed out),
// rather than an answer from it.
func connectionLost(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// redact drops the error chain below the message so connection strings with
// passwords never reach logs through driver errors.
func redact(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return connErr.Unwrap().Error()
	}
	return err.Error()
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// conn adapts a pool or a transaction to sqlstore.Conn.
type conn struct{ q querier }

func (c conn) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := c.q.Exec(ctx, sql, args...)
	return err
}

// ExecBatch pipelines stmts: one round trip for all of them.
func (c conn) ExecBatch(ctx context.Context, stmts []sqlstore.Stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	br := c.q.SendBatch(ctx, b)
	for range stmts {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

// QueryBatch pipelines stmts: one round trip for all of them.
func (c conn) QueryBatch(ctx context.Context, stmts []sqlstore.Stmt, scan func(i int, r sqlstore.Rows) error) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	return scanBatch(c.q.SendBatch(ctx, b), len(stmts), scan)
}

// scanBatch calls scan with each row of the next n results of br, then
// closes it.
func scanBatch(br pgx.BatchResults, n int, scan func(i int, r sqlstore.Rows) error) error {
	for i := range n {
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return err
		}
		for rows.Next() {
			if err := scan(i, rows); err != nil {
				rows.Close()
				_ = br.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

func (c conn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, sql, args...)
}

func (c conn) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	return c.q.QueryRow(ctx, sql, args...)
}
