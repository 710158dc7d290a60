package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// Batched reads: one query for a set of keys instead of one per key, so a
// reader of many log entries (an evidence bundle, a subject view) pays a
// round trip per kind of thing it reads, not per thing.

// maxBatch bounds the placeholders of one batched query; longer key lists
// are read in several.
const maxBatch = 256

// inList returns "$o+1, $o+2, ..." for n values. n is padded up to a power
// of two by the callers (see padded), so the distinct query texts, and the
// prepared statements a driver caches for them, stay few.
func inList(offset, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", offset+i+1)
	}
	return b.String()
}

// padded returns vals as query arguments, repeating the last value up to
// the next power of two (an IN list ignores the repeats).
func padded[T any](vals []T) []any {
	n := 1
	for n < len(vals) {
		n *= 2
	}
	out := make([]any, n)
	for i := range out {
		out[i] = vals[min(i, len(vals)-1)]
	}
	return out
}

// chunks calls fn with vals in slices of at most maxBatch.
func chunks[T any](vals []T, fn func([]T) error) error {
	for len(vals) > 0 {
		n := min(len(vals), maxBatch)
		if err := fn(vals[:n]); err != nil {
			return err
		}
		vals = vals[n:]
	}
	return nil
}

// RevocationsOf implements store.RevocationReader: the head and the states
// in one statement (a one-row head left-joined with the states asked for,
// so the head comes even when no target has a state).
func (q *Queries) RevocationsOf(ctx context.Context, targetKeys [][]byte) ([]store.RevocationRecord, int64, error) {
	keys := slices.Clone(targetKeys)
	slices.SortFunc(keys, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	keys = slices.CompactFunc(keys, func(a, b []byte) bool { return string(a) == string(b) })
	if len(keys) == 0 {
		head, err := q.RevocationHead(ctx)
		return nil, head, err
	}
	var (
		out  []store.RevocationRecord
		head int64 = -1
	)
	err := chunks(keys, func(part [][]byte) error {
		args := padded(part)
		rows, err := q.C.Query(ctx, `SELECT h.head, r.target_key, r.kind, r.target_id, r.action, r.reason, r.effective_at, r.revokers, r.seq, r.recorded_at
			FROM (SELECT COALESCE(MAX(seq), 0) AS head FROM revocation_events) h
			LEFT JOIN revocations r ON r.target_key IN (`+inList(0, len(args))+`)`, args...)
		if err != nil {
			return q.fail("revocations of targets", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var (
				h                                  int64
				key                                []byte
				kind, id, action, reason, revokers sql.NullString
				effective, recorded                sql.NullTime
				seq                                sql.NullInt64
			)
			if err := r.Scan(&h, &key, &kind, &id, &action, &reason, &effective, &revokers, &seq, &recorded); err != nil {
				return err
			}
			if head < 0 {
				head = h // the first read's: the states are at least as new
			}
			if key == nil {
				return nil // no target of this part has a state
			}
			rec := store.RevocationRecord{TargetKey: key, Kind: kind.String, TargetID: id.String, Action: action.String, Reason: reason.String,
				Effective: effective.Time.UTC(), Seq: seq.Int64, RecordedAt: recorded.Time.UTC()}
			if err := json.Unmarshal([]byte(revokers.String), &rec.Revokers); err != nil {
				return fmt.Errorf("revocation %d: stored revokers: %w", rec.Seq, err)
			}
			out = append(out, rec)
			return nil
		})
		if err != nil {
			return q.fail("revocations of targets", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, head, nil
}

// StatementsBySeq implements store.Reader.
func (q *Queries) StatementsBySeq(ctx context.Context, seqs []int64, envelopes bool) ([]store.Statement, error) {
	return q.statementsBySeq(ctx, seqs, envelopes, envelopes)
}

// StatementPayloads implements store.Reader.
func (q *Queries) StatementPayloads(ctx context.Context, seqs []int64) ([]store.Statement, error) {
	return q.statementsBySeq(ctx, seqs, false, true)
}

// statementsBySeq reads the statements seqs name, with their envelopes
// and payloads when asked.
func (q *Queries) statementsBySeq(ctx context.Context, seqs []int64, envelopes, payloads bool) ([]store.Statement, error) {
	want := slices.Clone(seqs)
	slices.Sort(want)
	want = slices.Compact(want)
	cols := `seq, envelope_digest, payload_type, predicate_type, signer_key_ids, recorded_at`
	if envelopes {
		cols += `, envelope`
	}
	if payloads {
		cols += `, payload`
	}
	var out []store.Statement
	err := chunks(want, func(part []int64) error {
		args := padded(part)
		rows, err := q.C.Query(ctx, `SELECT `+cols+` FROM statements WHERE seq IN (`+inList(0, len(args))+`) ORDER BY seq`, args...)
		if err != nil {
			return q.fail("statements by seq", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var (
				s            store.Statement
				env, signers string
			)
			dest := []any{&s.Seq, &env, &s.PayloadType, &s.PredicateType, &signers, &s.RecordedAt}
			if envelopes {
				dest = append(dest, &s.Envelope)
			}
			if payloads {
				dest = append(dest, &s.Payload)
			}
			if err := r.Scan(dest...); err != nil {
				return err
			}
			s.RecordedAt = s.RecordedAt.UTC()
			d, err := digest.Parse(env)
			if err != nil {
				return fmt.Errorf("statement %d: stored envelope digest: %w", s.Seq, err)
			}
			s.EnvelopeDigest = d
			if err := json.Unmarshal([]byte(signers), &s.SignerKeyIDs); err != nil {
				return fmt.Errorf("statement %d: stored signers: %w", s.Seq, err)
			}
			out = append(out, s)
			return nil
		})
		if err != nil {
			return q.fail("statements by seq", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// KeysByID implements store.Reader.
func (q *Queries) KeysByID(ctx context.Context, ids []string) ([]store.Key, error) {
	want := slices.Clone(ids)
	slices.Sort(want)
	want = slices.Compact(want)
	var out []store.Key
	err := chunks(want, func(part []string) error {
		args := padded(part)
		rows, err := q.C.Query(ctx, `SELECT id, type, public_key, label, created_at FROM keys WHERE id IN (`+inList(0, len(args))+`) ORDER BY id`, args...)
		if err != nil {
			return q.fail("keys by id", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var k store.Key
			if err := r.Scan(&k.ID, &k.Type, &k.PublicKey, &k.Label, &k.CreatedAt); err != nil {
				return err
			}
			k.CreatedAt = k.CreatedAt.UTC()
			out = append(out, k)
			return nil
		})
		if err != nil {
			return q.fail("keys by id", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
