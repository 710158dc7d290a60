package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// The revocation index: revocation_events (one row per revocation log
// entry) and revocations (the current state per target). See
// store.RevocationReader and store.RevocationWriter.

const revocationColumns = `target_key, kind, target_id, action, reason, effective_at, revokers, seq, recorded_at`

func scanRevocation(r Rows) (store.RevocationRecord, error) {
	var (
		rec      store.RevocationRecord
		revokers string
	)
	if err := r.Scan(&rec.TargetKey, &rec.Kind, &rec.TargetID, &rec.Action, &rec.Reason, &rec.Effective, &revokers, &rec.Seq, &rec.RecordedAt); err != nil {
		return store.RevocationRecord{}, err
	}
	rec.Effective, rec.RecordedAt = rec.Effective.UTC(), rec.RecordedAt.UTC()
	if err := json.Unmarshal([]byte(revokers), &rec.Revokers); err != nil {
		return store.RevocationRecord{}, fmt.Errorf("revocation %d: stored revokers: %w", rec.Seq, err)
	}
	return rec, nil
}

func (q *Queries) revocations(ctx context.Context, op, query string, args ...any) ([]store.RevocationRecord, error) {
	rows, err := q.C.Query(ctx, query, args...)
	if err != nil {
		return nil, q.fail(op, err)
	}
	var out []store.RevocationRecord
	err = scanAll(rows, func(r Rows) error {
		rec, err := scanRevocation(r)
		out = append(out, rec)
		return err
	})
	if err != nil {
		return nil, q.fail(op, err)
	}
	return out, nil
}

// Revocation implements store.RevocationReader.
func (q *Queries) Revocation(ctx context.Context, targetKey []byte) (store.RevocationRecord, error) {
	recs, err := q.revocations(ctx, "revocation", `SELECT `+revocationColumns+` FROM revocations WHERE target_key = $1`, targetKey)
	if err != nil {
		return store.RevocationRecord{}, err
	}
	if len(recs) == 0 {
		return store.RevocationRecord{}, fmt.Errorf("store: revocation %x: %w", targetKey, store.ErrNotFound)
	}
	return recs[0], nil
}

// RevocationEvents implements store.RevocationReader.
func (q *Queries) RevocationEvents(ctx context.Context, afterSeq, uptoSeq int64, limit int) ([]store.RevocationRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	if uptoSeq <= 0 {
		uptoSeq = 1<<63 - 1
	}
	return q.revocations(ctx, "revocation events", `SELECT `+revocationColumns+` FROM revocation_events
		WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, afterSeq, uptoSeq, limit)
}

// ActiveRevocations implements store.RevocationReader.
func (q *Queries) ActiveRevocations(ctx context.Context, afterSeq, uptoSeq int64, limit int) ([]store.RevocationRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	if uptoSeq <= 0 {
		uptoSeq = 1<<63 - 1
	}
	return q.revocations(ctx, "active revocations", `SELECT `+revocationColumns+` FROM revocations
		WHERE seq > $1 AND seq <= $2 AND action = 'revoke' ORDER BY seq LIMIT $3`, afterSeq, uptoSeq, limit)
}

// RevocationsOfKind implements store.RevocationReader.
func (q *Queries) RevocationsOfKind(ctx context.Context, kind, afterID string, limit int) ([]store.RevocationRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	return q.revocations(ctx, "revocations of kind "+kind, `SELECT `+revocationColumns+` FROM revocations
		WHERE kind = $1 AND target_id > $2 AND action = 'revoke' ORDER BY target_id LIMIT $3`, kind, afterID, limit)
}

// RevocationHead implements store.RevocationReader.
func (q *Queries) RevocationHead(ctx context.Context) (int64, error) {
	var head int64
	if err := q.C.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocation_events`).Scan(&head); err != nil {
		return 0, q.fail("revocation head", err)
	}
	return head, nil
}

// StatementByEnvelope implements store.RevocationReader.
func (q *Queries) StatementByEnvelope(ctx context.Context, d digest.Digest) (store.Statement, error) {
	var seq int64
	if err := q.C.QueryRow(ctx, `SELECT seq FROM statements WHERE envelope_digest = $1`, d.String()).Scan(&seq); err != nil {
		return store.Statement{}, q.fail("statement by envelope "+d.String(), err)
	}
	return q.Statement(ctx, seq)
}

func checkRevocation(op string, r store.RevocationRecord) error {
	switch {
	case len(r.TargetKey) != 32:
		return fmt.Errorf("store: %s: %w: target key is %d bytes, want 32", op, store.ErrInvalid, len(r.TargetKey))
	case r.Kind == "" || r.TargetID == "" || r.Action == "" || r.Reason == "":
		return fmt.Errorf("store: %s: %w: kind, target id, action and reason are required", op, store.ErrInvalid)
	case r.Seq <= 0:
		return fmt.Errorf("store: %s: %w: seq %d", op, store.ErrInvalid, r.Seq)
	case r.Effective.IsZero() || r.RecordedAt.IsZero():
		return fmt.Errorf("store: %s: %w: effective and recorded times are required", op, store.ErrInvalid)
	}
	return nil
}

func revocationArgs(r store.RevocationRecord) ([]any, error) {
	revokers, err := json.Marshal(r.Revokers)
	if err != nil {
		return nil, err
	}
	ts := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	return []any{r.TargetKey, r.Kind, r.TargetID, r.Action, r.Reason, ts(r.Effective), string(revokers), r.Seq, ts(r.RecordedAt)}, nil
}

// PutRevocation implements store.RevocationWriter.
func (q *Queries) PutRevocation(ctx context.Context, event, current store.RevocationRecord) error {
	op := fmt.Sprintf("put revocation %d", event.Seq)
	if err := checkRevocation(op, event); err != nil {
		return err
	}
	if err := checkRevocation(op, current); err != nil {
		return err
	}
	ev, err := revocationArgs(event)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	cur, err := revocationArgs(current)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	err = q.C.ExecBatch(ctx, []Stmt{
		{SQL: `INSERT INTO revocation_events (` + revocationColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, Args: ev},
		{SQL: `INSERT INTO revocations (` + revocationColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (target_key) DO UPDATE SET kind = excluded.kind, target_id = excluded.target_id, action = excluded.action,
			reason = excluded.reason, effective_at = excluded.effective_at, revokers = excluded.revokers, seq = excluded.seq,
			recorded_at = excluded.recorded_at`, Args: cur},
	})
	if err != nil {
		return q.fail(op, err)
	}
	return nil
}
