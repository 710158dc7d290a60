package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// OneStatementLookup is implemented by dialects that read a DigestLookup
// in one statement (PostgreSQL): over a network each statement is a round
// trip, and one statement is one snapshot. Other dialects (SQLite, in
// process) read it with several.
type OneStatementLookup interface {
	OneStatementLookup()
}

// DigestLookup implements store.Reader.
func (q *Queries) DigestLookup(ctx context.Context, lq store.DigestLookupQuery) (store.DigestLookup, error) {
	if len(lq.Digests) == 0 || lq.Limit <= 0 {
		return store.DigestLookup{}, fmt.Errorf("store: digest lookup: %w: digests and a positive limit are required", store.ErrInvalid)
	}
	if lq.NodeLevels < 0 || lq.NodeLevels > 63 {
		return store.DigestLookup{}, fmt.Errorf("store: digest lookup: %w: node levels %d out of 0..63", store.ErrInvalid, lq.NodeLevels)
	}
	var (
		out store.DigestLookup
		err error
	)
	if _, ok := q.D.(OneStatementLookup); ok {
		out, err = q.lookupOne(ctx, lq)
	} else {
		out, err = q.lookupSeveral(ctx, lq)
	}
	if err != nil {
		return store.DigestLookup{}, err
	}
	sortLookup(&out)
	return out, nil
}

// sortLookup puts a lookup's parts in their documented orders (a union's
// rows come in no particular order).
func sortLookup(l *store.DigestLookup) {
	sort.SliceStable(l.Naming, func(i, j int) bool {
		a, b := l.Naming[i], l.Naming[j]
		if a.Seq != b.Seq {
			return a.Seq > b.Seq
		}
		if a.Digest.Algorithm() != b.Digest.Algorithm() {
			return a.Digest.Algorithm() < b.Digest.Algorithm()
		}
		return a.Digest.Hex() < b.Digest.Hex()
	})
	sort.Slice(l.Statements, func(i, j int) bool { return l.Statements[i].Seq < l.Statements[j].Seq })
	sort.Slice(l.Revocations, func(i, j int) bool {
		return string(l.Revocations[i].TargetKey) < string(l.Revocations[j].TargetKey)
	})
	sort.Slice(l.Nodes, func(i, j int) bool {
		a, b := l.Nodes[i].ID, l.Nodes[j].ID
		if a.Level != b.Level {
			return a.Level < b.Level
		}
		return a.Index < b.Index
	})
}

// namingColumns are the columns of a row naming a digest, over
// statement_subjects ss, statements s and attestations a (left joined).
const namingColumns = `s.seq, s.payload_type, s.predicate_type, s.signer_key_ids, ss.name, ss.algorithm, ss.value, s.recorded_at, s.envelope_digest, a.seq`

// scanNaming scans namingColumns followed by attestationColumns.
func scanNaming(r Rows) (store.AttestationEntry, error) {
	var (
		e                  store.AttestationEntry
		signers, alg, val  string
		envDig             string
		aseq               sql.NullInt64
		idx                [8]sql.NullString
		recorded           time.Time
		predType, name, pt string
	)
	dest := []any{&e.Seq, &pt, &predType, &signers, &name, &alg, &val, &recorded, &envDig, &aseq}
	for i := range idx {
		dest = append(dest, &idx[i])
	}
	if err := r.Scan(dest...); err != nil {
		return e, err
	}
	return namingEntry(e.Seq, pt, predType, signers, name, alg, val, envDig, recorded, aseq, idx)
}

func namingEntry(seq int64, payloadType, predType, signers, name, alg, val, envDig string, recorded time.Time, aseq sql.NullInt64, idx [8]sql.NullString) (store.AttestationEntry, error) {
	e := store.AttestationEntry{Seq: seq, PayloadType: payloadType, PredicateType: predType, SubjectName: name, RecordedAt: recorded.UTC()}
	if err := json.Unmarshal([]byte(signers), &e.SignerKeyIDs); err != nil {
		return e, fmt.Errorf("stored signers of statement %d: %w", seq, err)
	}
	d, err := digest.Parse(alg + ":" + val)
	if err != nil {
		return e, fmt.Errorf("stored digest of statement %d: %w", seq, err)
	}
	ed, err := digest.Parse(envDig)
	if err != nil {
		return e, fmt.Errorf("stored envelope digest of statement %d: %w", seq, err)
	}
	e.Digest, e.EnvelopeDigest = d, ed
	if aseq.Valid {
		e.Index = &store.Attestation{Seq: aseq.Int64, BuilderID: idx[0].String, BuildType: idx[1].String,
			SourceRepository: idx[2].String, SourceRef: idx[3].String, DocumentName: idx[4].String,
			DocumentVersion: idx[5].String, VerifierID: idx[6].String, VerificationResult: idx[7].String}
	}
	return e, nil
}

// lookupSeveral reads a DigestLookup with one statement per part.
func (q *Queries) lookupSeveral(ctx context.Context, lq store.DigestLookupQuery) (store.DigestLookup, error) {
	var out store.DigestLookup
	// The log size first: every entry read after it is within it or
	// newer, and the proofs are of entries within it.
	size, err := q.LogSize(ctx)
	if err != nil {
		return out, err
	}
	out.LogSize = size
	where, args := digestIn("ss.algorithm", "ss.value", lq.Digests, 2)
	rows, err := q.C.Query(ctx, `SELECT `+namingColumns+`, `+prefixed("a.", attestationColumns)+`
		FROM statement_subjects ss JOIN statements s ON s.seq = ss.seq LEFT JOIN attestations a ON a.seq = ss.seq
		WHERE s.seq <= $2 AND `+where+` ORDER BY s.seq DESC, ss.algorithm, ss.value LIMIT $1`, append([]any{lq.Limit, int64(size)}, args...)...)
	if err != nil {
		return out, q.fail("digest lookup", err)
	}
	if err := scanAll(rows, func(r Rows) error {
		e, err := scanNaming(r)
		out.Naming = append(out.Naming, e)
		return err
	}); err != nil {
		return out, q.fail("digest lookup", err)
	}
	var signers, stmts []string
	seqs := make([]int64, 0, len(out.Naming))
	for _, e := range out.Naming {
		seqs = append(seqs, e.Seq)
		stmts = append(stmts, e.EnvelopeDigest.String())
		signers = append(signers, e.SignerKeyIDs...)
	}
	recs, head, err := q.RevocationsOf(ctx, lq.TargetKeys)
	if err != nil {
		return out, err
	}
	out.RevocationHead = head
	for _, part := range []struct {
		kind string
		ids  []string
	}{{"key", signers}, {"statement", stmts}} {
		got, err := q.revocationsByID(ctx, part.kind, part.ids)
		if err != nil {
			return out, err
		}
		recs = append(recs, got...)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.TargetKey)] {
			continue
		}
		seen[string(r.TargetKey)] = true
		out.Revocations = append(out.Revocations, r)
		if r.Seq > 0 && uint64(r.Seq) <= size {
			seqs = append(seqs, r.Seq)
		}
	}
	if out.Statements, err = q.StatementsBySeq(ctx, seqs, true); err != nil {
		return out, err
	}
	for i := range out.Statements {
		out.Statements[i].Payload = nil // the envelope holds it
	}
	var ids []compact.NodeID
	for _, st := range out.Statements {
		ids = append(ids, lowerSiblings(uint64(st.Seq-1), size, lq.NodeLevels)...)
	}
	slices.SortFunc(ids, func(a, b compact.NodeID) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return compareU64(a.Index, b.Index)
	})
	ids = slices.Compact(ids)
	hashes, err := q.LogNodes(ctx, ids)
	if err != nil {
		return out, err
	}
	for i, id := range ids {
		out.Nodes = append(out.Nodes, store.LogNode{ID: id, Hash: hashes[i]})
	}
	return out, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lowerSiblings are the complete siblings below level levels on the path
// from leaf to the root of the tree of size.
func lowerSiblings(leaf, size uint64, levels int) []compact.NodeID {
	var out []compact.NodeID
	for l := range levels {
		sib := (leaf >> uint(l)) ^ 1
		if (sib+1)<<uint(l) > size {
			continue
		}
		out = append(out, compact.NewNodeID(uint(l), sib))
	}
	return out
}

// revocationsByID returns the current states of the targets of one kind
// with these ids.
func (q *Queries) revocationsByID(ctx context.Context, kind string, ids []string) ([]store.RevocationRecord, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []store.RevocationRecord
	err := chunks(ids, func(part []string) error {
		args := append([]any{kind}, padded(part)...)
		got, err := q.revocations(ctx, "revocations of "+kind+"s", `SELECT `+revocationColumns+` FROM revocations
			WHERE kind = $1 AND target_id IN (`+inList(1, len(args)-1)+`)`, args...)
		out = append(out, got...)
		return err
	})
	return out, err
}

// textColumns name the text columns of lookupOne's union, and
// coalescedText reads each with NULL as the empty string.
var textColumns, coalescedText = func() (string, string) {
	var names, reads []string
	for i := range 15 {
		names = append(names, "t"+strconv.Itoa(i))
		reads = append(reads, "COALESCE(t"+strconv.Itoa(i)+", '')")
	}
	return strings.Join(names, ", "), strings.Join(reads, ", ")
}()

// lookupOne reads a DigestLookup in one statement: a union of tagged rows
// (n: naming row, s: statement, r: revocation state, h: head and size, k:
// tree node) over common columns.
func (q *Queries) lookupOne(ctx context.Context, lq store.DigestLookupQuery) (store.DigestLookup, error) {
	var out store.DigestLookup
	keys := lq.TargetKeys
	if keys == nil {
		keys = [][]byte{}
	}
	// The limit and the levels are written into the text, not passed: with
	// them known, PostgreSQL's generic plan of the prepared statement is
	// as good as a custom one and is kept, where planning the statement
	// anew costs several times executing it. Both take few values.
	where, dargs := digestIn("ss.algorithm", "ss.value", lq.Digests, 1)
	args := append([]any{keys}, dargs...)
	rows, err := q.C.Query(ctx, `WITH
		size AS (SELECT COALESCE(MAX(seq), 0) AS size FROM statements),
		naming AS (
			SELECT `+namingColumns+` AS aseq, `+prefixed("a.", attestationColumns)+`
			FROM statement_subjects ss JOIN statements s ON s.seq = ss.seq LEFT JOIN attestations a ON a.seq = ss.seq
			WHERE `+where+` ORDER BY s.seq DESC, ss.algorithm, ss.value LIMIT `+strconv.Itoa(lq.Limit)+`),
		ents AS (SELECT DISTINCT seq, signer_key_ids, envelope_digest FROM naming),
		revs AS (
			SELECT r.* FROM revocations r WHERE r.target_key = ANY($1::bytea[])
			UNION SELECT r.* FROM revocations r
				WHERE r.kind = 'key' AND r.target_id = ANY(ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(signer_key_ids::jsonb) = 'array'
					THEN signer_key_ids::jsonb ELSE '[]'::jsonb END) FROM ents))
			UNION SELECT r.* FROM revocations r
				WHERE r.kind = 'statement' AND r.target_id = ANY(ARRAY(SELECT envelope_digest FROM ents))),
		seqs AS (SELECT seq FROM ents UNION SELECT seq FROM revs WHERE seq > 0)
		SELECT tag, i1, COALESCE(i2, 0), `+coalescedText+`,
			COALESCE(ts1, 'epoch'), COALESCE(ts2, 'epoch'), b1
		FROM (
		SELECT 'n', seq, aseq, payload_type, predicate_type, signer_key_ids, name, algorithm, value, envelope_digest,
			builder_id, build_type, source_repository, source_ref, document_name, document_version, verifier_id, verification_result,
			recorded_at, NULL::timestamptz, NULL::bytea
		FROM naming
		UNION ALL
		SELECT 's', s.seq, NULL, s.payload_type, s.predicate_type, s.signer_key_ids, NULL, NULL, NULL, s.envelope_digest,
			NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.recorded_at, NULL, s.envelope
		FROM statements s WHERE s.seq = ANY(ARRAY(SELECT seq FROM seqs))
		UNION ALL
		SELECT 'r', seq, NULL, kind, target_id, revokers, action, reason, NULL, NULL,
			NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, effective_at, recorded_at, target_key
		FROM revs
		UNION ALL
		SELECT 'h', (SELECT COALESCE(MAX(seq), 0) FROM revocation_events), size, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		FROM size
		UNION ALL
		SELECT 'k', p.level::bigint, p.idx, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			(SELECT n.hash FROM log_nodes n WHERE n.level = p.level AND n.idx = p.idx)
		FROM (SELECT DISTINCT l.level, ((w.seq - 1) >> l.level) # 1 AS idx
				FROM seqs w CROSS JOIN generate_series(0, `+strconv.Itoa(lq.NodeLevels-1)+`) AS l (level)) p
		) u (tag, i1, i2, `+textColumns+`, ts1, ts2, b1)`, args...)
	if err != nil {
		return out, q.fail("digest lookup", err)
	}
	// One set of destinations for every row: each value is copied out
	// before the next row is scanned (the byte slices are new each row).
	// No column is NULL but b1 (coalesced to 0, '' and the epoch, which no
	// row reads as a value), so the driver scans into plain Go values, not
	// through the sql.Scanner of a Null wrapper.
	var (
		tag      string
		i1, i2   int64
		t        [15]string
		ts1, ts2 time.Time
		b1       []byte
	)
	dest := []any{&tag, &i1, &i2}
	for i := range t {
		dest = append(dest, &t[i])
	}
	dest = append(dest, &ts1, &ts2, &b1)
	err = scanAll(rows, func(r Rows) error {
		b1 = nil
		if err := r.Scan(dest...); err != nil {
			return err
		}
		switch tag {
		case "n":
			var idx [8]sql.NullString
			for j := range idx {
				idx[j] = sql.NullString{String: t[7+j], Valid: true}
			}
			// An attestation's seq is its entry's, never 0.
			e, err := namingEntry(i1, t[0], t[1], t[2], t[3], t[4], t[5], t[6], ts1, sql.NullInt64{Int64: i2, Valid: i2 != 0}, idx)
			if err != nil {
				return err
			}
			out.Naming = append(out.Naming, e)
		case "s":
			s := store.Statement{Seq: i1, PayloadType: t[0], PredicateType: t[1], RecordedAt: ts1.UTC(), Envelope: b1}
			d, err := digest.Parse(t[6])
			if err != nil {
				return fmt.Errorf("statement %d: stored envelope digest: %w", s.Seq, err)
			}
			s.EnvelopeDigest = d
			if err := json.Unmarshal([]byte(t[2]), &s.SignerKeyIDs); err != nil {
				return fmt.Errorf("statement %d: stored signers: %w", s.Seq, err)
			}
			out.Statements = append(out.Statements, s)
		case "r":
			rec := store.RevocationRecord{TargetKey: b1, Kind: t[0], TargetID: t[1], Action: t[3], Reason: t[4],
				Effective: ts1.UTC(), Seq: i1, RecordedAt: ts2.UTC()}
			if err := json.Unmarshal([]byte(t[2]), &rec.Revokers); err != nil {
				return fmt.Errorf("revocation %d: stored revokers: %w", rec.Seq, err)
			}
			out.Revocations = append(out.Revocations, rec)
		case "h":
			out.RevocationHead, out.LogSize = i1, uint64(i2)
		case "k":
			if b1 == nil {
				return nil // a sibling not complete yet
			}
			out.Nodes = append(out.Nodes, store.LogNode{ID: compact.NewNodeID(uint(i1), uint64(i2)), Hash: b1})
		default:
			return fmt.Errorf("row tagged %q", tag)
		}
		return nil
	})
	if err != nil {
		return out, q.fail("digest lookup", err)
	}
	return out, nil
}
