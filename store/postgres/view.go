package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// SubjectViewSQL is store.Reader.SubjectView in one statement, so a lookup
// costs one round trip; $1, $2 are the digest's algorithm and hex value, $3
// the evidence limit, $4 the page's BeforeSeq (0: from the newest) and $5
// the page's claim limit (0: all; each digest's claims are read through
// the partial index in its order, publications first, then oldest, so a
// limit reads no claim it leaves out). It
// must select exactly what the generic
// sqlstore.Queries.SubjectView selects; the conformance suite holds both to
// the same answers. Exported so benchmarks replay the very statement.
const SubjectViewSQL = `
WITH q AS (SELECT subject_id FROM digests WHERE algorithm = $1 AND value = $2),
sd AS (SELECT d.id, d.algorithm, d.value FROM digests d WHERE d.subject_id = (SELECT subject_id FROM q)),
cl AS (
  SELECT c.id, c.source, c.reference, COALESCE(c.statement_seq, 0) AS statement_seq, c.signer_key_ids, c.claimed_at,
    COALESCE(st.payload_type, '') AS payload_type, COALESCE(st.predicate_type, '') AS predicate_type,
    (SELECT array_agg(a2.algorithm || ':' || a2.value ORDER BY a2.position) FROM alias_claim_digests a2 WHERE a2.claim_id = c.id) AS digests
  FROM alias_claims c LEFT JOIN statements st ON st.seq = c.statement_seq
  WHERE c.id IN (SELECT a.claim_id FROM alias_claim_digests a JOIN sd ON a.algorithm = sd.algorithm AND a.value = sd.value)),
sc AS (
  SELECT DISTINCT x.seq, x.subject_index, x.published FROM sd CROSS JOIN LATERAL (
    SELECT s2.seq, s2.subject_index, s2.published FROM statement_subjects s2
    WHERE s2.aliased AND s2.algorithm = sd.algorithm AND s2.value = sd.value
    ORDER BY s2.published DESC, s2.seq LIMIT NULLIF($5::int, 0)) x
  ORDER BY x.published DESC, x.seq LIMIT NULLIF($5::int, 0)),
dd AS (
  SELECT s3.seq, s3.subject_index, s3.algorithm, s3.value
  FROM sc JOIN statement_subjects s3 ON s3.seq = sc.seq AND s3.subject_index = sc.subject_index),
dc AS (
  SELECT dd.seq, dd.subject_index, st.signer_key_ids, st.recorded_at, st.payload_type, st.predicate_type,
    array_agg(dd.algorithm || ':' || dd.value) AS digests
  FROM dd JOIN statements st ON st.seq = dd.seq
  GROUP BY dd.seq, dd.subject_index, st.signer_key_ids, st.recorded_at, st.payload_type, st.predicate_type),
al AS (
  SELECT algorithm, value FROM sd
  UNION
  SELECT a.algorithm, a.value FROM alias_claim_digests a WHERE a.claim_id IN (SELECT id FROM cl)
  UNION
  SELECT algorithm, value FROM dd)
SELECT s.id, s.created_at,
  (SELECT array_agg(algorithm || ':' || value ORDER BY id) FROM sd),
  (SELECT json_agg(cl) FROM cl),
  (SELECT json_agg(dc) FROM dc),
  (SELECT COUNT(*) FROM (SELECT DISTINCT s2.seq, s2.subject_index FROM statement_subjects s2 JOIN sd ON s2.algorithm = sd.algorithm AND s2.value = sd.value
     WHERE s2.aliased) n),
  (SELECT json_agg(e) FROM (
     SELECT st.seq, st.payload_type, st.predicate_type, st.signer_key_ids, ss.algorithm, ss.value, st.recorded_at
     FROM statement_subjects ss
     JOIN statements st ON st.seq = ss.seq
     JOIN al ON ss.algorithm = al.algorithm AND ss.value = al.value
     WHERE $4::bigint = 0 OR st.seq < $4::bigint
     ORDER BY st.seq DESC, ss.algorithm, ss.value LIMIT $3) e)
FROM subjects s WHERE s.id = (SELECT subject_id FROM q)`

// SubjectView implements store.Reader in one round trip.
func (s *Store) SubjectView(ctx context.Context, d digest.Digest, page store.EvidencePage) (store.SubjectView, error) {
	var (
		v                       store.SubjectView
		digests                 []string
		claims, derived, events []byte
	)
	err := s.Queries.C.QueryRow(ctx, SubjectViewSQL, string(d.Algorithm()), d.Hex(), max(page.Limit, 0), max(page.BeforeSeq, 0), max(page.Claims, 0)).
		Scan(&v.Subject.ID, &v.Subject.CreatedAt, &digests, &claims, &derived, &v.ClaimCount, &events)
	if err != nil {
		return store.SubjectView{}, fmt.Errorf("store: subject view %s: %w", d, dialect{}.MapError(err))
	}
	v.Subject.CreatedAt = v.Subject.CreatedAt.UTC()
	if v.Subject.Digests, err = parseDigests(digests); err != nil {
		return store.SubjectView{}, fmt.Errorf("store: subject view %s: %w", d, err)
	}
	if v.Claims, err = decodeClaims(claims, derived); err != nil {
		return store.SubjectView{}, fmt.Errorf("store: subject view %s: claims: %w", d, err)
	}
	for _, c := range v.Claims {
		if c.Source != store.ClaimStatement {
			v.ClaimCount++
		}
	}
	if v.Evidence, err = decodeEvidence(events); err != nil {
		return store.SubjectView{}, fmt.Errorf("store: subject view %s: evidence: %w", d, err)
	}
	return v, nil
}

func parseDigests(ss []string) ([]digest.Digest, error) {
	out := make([]digest.Digest, 0, len(ss))
	for _, s := range ss {
		d, err := digest.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("stored digest: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// signerList is a signer_key_ids column: JSON text inside the JSON row.
type signerList []string

func (l *signerList) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return err
	}
	return json.Unmarshal([]byte(text), (*[]string)(l))
}

// decodeClaims reads the stored claims and the statements' claims of
// SubjectViewSQL into one list in sqlstore.ClaimOrder.
func decodeClaims(stored, derived []byte) ([]store.AliasClaim, error) {
	var (
		rows []struct {
			ID            int64      `json:"id"`
			Source        string     `json:"source"`
			Reference     string     `json:"reference"`
			StatementSeq  int64      `json:"statement_seq"`
			Signers       signerList `json:"signer_key_ids"`
			ClaimedAt     time.Time  `json:"claimed_at"`
			PayloadType   string     `json:"payload_type"`
			PredicateType string     `json:"predicate_type"`
			Digests       []string   `json:"digests"`
		}
		subjects []struct {
			Seq           int64     `json:"seq"`
			Index         int       `json:"subject_index"`
			Signers       string    `json:"signer_key_ids"`
			RecordedAt    time.Time `json:"recorded_at"`
			PayloadType   string    `json:"payload_type"`
			PredicateType string    `json:"predicate_type"`
			Digests       []string  `json:"digests"`
		}
	)
	if len(stored) > 0 {
		if err := json.Unmarshal(stored, &rows); err != nil {
			return nil, err
		}
	}
	if len(derived) > 0 {
		if err := json.Unmarshal(derived, &subjects); err != nil {
			return nil, err
		}
	}
	var out []store.AliasClaim
	for _, r := range rows {
		ds, err := parseDigests(r.Digests)
		if err != nil {
			return nil, err
		}
		out = append(out, store.AliasClaim{ID: r.ID, Source: store.ClaimSource(r.Source), Reference: r.Reference, StatementSeq: r.StatementSeq,
			SignerKeyIDs: r.Signers, Digests: ds, ClaimedAt: r.ClaimedAt.UTC(), PayloadType: r.PayloadType, PredicateType: r.PredicateType})
	}
	for _, r := range subjects {
		ds, err := parseDigests(r.Digests)
		if err != nil {
			return nil, err
		}
		c, err := sqlstore.StatementClaim(sqlstore.ClaimEntry{Seq: r.Seq, Index: r.Index, Signers: r.Signers, RecordedAt: r.RecordedAt,
			PayloadType: r.PayloadType, PredicateType: r.PredicateType}, ds)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, sqlstore.ClaimOrder)
	return out, nil
}

func decodeEvidence(b []byte) ([]store.Evidence, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var rows []struct {
		Seq           int64      `json:"seq"`
		PayloadType   string     `json:"payload_type"`
		PredicateType string     `json:"predicate_type"`
		Signers       signerList `json:"signer_key_ids"`
		Algorithm     string     `json:"algorithm"`
		Value         string     `json:"value"`
		RecordedAt    time.Time  `json:"recorded_at"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, err
	}
	out := make([]store.Evidence, len(rows))
	for i, r := range rows {
		d, err := digest.Parse(r.Algorithm + ":" + r.Value)
		if err != nil {
			return nil, fmt.Errorf("stored digest: %w", err)
		}
		out[i] = store.Evidence{Seq: r.Seq, PayloadType: r.PayloadType, PredicateType: r.PredicateType, SignerKeyIDs: r.Signers, Digest: d, RecordedAt: r.RecordedAt.UTC()}
	}
	return out, nil
}
