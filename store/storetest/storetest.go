// Package storetest is the conformance suite every store backend must pass.
// Backends call Run from their own tests with a factory that hands out a
// fresh, migrated, empty store per test.
package storetest

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// Factory returns a fresh, empty store; it registers its own cleanup on t.
type Factory func(t *testing.T) store.Store

// Run runs every conformance test against the backend that open makes.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"UnknownSubject", testUnknownSubject},
		{"AppendStatement", testAppendStatement},
		{"AppendIdempotent", testAppendIdempotent},
		{"AppendInvalid", testAppendInvalid},
		{"RollbackStoresNothing", testRollback},
		{"GaplessConcurrentAppends", testConcurrentAppends},
		{"AliasClaimJoinsNewDigests", testAliasClaimJoins},
		{"AliasClaimNeverMerges", testAliasClaimNeverMerges},
		{"AliasClaimIdempotent", testAliasClaimIdempotent},
		{"AliasClaimInvalid", testAliasClaimInvalid},
		{"AliasClaimsSelected", testAliasClaimsSelected},
		{"Keys", testKeys},
		{"KeyLabels", testKeyLabels},
		{"KeyAliases", testKeyAliases},
		{"ReplaceKeyMaterial", testReplaceKeyMaterial},
		{"Evidence", testEvidence},
		{"AppendStatementsBatch", testAppendBatch},
		{"AppendStatementsAtTip", testAppendAtTip},
		{"SignedOnce", testSignedOnce},
		{"SetSignedDigest", testSetSignedDigest},
		{"LargeStatement", testLargeStatement},
		{"SubjectView", testSubjectView},
		{"KeyList", testKeyList},
		{"LogNodes", testLogNodes},
		{"PGPKeys", testPGPKeys},
		{"StatementsByPredicate", testStatementsByPredicate},
		{"TUFMetadata", testTUFMetadata},
		{"TUFPending", testTUFPending},
		{"TUFConcurrentPublish", testTUFConcurrentPublish},
		{"Votes", testVotes},
		{"VoteTotals", testVoteTotals},
		{"PutVotes", testPutVotes},
		{"TrustEdges", testTrustEdges},
		{"FeedbackResponses", testFeedbackResponses},
		{"FeedbackProvenance", testFeedbackProvenance},
		{"Revocations", testRevocations},
		{"StatementByEnvelope", testStatementByEnvelope},
		{"RevocationsOf", testRevocationsOf},
		{"StatementsBySeq", testStatementsBySeq},
		{"DigestLookup", testDigestLookup},
		{"Attestations", testAttestations},
		{"AttestationInvalid", testAttestationInvalid},
		{"LayoutLinks", testLayoutLinks},
		{"LogVerifierKey", testLogVerifierKey},
		{"LogVerifierKeyRace", testLogVerifierKeyRace},
		{"LogCosignatures", testLogCosignatures},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func sha256Of(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	return must(digest.New(digest.SHA256, sum[:]))
}

func sha512Of(s string) digest.Digest {
	sum := sha512.Sum512([]byte(s))
	return must(digest.New(digest.SHA512, sum[:]))
}

func must(d digest.Digest, err error) digest.Digest {
	if err != nil {
		panic(err)
	}
	return d
}

// artifact is one statement subject with the given digests.
func artifact(name string, ds ...digest.Digest) store.StatementSubject {
	return store.StatementSubject{Name: name, Digests: ds}
}

// statement is a statement with one single-digest subject per digest.
func statement(name string, ds ...digest.Digest) store.Statement {
	var subjects []store.StatementSubject
	for i, d := range ds {
		subjects = append(subjects, artifact(fmt.Sprintf("%s-%d", name, i), d))
	}
	return statementOf(name, subjects...)
}

func statementOf(name string, subjects ...store.StatementSubject) store.Statement {
	env := []byte(fmt.Sprintf(`{"payloadType":"application/vnd.in-toto+json","payload":%q,"signatures":[]}`, name))
	return store.Statement{
		EnvelopeDigest: sha256Of(string(env)),
		PayloadType:    "application/vnd.in-toto+json",
		PredicateType:  "https://example.com/predicate/" + name,
		Envelope:       env,
		Payload:        []byte(name),
		SignerKeyIDs:   []string{"key-" + name},
		Subjects:       subjects,
	}
}

func appendOne(t *testing.T, s store.Store, st store.Statement) (store.Statement, bool) {
	t.Helper()
	var (
		got     store.Statement
		created bool
	)
	err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		var err error
		got, created, err = w.AppendStatement(ctx, st)
		return err
	})
	if err != nil {
		t.Fatalf("AppendStatement: %v", err)
	}
	return got, created
}

func claim(t *testing.T, s store.Store, c store.AliasClaim) (store.AliasClaim, bool, error) {
	t.Helper()
	var (
		got     store.AliasClaim
		created bool
	)
	err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		var err error
		got, created, err = w.AddAliasClaim(ctx, c)
		return err
	})
	return got, created, err
}

// nextSeq reports the sequence number the next append would get, by
// appending in a transaction that is rolled back.
func nextSeq(t *testing.T, s store.Store) int64 {
	t.Helper()
	errRollback := errors.New("rollback")
	var seq int64
	err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		st, _, err := w.AppendStatement(ctx, statement(fmt.Sprintf("probe-%d", time.Now().UnixNano())))
		if err != nil {
			return err
		}
		seq = st.Seq
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("probe append: %v", err)
	}
	return seq
}

func testUnknownSubject(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.SubjectByDigest(ctx, sha256Of("nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SubjectByDigest(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Statement(ctx, 42); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Statement(42) = %v, want ErrNotFound", err)
	}
	if _, err := s.Key(ctx, "nokey"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Key(nokey) = %v, want ErrNotFound", err)
	}
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{sha256Of("nobody")}})
	if err != nil || len(claims) != 0 {
		t.Errorf("AliasClaims(unknown) = %v, %v; want none", claims, err)
	}
}

func testAppendStatement(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := sha256Of("a"), sha256Of("b")
	first, created := appendOne(t, s, statement("one", a))
	if !created || first.Seq != 1 {
		t.Fatalf("first append: seq %d created %v, want 1 true", first.Seq, created)
	}
	second, _ := appendOne(t, s, statement("two", b, a))
	if second.Seq != 2 {
		t.Fatalf("second append: seq %d, want 2", second.Seq)
	}
	got, err := s.Statement(ctx, 2)
	if err != nil {
		t.Fatalf("Statement(2): %v", err)
	}
	want := statement("two", b, a)
	if string(got.Envelope) != string(want.Envelope) || string(got.Payload) != string(want.Payload) ||
		got.EnvelopeDigest != want.EnvelopeDigest || got.PredicateType != want.PredicateType ||
		got.PayloadType != want.PayloadType || fmt.Sprint(got.SignerKeyIDs) != fmt.Sprint(want.SignerKeyIDs) {
		t.Errorf("Statement(2) = %+v, want the appended statement verbatim", got)
	}
	if len(got.Subjects) != 2 || got.Subjects[0].Name != "two-0" || got.Subjects[0].Digests[0] != b || !got.RecordedAt.Equal(second.RecordedAt) {
		t.Errorf("Statement(2) subjects %v recorded %v; want [two-0: b, two-1: a], recorded %v", got.Subjects, got.RecordedAt, second.RecordedAt)
	}
	// Two subjects of one statement are two artifacts: no alias claim.
	sa, err := s.SubjectByDigest(ctx, a)
	if err != nil {
		t.Fatalf("SubjectByDigest(a): %v", err)
	}
	sb, err := s.SubjectByDigest(ctx, b)
	if err != nil {
		t.Fatalf("SubjectByDigest(b): %v", err)
	}
	if sa.ID == sb.ID || len(sa.Digests) != 1 || sa.Digests[0] != a {
		t.Errorf("subjects a=%+v b=%+v: want distinct single-digest subjects", sa, sb)
	}
	if claims, _ := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{a, b}}); len(claims) != 0 {
		t.Errorf("claims = %+v, want none", claims)
	}

	// One subject listing two algorithms is an alias claim by the signers.
	c256, c512 := sha256Of("c"), sha512Of("c")
	third, _ := appendOne(t, s, statementOf("three", artifact("c.tar", c512, c256)))
	sc, err := s.SubjectByDigest(ctx, c512)
	if err != nil || len(sc.Digests) != 2 {
		t.Fatalf("SubjectByDigest(c512) = %+v, %v; want both digests of the artifact", sc, err)
	}
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{c256}})
	if err != nil || len(claims) != 1 {
		t.Fatalf("AliasClaims(c256) = %+v, %v; want the statement's claim", claims, err)
	}
	if c := claims[0]; c.Source != store.ClaimStatement || c.StatementSeq != third.Seq || c.Reference != "3/0" ||
		fmt.Sprint(c.SignerKeyIDs) != "[key-three]" || !c.ClaimedAt.Equal(third.RecordedAt) ||
		c.PayloadType != third.PayloadType || c.PredicateType != third.PredicateType {
		t.Errorf("statement claim = %+v", c)
	}
}

func testAppendIdempotent(t *testing.T, s store.Store) {
	st := statement("same", sha256Of("x"))
	first, _ := appendOne(t, s, st)
	again, created := appendOne(t, s, st)
	if created || again.Seq != first.Seq || !again.RecordedAt.Equal(first.RecordedAt) {
		t.Errorf("resubmit: seq %d created %v recorded %v; want original seq %d, not created, recorded %v",
			again.Seq, created, again.RecordedAt, first.Seq, first.RecordedAt)
	}
	if n := nextSeq(t, s); n != first.Seq+1 {
		t.Errorf("next seq after resubmit = %d, want %d (nothing new stored)", n, first.Seq+1)
	}
}

func testAppendInvalid(t *testing.T, s store.Store) {
	ok := statement("ok", sha256Of("ok"))
	cases := map[string]func(*store.Statement){
		"no envelope":      func(st *store.Statement) { st.Envelope = nil },
		"no envelope hash": func(st *store.Statement) { st.EnvelopeDigest = digest.Digest{} },
		"no payload type":  func(st *store.Statement) { st.PayloadType = "" },
	}
	for name, mutate := range cases {
		st := ok
		mutate(&st)
		err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
			_, _, err := w.AppendStatement(ctx, st)
			return err
		})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if n := nextSeq(t, s); n != 1 {
		t.Errorf("next seq after rejected appends = %d, want 1", n)
	}
	if _, err := s.SubjectByDigest(context.Background(), sha256Of("ok")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("subject of rejected statement: %v, want ErrNotFound", err)
	}
}

func testRollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	d := sha256Of("rolled back")
	err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		if _, _, err := w.AppendStatement(ctx, statement("rb", d)); err != nil {
			return err
		}
		if _, _, err := w.AddAliasClaim(ctx, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "rb",
			Digests: []digest.Digest{d, sha512Of("rolled back")}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the callback's error", err)
	}
	if _, err := s.SubjectByDigest(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("subject after rollback: %v, want ErrNotFound", err)
	}
	if n := nextSeq(t, s); n != 1 {
		t.Errorf("next seq after rollback = %d, want 1", n)
	}
}

func testConcurrentAppends(t *testing.T, s store.Store) {
	const workers, each = 8, 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs = map[int64]bool{}
		errs []error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var st store.Statement
				err := s.Update(context.Background(), func(ctx context.Context, wr store.Writer) error {
					var err error
					st, _, err = wr.AppendStatement(ctx, statement(fmt.Sprintf("c-%d-%d", w, i), sha256Of("shared")))
					return err
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					seqs[st.Seq] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d concurrent appends failed, first: %v", len(errs), errs[0])
	}
	for seq := int64(1); seq <= workers*each; seq++ {
		if !seqs[seq] {
			t.Errorf("sequence number %d missing: the log must be gapless", seq)
		}
	}
}

func testAliasClaimJoins(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := sha256Of("artifact"), sha512Of("artifact")
	appendOne(t, s, statement("release", a, b))
	c, created, err := claim(t, s, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "repo/targets/1/release.tar",
		SignerKeyIDs: []string{"publisher"}, Digests: []digest.Digest{a, b}})
	if err != nil || !created {
		t.Fatalf("AddAliasClaim: %v created=%v", err, created)
	}
	// Both digests already had subjects of their own: the claim is recorded
	// but subjects are not merged.
	sa, _ := s.SubjectByDigest(ctx, a)
	sb, _ := s.SubjectByDigest(ctx, b)
	if sa.ID == sb.ID {
		t.Errorf("claim merged existing subjects %d and %d", sa.ID, sb.ID)
	}

	x, y := sha256Of("new"), sha512Of("new")
	c2, _, err := claim(t, s, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "repo/targets/3/new.tar",
		SignerKeyIDs: []string{"targets-key"}, Digests: []digest.Digest{x, y, x}})
	if err != nil {
		t.Fatalf("AddAliasClaim(new digests): %v", err)
	}
	sx, err := s.SubjectByDigest(ctx, y)
	if err != nil {
		t.Fatalf("SubjectByDigest(y): %v", err)
	}
	if len(sx.Digests) != 2 || sx.Digests[0] != x || sx.Digests[1] != y {
		t.Errorf("subject of new digests = %v, want [x y]", sx.Digests)
	}
	if len(c2.Digests) != 2 {
		t.Errorf("claim digests = %v, want duplicates dropped", c2.Digests)
	}
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{a}})
	if err != nil || len(claims) != 1 {
		t.Fatalf("AliasClaims(a) = %v, %v; want one", claims, err)
	}
	got := claims[0]
	if got.ID != c.ID || got.Source != store.ClaimTUFTarget || got.Reference != "repo/targets/1/release.tar" || got.StatementSeq != 0 ||
		fmt.Sprint(got.SignerKeyIDs) != "[publisher]" || len(got.Digests) != 2 || !got.ClaimedAt.Equal(c.ClaimedAt) {
		t.Errorf("AliasClaims(a)[0] = %+v, want %+v", got, c)
	}
}

func testAliasClaimNeverMerges(t *testing.T, s store.Store) {
	ctx := context.Background()
	good, good512 := sha256Of("good"), sha512Of("good")
	bad := sha512Of("malware")
	publisher := statementOf("release", artifact("good.tar", good, good512))
	publisher.SignerKeyIDs = []string{"publisher"}
	appendOne(t, s, publisher)
	appendOne(t, s, statement("bad-evidence", bad))
	// A stranger logs a statement whose one subject lists GOOD and BAD:
	// it claims GOOD ≡ BAD. BAD already has a subject, so it stays there;
	// the claim is visible from both sides, labelled with its signer.
	attacker := statementOf("attack", artifact("good.tar", good, bad))
	attacker.SignerKeyIDs = []string{"attacker"}
	appendOne(t, s, attacker)
	sg, _ := s.SubjectByDigest(ctx, good)
	sb, _ := s.SubjectByDigest(ctx, bad)
	if sg.ID == sb.ID || len(sg.Digests) != 2 || len(sb.Digests) != 1 {
		t.Errorf("attacker claim changed subjects: good=%+v bad=%+v", sg, sb)
	}
	// Nor does a digest new to the log join GOOD's subject because a
	// stranger listed it beside GOOD: it gets a subject of its own, and
	// GOOD's subject stays the digests its first statement listed, however
	// many a stranger names beside it (each was one more digest on every
	// lookup of GOOD).
	fresh := sha512Of("fresh malware")
	newcomer := statementOf("attack-new", artifact("good.tar", good, fresh))
	newcomer.SignerKeyIDs = []string{"attacker"}
	appendOne(t, s, newcomer)
	sg, _ = s.SubjectByDigest(ctx, good)
	sf, err := s.SubjectByDigest(ctx, fresh)
	if err != nil || sf.ID == sg.ID || len(sg.Digests) != 2 || fmt.Sprint(sf.Digests) != fmt.Sprint([]digest.Digest{fresh}) {
		t.Errorf("a new digest listed beside GOOD: GOOD's subject %+v, its own %+v (%v); want it apart", sg, sf, err)
	}
	for _, d := range []digest.Digest{good, bad} {
		claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{d}})
		if err != nil {
			t.Fatal(err)
		}
		var signers []string
		for _, c := range claims {
			signers = append(signers, c.SignerKeyIDs...)
		}
		if fmt.Sprint(signers) != map[bool]string{true: "[publisher attacker attacker]", false: "[attacker]"}[d == good] {
			t.Errorf("claims naming %s signed by %v", d, signers)
		}
	}
}

// testAliasClaimsSelected: a stranger's claims naming a digest are read
// only by readers that take every claim. A reader that trusts publishers
// and some keys gets the stored claims, the publications' and those
// keys'; a limit keeps the publications' first, then the oldest; a
// subject view counts the claims it leaves out.
func testAliasClaimsSelected(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := sha256Of("selected")
	seqOf := func(st store.Statement) int64 { got, _ := appendOne(t, s, st); return got.Seq }
	var stranger []int64
	for i := range 3 {
		st := statementOf(fmt.Sprint("stranger-", i), artifact("x", a, sha512Of(fmt.Sprint("stranger-", i))))
		st.SignerKeyIDs = []string{"stranger"}
		stranger = append(stranger, seqOf(st))
	}
	pub := statementOf("release", artifact("app.tar", a, sha512Of("selected")))
	pub.Publication, pub.SignerKeyIDs = true, []string{"targets-key"}
	published := seqOf(pub)
	att := statementOf("provenance", artifact("app.tar", a, sha512Of("built")))
	att.SignerKeyIDs = []string{"builder"}
	attested := seqOf(att)
	late := statementOf("stranger-late", artifact("x", a, sha512Of("stranger-late")))
	late.SignerKeyIDs = []string{"stranger"}
	stranger = append(stranger, seqOf(late))
	stored, _, err := claim(t, s, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "repo/targets/1/app.tar",
		SignerKeyIDs: []string{"targets-key"}, Digests: []digest.Digest{a, sha512Of("stored")}})
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(q store.ClaimQuery) string {
		t.Helper()
		claims, err := s.AliasClaims(ctx, q)
		if err != nil {
			t.Fatalf("AliasClaims(%+v): %v", q, err)
		}
		var out []string
		for _, c := range claims {
			if c.Source == store.ClaimTUFTarget {
				out = append(out, "stored")
			} else {
				out = append(out, fmt.Sprint(c.StatementSeq))
			}
		}
		return strings.Join(out, " ")
	}
	all := []int64{stranger[0], stranger[1], stranger[2], published, attested, stranger[3]}
	list := func(ss ...int64) string {
		var out []string
		for _, seq := range ss {
			out = append(out, fmt.Sprint(seq))
		}
		return strings.Join(append(out, "stored"), " ")
	}
	for _, tc := range []struct {
		name string
		q    store.ClaimQuery
		want string
	}{
		{"every claim", store.ClaimQuery{Digests: []digest.Digest{a}}, list(all...)},
		{"publications'", store.ClaimQuery{Digests: []digest.Digest{a}, Publications: true}, list(published)},
		{"a key's", store.ClaimQuery{Digests: []digest.Digest{a}, SignedBy: []string{"builder", "nobody"}}, list(attested)},
		{"both", store.ClaimQuery{Digests: []digest.Digest{a}, Publications: true, SignedBy: []string{"builder"}}, list(published, attested)},
		{"publications first, then the oldest", store.ClaimQuery{Digests: []digest.Digest{a}, Limit: 2}, list(stranger[0], published)},
		{"limited and filtered", store.ClaimQuery{Digests: []digest.Digest{a}, Publications: true, SignedBy: []string{"builder"}, Limit: 1}, list(published)},
		{"by an alias", store.ClaimQuery{Digests: []digest.Digest{sha512Of("built")}}, fmt.Sprint(attested)},
	} {
		if got := seqs(tc.q); got != tc.want {
			t.Errorf("%s: claims %s, want %s", tc.name, got, tc.want)
		}
	}
	v, err := s.SubjectView(ctx, a, store.EvidencePage{Claims: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Claims) != 3 || v.ClaimCount != len(all)+1 || v.Claims[2].ID != stored.ID {
		t.Errorf("view limited to 2 statement claims: %d claims (count %d), want the 2 and the stored one of %d", len(v.Claims), v.ClaimCount, len(all)+1)
	}
	if v, _ := s.SubjectView(ctx, a, store.EvidencePage{}); len(v.Claims) != len(all)+1 || v.ClaimCount != len(all)+1 {
		t.Errorf("view without a limit: %d claims (count %d), want all %d", len(v.Claims), v.ClaimCount, len(all)+1)
	}
}

func testAliasClaimIdempotent(t *testing.T, s store.Store) {
	c := store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "r/t/1", SignerKeyIDs: []string{"k"},
		Digests: []digest.Digest{sha256Of("i"), sha512Of("i")}}
	first, _, err := claim(t, s, c)
	if err != nil {
		t.Fatal(err)
	}
	again, created, err := claim(t, s, c)
	if err != nil || created || again.ID != first.ID || !again.ClaimedAt.Equal(first.ClaimedAt) {
		t.Errorf("same claim again = %+v created=%v err=%v; want the original, not created", again, created, err)
	}
	c.Digests = []digest.Digest{sha256Of("i"), sha512Of("other")}
	if _, _, err := claim(t, s, c); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same identity, other digests: err = %v, want ErrConflict", err)
	}
	if _, err := s.SubjectByDigest(context.Background(), sha512Of("other")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("digest of rejected claim was stored: %v", err)
	}
}

func testAliasClaimInvalid(t *testing.T, s store.Store) {
	two := []digest.Digest{sha256Of("v"), sha512Of("v")}
	cases := map[string]store.AliasClaim{
		"unknown source":    {Source: "gossip", Reference: "r", Digests: two},
		"no reference":      {Source: store.ClaimTUFTarget, Digests: two},
		"one digest":        {Source: store.ClaimTUFTarget, Reference: "r", Digests: []digest.Digest{two[0], two[0]}},
		"unknown statement": {Source: store.ClaimTUFTarget, Reference: "r", StatementSeq: 999, Digests: two},
		// A statement's claim is its subject: only appending it makes one.
		"statement source": {Source: store.ClaimStatement, Reference: "1/0", Digests: two},
	}
	for name, c := range cases {
		if _, _, err := claim(t, s, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.SubjectByDigest(context.Background(), two[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("digest of rejected claim was stored: %v", err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(k store.Key) (store.Key, error) {
		var got store.Key
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			var err error
			got, err = w.PutKey(ctx, k)
			return err
		})
		return got, err
	}
	k := store.Key{ID: "abc123", Type: "ed25519", PublicKey: []byte{1, 2, 3}, Label: "release"}
	first, err := put(k)
	if err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	again, err := put(k)
	if err != nil || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("PutKey again = %+v, %v; want the original record", again, err)
	}
	got, err := s.Key(ctx, "abc123")
	if err != nil || got.Type != "ed25519" || string(got.PublicKey) != "\x01\x02\x03" || got.Label != "release" {
		t.Errorf("Key = %+v, %v", got, err)
	}
	// The batched read answers as Key does, leaving out unknown ids and
	// repeats, over lists longer than one query holds.
	if _, err := put(store.Key{ID: "abc000", Type: "ed25519", PublicKey: []byte{4}}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"abc123", "unknown", "abc000", "abc123"}
	for i := range 300 {
		ids = append(ids, fmt.Sprint("missing-", i))
	}
	many, err := s.KeysByID(ctx, ids)
	if err != nil || len(many) != 2 || many[0].ID != "abc000" || many[1].ID != "abc123" || many[1].Label != "release" ||
		!many[1].CreatedAt.Equal(got.CreatedAt) || string(many[1].PublicKey) != "\x01\x02\x03" || many[1].Type != "ed25519" {
		t.Errorf("KeysByID = %+v, %v; want abc000 and abc123 as Key reads them", many, err)
	}
	if none, err := s.KeysByID(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("KeysByID(none) = %+v, %v", none, err)
	}
	k.PublicKey = []byte{9}
	if _, err := put(k); !errors.Is(err, store.ErrConflict) {
		t.Errorf("other key under same id: err = %v, want ErrConflict", err)
	}
	if _, err := put(store.Key{ID: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("key without type: err = %v, want ErrInvalid", err)
	}
}

func testEvidence(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := sha256Of("ea"), sha512Of("ea"), sha256Of("unrelated")
	appendOne(t, s, statement("e1", a))
	appendOne(t, s, statement("e2", c))
	appendOne(t, s, statement("e3", b, a))
	ev, err := s.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{a, b}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Digest.Algorithm()))
	}
	// Newest first; statement 3 names both digests.
	want := map[string]bool{"[3:sha256 3:sha512 1:sha256]": true, "[3:sha512 3:sha256 1:sha256]": true}
	if !want[fmt.Sprint(got)] {
		t.Errorf("Evidence = %v, want statement 3 (both digests) then 1", got)
	}
	if ev[len(ev)-1].PredicateType != "https://example.com/predicate/e1" || ev[len(ev)-1].PayloadType != "application/vnd.in-toto+json" ||
		fmt.Sprint(ev[len(ev)-1].SignerKeyIDs) != "[key-e1]" {
		t.Errorf("Evidence[last] = %+v", ev[len(ev)-1])
	}
	if ev, _ := s.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{a, b}, Limit: 1}); len(ev) != 1 || ev[0].Seq != 3 {
		t.Errorf("Evidence limit 1 = %+v, want only the newest", ev)
	}
	seqs := func(q store.EvidenceQuery) string {
		t.Helper()
		q.Limit = 10
		ev, err := s.Evidence(ctx, q)
		if err != nil {
			t.Fatalf("Evidence(%+v): %v", q, err)
		}
		var out []int64
		for _, e := range ev {
			out = append(out, e.Seq)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		q    store.EvidenceQuery
		want string
	}{
		{store.EvidenceQuery{Digests: []digest.Digest{a}, PredicateType: "https://example.com/predicate/e1"}, "[1]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, SignerKeyID: "key-e3"}, "[3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, SignerKeyID: "key-e2"}, "[]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, BeforeSeq: 3}, "[1]"},
		{store.EvidenceQuery{Digests: []digest.Digest{c}}, "[2]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, OldestFirst: true}, "[1 3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, OldestFirst: true, AfterSeq: 1}, "[3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a, c}, OldestFirst: true, AfterSeq: 1, BeforeSeq: 3}, "[2]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, AfterSeq: 1}, "[3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a, a}}, "[3 1]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a, c}, SignerKeyID: "key-e3"}, "[3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a, b}, SignerKeyID: "key-e3", OldestFirst: true}, "[3 3]"},
		{store.EvidenceQuery{Digests: []digest.Digest{a}, SignerKeyID: "key-e3", BeforeSeq: 3}, "[]"},
	} {
		if got := seqs(tc.q); got != tc.want {
			t.Errorf("Evidence(%+v) = %s, want %s", tc.q, got, tc.want)
		}
	}
}

func testAppendBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	old, _ := appendOne(t, s, statement("old", sha256Of("old")))
	x256, x512, y := sha256Of("x"), sha512Of("x"), sha256Of("y")
	batch := []store.Statement{
		statementOf("b1", artifact("x", x256, x512)), // new artifact: one new subject for both digests
		statement("old", sha256Of("old")),            // already in the log
		statementOf("b2", artifact("x+y", x512, y)),  // y is new beside x512, placed earlier in this batch: a subject of its own
		statementOf("b1", artifact("x", x256, x512)), // the same envelope again
	}
	var (
		out     []store.Statement
		created []bool
	)
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		var err error
		out, created, err = w.AppendStatements(ctx, batch)
		return err
	})
	if err != nil {
		t.Fatalf("AppendStatements: %v", err)
	}
	got := fmt.Sprint(out[0].Seq, created[0], out[1].Seq, created[1], out[2].Seq, created[2], out[3].Seq, created[3])
	if want := fmt.Sprint(2, true, old.Seq, false, 3, true, 2, false); got != want {
		t.Errorf("seqs and created = %s, want %s", got, want)
	}
	sx, err := s.SubjectByDigest(ctx, x256)
	if err != nil || fmt.Sprint(sx.Digests) != fmt.Sprint([]digest.Digest{x256, x512}) {
		t.Errorf("subject of x = %+v, %v; want x256 and x512, introduced together", sx, err)
	}
	sy, err := s.SubjectByDigest(ctx, y)
	if err != nil || sy.ID == sx.ID || len(sy.Digests) != 1 {
		t.Errorf("subject of y = %+v, %v; want one of its own, linked to x by statement 3's claim", sy, err)
	}
	if claims, _ := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{y}}); len(claims) != 1 || claims[0].StatementSeq != 3 {
		t.Errorf("claims naming y = %+v, want statement 3's", claims)
	}
	if n := nextSeq(t, s); n != 4 {
		t.Errorf("next seq = %d, want 4", n)
	}
}

// testAppendAtTip: an append planned against the log's tip is stored
// only when the tip is the log's when it commits; else nothing of it is.
func testAppendAtTip(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, _ := appendOne(t, s, statement("tip-first", sha256Of("tip-first")))
	leaf := store.LogNode{ID: compact.NewNodeID(0, 0), Hash: []byte("leaf-0")}
	if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutLogNodes(ctx, []store.LogNode{leaf}) }); err != nil {
		t.Fatal(err)
	}
	tip := store.LogTip{Next: 2, Edge: []store.LogNode{leaf}}
	appendAt := func(tip store.LogTip, sts ...store.Statement) ([]store.Statement, []bool, error) {
		var (
			out     []store.Statement
			created []bool
		)
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			var err error
			out, created, err = w.AppendStatementsAt(ctx, sts, tip)
			if err != nil {
				return err
			}
			// The tree nodes go with the entries, as the log writes them.
			return w.PutLogNodes(ctx, []store.LogNode{{ID: compact.NewNodeID(0, uint64(tip.Next-1)), Hash: []byte("leaf-new")}})
		})
		return out, created, err
	}
	moved := sha256Of("tip-moved")
	for _, tc := range []struct {
		name string
		tip  store.LogTip
		want error
	}{
		{"next entry ahead", store.LogTip{Next: 3, Edge: tip.Edge}, store.ErrConflict},
		{"next entry behind", store.LogTip{Next: 1}, store.ErrConflict},
		{"edge with another hash", store.LogTip{Next: 2, Edge: []store.LogNode{{ID: leaf.ID, Hash: []byte("other")}}}, store.ErrConflict},
		{"edge node not stored", store.LogTip{Next: 2, Edge: []store.LogNode{{ID: compact.NewNodeID(4, 9), Hash: []byte("x")}}}, store.ErrConflict},
		{"no sequence number", store.LogTip{}, store.ErrInvalid},
	} {
		if _, _, err := appendAt(tc.tip, statement("tip-moved", moved)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := s.SubjectByDigest(ctx, moved); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the refused entry's digest is stored (%v)", tc.name, err)
		}
	}
	out, created, err := appendAt(tip, statement("tip-second", sha256Of("tip-second")), statement("tip-first", sha256Of("tip-first")))
	if err != nil {
		t.Fatalf("append at the tip: %v", err)
	}
	if got := fmt.Sprint(out[0].Seq, created[0], out[1].Seq, created[1]); got != fmt.Sprint(2, true, first.Seq, false) {
		t.Errorf("seqs and created = %s, want 2 true %d false", got, first.Seq)
	}
	if n := nextSeq(t, s); n != 3 {
		t.Errorf("next seq = %d, want 3", n)
	}
	// The tip is the transaction's first append or none.
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if _, _, err := w.AppendStatement(ctx, statement("tip-third", sha256Of("tip-third"))); err != nil {
			return err
		}
		_, _, err := w.AppendStatementsAt(ctx, []store.Statement{statement("tip-fourth", sha256Of("tip-fourth"))}, store.LogTip{Next: 4})
		return err
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendStatementsAt after an append: %v, want ErrInvalid", err)
	}
}

// testSubjectView holds every backend's SubjectView (PostgreSQL has its own
// one-statement version) to the same answers.
func testSubjectView(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.SubjectView(ctx, sha256Of("none"), store.EvidencePage{Limit: 10}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SubjectView(unknown) = %v, want ErrNotFound", err)
	}
	good, good512, other, far := sha256Of("g"), sha512Of("g"), sha256Of("other"), sha512Of("far")
	appendOne(t, s, statementOf("release", artifact("g", good, good512))) // 1: claim good≡good512
	appendOne(t, s, statement("other-evidence", other))                   // 2: other has its own subject
	appendOne(t, s, statement("far-evidence", far))                       // 3
	appendOne(t, s, statementOf("link", artifact("x", good512, other)))   // 4: claim good512≡other (other stays in its subject)
	appendOne(t, s, statementOf("far-link", artifact("y", other, far)))   // 5: two hops from good: not followed
	appendOne(t, s, statement("unrelated", sha256Of("u")))                // 6

	v, err := s.SubjectView(ctx, good, store.EvidencePage{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Subject.Digests) != 2 || v.Subject.Digests[0] != good {
		t.Errorf("subject digests = %v, want [good good512]", v.Subject.Digests)
	}
	var refs []string
	for _, c := range v.Claims {
		refs = append(refs, c.Reference+fmt.Sprint(c.SignerKeyIDs, len(c.Digests)))
		if c.PredicateType != "https://example.com/predicate/"+strings.TrimPrefix(c.SignerKeyIDs[0], "key-") || c.PayloadType != "application/vnd.in-toto+json" {
			t.Errorf("claim %s: types %q %q, want its entry's", c.Reference, c.PayloadType, c.PredicateType)
		}
	}
	if fmt.Sprint(refs) != "[1/0[key-release] 2 4/0[key-link] 2]" {
		t.Errorf("claims = %v, want statement 1's and 4's", refs)
	}
	var ev []string
	for _, e := range v.Evidence {
		ev = append(ev, fmt.Sprintf("%d:%s", e.Seq, e.Digest.Algorithm()))
		if e.PayloadType != "application/vnd.in-toto+json" {
			t.Errorf("evidence %d: payload type %q, want the stored one", e.Seq, e.PayloadType)
		}
	}
	// Evidence on good, good512 and other (reached through claim 4), but
	// not on far (two hops), newest first.
	if fmt.Sprint(ev) != "[5:sha256 4:sha256 4:sha512 2:sha256 1:sha256 1:sha512]" {
		t.Errorf("evidence = %v", ev)
	}
	if v, _ := s.SubjectView(ctx, good, store.EvidencePage{Limit: 2}); len(v.Evidence) != 2 {
		t.Errorf("limit 2: %d entries", len(v.Evidence))
	}
	if v, _ := s.SubjectView(ctx, good, store.EvidencePage{}); len(v.Evidence) != 0 || len(v.Claims) != 2 {
		t.Errorf("limit 0: %+v", v)
	}
	// Pages: rows older than BeforeSeq, with the subject and claims on
	// every page.
	for _, tc := range []struct {
		before int64
		limit  int
		want   string
	}{
		{5, 10, "[4:sha256 4:sha512 2:sha256 1:sha256 1:sha512]"},
		{4, 2, "[2:sha256 1:sha256]"},
		{2, 10, "[1:sha256 1:sha512]"},
		{1, 10, "[]"},
	} {
		v, err := s.SubjectView(ctx, good, store.EvidencePage{BeforeSeq: tc.before, Limit: tc.limit})
		if err != nil {
			t.Fatalf("page before %d: %v", tc.before, err)
		}
		ev := []string{}
		for _, e := range v.Evidence {
			ev = append(ev, fmt.Sprintf("%d:%s", e.Seq, e.Digest.Algorithm()))
		}
		if fmt.Sprint(ev) != tc.want || len(v.Claims) != 2 || len(v.Subject.Digests) != 2 {
			t.Errorf("page before %d limit %d: evidence %v, %d claims; want %s and both claims", tc.before, tc.limit, ev, len(v.Claims), tc.want)
		}
	}
}

// testLargeStatement appends one statement with more subjects than any one
// INSERT or lookup takes, as a 10,000-line signed manifest does.
func testLargeStatement(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 1234
	var subjects []store.StatementSubject
	for i := range n {
		subjects = append(subjects, artifact(fmt.Sprintf("file-%d", i), sha256Of(fmt.Sprint(i)), sha512Of(fmt.Sprint(i))))
	}
	st, created := appendOne(t, s, statementOf("large", subjects...))
	if !created {
		t.Fatal("not created")
	}
	got, err := s.Statement(ctx, st.Seq)
	if err != nil || len(got.Subjects) != n || got.Subjects[n-1].Name != fmt.Sprintf("file-%d", n-1) {
		t.Fatalf("Statement = %d subjects, %v; want %d", len(got.Subjects), err, n)
	}
	last, err := s.SubjectByDigest(ctx, sha512Of(fmt.Sprint(n-1)))
	if err != nil || len(last.Digests) != 2 {
		t.Errorf("subject of the last artifact = %+v, %v", last, err)
	}
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{sha256Of("0"), sha256Of(fmt.Sprint(n - 1))}})
	if err != nil || len(claims) != 2 {
		t.Errorf("claims of the first and last artifacts = %d, %v; want 2", len(claims), err)
	}
}

func testKeyList(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, err := w.PutKey(ctx, store.Key{ID: id, Type: "ed25519", PublicKey: []byte(id)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	page := func(after string, limit int) string {
		keys, err := s.Keys(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		return fmt.Sprint(ids)
	}
	if got := page("", 2); got != "[a b]" {
		t.Errorf("first page = %s, want [a b]", got)
	}
	if got := page("b", 2); got != "[c]" {
		t.Errorf("second page = %s, want [c]", got)
	}
	if n, err := s.KeyCount(ctx, "ed25519"); err != nil || n != 3 {
		t.Errorf("KeyCount(ed25519) = %d, %v; want 3", n, err)
	}
	if n, err := s.KeyCount(ctx, "rsa"); err != nil || n != 0 {
		t.Errorf("KeyCount(rsa) = %d, %v; want 0", n, err)
	}
}

func testLogNodes(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(nodes ...store.LogNode) error {
		return s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutLogNodes(ctx, nodes) })
	}
	n0, n1 := compact.NewNodeID(0, 0), compact.NewNodeID(3, 7)
	if err := put(store.LogNode{ID: n0, Hash: []byte("h0")}, store.LogNode{ID: n1, Hash: []byte("h1")}); err != nil {
		t.Fatal(err)
	}
	if err := put(store.LogNode{ID: n1, Hash: []byte("h1")}); err != nil {
		t.Errorf("same node again: %v, want no-op", err)
	}
	if err := put(store.LogNode{ID: n1, Hash: []byte("other")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("node rewritten: %v, want ErrConflict", err)
	}
	got, err := s.LogNodes(ctx, []compact.NodeID{n1, n0})
	if err != nil || string(got[0]) != "h1" || string(got[1]) != "h0" {
		t.Errorf("LogNodes = %q, %v; want [h1 h0]", got, err)
	}
	if _, err := s.LogNodes(ctx, []compact.NodeID{n0, compact.NewNodeID(1, 0)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing node: %v, want ErrNotFound", err)
	}
	if n, err := s.LogSize(ctx); err != nil || n != 0 {
		t.Errorf("LogSize = %d, %v; want 0", n, err)
	}
	appendOne(t, s, statement("sized", sha256Of("sized")))
	if n, err := s.LogSize(ctx); err != nil || n != 1 {
		t.Errorf("LogSize = %d, %v; want 1", n, err)
	}
}

func testPGPKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(ks ...store.PGPKey) error {
		return s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			for _, k := range []string{"primary-a", "primary-b"} {
				if _, err := w.PutKey(ctx, store.Key{ID: k, Type: "pgp", PublicKey: []byte(k)}); err != nil {
					return err
				}
			}
			return w.PutPGPKeys(ctx, ks)
		})
	}
	a := store.PGPKey{Fingerprint: "primary-a", KeyID: "aaaa", Primary: "primary-a"}
	sub := store.PGPKey{Fingerprint: "sub-a", KeyID: "1111", Primary: "primary-a"}
	b := store.PGPKey{Fingerprint: "primary-b", KeyID: "1111", Primary: "primary-b"}
	if err := put(a, sub, b); err != nil {
		t.Fatalf("PutPGPKeys: %v", err)
	}
	if err := put(a, sub); err != nil {
		t.Errorf("PutPGPKeys again: %v, want no-op", err)
	}
	if got, err := s.PGPKey(ctx, "sub-a"); err != nil || got != sub {
		t.Errorf("PGPKey(sub-a) = %+v, %v; want %+v", got, err, sub)
	}
	if _, err := s.PGPKey(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PGPKey(unknown): err = %v, want ErrNotFound", err)
	}
	got, err := s.PGPKeysByKeyID(ctx, "1111")
	if err != nil || len(got) != 2 || got[0] != sub || got[1] != b {
		t.Errorf("PGPKeysByKeyID(1111) = %+v, %v; want [sub-a primary-b]", got, err)
	}
	if got, err := s.PGPKeysByKeyID(ctx, "ffff"); err != nil || len(got) != 0 {
		t.Errorf("PGPKeysByKeyID(ffff) = %+v, %v; want none", got, err)
	}
	tests := []struct {
		name string
		key  store.PGPKey
		want error
	}{
		{"other primary", store.PGPKey{Fingerprint: "sub-a", KeyID: "1111", Primary: "primary-b"}, store.ErrConflict},
		{"unregistered primary", store.PGPKey{Fingerprint: "sub-x", KeyID: "2222", Primary: "nobody"}, store.ErrInvalid},
		{"no key id", store.PGPKey{Fingerprint: "sub-y", Primary: "primary-a"}, store.ErrInvalid},
	}
	for _, tc := range tests {
		if err := put(tc.key); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.PGPKey(ctx, "sub-x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rejected key was stored: %v", err)
	}
}

func testStatementsByPredicate(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []int64
	for i := range 5 {
		st := statement(fmt.Sprintf("bypred-%d", i), sha256Of(fmt.Sprintf("bypred-%d", i)))
		if i%2 == 0 {
			st.PredicateType = "https://example.com/wanted"
		}
		got, _ := appendOne(t, s, st)
		if i%2 == 0 {
			want = append(want, got.Seq)
		}
	}
	var seen []int64
	after := int64(0)
	for {
		page, err := s.StatementsByPredicate(ctx, "https://example.com/wanted", after, 2)
		if err != nil {
			t.Fatalf("StatementsByPredicate: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			if st.PredicateType != "https://example.com/wanted" || len(st.Envelope) == 0 || st.EnvelopeDigest.IsZero() ||
				len(st.SignerKeyIDs) != 1 || st.RecordedAt.IsZero() {
				t.Errorf("entry %d = %+v", st.Seq, st)
			}
			seen = append(seen, st.Seq)
		}
		after = page[len(page)-1].Seq
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("paged seqs = %v, want %v", seen, want)
	}
	if page, err := s.StatementsByPredicate(ctx, "https://example.com/none", 0, 10); err != nil || len(page) != 0 {
		t.Errorf("unknown predicate type = %v, %v; want none", page, err)
	}
}
