package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/trustd-dev/trustd/store"
)

// The web of trust versioned by log sequence (trust_edge_versions), the
// identity binding index (identity_bindings) and their backfill state
// (derived_backfill). See store.FeedbackReader and store.FeedbackWriter.

// scanEdges reads rows of (truster, trustee, level, stated_at, seq).
func scanEdges(rows Rows, out *[]store.TrustEdge) error {
	return scanAll(rows, func(r Rows) error {
		var e store.TrustEdge
		err := r.Scan(&e.TrusterKeyID, &e.TrusteeKeyID, &e.Level, &e.StatedAt, &e.Seq)
		e.StatedAt = e.StatedAt.UTC()
		*out = append(*out, e)
		return err
	})
}

// TrustEdgeVersions implements store.FeedbackReader.
func (q *Queries) TrustEdgeVersions(ctx context.Context, truster, trustee string) ([]store.TrustEdgeVersion, error) {
	rows, err := q.C.Query(ctx, `SELECT truster_key_id, trustee_key_id, level, stated_at, seq, superseded_at_seq
		FROM trust_edge_versions WHERE truster_key_id = $1 AND trustee_key_id = $2 ORDER BY seq`, truster, trustee)
	if err != nil {
		return nil, q.fail("trust edge versions", err)
	}
	var out []store.TrustEdgeVersion
	err = scanAll(rows, func(r Rows) error {
		var (
			v    store.TrustEdgeVersion
			upto *int64
		)
		err := r.Scan(&v.TrusterKeyID, &v.TrusteeKeyID, &v.Level, &v.StatedAt, &v.Seq, &upto)
		v.StatedAt = v.StatedAt.UTC()
		if upto != nil {
			v.SupersededAtSeq = *upto
		}
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, q.fail("trust edge versions", err)
	}
	return out, nil
}

// TrustEdgesAt implements store.FeedbackReader.
func (q *Queries) TrustEdgesAt(ctx context.Context, seq int64) ([]store.TrustEdge, error) {
	rows, err := q.C.Query(ctx, `SELECT truster_key_id, trustee_key_id, level, stated_at, seq FROM trust_edge_versions
		WHERE seq <= $1 AND (superseded_at_seq IS NULL OR superseded_at_seq > $1)
		ORDER BY truster_key_id, trustee_key_id`, seq)
	if err != nil {
		return nil, q.fail("trust edges at", err)
	}
	var out []store.TrustEdge
	if err := scanEdges(rows, &out); err != nil {
		return nil, q.fail("trust edges at", err)
	}
	return out, nil
}

// TrustEdgesSince implements store.FeedbackReader.
func (q *Queries) TrustEdgesSince(ctx context.Context, afterSeq int64) ([]store.TrustEdge, error) {
	rows, err := q.C.Query(ctx, `SELECT truster_key_id, trustee_key_id, level, stated_at, seq FROM trust_edges
		WHERE seq > $1 ORDER BY seq, truster_key_id, trustee_key_id`, afterSeq)
	if err != nil {
		return nil, q.fail("trust edges since", err)
	}
	var out []store.TrustEdge
	if err := scanEdges(rows, &out); err != nil {
		return nil, q.fail("trust edges since", err)
	}
	return out, nil
}

// IdentityBindings implements store.FeedbackReader.
func (q *Queries) IdentityBindings(ctx context.Context, signers []string) ([]store.IdentityBinding, error) {
	var out []store.IdentityBinding
	for start := 0; start < len(signers); {
		cond, args, n := q.textIn("signer", 0, signers[start:])
		start += n
		rows, err := q.C.Query(ctx, `SELECT signer, seq, key_id, identity, recorded_at FROM identity_bindings
			WHERE `+cond+` ORDER BY signer, seq DESC`, args...)
		if err != nil {
			return nil, q.fail("identity bindings", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var b store.IdentityBinding
			err := r.Scan(&b.Signer, &b.Seq, &b.KeyID, &b.Identity, &b.RecordedAt)
			b.RecordedAt = b.RecordedAt.UTC()
			out = append(out, b)
			return err
		})
		if err != nil {
			return nil, q.fail("identity bindings", err)
		}
	}
	return out, nil
}

// DerivedBackfill implements store.FeedbackReader.
func (q *Queries) DerivedBackfill(ctx context.Context, name string) (int64, error) {
	var through int64
	err := q.C.QueryRow(ctx, `SELECT through_seq FROM derived_backfill WHERE name = $1`, name).Scan(&through)
	if err != nil {
		if err = q.D.MapError(err); errors.Is(err, store.ErrNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("store: derived backfill %s: %w", name, err)
	}
	return through, nil
}

// PutTrustEdgeVersion implements store.FeedbackWriter.
func (q *Queries) PutTrustEdgeVersion(ctx context.Context, v store.TrustEdgeVersion) error {
	if v.TrusterKeyID == "" || v.TrusteeKeyID == "" || v.Level < -1 || v.Level > 3 || v.Seq <= 0 ||
		(v.SupersededAtSeq != 0 && v.SupersededAtSeq < v.Seq) {
		return fmt.Errorf("store: put trust edge version: %w: truster, trustee, level in -1..3, seq and no supersession before seq are required", store.ErrInvalid)
	}
	var upto *int64
	if v.SupersededAtSeq != 0 {
		upto = &v.SupersededAtSeq
	}
	err := q.C.Exec(ctx, `INSERT INTO trust_edge_versions (seq, truster_key_id, trustee_key_id, level, stated_at, superseded_at_seq)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (seq) DO UPDATE SET superseded_at_seq = excluded.superseded_at_seq`,
		v.Seq, v.TrusterKeyID, v.TrusteeKeyID, v.Level, v.StatedAt.UTC(), upto)
	if err != nil {
		return q.fail("put trust edge version", err)
	}
	return nil
}

// PutIdentityBinding implements store.FeedbackWriter.
func (q *Queries) PutIdentityBinding(ctx context.Context, b store.IdentityBinding) error {
	if b.Signer == "" || b.KeyID == "" || b.Identity == "" || b.Seq <= 0 || (b.Signer != b.KeyID && b.Signer != b.Identity) {
		return fmt.Errorf("store: put identity binding: %w: signer (the key or the identity), key, identity and seq are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO identity_bindings (signer, seq, key_id, identity, recorded_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (signer, seq) DO NOTHING`, b.Signer, b.Seq, b.KeyID, b.Identity, b.RecordedAt.UTC())
	if err != nil {
		return q.fail("put identity binding", err)
	}
	return nil
}

// SetDerivedBackfill implements store.FeedbackWriter.
func (q *Queries) SetDerivedBackfill(ctx context.Context, name string, through int64) error {
	err := q.C.Exec(ctx, `INSERT INTO derived_backfill (name, through_seq) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET through_seq = excluded.through_seq`, name, through)
	if err != nil {
		return q.fail("set derived backfill", err)
	}
	return nil
}
