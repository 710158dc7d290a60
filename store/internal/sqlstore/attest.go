package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// The attestation index (attestations) and in-toto layout links
// (layout_links). See store.AttestReader and store.AttestWriter.

const attestationColumns = `builder_id, build_type, source_repository, source_ref,
	document_name, document_version, verifier_id, verification_result`

// Attestations implements store.AttestReader. The digest's rows of
// statement_subjects are walked newest first on the (algorithm, value, seq)
// index, so a page costs its own size whatever the digest's history.
func (q *Queries) Attestations(ctx context.Context, aq store.AttestationQuery) ([]store.AttestationEntry, error) {
	if aq.Digest.IsZero() || aq.Limit <= 0 {
		return nil, nil
	}
	args := []any{string(aq.Digest.Algorithm()), aq.Digest.Hex(), aq.Limit}
	cond := []string{"ss.algorithm = $1", "ss.value = $2"}
	if aq.PredicateType != "" {
		args = append(args, aq.PredicateType)
		cond = append(cond, fmt.Sprintf("s.predicate_type = $%d", len(args)))
	}
	if aq.SignerKeyID != "" {
		args = append(args, aq.SignerKeyID)
		cond = append(cond, fmt.Sprintf("EXISTS (SELECT 1 FROM statement_signers sg WHERE sg.seq = s.seq AND sg.key_id = $%d)", len(args)))
	}
	if aq.BeforeSeq > 0 {
		args = append(args, aq.BeforeSeq)
		cond = append(cond, fmt.Sprintf("ss.seq < $%d", len(args)))
	}
	rows, err := q.C.Query(ctx, `SELECT s.seq, s.payload_type, s.predicate_type, s.signer_key_ids, ss.name, s.recorded_at, s.envelope_digest,
		a.seq, `+prefixed("a.", attestationColumns)+`
		FROM statement_subjects ss JOIN statements s ON s.seq = ss.seq LEFT JOIN attestations a ON a.seq = ss.seq
		WHERE `+strings.Join(cond, " AND ")+` ORDER BY ss.seq DESC LIMIT $3`, args...)
	if err != nil {
		return nil, q.fail("attestations of "+aq.Digest.String(), err)
	}
	var out []store.AttestationEntry
	err = scanAll(rows, func(r Rows) error {
		var (
			e       store.AttestationEntry
			signers string
			envDig  string
			aseq    sql.NullInt64
			idx     [8]sql.NullString
		)
		dest := []any{&e.Seq, &e.PayloadType, &e.PredicateType, &signers, &e.SubjectName, &e.RecordedAt, &envDig, &aseq}
		for i := range idx {
			dest = append(dest, &idx[i])
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(signers), &e.SignerKeyIDs); err != nil {
			return fmt.Errorf("stored signers of statement %d: %w", e.Seq, err)
		}
		d, err := digest.Parse(envDig)
		if err != nil {
			return fmt.Errorf("stored envelope digest of statement %d: %w", e.Seq, err)
		}
		e.Digest, e.RecordedAt, e.EnvelopeDigest = aq.Digest, e.RecordedAt.UTC(), d
		if aseq.Valid {
			e.Index = &store.Attestation{Seq: aseq.Int64, BuilderID: idx[0].String, BuildType: idx[1].String,
				SourceRepository: idx[2].String, SourceRef: idx[3].String, DocumentName: idx[4].String,
				DocumentVersion: idx[5].String, VerifierID: idx[6].String, VerificationResult: idx[7].String}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, q.fail("attestations of "+aq.Digest.String(), err)
	}
	return out, nil
}

func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// Attestation implements store.AttestReader.
func (q *Queries) Attestation(ctx context.Context, seq int64) (store.Attestation, error) {
	a := store.Attestation{Seq: seq}
	err := q.C.QueryRow(ctx, `SELECT `+attestationColumns+` FROM attestations WHERE seq = $1`, seq).Scan(
		&a.BuilderID, &a.BuildType, &a.SourceRepository, &a.SourceRef, &a.DocumentName, &a.DocumentVersion,
		&a.VerifierID, &a.VerificationResult)
	if err != nil {
		return store.Attestation{}, q.fail(fmt.Sprintf("attestation %d", seq), err)
	}
	return a, nil
}

// LayoutLinks implements store.AttestReader.
func (q *Queries) LayoutLinks(ctx context.Context, layoutSeq int64, limit int) ([]store.LayoutLink, error) {
	rows, err := q.C.Query(ctx, `SELECT step, seq, key_id FROM layout_links WHERE layout_seq = $1 ORDER BY step, seq LIMIT $2`, layoutSeq, limit)
	if err != nil {
		return nil, q.fail(fmt.Sprintf("links of layout %d", layoutSeq), err)
	}
	var out []store.LayoutLink
	err = scanAll(rows, func(r Rows) error {
		l := store.LayoutLink{LayoutSeq: layoutSeq}
		err := r.Scan(&l.Step, &l.Seq, &l.KeyID)
		out = append(out, l)
		return err
	})
	if err != nil {
		return nil, q.fail(fmt.Sprintf("links of layout %d", layoutSeq), err)
	}
	return out, nil
}

// PutAttestation implements store.AttestWriter.
func (q *Queries) PutAttestation(ctx context.Context, a store.Attestation) error {
	if a.Seq <= 0 {
		return fmt.Errorf("store: put attestation: %w: sequence number %d", store.ErrInvalid, a.Seq)
	}
	err := q.C.Exec(ctx, `INSERT INTO attestations (seq, `+attestationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING`,
		a.Seq, a.BuilderID, a.BuildType, a.SourceRepository, a.SourceRef, a.DocumentName, a.DocumentVersion,
		a.VerifierID, a.VerificationResult)
	if err != nil {
		return q.invalidRef(fmt.Sprintf("put attestation %d", a.Seq), err)
	}
	return nil
}

// PutLayoutLink implements store.AttestWriter.
func (q *Queries) PutLayoutLink(ctx context.Context, l store.LayoutLink) error {
	if l.LayoutSeq <= 0 || l.Seq <= 0 || l.Step == "" || l.KeyID == "" {
		return fmt.Errorf("store: put layout link: %w: layout, step, entry and key id are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO layout_links (layout_seq, step, seq, key_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (layout_seq, step, seq) DO NOTHING`, l.LayoutSeq, l.Step, l.Seq, l.KeyID)
	if err != nil {
		return q.invalidRef(fmt.Sprintf("put link %d of layout %d", l.Seq, l.LayoutSeq), err)
	}
	return nil
}

// invalidRef maps a write error; a foreign key naming no log entry is the
// caller's mistake (ErrInvalid), not a conflict.
func (q *Queries) invalidRef(op string, err error) error {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "foreign key") {
		return fmt.Errorf("store: %s: %w: no such log entry", op, store.ErrInvalid)
	}
	return q.fail(op, err)
}
