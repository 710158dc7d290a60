// Package sqlite is the embedded store backend: one SQLite file through the
// pure-Go modernc.org/sqlite driver, so trustd runs with no database server
// and no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/trustd-dev/trustd/migrations"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// Store is a store.Store on one SQLite file.
type Store struct {
	sqlstore.Queries
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies
// pending migrations. The file's directory must exist and be writable.
//
// The database runs in WAL mode with synchronous=FULL: the WAL is synced on
// every commit, so a write trustd acknowledged survives a power loss or an
// operating system crash, not only a crash of trustd (NORMAL, SQLite's WAL
// default, may lose the last commits then).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: %w: database path is empty", store.ErrInvalid)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("sqlite: %w: directory of %s does not exist", store.ErrUnavailable, path)
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w: %s", path, store.ErrUnavailable, err)
	}
	s := &Store{db: db}
	s.Queries = sqlstore.Queries{C: conn{q: db, stmts: &stmtCache{db: db}}, D: dialect{}}
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, migrations.SQLite())
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", dialect{}.MapError(err))
	}
	return nil
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(context.Context, store.Writer) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", dialect{}.MapError(err))
	}
	if err := fn(ctx, &sqlstore.Queries{C: conn{q: tx}, D: dialect{}}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", dialect{}.MapError(err))
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w: %s", store.ErrUnavailable, err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

type dialect struct{}

// LockLog is a no-op: transactions begin IMMEDIATE, so SQLite already holds
// the database's only write lock.
func (dialect) LockLog(context.Context, sqlstore.Conn) error { return nil }

func (dialect) MapError(err error) error {
	var sqlErr *sqlite3.Error
	switch {
	case err == nil, sqlstore.Mapped(err):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case errors.As(err, &sqlErr):
		switch sqlErr.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", store.ErrConflict, sqlErr.Error())
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3lib.SQLITE_CONSTRAINT_NOTNULL, sqlite3lib.SQLITE_CONSTRAINT_CHECK:
			return fmt.Errorf("%w: %s", store.ErrInvalid, sqlErr.Error())
		}
		switch sqlErr.Code() & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_READONLY,
			sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_FULL, sqlite3lib.SQLITE_IOERR:
			return fmt.Errorf("%w: %s", store.ErrUnavailable, sqlErr.Error())
		}
	}
	return err
}

// querier is what a database handle and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn adapts a database handle or a transaction to sqlstore.Conn. On the
// database handle, reads go through prepared statements (stmts): SQLite
// parses and plans a statement's text every time it is prepared, which
// costs more than running most of trustd's reads.
type conn struct {
	q     querier
	stmts *stmtCache
}

// maxStmts bounds the prepared statements kept; texts past it (queries
// whose text varies, such as long IN lists) run unprepared.
const maxStmts = 512

// stmtCache keeps one prepared statement per query text (database/sql
// prepares it on each pooled connection as needed).
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the prepared statement of query, or nil when the cache is
// full.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

func (c conn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := c.q.ExecContext(ctx, query, args...)
	return err
}

// ExecBatch runs stmts one after the other: SQLite is in process, so
// there is no round trip to save.
func (c conn) ExecBatch(ctx context.Context, stmts []sqlstore.Stmt) error {
	for _, s := range stmts {
		if _, err := c.q.ExecContext(ctx, s.SQL, s.Args...); err != nil {
			return err
		}
	}
	return nil
}

// QueryBatch runs stmts one after the other, as ExecBatch does.
func (c conn) QueryBatch(ctx context.Context, stmts []sqlstore.Stmt, scan func(i int, r sqlstore.Rows) error) error {
	for i, s := range stmts {
		rows, err := c.Query(ctx, s.SQL, s.Args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(i, rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if st, perr := c.prepared(ctx, query); st != nil && perr == nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = c.q.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	if st, err := c.prepared(ctx, query); st != nil && err == nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.q.QueryRowContext(ctx, query, args...)
}

// prepared returns the prepared statement of query on the database
// handle; nil inside a transaction, when the cache is full, or when the
// text does not prepare (the unprepared call then reports why).
func (c conn) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if c.stmts == nil {
		return nil, nil
	}
	return c.stmts.get(ctx, query)
}

// sqlRows drops the error from Close: Err reports anything that matters.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
