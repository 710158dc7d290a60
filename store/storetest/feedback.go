package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

func update(t *testing.T, s store.Store, fn func(ctx context.Context, w store.Writer) error) error {
	t.Helper()
	return s.Update(context.Background(), fn)
}

// testVotes: vote rows are keyed by digest, axis and voter, replaced in
// place, and read back in order, optionally restricted to some voters.
func testVotes(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := sha256Of("votes-a"), sha512Of("votes-a")
	st, _ := appendOne(t, s, statementOf("votes", artifact("a", a, b)))
	at := time.Date(2026, 5, 1, 10, 0, 0, 123000, time.UTC)
	rows := []store.Vote{
		{VoterKeyID: "v2", Digest: a, Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
		{VoterKeyID: "v1", Digest: a, Axis: "quality", Value: -1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
		{VoterKeyID: "v1", Digest: a, Axis: "trust", Value: 1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
		{VoterKeyID: "v1", Digest: b, Axis: "quality", Value: 0, VotedAt: at, Seq: st.Seq, RecordedAt: at},
	}
	err := update(t, s, func(ctx context.Context, w store.Writer) error {
		if err := w.PutVotes(ctx, rows, nil); err != nil {
			return err
		}
		// Replacing in place: the row keeps its key, takes the new value.
		later := rows[1]
		later.Value, later.VotedAt = 1, at.Add(time.Minute)
		return w.PutVotes(ctx, []store.Vote{later}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Votes(ctx, []digest.Digest{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("Votes: %d rows, want 4: %+v", len(got), got)
	}
	// Ordered by digest (algorithm, value), axis, voter.
	if got[0].Digest != a || got[0].VoterKeyID != "v1" || got[0].Axis != "quality" || got[0].Value != 1 || !got[0].VotedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("replaced row: %+v", got[0])
	}
	if got[3].Digest != b || got[3].Value != 0 || got[3].Seq != st.Seq || !got[3].RecordedAt.Equal(at) {
		t.Fatalf("withdrawn row: %+v", got[3])
	}
	only, err := s.Votes(ctx, []digest.Digest{a}, []string{"v2", "nobody"})
	if err != nil || len(only) != 1 || only[0].VoterKeyID != "v2" {
		t.Fatalf("Votes by voter: %+v, %v", only, err)
	}
	if none, err := s.Votes(ctx, []digest.Digest{a}, []string{}); err != nil || len(none) != 0 {
		t.Fatalf("Votes with no voters: %+v, %v", none, err)
	}
	// Many voters: the IN list is split without losing any.
	many := make([]string, 1200)
	for i := range many {
		many[i] = "x" + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	many[1100] = "v2"
	if got, err := s.Votes(ctx, []digest.Digest{a}, many); err != nil || len(got) != 1 {
		t.Fatalf("Votes with 1200 voters: %d rows, %v", len(got), err)
	}
	// Bad rows and unknown digests are refused; nothing is written.
	for _, bad := range []store.Vote{
		{VoterKeyID: "v", Digest: a, Axis: "quality", Value: 2, VotedAt: at, Seq: st.Seq},
		{VoterKeyID: "", Digest: a, Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq},
		{VoterKeyID: "v", Digest: sha256Of("unknown"), Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq},
	} {
		err := update(t, s, func(ctx context.Context, w store.Writer) error { return w.PutVotes(ctx, []store.Vote{bad}, nil) })
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("PutVotes(%+v): %v, want ErrInvalid", bad, err)
		}
	}
}

// testVoteTotals: totals add up deltas, start at zero, and keep the
// latest vote time.
func testVoteTotals(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := sha256Of("totals-a")
	appendOne(t, s, statementOf("totals", artifact("a", a)))
	if got, err := s.VoteTotals(ctx, a); err != nil || got != (store.VoteTotals{}) {
		t.Fatalf("no votes yet: %+v, %v", got, err)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	deltas := []store.VoteTotals{
		{Likes: 1, Voters: 1, LastVoteAt: at},
		{Dislikes: 2, Trusts: 1, Voters: 2, LastVoteAt: at.Add(time.Hour)},
		{Likes: -1, Distrusts: 3, LastVoteAt: at.Add(-time.Hour)},
		{Voters: -1},
	}
	for _, d := range deltas {
		if err := update(t, s, func(ctx context.Context, w store.Writer) error {
			return w.PutVotes(ctx, nil, []store.VoteDelta{{Digest: a, Delta: d}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := store.VoteTotals{Likes: 0, Dislikes: 2, Trusts: 1, Distrusts: 3, Voters: 2, LastVoteAt: at.Add(time.Hour)}
	got, err := s.VoteTotals(ctx, a)
	if err != nil || got.Likes != want.Likes || got.Dislikes != want.Dislikes || got.Trusts != want.Trusts ||
		got.Distrusts != want.Distrusts || got.Voters != want.Voters || !got.LastVoteAt.Equal(want.LastVoteAt) {
		t.Fatalf("totals %+v, want %+v (%v)", got, want, err)
	}
	// A rolled back transaction leaves the totals as they were.
	boom := errors.New("boom")
	err = update(t, s, func(ctx context.Context, w store.Writer) error {
		if err := w.PutVotes(ctx, nil, []store.VoteDelta{{Digest: a, Delta: store.VoteTotals{Likes: 100}}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if again, _ := s.VoteTotals(ctx, a); again.Likes != 0 {
		t.Fatalf("rolled back delta applied: %+v", again)
	}
}

// testPutVotes: a batch of several rows and totals is written whole,
// replaces stored rows, refuses a key twice, a bad row, an unknown digest
// or log entry, and then writes nothing.
func testPutVotes(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := sha256Of("putvotes-a"), sha512Of("putvotes-a")
	st, _ := appendOne(t, s, statementOf("putvotes", artifact("a", a, b)))
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	first := []store.Vote{
		{VoterKeyID: "v1", Digest: a, Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
		{VoterKeyID: "v2", Digest: a, Axis: "quality", Value: -1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
		{VoterKeyID: "v1", Digest: b, Axis: "trust", Value: 1, VotedAt: at, Seq: st.Seq, RecordedAt: at},
	}
	totals := []store.VoteDelta{
		{Digest: a, Delta: store.VoteTotals{Likes: 1, Dislikes: 1, Voters: 2, LastVoteAt: at}},
		{Digest: b, Delta: store.VoteTotals{Trusts: 1, Voters: 1, LastVoteAt: at}},
	}
	if err := update(t, s, func(ctx context.Context, w store.Writer) error { return w.PutVotes(ctx, first, totals) }); err != nil {
		t.Fatal(err)
	}
	// Replacing: v1 withdraws on a; the totals move by the delta.
	later := first[0]
	later.Value, later.VotedAt = 0, at.Add(time.Minute)
	err := update(t, s, func(ctx context.Context, w store.Writer) error {
		return w.PutVotes(ctx, []store.Vote{later}, []store.VoteDelta{{Digest: a, Delta: store.VoteTotals{Likes: -1, Voters: -1}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Votes(ctx, []digest.Digest{a, b}, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("Votes: %+v, %v; want 3 rows", got, err)
	}
	if got[0].VoterKeyID != "v1" || got[0].Value != 0 || !got[0].VotedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("replaced row: %+v", got[0])
	}
	ta, err := s.VoteTotals(ctx, a)
	if err != nil || ta.Likes != 0 || ta.Dislikes != 1 || ta.Voters != 1 || !ta.LastVoteAt.Equal(at) {
		t.Fatalf("totals of a: %+v, %v", ta, err)
	}
	if tb, err := s.VoteTotals(ctx, b); err != nil || tb.Trusts != 1 || tb.Voters != 1 {
		t.Fatalf("totals of b: %+v, %v", tb, err)
	}
	// Refused batches write nothing, whatever else they carry.
	fresh := store.Vote{VoterKeyID: "v3", Digest: b, Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq, RecordedAt: at}
	for name, bad := range map[string]struct {
		votes  []store.Vote
		totals []store.VoteDelta
	}{
		"same key twice": {[]store.Vote{fresh, fresh}, nil},
		"bad value":      {[]store.Vote{fresh, {VoterKeyID: "v", Digest: a, Axis: "quality", Value: 2, VotedAt: at, Seq: st.Seq}}, nil},
		"unknown digest": {[]store.Vote{fresh, {VoterKeyID: "v", Digest: sha256Of("unknown"), Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq}}, nil},
		"unknown digest, with totals": {[]store.Vote{fresh, {VoterKeyID: "v", Digest: sha256Of("unknown"), Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq}},
			[]store.VoteDelta{{Digest: b, Delta: store.VoteTotals{Likes: 1, Voters: 1}}}},
		"unknown entry": {[]store.Vote{fresh, {VoterKeyID: "v", Digest: a, Axis: "quality", Value: 1, VotedAt: at, Seq: st.Seq + 1000}}, nil},
		"digest twice":  {[]store.Vote{fresh}, []store.VoteDelta{{Digest: b, Delta: store.VoteTotals{Likes: 1}}, {Digest: b}}},
	} {
		err := update(t, s, func(ctx context.Context, w store.Writer) error { return w.PutVotes(ctx, bad.votes, bad.totals) })
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s: PutVotes: %v, want ErrInvalid", name, err)
		}
		if got, _ := s.Votes(ctx, []digest.Digest{b}, []string{"v3"}); len(got) != 0 {
			t.Fatalf("%s: a refused batch wrote %+v", name, got)
		}
		if tb, _ := s.VoteTotals(ctx, b); tb.Likes != 0 {
			t.Fatalf("%s: a refused batch moved the totals: %+v", name, tb)
		}
	}
}

// testTrustEdges: edges are replaced per (truster, trustee), withdrawn ones
// read back with level 0.
func testTrustEdges(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, _ := appendOne(t, s, statementOf("trust", artifact("k", sha256Of("trust-k"))))
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	edges := []store.TrustEdge{
		{TrusterKeyID: "a", TrusteeKeyID: "b", Level: 3, StatedAt: at, Seq: st.Seq},
		{TrusterKeyID: "a", TrusteeKeyID: "c", Level: -1, StatedAt: at, Seq: st.Seq},
		{TrusterKeyID: "b", TrusteeKeyID: "c", Level: 1, StatedAt: at, Seq: st.Seq},
		{TrusterKeyID: "a", TrusteeKeyID: "b", Level: 0, StatedAt: at.Add(time.Hour), Seq: st.Seq},
	}
	err := update(t, s, func(ctx context.Context, w store.Writer) error {
		for _, e := range edges {
			if err := w.PutTrustEdge(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.TrustEdges(ctx, []string{"a"})
	if err != nil || len(got) != 2 || got[0].TrusteeKeyID != "b" || got[0].Level != 0 || !got[0].StatedAt.Equal(at.Add(time.Hour)) || got[1].Level != -1 {
		t.Fatalf("edges of a: %+v, %v", got, err)
	}
	if got, err := s.TrustEdges(ctx, []string{"a", "b", "z"}); err != nil || len(got) != 3 {
		t.Fatalf("edges of a, b: %+v, %v", got, err)
	}
	bad := store.TrustEdge{TrusterKeyID: "a", TrusteeKeyID: "b", Level: 4, StatedAt: at, Seq: st.Seq}
	if err := update(t, s, func(ctx context.Context, w store.Writer) error { return w.PutTrustEdge(ctx, bad) }); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("level 4: %v", err)
	}
}

// testFeedbackResponses: responses are idempotent per (digest, seq) and
// read newest first within the limit.
func testFeedbackResponses(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := sha256Of("resp-a"), sha256Of("resp-b")
	st1, _ := appendOne(t, s, statementOf("resp1", artifact("a", a)))
	st2, _ := appendOne(t, s, statementOf("resp2", artifact("b", b)))
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	rs := []store.FeedbackResponse{
		{Seq: st1.Seq, Digest: a, PublisherKeyID: "p", Body: "fixed in 1.2", RespondedAt: at},
		{Seq: st2.Seq, Digest: b, PublisherKeyID: "p", InReplyTo: "sha256:ab", Body: "false positive", RespondedAt: at},
		{Seq: st1.Seq, Digest: a, PublisherKeyID: "p", Body: "fixed in 1.2", RespondedAt: at},
	}
	err := update(t, s, func(ctx context.Context, w store.Writer) error {
		for _, r := range rs {
			if err := w.AddFeedbackResponse(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FeedbackResponses(ctx, []digest.Digest{a, b}, 10)
	if err != nil || len(got) != 2 || got[0].Seq != st2.Seq || got[0].InReplyTo != "sha256:ab" || got[1].Body != "fixed in 1.2" {
		t.Fatalf("responses %+v, %v", got, err)
	}
	if got, _ := s.FeedbackResponses(ctx, []digest.Digest{a, b}, 1); len(got) != 1 {
		t.Fatalf("limit 1: %d", len(got))
	}
}

// testFeedbackProvenance and SignedSince.
func testFeedbackProvenance(t *testing.T, s store.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	st, _ := appendOne(t, s, statementOf("prov", artifact("a", sha256Of("prov-a"))))
	hash := sha256.Sum256([]byte("root"))
	p := store.FeedbackProvenance{Seq: st.Seq, VerifierKey: "b.example+1+x", CheckpointSize: 9, CheckpointHash: hash[:], SourceSeq: 7}
	// The same entry from another log (every trustd log is named
	// trustd-log by default: the key tells them apart).
	q := p
	q.VerifierKey, q.CheckpointSize, q.SourceSeq = "b.example+2+y", 1<<40, 1<<39
	for range 2 {
		for _, p := range []store.FeedbackProvenance{p, q} {
			if err := update(t, s, func(ctx context.Context, w store.Writer) error { return w.AddFeedbackProvenance(ctx, p) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.FeedbackProvenance(ctx, st.Seq)
	if err != nil || len(got) != 2 || got[0].VerifierKey != p.VerifierKey || got[0].SourceSeq != 7 || got[0].CheckpointSize != 9 ||
		!bytes.Equal(got[0].CheckpointHash, hash[:]) || got[0].ImportedAt.IsZero() || got[1].CheckpointSize != 1<<40 || got[1].SourceSeq != 1<<39 {
		t.Fatalf("provenance %+v, %v", got, err)
	}
	for _, bad := range []store.FeedbackProvenance{
		{Seq: st.Seq},
		{Seq: st.Seq, VerifierKey: "k", CheckpointSize: 6, CheckpointHash: hash[:], SourceSeq: 7}, // beyond the checkpoint
		{Seq: st.Seq, VerifierKey: "k", CheckpointSize: 9, CheckpointHash: hash[:4], SourceSeq: 7},
		{Seq: st.Seq, VerifierKey: "k", CheckpointSize: 1 << 63, CheckpointHash: hash[:], SourceSeq: 7},
	} {
		if err := update(t, s, func(ctx context.Context, w store.Writer) error {
			return w.AddFeedbackProvenance(ctx, bad)
		}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("provenance %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if seq, err := s.StatementSeqByEnvelope(ctx, st.EnvelopeDigest); err != nil || seq != st.Seq {
		t.Fatalf("StatementSeqByEnvelope: %d, %v; want %d", seq, err, st.Seq)
	}
	if _, err := s.StatementSeqByEnvelope(ctx, sha256Of("no such envelope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("StatementSeqByEnvelope of an unknown envelope: %v", err)
	}
	n, err := s.SignedSince(ctx, "key-prov", []string{st.PredicateType, "other"}, before)
	if err != nil || n != 1 {
		t.Fatalf("SignedSince: %d, %v", n, err)
	}
	if n, _ := s.SignedSince(ctx, "key-prov", []string{st.PredicateType}, time.Now().Add(time.Minute)); n != 0 {
		t.Fatalf("SignedSince the future: %d", n)
	}
	if n, _ := s.SignedSince(ctx, "key-prov", []string{"other"}, before); n != 0 {
		t.Fatalf("SignedSince other type: %d", n)
	}
}
