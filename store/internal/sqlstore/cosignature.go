package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/store"
)

// cosignatureColumns are the columns scanCosignature reads.
const cosignatureColumns = `witness_key, tree_size, root_hash, line, signed_at, recorded_at`

func scanCosignature(r Row) (store.LogCosignature, error) {
	var c store.LogCosignature
	var size int64
	if err := r.Scan(&c.Witness, &size, &c.RootHash, &c.Line, &c.SignedAt, &c.RecordedAt); err != nil {
		return store.LogCosignature{}, err
	}
	c.TreeSize = uint64(size)
	c.SignedAt, c.RecordedAt = c.SignedAt.UTC(), c.RecordedAt.UTC()
	return c, nil
}

// LogCosignatures implements store.Reader.
func (q *Queries) LogCosignatures(ctx context.Context, treeSize uint64) ([]store.LogCosignature, error) {
	if treeSize > 1<<63-1 {
		return nil, nil
	}
	rows, err := q.C.Query(ctx, `SELECT `+cosignatureColumns+` FROM log_cosignatures WHERE tree_size = $1 ORDER BY witness_key`, int64(treeSize))
	if err != nil {
		return nil, q.fail("log cosignatures", err)
	}
	defer rows.Close()
	var out []store.LogCosignature
	for rows.Next() {
		c, err := scanCosignature(rows)
		if err != nil {
			return nil, q.fail("log cosignatures", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail("log cosignatures", err)
	}
	return out, nil
}

// LatestLogCosignature implements store.Reader.
func (q *Queries) LatestLogCosignature(ctx context.Context, witness string) (store.LogCosignature, error) {
	c, err := scanCosignature(q.C.QueryRow(ctx, `SELECT `+cosignatureColumns+` FROM log_cosignatures WHERE witness_key = $1 ORDER BY tree_size DESC LIMIT 1`, witness))
	if err != nil {
		return store.LogCosignature{}, q.fail("latest log cosignature of "+witness, err)
	}
	return c, nil
}

// PutLogCosignature implements store.Writer.
func (q *Queries) PutLogCosignature(ctx context.Context, c store.LogCosignature) error {
	switch {
	case c.Witness == "":
		return fmt.Errorf("store: put log cosignature: %w: witness is empty", store.ErrInvalid)
	case c.Line == "":
		return fmt.Errorf("store: put log cosignature: %w: line is empty", store.ErrInvalid)
	case len(c.RootHash) != 32:
		return fmt.Errorf("store: put log cosignature: %w: root hash is %d bytes, want 32", store.ErrInvalid, len(c.RootHash))
	case c.TreeSize > 1<<63-1:
		return fmt.Errorf("store: put log cosignature: %w: tree size %d out of range", store.ErrInvalid, c.TreeSize)
	case c.SignedAt.IsZero():
		return fmt.Errorf("store: put log cosignature: %w: signed_at is unset", store.ErrInvalid)
	}
	var root []byte
	err := q.C.QueryRow(ctx, `SELECT root_hash FROM log_cosignatures WHERE witness_key = $1 AND tree_size = $2`, c.Witness, int64(c.TreeSize)).Scan(&root)
	switch {
	case err == nil && bytes.Equal(root, c.RootHash):
		return nil
	case err == nil:
		return fmt.Errorf("store: put log cosignature: %w: witness %s already cosigned size %d with root %x, not %x", store.ErrConflict, c.Witness, c.TreeSize, root, c.RootHash)
	case !errors.Is(q.D.MapError(err), store.ErrNotFound):
		return q.fail("put log cosignature", err)
	}
	if err := q.C.Exec(ctx, `INSERT INTO log_cosignatures (`+cosignatureColumns+`) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		c.Witness, int64(c.TreeSize), c.RootHash, c.Line, c.SignedAt.UTC().Truncate(time.Microsecond), Now()); err != nil {
		return q.fail("put log cosignature", err)
	}
	return nil
}
