package sqlstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// Feedback: current votes (votes), their totals (vote_totals), trust edges
// (trust_edges), publishers' responses (feedback_responses) and import
// provenance (feedback_provenance). See store.FeedbackReader and
// store.FeedbackWriter.

// maxInList bounds the number of values bound into one IN list.
const maxInList = 500

// TextLister is implemented by dialects that can bind a list of strings as
// one parameter (PostgreSQL arrays), so a long list is neither split nor
// spelled out as placeholders.
type TextLister interface {
	// TextIn returns a condition matching col against values, bound from
	// parameter number param on, and its arguments.
	TextIn(col string, param int, values []string) (string, []any)
}

// textIn returns the condition "col IN values" for one chunk of values
// bound after n parameters, and how many values it took: all of them when
// the dialect binds lists, else at most maxInList.
func (q *Queries) textIn(col string, n int, values []string) (string, []any, int) {
	if tl, ok := q.D.(TextLister); ok {
		cond, args := tl.TextIn(col, n+1, values)
		return cond, args, len(values)
	}
	part := values[:min(maxInList, len(values))]
	args := make([]any, len(part))
	for i, v := range part {
		args[i] = v
	}
	return col + " IN (" + placeholders(n, len(part)) + ")", args, len(part)
}

// Votes implements store.FeedbackReader.
func (q *Queries) Votes(ctx context.Context, ds []digest.Digest, voters []string) ([]store.Vote, error) {
	ds = uniqueDigests(ds)
	if len(ds) == 0 || (voters != nil && len(voters) == 0) {
		return nil, nil
	}
	if out, ok := q.ahead.answer(ds, voters); ok {
		return out, nil
	}
	var out []store.Vote
	err := q.C.QueryBatch(ctx, q.votesStmts(ds, voters), func(_ int, r Rows) error {
		v, err := scanVote(r)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, q.fail("votes", err)
	}
	return out, nil
}

// votesStmts are the queries of Votes on ds (unique, not empty) by
// voters. Where the dialect binds digest lists, each digest is an index
// probe whatever the plan: with a batch's digests and voters the same in
// number from batch to batch (the vote indexer's), PostgreSQL's generic
// plan of a row-value list scanned votes whole (500 µs an entry at
// 10,000 votes).
func (q *Queries) votesStmts(ds []digest.Digest, voters []string) []Stmt {
	const cols = `algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at`
	dl, lists := q.D.(DigestLister)
	var stmts []Stmt
	for start := 0; start == 0 || start < len(voters); {
		var (
			where string
			args  []any
		)
		if lists {
			where, args = dl.DigestList(1, ds)
		} else {
			where, args = digestIn("algorithm", "value", ds, 0)
		}
		var cond string
		if voters != nil {
			var (
				vargs []any
				n     int
			)
			cond, vargs, n = q.textIn("voter_key_id", len(args), voters[start:])
			args = append(args, vargs...)
			start += n
		}
		if lists {
			stmts = append(stmts, Stmt{`SELECT x.*` + perDigest(where, cols, `votes`, cond) + ` ORDER BY 1, 2, 3, 4`, args})
		} else {
			if cond != "" {
				where += " AND " + cond
			}
			stmts = append(stmts, Stmt{`SELECT ` + cols + ` FROM votes WHERE ` + where + ` ORDER BY 1, 2, 3, 4`, args})
		}
		if voters == nil {
			break
		}
	}
	return stmts
}

// scanVote reads one row of a votesStmts query.
func scanVote(r Rows) (store.Vote, error) {
	var (
		v          store.Vote
		alg, value string
	)
	if err := r.Scan(&alg, &value, &v.Axis, &v.VoterKeyID, &v.Value, &v.VotedAt, &v.Seq, &v.RecordedAt); err != nil {
		return v, err
	}
	d, err := digest.Parse(alg + ":" + value)
	if err != nil {
		return v, fmt.Errorf("stored digest: %w", err)
	}
	v.Digest, v.VotedAt, v.RecordedAt = d, v.VotedAt.UTC(), v.RecordedAt.UTC()
	return v, nil
}

// votesAhead is a Votes read announced by ReadVotesAhead: its arguments,
// then, once the next append's first round trip made it, its rows.
type votesAhead struct {
	ds     map[digest.Digest]bool
	voters map[string]bool // nil: all
	query  []digest.Digest
	by     []string
	read   bool
	rows   []store.Vote
}

// ReadVotesAhead implements store.FeedbackWriter.
func (q *Queries) ReadVotesAhead(ds []digest.Digest, voters []string) {
	ds = uniqueDigests(ds)
	if len(ds) == 0 || (voters != nil && len(voters) == 0) {
		q.ahead = nil
		return
	}
	a := &votesAhead{ds: make(map[digest.Digest]bool, len(ds)), query: ds, by: voters}
	for _, d := range ds {
		a.ds[d] = true
	}
	if voters != nil {
		a.voters = make(map[string]bool, len(voters))
		for _, v := range voters {
			a.voters[v] = true
		}
	}
	q.ahead = a
}

// answer returns the rows of the read ahead on ds by voters, when it was
// made and covers them.
func (a *votesAhead) answer(ds []digest.Digest, voters []string) ([]store.Vote, bool) {
	if a == nil || !a.read || (voters == nil && a.voters != nil) {
		return nil, false
	}
	for _, d := range ds {
		if !a.ds[d] {
			return nil, false
		}
	}
	var want map[string]bool
	if voters != nil {
		want = make(map[string]bool, len(voters))
		for _, v := range voters {
			if a.voters != nil && !a.voters[v] {
				return nil, false
			}
			want[v] = true
		}
	}
	asked := make(map[digest.Digest]bool, len(ds))
	for _, d := range ds {
		asked[d] = true
	}
	var out []store.Vote
	for _, v := range a.rows {
		if asked[v.Digest] && (want == nil || want[v.VoterKeyID]) {
			out = append(out, v)
		}
	}
	return out, true
}

// placeholders returns "$n+1, $n+2, …" for count values after n.
func placeholders(n, count int) string {
	marks := make([]string, count)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", n+i+1)
	}
	return strings.Join(marks, ", ")
}

// VoteTotals implements store.FeedbackReader.
func (q *Queries) VoteTotals(ctx context.Context, d digest.Digest) (store.VoteTotals, error) {
	var (
		t    store.VoteTotals
		last *time.Time
	)
	err := q.C.QueryRow(ctx, `SELECT likes, dislikes, trusts, distrusts, voters, last_vote_at FROM vote_totals
		WHERE algorithm = $1 AND value = $2`, string(d.Algorithm()), d.Hex()).
		Scan(&t.Likes, &t.Dislikes, &t.Trusts, &t.Distrusts, &t.Voters, &last)
	if err != nil {
		if err = q.D.MapError(err); errors.Is(err, store.ErrNotFound) {
			return store.VoteTotals{}, nil
		}
		return store.VoteTotals{}, fmt.Errorf("store: vote totals %s: %w", d, err)
	}
	if last != nil {
		t.LastVoteAt = last.UTC()
	}
	return t, nil
}

// TrustEdges implements store.FeedbackReader.
func (q *Queries) TrustEdges(ctx context.Context, trusters []string) ([]store.TrustEdge, error) {
	var out []store.TrustEdge
	for start := 0; start < len(trusters); {
		cond, args, n := q.textIn("truster_key_id", 0, trusters[start:])
		start += n
		rows, err := q.C.Query(ctx, `SELECT truster_key_id, trustee_key_id, level, stated_at, seq FROM trust_edges
			WHERE `+cond+` ORDER BY truster_key_id, trustee_key_id`, args...)
		if err != nil {
			return nil, q.fail("trust edges", err)
		}
		err = scanAll(rows, func(r Rows) error {
			var e store.TrustEdge
			err := r.Scan(&e.TrusterKeyID, &e.TrusteeKeyID, &e.Level, &e.StatedAt, &e.Seq)
			e.StatedAt = e.StatedAt.UTC()
			out = append(out, e)
			return err
		})
		if err != nil {
			return nil, q.fail("trust edges", err)
		}
	}
	return out, nil
}

// FeedbackResponses implements store.FeedbackReader.
func (q *Queries) FeedbackResponses(ctx context.Context, ds []digest.Digest, limit int) ([]store.FeedbackResponse, error) {
	ds = uniqueDigests(ds)
	if len(ds) == 0 || limit <= 0 {
		return nil, nil
	}
	where, args := digestIn("algorithm", "value", ds, 1)
	rows, err := q.C.Query(ctx, `SELECT seq, algorithm, value, publisher_key_id, in_reply_to, body, responded_at
		FROM feedback_responses WHERE `+where+` ORDER BY seq DESC, algorithm, value LIMIT $1`, append([]any{limit}, args...)...)
	if err != nil {
		return nil, q.fail("feedback responses", err)
	}
	var out []store.FeedbackResponse
	err = scanAll(rows, func(r Rows) error {
		var (
			fr         store.FeedbackResponse
			alg, value string
		)
		if err := r.Scan(&fr.Seq, &alg, &value, &fr.PublisherKeyID, &fr.InReplyTo, &fr.Body, &fr.RespondedAt); err != nil {
			return err
		}
		d, err := digest.Parse(alg + ":" + value)
		if err != nil {
			return fmt.Errorf("stored digest: %w", err)
		}
		fr.Digest, fr.RespondedAt = d, fr.RespondedAt.UTC()
		out = append(out, fr)
		return nil
	})
	if err != nil {
		return nil, q.fail("feedback responses", err)
	}
	return out, nil
}

// FeedbackProvenance implements store.FeedbackReader.
func (q *Queries) FeedbackProvenance(ctx context.Context, seq int64) ([]store.FeedbackProvenance, error) {
	rows, err := q.C.Query(ctx, `SELECT seq, verifier_key, checkpoint_size, checkpoint_hash, source_seq, imported_at FROM feedback_provenance
		WHERE seq = $1 ORDER BY verifier_key`, seq)
	if err != nil {
		return nil, q.fail("feedback provenance", err)
	}
	var out []store.FeedbackProvenance
	err = scanAll(rows, func(r Rows) error {
		var p store.FeedbackProvenance
		var size int64
		err := r.Scan(&p.Seq, &p.VerifierKey, &size, &p.CheckpointHash, &p.SourceSeq, &p.ImportedAt)
		p.CheckpointSize = uint64(size)
		p.ImportedAt = p.ImportedAt.UTC()
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, q.fail("feedback provenance", err)
	}
	return out, nil
}

// StatementSeqByEnvelope implements store.FeedbackReader.
func (q *Queries) StatementSeqByEnvelope(ctx context.Context, d digest.Digest) (int64, error) {
	var seq int64
	if err := q.C.QueryRow(ctx, `SELECT seq FROM statements WHERE envelope_digest = $1`, d.String()).Scan(&seq); err != nil {
		return 0, q.fail("statement by envelope "+d.String(), err)
	}
	return seq, nil
}

// SignedSince implements store.FeedbackReader.
func (q *Queries) SignedSince(ctx context.Context, keyID string, predicateTypes []string, since time.Time) (int64, error) {
	if len(predicateTypes) == 0 {
		return 0, nil
	}
	args := []any{keyID, since.UTC()}
	for _, p := range predicateTypes {
		args = append(args, p)
	}
	var n int64
	err := q.C.QueryRow(ctx, `SELECT COUNT(*) FROM statement_signers sg JOIN statements s ON s.seq = sg.seq
		WHERE sg.key_id = $1 AND s.recorded_at >= $2 AND s.predicate_type IN (`+placeholders(2, len(predicateTypes))+`)`, args...).Scan(&n)
	if err != nil {
		return 0, q.fail("count signed statements", err)
	}
	return n, nil
}

// PutVotes implements store.FeedbackWriter: multi-row upserts of the vote
// rows and of the totals, sent in one batch.
func (q *Queries) PutVotes(ctx context.Context, votes []store.Vote, totals []store.VoteDelta) error {
	vr := rows{head: `INSERT INTO votes (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at) VALUES `,
		row: "(?, ?, ?, ?, ?, ?, ?, ?)", table: "votes",
		cols:  []string{"algorithm", "value", "axis", "voter_key_id", "vote", "voted_at", "seq", "recorded_at"},
		types: []string{"text", "text", "text", "text", "smallint", "timestamptz", "bigint", "timestamptz"},
		// Where votes keeps no foreign keys (PostgreSQL, migration 00018),
		// the insert checks the digest and the log entry a vote names; a
		// miss fails it as a foreign key would. The digest is a scalar
		// subquery, one index probe a row: as EXISTS, PostgreSQL may hash
		// the whole table instead (290 buffers a vote in
		// BenchmarkVoteSubmit). The log is gapless from 1, so an entry
		// exists when its seq is at most the last one, read once.
		unnest: `INSERT INTO votes (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at)
			SELECT v.* FROM unnest(%s) AS v (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at)
			WHERE trustd_assert((SELECT 1 FROM digests d WHERE d.algorithm = v.algorithm AND d.value = v.value) IS NOT NULL
				AND v.seq <= (SELECT MAX(seq) FROM statements),
				'23503', 'votes: a vote names a digest not recorded or an entry not in the log')`}
	type voteKey struct {
		d            digest.Digest
		axis, author string
	}
	seen := make(map[voteKey]bool, len(votes))
	for _, v := range votes {
		if v.Digest.IsZero() || v.Axis == "" || v.VoterKeyID == "" || v.Value < -1 || v.Value > 1 || v.Seq <= 0 {
			return fmt.Errorf("store: put votes: %w: digest, axis, voter, value in -1..1 and seq are required", store.ErrInvalid)
		}
		k := voteKey{v.Digest, v.Axis, v.VoterKeyID}
		if seen[k] {
			return fmt.Errorf("store: put votes: %w: two votes of %s on %s along %s", store.ErrInvalid, v.VoterKeyID, v.Digest, v.Axis)
		}
		seen[k] = true
		vr.add(string(v.Digest.Algorithm()), v.Digest.Hex(), v.Axis, v.VoterKeyID, v.Value, v.VotedAt.UTC(), v.Seq, v.RecordedAt.UTC())
	}
	tr := rows{head: `INSERT INTO vote_totals (algorithm, value, likes, dislikes, trusts, distrusts, voters, last_vote_at) VALUES `,
		row: "(?, ?, ?, ?, ?, ?, ?, ?)", table: "vote_totals",
		cols:  []string{"algorithm", "value", "likes", "dislikes", "trusts", "distrusts", "voters", "last_vote_at"},
		types: []string{"text", "text", "bigint", "bigint", "bigint", "bigint", "bigint", "timestamptz"}}
	seenTotals := make(map[digest.Digest]bool, len(totals))
	for _, t := range totals {
		if t.Digest.IsZero() || seenTotals[t.Digest] {
			return fmt.Errorf("store: put votes: %w: a totals delta without a digest, or two for %s", store.ErrInvalid, t.Digest)
		}
		seenTotals[t.Digest] = true
		var last *time.Time
		if !t.Delta.LastVoteAt.IsZero() {
			l := t.Delta.LastVoteAt.UTC()
			last = &l
		}
		tr.add(string(t.Digest.Algorithm()), t.Digest.Hex(), t.Delta.Likes, t.Delta.Dislikes, t.Delta.Trusts, t.Delta.Distrusts, t.Delta.Voters, last)
	}
	const (
		votesConflict = ` ON CONFLICT (algorithm, value, axis, voter_key_id) DO UPDATE SET
			vote = excluded.vote, voted_at = excluded.voted_at, seq = excluded.seq, recorded_at = excluded.recorded_at`
		totalsConflict = ` ON CONFLICT (algorithm, value) DO UPDATE SET
			likes = vote_totals.likes + excluded.likes, dislikes = vote_totals.dislikes + excluded.dislikes,
			trusts = vote_totals.trusts + excluded.trusts, distrusts = vote_totals.distrusts + excluded.distrusts,
			voters = vote_totals.voters + excluded.voters,
			last_vote_at = CASE WHEN vote_totals.last_vote_at IS NULL OR excluded.last_vote_at > vote_totals.last_vote_at
				THEN COALESCE(excluded.last_vote_at, vote_totals.last_vote_at) ELSE vote_totals.last_vote_at END`
	)
	var batch []Stmt
	if ai, ok := q.D.(ArrayInserter); ok && len(vr.args) > 0 && len(tr.args) > 0 {
		// One statement for both: the totals' insert after a WITH query
		// of the votes'. Neither reads the other's table.
		vp, va := ai.ArrayColumns(1, vr.types, vr.args)
		tp, ta := ai.ArrayColumns(len(va)+1, tr.types, tr.args)
		batch = append(batch, Stmt{
			SQL:  "WITH v AS (" + fmt.Sprintf(vr.unnestSQL(), vp) + votesConflict + ")\n" + fmt.Sprintf(tr.unnestSQL(), tp) + totalsConflict,
			Args: append(va, ta...),
		})
	} else {
		for _, st := range q.inserts(&vr) {
			st.SQL += votesConflict
			batch = append(batch, st)
		}
		for _, st := range q.inserts(&tr) {
			st.SQL += totalsConflict
			batch = append(batch, st)
		}
	}
	q.ahead = nil // the rows it read may change now
	if err := q.C.ExecBatch(ctx, q.genericPlans(batch)); err != nil {
		return q.fail("put votes", err)
	}
	return nil
}

// PutTrustEdge implements store.FeedbackWriter.
func (q *Queries) PutTrustEdge(ctx context.Context, e store.TrustEdge) error {
	if e.TrusterKeyID == "" || e.TrusteeKeyID == "" || e.Level < -1 || e.Level > 3 || e.Seq <= 0 {
		return fmt.Errorf("store: put trust edge: %w: truster, trustee, level in -1..3 and seq are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO trust_edges (truster_key_id, trustee_key_id, level, stated_at, seq) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (truster_key_id, trustee_key_id) DO UPDATE SET level = excluded.level, stated_at = excluded.stated_at, seq = excluded.seq`,
		e.TrusterKeyID, e.TrusteeKeyID, e.Level, e.StatedAt.UTC(), e.Seq)
	if err != nil {
		return q.fail("put trust edge", err)
	}
	return nil
}

// AddFeedbackResponse implements store.FeedbackWriter.
func (q *Queries) AddFeedbackResponse(ctx context.Context, r store.FeedbackResponse) error {
	if r.Digest.IsZero() || r.PublisherKeyID == "" || r.Seq <= 0 {
		return fmt.Errorf("store: add feedback response: %w: digest, publisher and seq are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO feedback_responses (seq, algorithm, value, publisher_key_id, in_reply_to, body, responded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (algorithm, value, seq) DO NOTHING`,
		r.Seq, string(r.Digest.Algorithm()), r.Digest.Hex(), r.PublisherKeyID, r.InReplyTo, r.Body, r.RespondedAt.UTC())
	if err != nil {
		return q.fail("add feedback response", err)
	}
	return nil
}

// AddFeedbackProvenance implements store.FeedbackWriter.
func (q *Queries) AddFeedbackProvenance(ctx context.Context, p store.FeedbackProvenance) error {
	if p.Seq <= 0 || p.VerifierKey == "" || p.SourceSeq <= 0 || p.CheckpointSize < uint64(p.SourceSeq) || p.CheckpointSize > math.MaxInt64 ||
		len(p.CheckpointHash) != sha256.Size {
		return fmt.Errorf("store: add feedback provenance: %w: seq, verifier key, source seq, a checkpoint size covering it and a 32-byte checkpoint hash are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO feedback_provenance (seq, verifier_key, checkpoint_size, checkpoint_hash, source_seq, imported_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq, verifier_key) DO NOTHING`,
		p.Seq, p.VerifierKey, int64(p.CheckpointSize), p.CheckpointHash, p.SourceSeq, Now())
	if err != nil {
		return q.fail("add feedback provenance", err)
	}
	return nil
}
