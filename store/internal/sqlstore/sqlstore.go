// Package sqlstore holds the SQL that the PostgreSQL and SQLite backends
// share. Both speak the same dialect for trustd's schema (numbered $N
// placeholders, RETURNING, ON CONFLICT), so the queries are written once
// and each backend supplies only its connection, locking and error mapping.
package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// Rows is the subset of a driver's result set the queries use.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// Stmt is one SQL statement with its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Conn runs SQL on a pool or inside a transaction.
type Conn interface {
	Exec(ctx context.Context, sql string, args ...any) error
	// ExecBatch runs stmts in order, in one round trip where the driver can
	// pipeline them.
	ExecBatch(ctx context.Context, stmts []Stmt) error
	// QueryBatch runs queries in order, in one round trip where the driver
	// can pipeline them, and calls scan with each row of query i.
	QueryBatch(ctx context.Context, stmts []Stmt, scan func(i int, r Rows) error) error
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// LogLockStatement is implemented by dialects whose log lock is one
// statement (PostgreSQL: an advisory lock), so an append can send it in
// the same pipeline as its first reads.
type LogLockStatement interface {
	LockLogStmt() Stmt
	// ReadsDoneStmt follows the reads sent with the lock: it undoes what
	// the lock statement set up for them only (PostgreSQL: their planning).
	ReadsDoneStmt() Stmt
}

// GenericPlanner is implemented by dialects that may plan a prepared
// statement anew on every run (PostgreSQL does so when a generic plan's
// estimate exceeds the custom plans', as an insert from arrays of unknown
// length does: 250 µs of planning a batch). The writes between begin and
// end use one cached plan; their shape does not depend on the arguments.
type GenericPlanner interface {
	GenericPlans() (begin, end Stmt)
}

// genericPlans wraps writes in the dialect's GenericPlans, if any.
func (q *Queries) genericPlans(writes []Stmt) []Stmt {
	gp, ok := q.D.(GenericPlanner)
	if !ok || len(writes) == 0 {
		return writes
	}
	begin, end := gp.GenericPlans()
	return append(append([]Stmt{begin}, writes...), end)
}

// TipChecker is implemented by dialects that can take the log lock and
// check the log's tip (store.LogTip) in statements sent after an append's
// writes, with its commit (CommitHolder; PostgreSQL), so
// AppendStatementsAt reads and writes before it holds the lock.
type TipChecker interface {
	// ReadsStmt precedes the reads AppendStatementsAt sends without the
	// lock, as LockLogStmt precedes them with it (ReadsDoneStmt ends
	// them). It also takes the append's own turn, the one an append
	// planned against the tip it leaves waits for (store.LogTip.After).
	ReadsStmt(tip store.LogTip) Stmt
	// LockAndCheckStmts follow the append's writes, in the commit's
	// round trip: they wait for the turn of tip.After, take the log
	// lock, and fail the transaction, with an error MapError maps to
	// ErrConflict, unless tip is the log's tip.
	LockAndCheckStmts(tip store.LogTip) []Stmt
	// BoundWaitsStmt precedes the writes: it bounds every lock wait of
	// the rest of the transaction, which fails past it with an error
	// MapError maps to ErrConflict (the caller retries under the lock).
	// Written before the lock, the append's rows may be what another
	// writer waits for while the append waits for it.
	BoundWaitsStmt() Stmt
}

// NodeInserter is implemented by dialects that store tree nodes with one
// statement that returns nothing and fails on a node stored with another
// hash (PostgreSQL), so PutLogNodes can go with a transaction's other
// writes rather than read back what it inserted.
type NodeInserter interface {
	PutLogNodesStmt(nodes []store.LogNode) Stmt
}

// Dialect is what differs between backends.
type Dialect interface {
	// LockLog serialises log appends until the current transaction ends, so
	// sequence numbers are gapless and in commit order.
	LockLog(ctx context.Context, c Conn) error
	// MapError turns a driver error into one wrapping a store sentinel
	// (ErrNotFound, ErrConflict, ErrUnavailable), keeping the driver's text.
	MapError(err error) error
}

// Mapped reports whether err already carries a store sentinel or a context
// error, so a Dialect's MapError passes it through unchanged.
func Mapped(err error) bool {
	for _, target := range []error{store.ErrNotFound, store.ErrConflict, store.ErrInvalid, store.ErrUnavailable,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Queries implements store.Writer (and so store.Reader) over a Conn. A
// Queries used as a Writer belongs to one transaction and remembers the
// log lock and the next sequence number across appends in it.
type Queries struct {
	C Conn
	D Dialect

	nextSeq int64 // 0 until the log lock is taken in this transaction
	ahead   *votesAhead
}

var _ store.Writer = (*Queries)(nil)

// Now is the clock used for recorded timestamps, truncated to the
// microsecond precision both backends keep.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func (q *Queries) fail(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, q.D.MapError(err))
}

// SubjectByDigest implements store.Reader.
func (q *Queries) SubjectByDigest(ctx context.Context, d digest.Digest) (store.Subject, error) {
	var s store.Subject
	err := q.C.QueryRow(ctx, `SELECT s.id, s.created_at FROM digests d JOIN subjects s ON s.id = d.subject_id
		WHERE d.algorithm = $1 AND d.value = $2`, string(d.Algorithm()), d.Hex()).Scan(&s.ID, &s.CreatedAt)
	if err != nil {
		return store.Subject{}, q.fail("subject by digest "+d.String(), err)
	}
	s.CreatedAt = s.CreatedAt.UTC()
	rows, err := q.C.Query(ctx, `SELECT algorithm, value FROM digests WHERE subject_id = $1 ORDER BY id`, s.ID)
	if err != nil {
		return store.Subject{}, q.fail("subject digests", err)
	}
	s.Digests, err = scanDigests(rows)
	if err != nil {
		return store.Subject{}, q.fail("subject digests", err)
	}
	return s, nil
}

// SubjectView implements store.Reader with one query per part; backends
// where round trips are dear override it.
func (q *Queries) SubjectView(ctx context.Context, d digest.Digest, page store.EvidencePage) (store.SubjectView, error) {
	var (
		v   store.SubjectView
		err error
	)
	if v.Subject, err = q.SubjectByDigest(ctx, d); err != nil {
		return store.SubjectView{}, err
	}
	if v.Claims, err = q.AliasClaims(ctx, store.ClaimQuery{Digests: v.Subject.Digests, Limit: page.Claims}); err != nil {
		return store.SubjectView{}, err
	}
	where, args := digestIn("algorithm", "value", v.Subject.Digests, 0)
	if err := q.C.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT DISTINCT seq, subject_index FROM statement_subjects WHERE aliased AND `+where+`) n`,
		args...).Scan(&v.ClaimCount); err != nil {
		return store.SubjectView{}, q.fail("count alias claims", err)
	}
	for _, c := range v.Claims {
		if c.Source != store.ClaimStatement {
			v.ClaimCount++
		}
	}
	all := slices.Clone(v.Subject.Digests)
	for _, c := range v.Claims {
		all = append(all, c.Digests...)
	}
	if v.Evidence, err = q.Evidence(ctx, store.EvidenceQuery{Digests: uniqueDigests(all), BeforeSeq: page.BeforeSeq, Limit: page.Limit}); err != nil {
		return store.SubjectView{}, err
	}
	return v, nil
}

// AliasClaims implements store.Reader: the claims stored by AddAliasClaim
// and those of the statements in the log that cq selects, read in one
// round trip where the driver pipelines, in ClaimOrder.
func (q *Queries) AliasClaims(ctx context.Context, cq store.ClaimQuery) ([]store.AliasClaim, error) {
	if len(cq.Digests) == 0 {
		return nil, nil
	}
	where, args := digestIn("algorithm", "value", cq.Digests, 0)
	sel, selArgs := claimSubjects(cq)
	var (
		claims   []store.AliasClaim
		subjects subjectClaims
	)
	err := q.C.QueryBatch(ctx, []Stmt{
		{claimColumns + ` WHERE c.id IN (SELECT claim_id FROM alias_claim_digests WHERE ` + where + `) ORDER BY c.id`, args},
		{subjectClaimsSQL + sel + `) ORDER BY ss.seq, ss.subject_index`, selArgs},
	}, func(i int, r Rows) error {
		if i == 1 {
			return subjects.scan(r)
		}
		c, err := scanClaim(r)
		claims = append(claims, c)
		return err
	})
	if err == nil {
		err = subjects.flush()
	}
	if err != nil {
		return nil, q.fail("alias claims", err)
	}
	for i := range claims {
		if claims[i].Digests, err = q.claimDigests(ctx, claims[i].ID); err != nil {
			return nil, err
		}
	}
	claims = append(claims, subjects.claims...)
	slices.SortFunc(claims, ClaimOrder)
	return claims, nil
}

// subjectClaimsSQL, completed by a selection of (seq, subject_index)
// pairs (claimSubjects) and ")", selects the rows of the logged
// statements' subjects it names, one row a digest. A subject listing
// several digests is the statement's alias claim (source ClaimStatement,
// reference "SEQ/INDEX"), so nothing of it is stored twice: its rows are
// marked aliased, and a partial index on the marked rows finds them
// without reading the many single-digest subjects (votes, mostly) a
// popular digest has.
const subjectClaimsSQL = `SELECT ss.seq, ss.subject_index, ss.algorithm, ss.value, st.signer_key_ids, st.recorded_at, st.payload_type, st.predicate_type
	FROM statement_subjects ss JOIN statements st ON st.seq = ss.seq
	WHERE ss.aliased AND (ss.seq, ss.subject_index) IN (`

// claimSubjects selects the statement claims cq asks for: a query of
// (seq, subject_index) pairs and its arguments. Each digest is read on
// its own through the partial index, which orders a digest's claims
// publications first, then oldest, so a limit or a filter reads what it
// returns and not the claims it leaves out; the signers' claims are
// found from the signers' side (statement_signers is keyed by signer).
func claimSubjects(cq store.ClaimQuery) (string, []any) {
	var (
		parts []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// Reading in the index's order also keeps a planner that has no
	// statistics yet on the partial index.
	order, limit := " ORDER BY ss.published DESC, ss.seq", ""
	if cq.Limit > 0 {
		limit = " LIMIT " + arg(cq.Limit)
	}
	filtered := cq.Publications || len(cq.SignedBy) > 0
	for _, d := range cq.Digests {
		match := "ss.aliased AND ss.algorithm = " + arg(string(d.Algorithm())) + " AND ss.value = " + arg(d.Hex())
		var sources []string
		switch {
		case !filtered:
			sources = append(sources, "statement_subjects ss WHERE "+match)
		case cq.Publications:
			sources = append(sources, "statement_subjects ss WHERE "+match+" AND ss.published = TRUE")
		}
		if len(cq.SignedBy) > 0 {
			keys := make([]string, len(cq.SignedBy))
			for i, k := range cq.SignedBy {
				keys[i] = arg(k)
			}
			// CROSS JOIN: SQLite, which keeps no statistics here, joins
			// in the order written, from the keys' entries.
			sources = append(sources, "statement_signers sg CROSS JOIN statement_subjects ss WHERE ss.seq = sg.seq AND sg.key_id IN ("+
				strings.Join(keys, ", ")+") AND "+match)
		}
		for _, src := range sources {
			parts = append(parts, fmt.Sprintf("SELECT * FROM (SELECT ss.seq, ss.subject_index, ss.published FROM %s%s%s) p%d",
				src, order, limit, len(parts)))
		}
	}
	union := strings.Join(parts, " UNION ALL ")
	if cq.Limit == 0 {
		return "SELECT seq, subject_index FROM (" + union + ") u", args
	}
	return "SELECT seq, subject_index FROM (SELECT DISTINCT seq, subject_index, published FROM (" + union +
		") u ORDER BY published DESC, seq LIMIT " + arg(cq.Limit) + ") l", args
}

// subjectClaims builds the claims of subjectClaimsSQL's rows, which come
// a subject's rows in a run.
type subjectClaims struct {
	claims  []store.AliasClaim
	last    ClaimEntry
	digests []digest.Digest
}

func (sc *subjectClaims) scan(r Rows) error {
	var (
		e          ClaimEntry
		alg, value string
	)
	if err := r.Scan(&e.Seq, &e.Index, &alg, &value, &e.Signers, &e.RecordedAt, &e.PayloadType, &e.PredicateType); err != nil {
		return err
	}
	if e.Seq != sc.last.Seq || e.Index != sc.last.Index {
		if err := sc.flush(); err != nil {
			return err
		}
		sc.last = e
	}
	d, err := digest.Parse(alg + ":" + value)
	if err != nil {
		return fmt.Errorf("stored digest: %w", err)
	}
	sc.digests = append(sc.digests, d)
	return nil
}

// flush ends the run of the last subject read.
func (sc *subjectClaims) flush() error {
	if len(sc.digests) == 0 {
		return nil
	}
	c, err := StatementClaim(sc.last, sc.digests)
	sc.claims, sc.digests = append(sc.claims, c), nil
	return err
}

// ClaimEntry is what a statement's alias claim takes from its log entry:
// the subject's place in it and the entry's columns.
type ClaimEntry struct {
	Seq                        int64
	Index                      int
	Signers                    string // the signer_key_ids column, JSON
	RecordedAt                 time.Time
	PayloadType, PredicateType string
}

// StatementClaim is the alias claim of subject e.Index of log entry e.Seq,
// which lists digests: the same claim, digests in canonical order, from
// either backend's query.
func StatementClaim(e ClaimEntry, digests []digest.Digest) (store.AliasClaim, error) {
	c := store.AliasClaim{Source: store.ClaimStatement, Reference: fmt.Sprintf("%d/%d", e.Seq, e.Index), StatementSeq: e.Seq,
		Digests: sortedDigests(digests), ClaimedAt: e.RecordedAt.UTC(), PayloadType: e.PayloadType, PredicateType: e.PredicateType}
	if err := json.Unmarshal([]byte(e.Signers), &c.SignerKeyIDs); err != nil {
		return c, fmt.Errorf("stored signers of log entry %d: %w", e.Seq, err)
	}
	return c, nil
}

// ClaimOrder orders alias claims by when they were made: claimed time,
// then source, log entry, stored id, and reference (shorter first, so a
// statement's subject 2 comes before its subject 10).
func ClaimOrder(a, b store.AliasClaim) int {
	return cmp.Or(a.ClaimedAt.Compare(b.ClaimedAt), cmp.Compare(a.Source, b.Source), cmp.Compare(a.StatementSeq, b.StatementSeq),
		cmp.Compare(a.ID, b.ID), cmp.Compare(len(a.Reference), len(b.Reference)), cmp.Compare(a.Reference, b.Reference))
}

const claimColumns = `SELECT c.id, c.source, c.reference, COALESCE(c.statement_seq, 0), c.signer_key_ids, c.claimed_at,
	COALESCE(st.payload_type, ''), COALESCE(st.predicate_type, '') FROM alias_claims c LEFT JOIN statements st ON st.seq = c.statement_seq`

func scanClaim(r Row) (store.AliasClaim, error) {
	var (
		c            store.AliasClaim
		src, signers string
	)
	if err := r.Scan(&c.ID, &src, &c.Reference, &c.StatementSeq, &signers, &c.ClaimedAt, &c.PayloadType, &c.PredicateType); err != nil {
		return c, err
	}
	c.Source, c.ClaimedAt = store.ClaimSource(src), c.ClaimedAt.UTC()
	if err := json.Unmarshal([]byte(signers), &c.SignerKeyIDs); err != nil {
		return c, fmt.Errorf("stored signers of alias claim %d: %w", c.ID, err)
	}
	return c, nil
}

func (q *Queries) claimDigests(ctx context.Context, id int64) ([]digest.Digest, error) {
	rows, err := q.C.Query(ctx, `SELECT algorithm, value FROM alias_claim_digests WHERE claim_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, q.fail("alias claim digests", err)
	}
	ds, err := scanDigests(rows)
	if err != nil {
		return nil, q.fail("alias claim digests", err)
	}
	return ds, nil
}

// Key implements store.Reader.
func (q *Queries) Key(ctx context.Context, id string) (store.Key, error) {
	var k store.Key
	err := q.C.QueryRow(ctx, `SELECT id, type, public_key, label, created_at FROM keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Type, &k.PublicKey, &k.Label, &k.CreatedAt)
	if err != nil {
		return store.Key{}, q.fail(fmt.Sprintf("key %q", id), err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// KeyByLabel implements store.Reader; the unique index on lower(label)
// answers it.
func (q *Queries) KeyByLabel(ctx context.Context, label string) (store.Key, error) {
	if label == "" {
		return store.Key{}, fmt.Errorf("store: key by label: %w: no key has the empty label", store.ErrNotFound)
	}
	var k store.Key
	err := q.C.QueryRow(ctx, `SELECT id, type, public_key, label, created_at FROM keys WHERE lower(label) = lower($1) AND label <> ''`, label).
		Scan(&k.ID, &k.Type, &k.PublicKey, &k.Label, &k.CreatedAt)
	if err != nil {
		return store.Key{}, q.fail(fmt.Sprintf("key by label %q", label), err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// Statement implements store.Reader.
func (q *Queries) Statement(ctx context.Context, seq int64) (store.Statement, error) {
	var (
		s       store.Statement
		env     string
		signers string
	)
	err := q.C.QueryRow(ctx, `SELECT seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at
		FROM statements WHERE seq = $1`, seq).
		Scan(&s.Seq, &env, &s.PayloadType, &s.PredicateType, &s.Envelope, &s.Payload, &signers, &s.RecordedAt)
	if err != nil {
		return store.Statement{}, q.fail(fmt.Sprintf("statement %d", seq), err)
	}
	s.RecordedAt = s.RecordedAt.UTC()
	if s.EnvelopeDigest, err = digest.Parse(env); err != nil {
		return store.Statement{}, fmt.Errorf("store: statement %d: stored envelope digest: %w", seq, err)
	}
	if err := json.Unmarshal([]byte(signers), &s.SignerKeyIDs); err != nil {
		return store.Statement{}, fmt.Errorf("store: statement %d: stored signers: %w", seq, err)
	}
	rows, err := q.C.Query(ctx, `SELECT subject_index, name, algorithm, value FROM statement_subjects WHERE seq = $1
		ORDER BY subject_index, algorithm`, seq)
	if err != nil {
		return store.Statement{}, q.fail("statement subjects", err)
	}
	err = scanAll(rows, func(r Rows) error {
		var (
			idx              int
			name, alg, value string
		)
		if err := r.Scan(&idx, &name, &alg, &value); err != nil {
			return err
		}
		d, err := digest.Parse(alg + ":" + value)
		if err != nil {
			return fmt.Errorf("stored digest: %w", err)
		}
		for len(s.Subjects) <= idx {
			s.Subjects = append(s.Subjects, store.StatementSubject{})
		}
		s.Subjects[idx].Name = name
		s.Subjects[idx].Digests = append(s.Subjects[idx].Digests, d)
		return nil
	})
	if err != nil {
		return store.Statement{}, q.fail("statement subjects", err)
	}
	return s, nil
}

// SignerFirstJoin is implemented by dialects whose planner would
// otherwise choose the join order of a read of one signer's entries
// naming some digests (PostgreSQL): the FROM clause it returns walks the
// signer's entries (statement_signers sg) and probes each for its
// subjects (ss) and statement (s), in that order.
type SignerFirstJoin interface {
	SignerFirstJoin() string
}

// Evidence implements store.Reader.
func (q *Queries) Evidence(ctx context.Context, eq store.EvidenceQuery) ([]store.Evidence, error) {
	if len(eq.Digests) == 0 || eq.Limit <= 0 {
		return nil, nil
	}
	args := []any{eq.Limit}
	var cond []string
	if eq.PredicateType != "" {
		args = append(args, eq.PredicateType)
		cond = append(cond, fmt.Sprintf("s.predicate_type = $%d", len(args)))
	}
	// One signer's entries are read from that signer's side: the key's
	// entries in order, each probed for the digests. From the digests'
	// side the read would walk every entry naming them, and anyone may
	// log any number of those; the key's own entries are only its own.
	// The join order is fixed, statistics or not: CROSS JOIN on SQLite,
	// a LATERAL subquery where the dialect has one (SignerFirstJoin).
	from, seqCol := `statement_subjects ss JOIN statements s ON s.seq = ss.seq`, "ss.seq"
	if eq.SignerKeyID != "" {
		args = append(args, eq.SignerKeyID)
		cond = append(cond, fmt.Sprintf("sg.key_id = $%d AND ss.seq = sg.seq", len(args)))
		from, seqCol = `statement_signers sg CROSS JOIN statement_subjects ss JOIN statements s ON s.seq = ss.seq`, "sg.seq"
		if j, ok := q.D.(SignerFirstJoin); ok {
			from = j.SignerFirstJoin()
		}
	}
	if eq.BeforeSeq > 0 {
		args = append(args, eq.BeforeSeq)
		cond = append(cond, fmt.Sprintf("%s < $%d", seqCol, len(args)))
	}
	if eq.AfterSeq > 0 {
		args = append(args, eq.AfterSeq)
		cond = append(cond, fmt.Sprintf("%s > $%d", seqCol, len(args)))
	}
	order := "DESC"
	if eq.OldestFirst {
		order = "ASC"
	}
	const cols = `s.seq, s.payload_type, s.predicate_type, s.signer_key_ids, ss.algorithm, ss.value, s.recorded_at`
	var sql string
	if eq.SignerKeyID != "" {
		where, dargs := digestIn("ss.algorithm", "ss.value", eq.Digests, len(args))
		args = append(args, dargs...)
		sql = `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + strings.Join(append(cond, where), " AND ") +
			` ORDER BY ` + seqCol + ` ` + order + `, ss.algorithm, ss.value LIMIT $1`
	} else {
		// A read per digest, each in its index's order and limited, then
		// merged: with the digests as one IN list, SQLite sorted every
		// entry naming them (20,000 of a stranger's: 40-70 ms) to keep
		// the first Limit.
		ds := uniqueDigests(eq.Digests)
		arms := make([]string, len(ds))
		for i, d := range ds {
			args = append(args, string(d.Algorithm()), d.Hex())
			where := fmt.Sprintf("ss.algorithm = $%d AND ss.value = $%d", len(args)-1, len(args))
			arms[i] = `SELECT * FROM (SELECT ` + cols + ` FROM ` + from + ` WHERE ` + strings.Join(append(slices.Clone(cond), where), " AND ") +
				` ORDER BY ss.seq ` + order + ` LIMIT $1) d` + strconv.Itoa(i)
		}
		sql = `SELECT * FROM (` + strings.Join(arms, " UNION ALL ") + `) e ORDER BY seq ` + order + `, algorithm, value LIMIT $1`
	}
	rows, err := q.C.Query(ctx, sql, args...)
	if err != nil {
		return nil, q.fail("evidence", err)
	}
	var out []store.Evidence
	err = scanAll(rows, func(r Rows) error {
		var (
			e          store.Evidence
			signers    string
			alg, value string
		)
		if err := r.Scan(&e.Seq, &e.PayloadType, &e.PredicateType, &signers, &alg, &value, &e.RecordedAt); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(signers), &e.SignerKeyIDs); err != nil {
			return fmt.Errorf("stored signers of statement %d: %w", e.Seq, err)
		}
		d, err := digest.Parse(alg + ":" + value)
		if err != nil {
			return fmt.Errorf("stored digest of statement %d: %w", e.Seq, err)
		}
		e.Digest, e.RecordedAt = d, e.RecordedAt.UTC()
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, q.fail("evidence", err)
	}
	return out, nil
}

// KeyCount implements store.Reader.
func (q *Queries) KeyCount(ctx context.Context, keyType string) (int64, error) {
	var n int64
	if err := q.C.QueryRow(ctx, `SELECT COUNT(*) FROM keys WHERE type = $1`, keyType).Scan(&n); err != nil {
		return 0, q.fail("count keys", err)
	}
	return n, nil
}

// Keys implements store.Reader.
func (q *Queries) Keys(ctx context.Context, after string, limit int) ([]store.Key, error) {
	rows, err := q.C.Query(ctx, `SELECT id, type, public_key, label, created_at FROM keys WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, q.fail("list keys", err)
	}
	var keys []store.Key
	err = scanAll(rows, func(r Rows) error {
		var k store.Key
		err := r.Scan(&k.ID, &k.Type, &k.PublicKey, &k.Label, &k.CreatedAt)
		k.CreatedAt = k.CreatedAt.UTC()
		keys = append(keys, k)
		return err
	})
	if err != nil {
		return nil, q.fail("list keys", err)
	}
	return keys, nil
}

// LogSize implements store.Reader.
func (q *Queries) LogSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := q.C.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM statements`).Scan(&n); err != nil {
		return 0, q.fail("log size", err)
	}
	return uint64(n), nil
}

// LogNodes implements store.Reader.
func (q *Queries) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// By default one primary-key lookup per node, joined with UNION ALL:
	// each branch is an index point read, where a long OR list makes SQLite
	// scan. Chunks stay under SQLite's compound SELECT limit (500); a proof
	// needs at most 64 nodes, so it is one query. A dialect may bring its
	// own query (PostgreSQL: arrays, one statement text for any count).
	const chunk = 200
	found := make(map[compact.NodeID][]byte, len(ids))
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		var (
			query string
			args  []any
		)
		if nq, ok := q.D.(NodeQuerier); ok {
			query, args = nq.LogNodesQuery(part)
		} else {
			query, args = unionNodeQuery(part)
		}
		rows, err := q.C.Query(ctx, query, args...)
		if err != nil {
			return nil, q.fail("log nodes", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var (
				level, idx int64
				hash       []byte
			)
			err := r.Scan(&level, &idx, &hash)
			found[compact.NewNodeID(uint(level), uint64(idx))] = hash
			return err
		})
		if err != nil {
			return nil, q.fail("log nodes", err)
		}
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("store: log node level %d index %d: %w", id.Level, id.Index, store.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// DigestLister is implemented by dialects that bind any number of digests
// as one list (PostgreSQL: two arrays), so a query over them has one
// statement text, and plan, where the default spells out a row-value list
// whose text changes with its length.
type DigestLister interface {
	// DigestList returns a FROM item w (algorithm, value) of ds, bound
	// from parameter number first on, and its arguments.
	DigestList(first int, ds []digest.Digest) (from string, args []any)
}

// perDigest joins each digest of a DigestList to the rows sel selects
// from table where algorithm and value are the digest's (w.algorithm,
// w.value): a lateral subquery that OFFSET 0 keeps from being pulled up
// into a join, so each digest is an index probe whatever the plan (a
// pulled-up join hashed the whole digests table to look up a batch's).
func perDigest(list, sel, table, cond string) string {
	if cond != "" {
		cond = " AND " + cond
	}
	return ` FROM ` + list + ` CROSS JOIN LATERAL (SELECT ` + sel + ` FROM ` + table +
		` WHERE algorithm = w.algorithm AND value = w.value` + cond + ` OFFSET 0) x`
}

// NodeQuerier is implemented by dialects with a better way to read a set of
// log nodes than unionNodeQuery. The query selects level, idx and hash.
type NodeQuerier interface {
	LogNodesQuery(ids []compact.NodeID) (string, []any)
}

func unionNodeQuery(ids []compact.NodeID) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT level, idx, hash FROM log_nodes WHERE level = $%d AND idx = $%d", 2*i+1, 2*i+2)
		args = append(args, int64(id.Level), int64(id.Index))
	}
	return b.String(), args
}

// PutLogNodes implements store.Writer. Inserting reports which nodes were
// new; only the others (none, when appends are serialised) are read back
// and compared.
func (q *Queries) PutLogNodes(ctx context.Context, nodes []store.LogNode) error {
	for _, n := range nodes {
		if len(n.Hash) == 0 {
			return fmt.Errorf("store: log node level %d index %d: %w: empty hash", n.ID.Level, n.ID.Index, store.ErrInvalid)
		}
	}
	if ni, ok := q.D.(NodeInserter); ok {
		if len(nodes) == 0 {
			return nil
		}
		if err := q.C.ExecBatch(ctx, []Stmt{ni.PutLogNodesStmt(nodes)}); err != nil {
			return q.fail("put log nodes", err)
		}
		return nil
	}
	r := rows{head: `INSERT INTO log_nodes (level, idx, hash) VALUES `, row: "(?, ?, ?)",
		table: "log_nodes", cols: []string{"level", "idx", "hash"}, types: []string{"integer", "bigint", "bytea"}}
	for _, n := range nodes {
		r.add(int64(n.ID.Level), int64(n.ID.Index), n.Hash)
	}
	inserted := make(map[compact.NodeID]bool, len(nodes))
	for _, st := range q.inserts(&r) {
		rs, err := q.C.Query(ctx, st.SQL+` ON CONFLICT (level, idx) DO NOTHING RETURNING level, idx`, st.Args...)
		if err != nil {
			return q.fail("put log nodes", err)
		}
		err = scanAll(rs, func(r Rows) error {
			var level, idx int64
			err := r.Scan(&level, &idx)
			inserted[compact.NewNodeID(uint(level), uint64(idx))] = true
			return err
		})
		if err != nil {
			return q.fail("put log nodes", err)
		}
	}
	var existing []store.LogNode
	for _, n := range nodes {
		if !inserted[n.ID] {
			existing = append(existing, n)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	ids := make([]compact.NodeID, len(existing))
	for i, n := range existing {
		ids[i] = n.ID
	}
	stored, err := q.LogNodes(ctx, ids)
	if err != nil {
		return err
	}
	for i, n := range existing {
		if string(stored[i]) != string(n.Hash) {
			return fmt.Errorf("store: log node level %d index %d: %w: stored with another hash", n.ID.Level, n.ID.Index, store.ErrConflict)
		}
	}
	return nil
}

// PutKey implements store.Writer.
func (q *Queries) PutKey(ctx context.Context, k store.Key) (store.Key, error) {
	if k.ID == "" || k.Type == "" || len(k.PublicKey) == 0 {
		return store.Key{}, fmt.Errorf("store: put key: %w: id, type and public key are required", store.ErrInvalid)
	}
	existing, err := q.Key(ctx, k.ID)
	switch {
	case err == nil:
		if existing.Type != k.Type || string(existing.PublicKey) != string(k.PublicKey) {
			return store.Key{}, fmt.Errorf("store: put key %q: %w: another key is registered under this id", k.ID, store.ErrConflict)
		}
		return existing, nil
	case !errors.Is(err, store.ErrNotFound):
		return store.Key{}, err
	}
	if k.Label != "" {
		holder, err := q.KeyByLabel(ctx, k.Label)
		switch {
		case err == nil:
			return store.Key{}, fmt.Errorf("store: put key %q: %w: label %q is the label of key %s", k.ID, store.ErrConflict, k.Label, holder.ID)
		case !errors.Is(err, store.ErrNotFound):
			return store.Key{}, err
		}
	}
	k.CreatedAt = Now()
	if err := q.C.Exec(ctx, `INSERT INTO keys (id, type, public_key, label, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Type, k.PublicKey, k.Label, k.CreatedAt); err != nil {
		return store.Key{}, q.fail(fmt.Sprintf("put key %q", k.ID), err)
	}
	return k, nil
}

// ReplaceKeyMaterial implements store.Writer.
func (q *Queries) ReplaceKeyMaterial(ctx context.Context, id string, prev, next []byte) error {
	if id == "" || len(next) == 0 {
		return fmt.Errorf("store: replace key %q: %w: id and public key are required", id, store.ErrInvalid)
	}
	if _, err := q.Key(ctx, id); err != nil {
		return err
	}
	// The condition on the old bytes makes it a compare-and-swap even
	// when two transactions read the same key (PostgreSQL re-checks it
	// on the locked row).
	var got string
	err := q.C.QueryRow(ctx, `UPDATE keys SET public_key = $1 WHERE id = $2 AND public_key = $3 RETURNING id`, next, id, prev).Scan(&got)
	if errors.Is(q.fail("", err), store.ErrNotFound) {
		return fmt.Errorf("store: replace key %q: %w: the stored key changed meanwhile", id, store.ErrConflict)
	}
	if err != nil {
		return q.fail(fmt.Sprintf("replace key %q", id), err)
	}
	return nil
}

// AppendStatement implements store.Writer.
func (q *Queries) AppendStatement(ctx context.Context, s store.Statement) (store.Statement, bool, error) {
	out, created, err := q.AppendStatements(ctx, []store.Statement{s})
	if err != nil {
		return store.Statement{}, false, err
	}
	return out[0], created[0], nil
}

// normalize checks s and returns its subjects with digests deduplicated
// and in canonical order.
func normalize(i int, s store.Statement) ([]store.StatementSubject, error) {
	if s.EnvelopeDigest.IsZero() || len(s.Envelope) == 0 || s.PayloadType == "" {
		return nil, fmt.Errorf("store: append statement %d: %w: envelope, its digest and payload type are required", i, store.ErrInvalid)
	}
	subjects := make([]store.StatementSubject, len(s.Subjects))
	for j, subj := range s.Subjects {
		subjects[j] = store.StatementSubject{Name: subj.Name, Digests: sortedDigests(subj.Digests)}
		ds := subjects[j].Digests
		if len(ds) == 0 {
			return nil, fmt.Errorf("store: append statement %d: %w: subject %d has no digest", i, store.ErrInvalid, j)
		}
		for k := 1; k < len(ds); k++ {
			if ds[k].Algorithm() == ds[k-1].Algorithm() {
				return nil, fmt.Errorf("store: append statement %d: %w: subject %d has two %s digests", i, store.ErrInvalid, j, ds[k].Algorithm())
			}
		}
	}
	return subjects, nil
}

// AppendStatements implements store.Writer. Its cost in round trips does
// not grow with len(sts): one lookup of known envelopes, one of known
// digests, one insert of new subjects and one pipelined batch of inserts.
func (q *Queries) AppendStatements(ctx context.Context, sts []store.Statement) ([]store.Statement, []bool, error) {
	return q.appendStatements(ctx, sts, nil)
}

// AppendStatementsAt implements store.Writer. It must be the first append
// of its transaction.
func (q *Queries) AppendStatementsAt(ctx context.Context, sts []store.Statement, tip store.LogTip) ([]store.Statement, []bool, error) {
	if q.nextSeq != 0 {
		return nil, nil, fmt.Errorf("store: append at tip %d: %w: the transaction has appended already", tip.Next, store.ErrInvalid)
	}
	if tip.Next < 1 {
		return nil, nil, fmt.Errorf("store: append at tip %d: %w: sequence numbers start at 1", tip.Next, store.ErrInvalid)
	}
	return q.appendStatements(ctx, sts, &tip)
}

// appendStatements appends sts; at tip, when not nil (AppendStatementsAt).
func (q *Queries) appendStatements(ctx context.Context, sts []store.Statement, tip *store.LogTip) ([]store.Statement, []bool, error) {
	out := make([]store.Statement, len(sts))
	created := make([]bool, len(sts))
	for i, s := range sts {
		subjects, err := normalize(i, s)
		if err != nil {
			return nil, nil, err
		}
		out[i] = s
		out[i].Subjects, out[i].SignerKeyIDs = subjects, nonNil(s.SignerKeyIDs)
	}
	tc, lockWithWrites := q.D.(TipChecker)
	holder, holds := q.C.(CommitHolder)
	lockWithWrites = lockWithWrites && holds && tip != nil

	// One pipelined round trip where the driver can: take the log lock
	// (first append of the transaction; also when every envelope turns
	// out to be known, which costs nothing but the lock), read the next
	// sequence number, the envelopes already in the log, the subjects
	// of the digests already recorded and the votes read ahead
	// (ReadVotesAhead). The reads follow the lock, so they see every
	// append committed before it. At a tip the dialect checks with the
	// writes, the lock waits for those instead.
	const (
		kindLock = iota
		kindNext
		kindEnvelopes
		kindDigests
		kindVotes
		kindSigned
	)
	var (
		stmts []Stmt
		kinds []int
	)
	ls, lockStmt := q.D.(LogLockStatement)
	switch {
	case lockWithWrites:
		stmts, kinds = append(stmts, tc.ReadsStmt(*tip)), append(kinds, kindLock)
	case q.nextSeq == 0:
		if lockStmt {
			stmts, kinds = append(stmts, ls.LockLogStmt()), append(kinds, kindLock)
		} else if err := q.D.LockLog(ctx, q.C); err != nil {
			return nil, nil, q.fail("lock log", err)
		}
		stmts, kinds = append(stmts, Stmt{SQL: `SELECT COALESCE(MAX(seq), 0) + 1 FROM statements`}), append(kinds, kindNext)
	}
	envs := make([]string, len(sts))
	for i, s := range sts {
		envs[i] = s.EnvelopeDigest.String()
	}
	for start := 0; start < len(envs); {
		// One statement text for any batch size where the dialect binds
		// lists (PostgreSQL: text[]), so it is planned once per session.
		cond, args, n := q.textIn("envelope_digest", 0, envs[start:])
		start += n
		stmts, kinds = append(stmts, Stmt{`SELECT seq, envelope_digest FROM statements WHERE ` + cond, args}), append(kinds, kindEnvelopes)
	}
	var signed []string
	for _, s := range sts {
		if !s.SignedDigest.IsZero() {
			signed = append(signed, s.SignedDigest.String())
		}
	}
	for start := 0; start < len(signed); {
		cond, args, n := q.textIn("signed_digest", 0, signed[start:])
		start += n
		stmts, kinds = append(stmts, Stmt{`SELECT seq, key_id, signed_digest FROM statement_signers WHERE ` + cond, args}), append(kinds, kindSigned)
	}
	var all []digest.Digest
	for i := range out {
		for _, subj := range out[i].Subjects {
			all = append(all, subj.Digests...)
		}
	}
	for _, st := range q.digestSubjectStmts(all) {
		stmts, kinds = append(stmts, st), append(kinds, kindDigests)
	}
	ahead := q.ahead
	if ahead != nil && !ahead.read {
		for _, st := range q.votesStmts(ahead.query, ahead.by) {
			stmts, kinds = append(stmts, st), append(kinds, kindVotes)
		}
	}
	if lockStmt && len(kinds) > 0 && kinds[0] == kindLock {
		stmts, kinds = append(stmts, ls.ReadsDoneStmt()), append(kinds, kindLock)
	}
	var (
		next     int64
		seen     = map[string]int64{}
		signedBy = signings{}
		known    = make(map[digest.Digest]int64, len(all))
	)
	err := q.C.QueryBatch(ctx, stmts, func(i int, r Rows) error {
		switch kinds[i] {
		case kindNext:
			return r.Scan(&next)
		case kindEnvelopes:
			var (
				seq int64
				env string
			)
			err := r.Scan(&seq, &env)
			seen[env] = seq
			return err
		case kindSigned:
			var (
				seq         int64
				key, signed string
			)
			err := r.Scan(&seq, &key, &signed)
			signedBy[signing{signed, key}] = seq
			return err
		case kindDigests:
			return scanDigestSubject(r, known)
		case kindVotes:
			v, err := scanVote(r)
			ahead.rows = append(ahead.rows, v)
			return err
		}
		return nil // the lock's void, the end of the reads
	})
	if err != nil {
		return nil, nil, q.fail("append: lock and known envelopes and digests", err)
	}
	if next != 0 {
		q.nextSeq = next
	}
	if ahead != nil {
		ahead.read = true
	}
	var lockAndCheck []Stmt
	switch {
	case lockWithWrites:
		q.nextSeq, lockAndCheck = tip.Next, tc.LockAndCheckStmts(*tip)
	case tip != nil:
		if err := q.checkTip(ctx, *tip); err != nil {
			return nil, nil, err
		}
	}

	// Envelopes already in the log, or earlier in this call, are not
	// appended again, nor are payloads their signers logged already.
	var fresh []int       // indexes of statements to append
	dups := map[int]int{} // later copy -> first index of the same envelope
	firstIn := map[string]int{}
	signedIn := signings{} // by statements of this call: their index
	for i := range out {
		env := out[i].EnvelopeDigest.String()
		seq, ok := seen[env]
		if !ok {
			if seq, err = signedBy.logged(i, out[i], inLog); err != nil {
				return nil, nil, err
			}
		}
		if seq != 0 {
			if out[i], err = q.Statement(ctx, seq); err != nil {
				return nil, nil, err
			}
			continue
		}
		j, ok := firstIn[env]
		if !ok {
			at, err := signedIn.logged(i, out[i], inAppend)
			if err != nil {
				return nil, nil, err
			}
			j, ok = int(at)-1, at != 0
		}
		if ok {
			dups[i] = j
			continue
		}
		firstIn[env] = i
		signedIn.add(out[i], int64(i+1))
		fresh = append(fresh, i)
	}
	if len(fresh) == 0 {
		return out, created, nil
	}
	w := newWrites()
	if lockWithWrites {
		if err := q.C.ExecBatch(ctx, []Stmt{tc.BoundWaitsStmt()}); err != nil {
			return nil, nil, q.fail("append statements", err)
		}
		holder.HoldForCommit(lockAndCheck)
	}
	now := Now()
	for _, i := range fresh {
		s := &out[i]
		s.Seq, s.RecordedAt = q.nextSeq, now
		q.nextSeq++
		created[i] = true
		signers, err := json.Marshal(s.SignerKeyIDs)
		if err != nil {
			return nil, nil, fmt.Errorf("store: append statement: %w", err)
		}
		w.statements.add(s.Seq, s.EnvelopeDigest.String(), s.PayloadType, s.PredicateType, s.Envelope, nonNilBytes(s.Payload), string(signers), s.RecordedAt)
		var signed any
		if !s.SignedDigest.IsZero() {
			signed = s.SignedDigest.String()
		}
		for _, k := range uniqueStrings(s.SignerKeyIDs) {
			w.signers.add(s.Seq, k, signed)
		}
		for j, subj := range s.Subjects {
			w.place(subj.Digests, known)
			aliased := len(subj.Digests) > 1
			for _, d := range subj.Digests {
				w.subjects.add(s.Seq, j, subj.Name, string(d.Algorithm()), d.Hex(), aliased, aliased && s.Publication)
			}
		}
	}
	if err := w.flush(ctx, q); err != nil {
		q.nextSeq = 0
		return nil, nil, q.fail("append statements", err)
	}
	for i, j := range dups {
		out[i] = out[j]
	}
	return out, created, nil
}

// signing is one signer's signature on one signed payload: its
// store.Statement.SignedDigest and the signer's key id.
type signing struct{ signed, key string }

// signings maps signings to where they were logged: a sequence number,
// or (within one append) a statement's index + 1.
type signings map[signing]int64

// add records s's signings as made at at.
func (m signings) add(s store.Statement, at int64) {
	if s.SignedDigest.IsZero() {
		return
	}
	for _, k := range s.SignerKeyIDs {
		m[signing{s.SignedDigest.String(), k}] = at
	}
}

// logged returns where every signer of s (statement i of an append)
// logged its signed payload, the same place for all, or 0 when none of
// them did; ErrSignedBefore when some did, elsewhere or not all of them.
// place names a place for the error.
func (m signings) logged(i int, s store.Statement, place func(int64) string) (int64, error) {
	if s.SignedDigest.IsZero() {
		return 0, nil
	}
	var (
		at      int64
		missing string
	)
	for _, k := range s.SignerKeyIDs {
		where, ok := m[signing{s.SignedDigest.String(), k}]
		switch {
		case !ok:
			missing = k
		case at == 0:
			at = where
		case where != at:
			return 0, fmt.Errorf("store: append statement %d: signatures: %w: its signers logged this payload apart (%s in %s, another in %s)",
				i, store.ErrSignedBefore, k, place(where), place(at))
		}
	}
	switch {
	case at == 0:
		return 0, nil
	case missing != "":
		return 0, fmt.Errorf("store: append statement %d: signatures: %w: another of its signers logged this payload without %s, in %s; each signer's payload is logged once, so a new signature goes in an envelope of its own",
			i, store.ErrSignedBefore, missing, place(at))
	}
	return at, nil
}

func inLog(seq int64) string { return fmt.Sprintf("log entry %d", seq) }

func inAppend(at int64) string { return fmt.Sprintf("statement %d of this append", at-1) }

// checkTip fails with ErrConflict unless tip is the log's tip; the log
// lock is held and q.nextSeq read.
func (q *Queries) checkTip(ctx context.Context, tip store.LogTip) error {
	moved := fmt.Errorf("store: append at tip %d: %w: the log moved since the append was planned", tip.Next, store.ErrConflict)
	if q.nextSeq != tip.Next {
		return moved
	}
	ids := make([]compact.NodeID, len(tip.Edge))
	for i, n := range tip.Edge {
		ids[i] = n.ID
	}
	if len(ids) == 0 {
		return nil
	}
	stored, err := q.LogNodes(ctx, ids)
	if errors.Is(err, store.ErrNotFound) {
		return moved
	}
	if err != nil {
		return err
	}
	for i, n := range tip.Edge {
		if string(stored[i]) != string(n.Hash) {
			return moved
		}
	}
	return nil
}

// AddAliasClaim implements store.Writer.
func (q *Queries) AddAliasClaim(ctx context.Context, c store.AliasClaim) (store.AliasClaim, bool, error) {
	ds := uniqueDigests(c.Digests)
	switch {
	case !c.Source.Valid():
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w: unknown source %q", store.ErrInvalid, c.Source)
	case c.Source == store.ClaimStatement:
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w: a statement's claim is its subject, recorded by appending the statement", store.ErrInvalid)
	case c.Reference == "":
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w: reference is required", store.ErrInvalid)
	case len(ds) < 2:
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w: needs at least two distinct digests, got %d", store.ErrInvalid, len(ds))
	}
	var id int64
	err := q.C.QueryRow(ctx, `SELECT id FROM alias_claims WHERE source = $1 AND reference = $2`, string(c.Source), c.Reference).Scan(&id)
	if err == nil {
		return q.existingClaim(ctx, id, c, ds)
	}
	if err = q.D.MapError(err); !errors.Is(err, store.ErrNotFound) {
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w", err)
	}
	known, err := q.subjectsOf(ctx, ds)
	if err != nil {
		return store.AliasClaim{}, false, err
	}
	c.Digests, c.SignerKeyIDs, c.ClaimedAt = ds, nonNil(c.SignerKeyIDs), Now()
	signers, err := json.Marshal(c.SignerKeyIDs)
	if err != nil {
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim: %w", err)
	}
	w := newWrites()
	w.place(ds, known)
	w.claim(c, signers)
	if err := w.flush(ctx, q); err != nil {
		return store.AliasClaim{}, false, q.fail("alias claim", err)
	}
	if err := q.C.QueryRow(ctx, `SELECT id FROM alias_claims WHERE source = $1 AND reference = $2`, string(c.Source), c.Reference).Scan(&c.ID); err != nil {
		return store.AliasClaim{}, false, q.fail("alias claim", err)
	}
	return c, true, nil
}

// subjectsOf returns the subject of each of ds that is already recorded.
func (q *Queries) subjectsOf(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int64, error) {
	known := make(map[digest.Digest]int64, len(ds))
	err := q.C.QueryBatch(ctx, q.digestSubjectStmts(ds), func(_ int, r Rows) error { return scanDigestSubject(r, known) })
	if err != nil {
		return nil, q.fail("digest subjects", err)
	}
	return known, nil
}

// digestSubjectStmts returns the queries that read the subjects of ds
// (algorithm, value, subject_id): one where the dialect binds lists, else
// one per maxDigestsPerQuery digests.
func (q *Queries) digestSubjectStmts(ds []digest.Digest) []Stmt {
	if len(ds) == 0 {
		return nil
	}
	if dl, ok := q.D.(DigestLister); ok {
		list, args := dl.DigestList(1, ds)
		return []Stmt{{`SELECT w.algorithm, w.value, x.subject_id` + perDigest(list, `subject_id`, `digests`, ``), args}}
	}
	var out []Stmt
	for start := 0; start < len(ds); start += maxDigestsPerQuery {
		where, args := digestIn("algorithm", "value", ds[start:min(start+maxDigestsPerQuery, len(ds))], 0)
		out = append(out, Stmt{`SELECT algorithm, value, subject_id FROM digests WHERE ` + where, args})
	}
	return out
}

// scanDigestSubject adds one row of a digestSubjectStmts query to known.
func scanDigestSubject(r Rows, known map[digest.Digest]int64) error {
	var (
		alg, value string
		sid        int64
	)
	if err := r.Scan(&alg, &value, &sid); err != nil {
		return err
	}
	d, err := digest.Parse(alg + ":" + value)
	if err != nil {
		return fmt.Errorf("stored digest: %w", err)
	}
	known[d] = sid
	return nil
}

// rows accumulates the rows of one multi-row INSERT. Its row template
// writes ? for each argument; Stmts numbers them and splits the rows so no
// statement exceeds maxArgs arguments (SQLite's limit is 32766).
type rows struct {
	head, row string
	args      [][]any
	// table, cols and types (PostgreSQL type names), when set, let an
	// ArrayInserter dialect insert all the rows with one statement; unnest,
	// when set, is that statement with %s for the arrays (by default,
	// INSERT INTO table (cols) SELECT * FROM unnest(%s)).
	table       string
	cols, types []string
	unnest      string
}

// CommitHolder is implemented by connections that hold statements for
// the commit's round trip, after every other (PostgreSQL's): an append
// planned against a tip sends its log lock and tip check there
// (TipChecker), so its rows are written while the append before it
// commits, and it holds the lock for the check and its own commit only.
type CommitHolder interface {
	HoldForCommit(stmts []Stmt)
}

// ArrayInserter is implemented by dialects that insert any number of rows
// with one statement text, a column per array parameter (PostgreSQL:
// INSERT … SELECT FROM unnest): one plan for any batch size, where
// multi-row VALUES lists change text, and plan, with their length.
type ArrayInserter interface {
	// ArrayColumns returns one array parameter per column, of the given
	// types and numbered from first ("$1::text[], $2::bigint[]"), and
	// the arguments holding rows' values.
	ArrayColumns(first int, types []string, rows [][]any) (params string, args []any)
}

// inserts returns the statements that insert r's rows: one where the
// dialect takes arrays and r says its columns' types, else multi-row
// INSERTs (see rows.stmts).
func (q *Queries) inserts(r *rows) []Stmt {
	if ai, ok := q.D.(ArrayInserter); ok && r.types != nil && len(r.args) > 0 {
		params, args := ai.ArrayColumns(1, r.types, r.args)
		return []Stmt{{SQL: fmt.Sprintf(r.unnestSQL(), params), Args: args}}
	}
	return r.stmts()
}

// unnestSQL is r's insert from arrays, with %s for them.
func (r *rows) unnestSQL() string {
	if r.unnest != "" {
		return r.unnest
	}
	return `INSERT INTO ` + r.table + ` (` + strings.Join(r.cols, ", ") + `) SELECT * FROM unnest(%s)`
}

// maxRows bounds the rows of one INSERT. SQLite resolves $N parameters by
// name through a list, so a statement's binding cost grows with the square
// of its parameters: one 10,000-row INSERT took seconds, 50-row ones take
// milliseconds. PostgreSQL pipelines the statements of a batch in one
// round trip, so many small INSERTs cost it little.
const (
	maxArgs = 30000
	maxRows = 50
)

func (r *rows) add(args ...any) []any {
	r.args = append(r.args, args)
	return args
}

func (r *rows) stmts() []Stmt {
	if len(r.args) == 0 {
		return nil
	}
	perRow := len(r.args[0])
	chunk := max(1, min(maxRows, maxArgs/perRow))
	var out []Stmt
	for start := 0; start < len(r.args); start += chunk {
		part := r.args[start:min(start+chunk, len(r.args))]
		var b strings.Builder
		b.WriteString(r.head)
		args := make([]any, 0, perRow*len(part))
		for i, row := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			tmpl := r.row
			for range row {
				j := strings.IndexByte(tmpl, '?')
				fmt.Fprintf(&b, "%s$%d", tmpl[:j], len(args)+1)
				args = append(args, row[len(args)-i*perRow])
				tmpl = tmpl[j+1:]
			}
			b.WriteString(tmpl)
		}
		out = append(out, Stmt{b.String(), args})
	}
	return out
}

// writes collects every row one append or claim writes, table by table, so
// they go to the database as a handful of multi-row INSERTs in foreign-key
// order.
type writes struct {
	statements, signers, digests, subjects, claims, claimDigests rows
	// newSubjects counts the placeholder subject ids (-1, -2, …) handed
	// out for artifacts none of whose digests is known yet.
	newSubjects int
}

func newWrites() *writes {
	return &writes{
		statements: rows{head: `INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at) VALUES `,
			row: "(?, ?, ?, ?, ?, ?, ?, ?)", table: "statements",
			cols:  []string{"seq", "envelope_digest", "payload_type", "predicate_type", "envelope", "payload", "signer_key_ids", "recorded_at"},
			types: []string{"bigint", "text", "text", "text", "bytea", "bytea", "text", "timestamptz"}},
		signers: rows{head: `INSERT INTO statement_signers (seq, key_id, signed_digest) VALUES `, row: "(?, ?, ?)",
			table: "statement_signers", cols: []string{"seq", "key_id", "signed_digest"}, types: []string{"bigint", "text", "text"}},
		digests: rows{head: `INSERT INTO digests (algorithm, value, subject_id) VALUES `, row: "(?, ?, ?)",
			table: "digests", cols: []string{"algorithm", "value", "subject_id"}, types: []string{"text", "text", "bigint"}},
		subjects: rows{head: `INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased, published) VALUES `, row: "(?, ?, ?, ?, ?, ?, ?)",
			table: "statement_subjects", cols: []string{"seq", "subject_index", "name", "algorithm", "value", "aliased", "published"},
			types: []string{"bigint", "integer", "text", "text", "text", "boolean", "boolean"}},
		claims: rows{head: `INSERT INTO alias_claims (source, reference, statement_seq, signer_key_ids, claimed_at) VALUES `,
			row: "(?, ?, ?, ?, ?)", table: "alias_claims", cols: []string{"source", "reference", "statement_seq", "signer_key_ids", "claimed_at"},
			types: []string{"text", "text", "bigint", "text", "timestamptz"}},
		claimDigests: rows{head: `INSERT INTO alias_claim_digests (claim_id, position, algorithm, value) VALUES `,
			row:   "((SELECT id FROM alias_claims WHERE source = ? AND reference = ?), ?, ?, ?)",
			types: []string{"text", "text", "integer", "text", "text"}},
	}
}

// place decides which subject the digests of one artifact join. Digests
// already known keep their subject; the new ones share one new subject (a
// placeholder id until allocate), whether or not others are known. A
// record naming a known digest beside new ones claims they name the same
// bytes, on its signer's word: the claim links them, labelled, and
// places nothing in the known digest's subject, or anyone could grow
// anyone's subject (and every lookup of it) at will. known is updated
// with the placements.
func (w *writes) place(ds []digest.Digest, known map[digest.Digest]int64) {
	var missing []digest.Digest
	for _, d := range ds {
		if _, ok := known[d]; !ok {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return
	}
	w.newSubjects++
	target := -int64(w.newSubjects)
	for _, d := range missing {
		known[d] = target
		w.digests.add(string(d.Algorithm()), d.Hex(), target)
	}
}

// claim adds c and its digests (placed already, or in these writes).
func (w *writes) claim(c store.AliasClaim, signersJSON []byte) {
	var seq any
	if c.StatementSeq != 0 {
		seq = c.StatementSeq
	}
	w.claims.add(string(c.Source), c.Reference, seq, string(signersJSON), c.ClaimedAt)
	for i, d := range c.Digests {
		w.claimDigests.add(string(c.Source), c.Reference, i, string(d.Algorithm()), d.Hex())
	}
}

// flush creates the new subjects, rewrites placeholder ids to theirs, and
// runs every INSERT in one batch. Where the dialect inserts arrays, all of
// it is one statement (insertAll).
func (w *writes) flush(ctx context.Context, q *Queries) error {
	if ai, ok := q.D.(ArrayInserter); ok {
		return q.C.ExecBatch(ctx, q.genericPlans(w.insertAll(ai)))
	}
	if w.newSubjects > 0 {
		marks := make([]string, w.newSubjects)
		for i := range marks {
			marks[i] = "($1)"
		}
		rs, err := q.C.Query(ctx, `INSERT INTO subjects (created_at) VALUES `+strings.Join(marks, ", ")+` RETURNING id`, Now())
		if err != nil {
			return err
		}
		var ids []int64
		err = scanAll(rs, func(r Rows) error {
			var id int64
			err := r.Scan(&id)
			ids = append(ids, id)
			return err
		})
		if err != nil {
			return err
		}
		if len(ids) != w.newSubjects {
			return fmt.Errorf("new subjects: got %d ids for %d subjects", len(ids), w.newSubjects)
		}
		slices.Sort(ids)
		for _, row := range w.digests.args {
			if sid := row[2].(int64); sid < 0 {
				row[2] = ids[-sid-1]
			}
		}
	}
	var batch []Stmt
	for _, r := range []*rows{&w.statements, &w.digests, &w.signers, &w.subjects, &w.claims, &w.claimDigests} {
		batch = append(batch, q.inserts(r)...)
	}
	return q.C.ExecBatch(ctx, batch)
}

// insertAll is every row of w in one statement of data-modifying WITH
// queries: an append's inserts cost the database one statement, not six,
// and its client one to encode. PostgreSQL runs the queries in no set
// order on one snapshot, so none reads another's rows but through
// RETURNING: the new subjects are created with the digests (placeholder
// -k is the k-th smallest id handed out) and a claim's digests find its
// id among the claims inserted (a claim missing there leaves the id NULL,
// which the table refuses). Both are joins: as subqueries per row, each
// digest sorted the new subjects again, quadratic in the batch. Digests
// keep their order, which their ids record. Foreign keys are checked when
// the whole statement is done, with every row in place.
func (w *writes) insertAll(ai ArrayInserter) []Stmt {
	var (
		ctes []string
		args []any
	)
	add := func(name string, r *rows, sql string) {
		if len(r.args) == 0 {
			return
		}
		params, a := ai.ArrayColumns(len(args)+1, r.types, r.args)
		ctes = append(ctes, name+" AS ("+fmt.Sprintf(sql, params)+")")
		args = append(args, a...)
	}
	add("st", &w.statements, w.statements.unnestSQL())
	add("sg", &w.signers, w.signers.unnestSQL())
	if w.newSubjects > 0 {
		args = append(args, Now(), w.newSubjects)
		ctes = append(ctes,
			fmt.Sprintf("fresh AS (INSERT INTO subjects (created_at) SELECT $%d::timestamptz FROM generate_series(1, $%d::integer) RETURNING id)", len(args)-1, len(args)),
			"numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM fresh)")
		add("dg", &w.digests, `INSERT INTO digests (algorithm, value, subject_id)
			SELECT x.algorithm, x.value, CASE WHEN x.subject_id < 0 THEN n.id ELSE x.subject_id END
			FROM unnest(%s) WITH ORDINALITY AS x (algorithm, value, subject_id, i) LEFT JOIN numbered n ON n.k = -x.subject_id
			ORDER BY x.i`)
	} else {
		add("dg", &w.digests, w.digests.unnestSQL())
	}
	add("ss", &w.subjects, w.subjects.unnestSQL())
	add("cl", &w.claims, w.claims.unnestSQL()+` RETURNING id, source, reference`)
	add("cd", &w.claimDigests, `INSERT INTO alias_claim_digests (claim_id, position, algorithm, value)
		SELECT cl.id, x.position, x.algorithm, x.value
		FROM unnest(%s) AS x (source, reference, position, algorithm, value) LEFT JOIN cl ON cl.source = x.source AND cl.reference = x.reference`)
	if len(ctes) == 0 {
		return nil
	}
	return []Stmt{{SQL: "WITH " + strings.Join(ctes, ",\n") + "\nSELECT", Args: args}}
}

// existingClaim returns the stored claim with id when it says the same as c,
// and ErrConflict when the same identity carries different content.
func (q *Queries) existingClaim(ctx context.Context, id int64, c store.AliasClaim, ds []digest.Digest) (store.AliasClaim, bool, error) {
	stored, err := scanClaim(q.C.QueryRow(ctx, claimColumns+` WHERE c.id = $1`, id))
	if err != nil {
		return store.AliasClaim{}, false, q.fail("alias claim", err)
	}
	if stored.Digests, err = q.claimDigests(ctx, id); err != nil {
		return store.AliasClaim{}, false, err
	}
	if stored.StatementSeq != c.StatementSeq || !slices.Equal(stored.SignerKeyIDs, nonNil(c.SignerKeyIDs)) || !slices.Equal(stored.Digests, ds) {
		return store.AliasClaim{}, false, fmt.Errorf("store: alias claim %s %q: %w: recorded before with other content", c.Source, c.Reference, store.ErrConflict)
	}
	return stored, false, nil
}

// maxDigestsPerQuery bounds the digestIn list of one query, for the same
// reason as maxRows.
const maxDigestsPerQuery = 100

// digestIn builds "(alg, value) IN (VALUES ($k, $k+1), …)" for ds,
// numbering placeholders after the first `offset` arguments. A row-value
// list, unlike a chain of ORs, has no expression depth to overflow.
func digestIn(algCol, valueCol string, ds []digest.Digest, offset int) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(ds))
	fmt.Fprintf(&b, "(%s, %s) IN (VALUES ", algCol, valueCol)
	for i, d := range ds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($%d, $%d)", offset+2*i+1, offset+2*i+2)
		args = append(args, string(d.Algorithm()), d.Hex())
	}
	b.WriteString(")")
	return b.String(), args
}

func scanAll(rows Rows, each func(Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanDigests(rows Rows) ([]digest.Digest, error) {
	var ds []digest.Digest
	err := scanAll(rows, func(r Rows) error {
		var alg, value string
		if err := r.Scan(&alg, &value); err != nil {
			return err
		}
		d, err := digest.Parse(alg + ":" + value)
		if err != nil {
			return fmt.Errorf("stored digest: %w", err)
		}
		ds = append(ds, d)
		return nil
	})
	return ds, err
}

// sortedDigests returns the distinct digests of ds in canonical order, the
// order they are read back in.
func sortedDigests(ds []digest.Digest) []digest.Digest {
	out := uniqueDigests(ds)
	slices.SortFunc(out, func(a, b digest.Digest) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func uniqueDigests(ds []digest.Digest) []digest.Digest {
	seen := make(map[digest.Digest]bool, len(ds))
	out := make([]digest.Digest, 0, len(ds))
	for _, d := range ds {
		if !d.IsZero() && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func uniqueStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// StatementsByPredicate implements store.Reader.
func (q *Queries) StatementsByPredicate(ctx context.Context, predicateType string, afterSeq int64, limit int) ([]store.Statement, error) {
	return q.statementsAfter(ctx, "statements by predicate type", `predicate_type = $3 AND `, afterSeq, limit, predicateType)
}

// StatementsAfter implements store.Reader.
func (q *Queries) StatementsAfter(ctx context.Context, afterSeq int64, limit int) ([]store.Statement, error) {
	return q.statementsAfter(ctx, "statements after", "", afterSeq, limit)
}

// statementsAfter reads up to limit entries above afterSeq meeting cond
// (empty, or conditions ending in AND over arguments from $3 on).
func (q *Queries) statementsAfter(ctx context.Context, what, cond string, afterSeq int64, limit int, args ...any) ([]store.Statement, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.C.Query(ctx, `SELECT seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at
		FROM statements WHERE `+cond+`seq > $1 ORDER BY seq LIMIT $2`, append([]any{afterSeq, limit}, args...)...)
	if err != nil {
		return nil, q.fail(what, err)
	}
	var out []store.Statement
	err = scanAll(rows, func(r Rows) error {
		var (
			s            store.Statement
			env, signers string
		)
		if err := r.Scan(&s.Seq, &env, &s.PayloadType, &s.PredicateType, &s.Envelope, &s.Payload, &signers, &s.RecordedAt); err != nil {
			return err
		}
		s.RecordedAt = s.RecordedAt.UTC()
		var err error
		if s.EnvelopeDigest, err = digest.Parse(env); err != nil {
			return fmt.Errorf("statement %d: stored envelope digest: %w", s.Seq, err)
		}
		if err := json.Unmarshal([]byte(signers), &s.SignerKeyIDs); err != nil {
			return fmt.Errorf("statement %d: stored signers: %w", s.Seq, err)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, q.fail(what, err)
	}
	return out, nil
}

// SignedBefore implements store.Reader.
func (q *Queries) SignedBefore(ctx context.Context, d digest.Digest, keyIDs []string) (bool, error) {
	keyIDs = uniqueStrings(keyIDs)
	if len(keyIDs) == 0 {
		return false, nil
	}
	cond, args, n := q.textIn("key_id", 1, keyIDs)
	if n < len(keyIDs) {
		return false, fmt.Errorf("store: signed before: %w: %d signers, at most %d", store.ErrInvalid, len(keyIDs), n)
	}
	var found int
	err := q.C.QueryRow(ctx, `SELECT COUNT(*) FROM statement_signers WHERE signed_digest = $1 AND `+cond, append([]any{d.String()}, args...)...).Scan(&found)
	if err != nil {
		return false, q.fail("signed before", err)
	}
	return found > 0, nil
}

// SetSignedDigest implements store.Writer.
func (q *Queries) SetSignedDigest(ctx context.Context, seq int64, d digest.Digest) (bool, error) {
	var signers, free int64
	err := q.C.QueryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS
			(SELECT 1 FROM statement_signers o WHERE o.signed_digest = $2 AND o.key_id = s.key_id AND o.seq <> s.seq))
		FROM statement_signers s WHERE s.seq = $1`, seq, d.String()).Scan(&signers, &free)
	if err != nil {
		return false, q.fail(fmt.Sprintf("signed digest of entry %d", seq), err)
	}
	if signers == 0 {
		if _, err := q.Statement(ctx, seq); err != nil {
			return false, err
		}
		return true, nil
	}
	err = q.C.Exec(ctx, `UPDATE statement_signers SET signed_digest = $2 WHERE seq = $1 AND signed_digest IS NULL AND NOT EXISTS
		(SELECT 1 FROM statement_signers o WHERE o.signed_digest = $2 AND o.key_id = statement_signers.key_id)`, seq, d.String())
	if err != nil {
		return false, q.fail(fmt.Sprintf("set signed digest of entry %d", seq), err)
	}
	return free == signers, nil
}

// PGPKey implements store.Reader.
func (q *Queries) PGPKey(ctx context.Context, fingerprint string) (store.PGPKey, error) {
	var k store.PGPKey
	err := q.C.QueryRow(ctx, `SELECT fingerprint, key_id, primary_fingerprint FROM pgp_subkeys WHERE fingerprint = $1`, fingerprint).
		Scan(&k.Fingerprint, &k.KeyID, &k.Primary)
	if err != nil {
		return store.PGPKey{}, q.fail(fmt.Sprintf("pgp key %q", fingerprint), err)
	}
	return k, nil
}

// KeyByAlias implements store.Reader.
func (q *Queries) KeyByAlias(ctx context.Context, alias string) (store.Key, error) {
	var k store.Key
	err := q.C.QueryRow(ctx, `SELECT k.id, k.type, k.public_key, k.label, k.created_at
		FROM key_aliases a JOIN keys k ON k.id = a.key_id WHERE a.alias = $1`, alias).
		Scan(&k.ID, &k.Type, &k.PublicKey, &k.Label, &k.CreatedAt)
	if err != nil {
		return store.Key{}, q.fail(fmt.Sprintf("key by alias %q", alias), err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// PutKeyAliases implements store.Writer.
func (q *Queries) PutKeyAliases(ctx context.Context, keyID string, aliases []string) error {
	if _, err := q.Key(ctx, keyID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("store: put key aliases: %w: %s is not a registered key", store.ErrInvalid, keyID)
	} else if err != nil {
		return err
	}
	for _, a := range aliases {
		if a == "" {
			return fmt.Errorf("store: put key aliases of %s: %w: empty alias", keyID, store.ErrInvalid)
		}
		if a == keyID {
			continue
		}
		if other, err := q.Key(ctx, a); err == nil {
			return fmt.Errorf("store: key alias %s of %s: %w: it is the id of key %s", a, keyID, store.ErrConflict, other.ID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		holder, err := q.KeyByAlias(ctx, a)
		switch {
		case err == nil && holder.ID == keyID:
			continue
		case err == nil:
			return fmt.Errorf("store: key alias %s of %s: %w: already an alias of key %s", a, keyID, store.ErrConflict, holder.ID)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := q.C.Exec(ctx, `INSERT INTO key_aliases (alias, key_id) VALUES ($1, $2)`, a, keyID); err != nil {
			return q.fail(fmt.Sprintf("put key alias %s of %s", a, keyID), err)
		}
	}
	return nil
}

// PGPKeysByKeyID implements store.Reader.
func (q *Queries) PGPKeysByKeyID(ctx context.Context, keyID string) ([]store.PGPKey, error) {
	rows, err := q.C.Query(ctx, `SELECT fingerprint, key_id, primary_fingerprint FROM pgp_subkeys WHERE key_id = $1
		ORDER BY primary_fingerprint, fingerprint`, keyID)
	if err != nil {
		return nil, q.fail(fmt.Sprintf("pgp keys with key id %q", keyID), err)
	}
	var out []store.PGPKey
	err = scanAll(rows, func(r Rows) error {
		var k store.PGPKey
		err := r.Scan(&k.Fingerprint, &k.KeyID, &k.Primary)
		out = append(out, k)
		return err
	})
	if err != nil {
		return nil, q.fail(fmt.Sprintf("pgp keys with key id %q", keyID), err)
	}
	return out, nil
}

// PutPGPKeys implements store.Writer.
func (q *Queries) PutPGPKeys(ctx context.Context, keys []store.PGPKey) error {
	primaries := map[string]bool{}
	for i, k := range keys {
		if k.Fingerprint == "" || k.KeyID == "" || k.Primary == "" {
			return fmt.Errorf("store: put pgp keys: %w: key %d: fingerprint, key id and primary are required", store.ErrInvalid, i)
		}
		if !primaries[k.Primary] {
			if _, err := q.Key(ctx, k.Primary); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("store: put pgp keys: %w: primary %s is not a registered key", store.ErrInvalid, k.Primary)
			} else if err != nil {
				return err
			}
			primaries[k.Primary] = true
		}
		existing, err := q.PGPKey(ctx, k.Fingerprint)
		switch {
		case err == nil:
			if existing.Primary != k.Primary || existing.KeyID != k.KeyID {
				return fmt.Errorf("store: put pgp key %s: %w: already indexed under primary %s", k.Fingerprint, store.ErrConflict, existing.Primary)
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := q.C.Exec(ctx, `INSERT INTO pgp_subkeys (fingerprint, key_id, primary_fingerprint) VALUES ($1, $2, $3)`,
			k.Fingerprint, k.KeyID, k.Primary); err != nil {
			return q.fail(fmt.Sprintf("put pgp key %s", k.Fingerprint), err)
		}
	}
	return nil
}
