package feedback

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// predicateOf returns the predicate of a stored, already validated
// statement's payload.
func predicateOf(e store.Statement) ([]byte, error) {
	var st struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return nil, fmt.Errorf("feedback: entry %d: payload: %w", e.Seq, err)
	}
	return st.Predicate, nil
}

// author returns the one signer of a feedback entry.
func author(e store.Statement) (string, error) {
	if len(e.SignerKeyIDs) != 1 || len(e.Subjects) != 1 {
		return "", fmt.Errorf("feedback: entry %d: %d signers and %d subjects, want one of each", e.Seq, len(e.SignerKeyIDs), len(e.Subjects))
	}
	return e.SignerKeyIDs[0], nil
}

// newer reports whether a vote signed at (at, seq) supersedes the stored
// vote old: a later signed time wins, and of equal signed times the first
// logged. Anybody may log a voter's signed statement again, re-encoded (a
// new envelope around the same signature): were the later entry to win a
// tie, a stranger could flip between two votes signed at the same time,
// or move when a standing vote was recorded.
func newer(v store.Vote, old store.Vote) bool {
	if !v.VotedAt.Equal(old.VotedAt) {
		return v.VotedAt.After(old.VotedAt)
	}
	return v.Seq < old.Seq
}

// standingRead returns what indexVotes reads of entries: the standing
// votes on their subjects' digests by their authors. An entry without one
// author and subject adds nothing (indexVotes refuses it).
func standingRead(entries []store.Statement) ([]digest.Digest, []string) {
	var (
		ds      []digest.Digest
		voters  []string
		isVoter = map[string]bool{}
	)
	for _, e := range entries {
		voter, err := author(e)
		if err != nil {
			continue
		}
		ds = append(ds, e.Subjects[0].Digests...)
		if !isVoter[voter] {
			isVoter[voter] = true
			voters = append(voters, voter)
		}
	}
	return ds, voters
}

// readVotesAhead announces indexVotes' read of a batch before it is
// appended (statement.ReadAhead).
func (s *Service) readVotesAhead(w store.Writer, recs []store.Statement) {
	w.ReadVotesAhead(standingRead(recs))
}

// indexVote makes the entry the voter's current vote on each digest of its
// subject along its axis, unless a later vote stands, and moves the totals
// by the difference, in the append's transaction: indexVotes with a batch
// of one.
func (s *Service) indexVote(ctx context.Context, w store.Writer, e store.Statement) error {
	return s.indexVotes(ctx, w, []store.Statement{e})
}

// indexVotes indexes a group-committed batch of votes, in log order: one
// read of the standing votes of the batch's voters on its
// digests, the batch applied to them in memory (so a later vote of the
// batch sees an earlier one), and one write of the rows that changed and
// of each digest's net totals (store.FeedbackWriter.PutVotes). Its
// outcome is that of indexing the votes one at a time.
func (s *Service) indexVotes(ctx context.Context, w store.Writer, entries []store.Statement) error {
	type vote struct {
		e     store.Statement
		voter string
		p     VotePredicate
	}
	votes := make([]vote, 0, len(entries))
	for _, e := range entries {
		voter, err := author(e)
		if err != nil {
			return err
		}
		raw, err := predicateOf(e)
		if err != nil {
			return err
		}
		p, err := ParseVote(raw)
		if err != nil {
			return fmt.Errorf("feedback: entry %d: %w", e.Seq, err)
		}
		votes = append(votes, vote{e, voter, p})
	}
	ds, voters := standingRead(entries)
	stored, err := w.Votes(ctx, ds, voters)
	if err != nil {
		return err
	}
	// standing[d][voter] are the voter's rows on d, by axis.
	type key struct {
		d     digest.Digest
		voter string
	}
	standing := map[key]map[string]store.Vote{}
	for _, v := range stored {
		k := key{v.Digest, v.VoterKeyID}
		if standing[k] == nil {
			standing[k] = map[string]store.Vote{}
		}
		standing[k][v.Axis] = v
	}
	type rowKey struct {
		key
		axis string
	}
	var (
		changed  = map[rowKey]store.Vote{}
		order    []rowKey
		totals   = map[digest.Digest]*store.VoteTotals{}
		digestsO []digest.Digest
	)
	for _, x := range votes {
		for _, d := range x.e.Subjects[0].Digests {
			k := key{d, x.voter}
			cur := standing[k]
			v := store.Vote{VoterKeyID: x.voter, Digest: d, Axis: x.p.Axis, Value: x.p.Sign(), VotedAt: x.p.Timestamp.UTC(), Seq: x.e.Seq, RecordedAt: x.e.RecordedAt}
			var (
				delta    store.VoteTotals
				before   = false
				after    = false
				replaced = true
			)
			for _, old := range cur {
				before = before || old.Value != 0
				if old.Axis != v.Axis {
					after = after || old.Value != 0
					continue
				}
				if !newer(v, old) {
					replaced = false
					after = after || old.Value != 0
					continue
				}
				addTo(&delta, old.Axis, old.Value, -1)
			}
			if !replaced {
				continue
			}
			if cur == nil {
				cur = map[string]store.Vote{}
				standing[k] = cur
			}
			cur[v.Axis] = v
			rk := rowKey{k, v.Axis}
			if _, ok := changed[rk]; !ok {
				order = append(order, rk)
			}
			changed[rk] = v
			addTo(&delta, v.Axis, v.Value, 1)
			after = after || v.Value != 0
			switch {
			case after && !before:
				delta.Voters = 1
			case before && !after:
				delta.Voters = -1
			}
			if v.Value != 0 {
				delta.LastVoteAt = v.VotedAt
			}
			t := totals[d]
			if t == nil {
				t = &store.VoteTotals{}
				totals[d] = t
				digestsO = append(digestsO, d)
			}
			t.Likes += delta.Likes
			t.Dislikes += delta.Dislikes
			t.Trusts += delta.Trusts
			t.Distrusts += delta.Distrusts
			t.Voters += delta.Voters
			if delta.LastVoteAt.After(t.LastVoteAt) {
				t.LastVoteAt = delta.LastVoteAt
			}
		}
	}
	rows := make([]store.Vote, len(order))
	for i, rk := range order {
		rows[i] = changed[rk]
	}
	deltas := make([]store.VoteDelta, len(digestsO))
	for i, d := range digestsO {
		deltas[i] = store.VoteDelta{Digest: d, Delta: *totals[d]}
	}
	if len(rows) == 0 {
		return nil
	}
	return w.PutVotes(ctx, rows, deltas)
}

// addTo adds n times one vote of value on axis to t.
func addTo(t *store.VoteTotals, axis string, value int, n int64) {
	switch {
	case axis == AxisQuality && value > 0:
		t.Likes += n
	case axis == AxisQuality && value < 0:
		t.Dislikes += n
	case axis == AxisTrust && value > 0:
		t.Trusts += n
	case axis == AxisTrust && value < 0:
		t.Distrusts += n
	}
}

// indexTrust makes the entry the truster's current statement about the
// trusted key, unless a later one stands.
func (s *Service) indexTrust(ctx context.Context, w store.Writer, e store.Statement) error {
	edge, err := trustEdgeOf(e)
	if err != nil {
		return err
	}
	truster := edge.TrusterKeyID
	if err := indexTrustVersion(ctx, w, edge); err != nil {
		return err
	}
	cur, err := w.TrustEdges(ctx, []string{truster})
	if err != nil {
		return err
	}
	for _, old := range cur {
		if old.TrusteeKeyID == edge.TrusteeKeyID && !edgeNewer(edge, old) {
			return nil
		}
	}
	return w.PutTrustEdge(ctx, edge)
}

// trustEdgeOf returns the edge trust statement e states.
// Its subject (the trusted key, also named by the predicate) is not
// needed: a log read without subjects will do.
func trustEdgeOf(e store.Statement) (store.TrustEdge, error) {
	if len(e.SignerKeyIDs) != 1 {
		return store.TrustEdge{}, fmt.Errorf("feedback: entry %d: %d signers, want one", e.Seq, len(e.SignerKeyIDs))
	}
	truster := e.SignerKeyIDs[0]
	raw, err := predicateOf(e)
	if err != nil {
		return store.TrustEdge{}, err
	}
	p, err := ParseTrust(raw)
	if err != nil {
		return store.TrustEdge{}, fmt.Errorf("feedback: entry %d: %w", e.Seq, err)
	}
	return store.TrustEdge{TrusterKeyID: truster, TrusteeKeyID: p.KeyID, Level: p.Weight(), StatedAt: p.Timestamp.UTC(), Seq: e.Seq}, nil
}

// edgeNewer reports whether trust statement e supersedes old: a later
// signed time wins, the log sequence breaks ties (as for votes).
func edgeNewer(e, old store.TrustEdge) bool {
	return newer(store.Vote{VotedAt: e.StatedAt, Seq: e.Seq}, store.Vote{VotedAt: old.StatedAt, Seq: old.Seq})
}

// indexTrustVersion adds edge to the versioned web of trust and
// recomputes, for its (truster, trustee) pair, from which log entry each
// statement stood and until which: the statement standing after entry N
// is the newest (edgeNewer) of those logged up to N. Recomputing the pair
// whole makes the result independent of the order statements are indexed
// in (a backfill replays old entries after new ones were indexed) and
// indexing an entry twice a no-op.
func indexTrustVersion(ctx context.Context, w store.Writer, edge store.TrustEdge) error {
	old, err := w.TrustEdgeVersions(ctx, edge.TrusterKeyID, edge.TrusteeKeyID)
	if err != nil {
		return err
	}
	for _, v := range old {
		if v.Seq == edge.Seq {
			return nil
		}
	}
	all := append(slices.Clone(old), store.TrustEdgeVersion{TrustEdge: edge})
	slices.SortFunc(all, func(a, b store.TrustEdgeVersion) int { return cmp.Compare(a.Seq, b.Seq) })
	next := versionsOf(all)
	for i, v := range next {
		if v.Seq != edge.Seq {
			if j := slices.IndexFunc(old, func(o store.TrustEdgeVersion) bool { return o.Seq == v.Seq }); old[j].SupersededAtSeq == v.SupersededAtSeq {
				continue
			}
		}
		if err := w.PutTrustEdgeVersion(ctx, next[i]); err != nil {
			return err
		}
	}
	return nil
}

// versionsOf sets SupersededAtSeq of one pair's statements, sorted by
// Seq: each statement that is newer than the one standing stands from its
// own entry until the next such statement; the others never stand.
func versionsOf(vs []store.TrustEdgeVersion) []store.TrustEdgeVersion {
	standing := -1
	for i := range vs {
		vs[i].SupersededAtSeq = 0
		if standing >= 0 && !edgeNewer(vs[i].TrustEdge, vs[standing].TrustEdge) {
			vs[i].SupersededAtSeq = vs[i].Seq
			continue
		}
		if standing >= 0 {
			vs[standing].SupersededAtSeq = vs[i].Seq
		}
		standing = i
	}
	return vs
}

// indexResponse records a publisher's response under each digest of its
// subject.
func (s *Service) indexResponse(ctx context.Context, w store.Writer, e store.Statement) error {
	publisher, err := author(e)
	if err != nil {
		return err
	}
	raw, err := predicateOf(e)
	if err != nil {
		return err
	}
	p, err := ParseResponse(raw)
	if err != nil {
		return fmt.Errorf("feedback: entry %d: %w", e.Seq, err)
	}
	for _, d := range e.Subjects[0].Digests {
		err := w.AddFeedbackResponse(ctx, store.FeedbackResponse{
			Seq: e.Seq, Digest: d, PublisherKeyID: publisher, InReplyTo: p.InReplyTo, Body: p.Text, RespondedAt: p.Timestamp.UTC(),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// backfillPage is how many logged trust statements one backfill
// transaction replays.
const backfillPage = 500

// IndexLoggedTrust replays into the versioned web of trust the trust
// statements an older trustd logged before it existed (every entry up to
// the one the migration recorded), and returns how many it replayed. It
// is idempotent, and entries indexed meanwhile do not disturb it (a
// pair's versions are recomputed whole); trustd calls it at start.
func (s *Service) IndexLoggedTrust(ctx context.Context, st store.Store) (int, error) {
	through, err := st.DerivedBackfill(ctx, store.BackfillTrustEdgeVersions)
	if err != nil || through == 0 {
		return 0, err
	}
	n := 0
	for after := int64(0); after < through; {
		entries, err := st.StatementsByPredicate(ctx, TrustPredicateType, after, backfillPage)
		if err != nil {
			return n, fmt.Errorf("feedback: backfill trust versions: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
			for _, e := range entries {
				if e.Seq > through || !recordtype.Genuine(e.PayloadType, e.PredicateType) {
					continue
				}
				edge, err := trustEdgeOf(e)
				if err != nil {
					return err
				}
				if err := indexTrustVersion(ctx, w, edge); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("feedback: backfill trust versions: %w", err)
		}
		after = entries[len(entries)-1].Seq
	}
	err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		return w.SetDerivedBackfill(ctx, store.BackfillTrustEdgeVersions, 0)
	})
	if err != nil {
		return n, fmt.Errorf("feedback: backfill trust versions: %w", err)
	}
	return n, nil
}
