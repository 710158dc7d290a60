package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// tx is a write transaction that spends as few round trips as its reads
// allow. BEGIN is not sent on its own but with the first statement, and
// the statements of an ExecBatch, which return nothing, are held back and
// sent with the next round trip: the next query, or COMMIT. A batched
// append (one pipelined read, then its inserts, tree nodes and the
// commit) so costs two round trips, where a statement per round trip
// cost seven. Held statements run before anything sent after
// them, so the order, and with it the result, is that of sending each at
// once; only a held statement's error surfaces later, from the call or
// the commit that sent it, and fails the transaction the same way.
type tx struct {
	c *pgx.Conn
	// begun is set once BEGIN has been sent.
	begun bool
	held  []sqlstore.Stmt
	// last are held for COMMIT's round trip, after every other statement.
	last []sqlstore.Stmt
}

// HoldForCommit implements sqlstore.CommitHolder.
func (t *tx) HoldForCommit(stmts []sqlstore.Stmt) { t.last = append(t.last, stmts...) }

var _ sqlstore.Conn = (*tx)(nil)

// update runs fn in a transaction on a connection from s's pool.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a failed ROLLBACK) or
	// broken is closed, not reused, when released.
	defer pc.Release()
	t := &tx{c: pc.Conn()}
	if err := fn(t); err != nil {
		if t.begun {
			if _, rerr := t.c.Exec(ctx, "ROLLBACK"); rerr != nil {
				return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
		}
		return err
	}
	if err := t.commit(ctx); err != nil {
		// A held write failed in the commit's round trip: end the failed
		// transaction, so the connection goes back to the pool rather
		// than being closed.
		if !t.c.IsClosed() && t.c.PgConn().TxStatus() != 'I' {
			_, _ = t.c.Exec(ctx, "ROLLBACK")
		}
		return err
	}
	return nil
}

// batch returns the statements of the next round trip: BEGIN when not yet
// sent, the held statements, then stmts.
func (t *tx) batch(stmts ...sqlstore.Stmt) (*pgx.Batch, int) {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("BEGIN")
	}
	for _, s := range t.held {
		b.Queue(s.SQL, s.Args...)
	}
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	lead := b.Len() - len(stmts)
	t.begun, t.held = true, nil
	return b, lead
}

// send sends the next round trip and returns its results positioned after
// the BEGIN and held statements, whose errors it returns.
func (t *tx) send(ctx context.Context, stmts ...sqlstore.Stmt) (pgx.BatchResults, error) {
	b, lead := t.batch(stmts...)
	br := t.c.SendBatch(ctx, b)
	for range lead {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	return br, nil
}

// commit sends the held statements and COMMIT. A transaction that never
// sent a statement has nothing to commit.
func (t *tx) commit(ctx context.Context) error {
	if !t.begun && len(t.held) == 0 && len(t.last) == 0 {
		return nil
	}
	br, err := t.send(ctx, append(t.last, sqlstore.Stmt{SQL: "COMMIT"})...)
	if err != nil {
		return err
	}
	for range t.last {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		// PostgreSQL answers COMMIT of a failed transaction so.
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) error {
	br, err := t.send(ctx, sqlstore.Stmt{SQL: sql, Args: args})
	if err != nil {
		return err
	}
	_, err = br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// ExecBatch holds stmts for the transaction's next round trip.
func (t *tx) ExecBatch(_ context.Context, stmts []sqlstore.Stmt) error {
	t.held = append(t.held, stmts...)
	return nil
}

func (t *tx) QueryBatch(ctx context.Context, stmts []sqlstore.Stmt, scan func(i int, r sqlstore.Rows) error) error {
	if len(stmts) == 0 {
		return nil
	}
	br, err := t.send(ctx, stmts...)
	if err != nil {
		return err
	}
	return scanBatch(br, len(stmts), scan)
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	br, err := t.send(ctx, sqlstore.Stmt{SQL: sql, Args: args})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	rows, err := t.Query(ctx, sql, args...)
	return firstRow{rows, err}
}

// batchRows are the rows of the last statement of a round trip; closing
// them ends the round trip.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.err == nil {
		r.err = err
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// firstRow is QueryRow's result over Query's: the first row, or
// pgx.ErrNoRows.
type firstRow struct {
	rows sqlstore.Rows
	err  error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	var err error
	if r.rows.Next() {
		err = r.rows.Scan(dest...)
	} else {
		err = pgx.ErrNoRows
	}
	r.rows.Close()
	if rerr := r.rows.Err(); rerr != nil {
		return rerr
	}
	return err
}
