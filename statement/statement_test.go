package statement_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

const testPredicate = "https://example.com/test-result/v1"

type fixture struct {
	store store.Store
	log   *statement.Log
	vkey  string
}

func newFixture(t testing.TB, s store.Store, validators map[string]statement.Validator) *fixture {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: s, log: l, vkey: vkey}
}

// signer is a generated key, registered unless told otherwise.
type signer struct {
	envelope.Signer
	pub envelope.PublicKey
}

func newSigner(t testing.TB, s store.Store, keyType string, register bool) signer {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(keyType)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if register {
		if _, _, err := keys.NewRegistry(s).Add(context.Background(), pub.Encode(), ""); err != nil {
			t.Fatal(err)
		}
	}
	return signer{sg, pub}
}

func artifact(name string) envelope.Subject {
	a := sha256.Sum256([]byte(name))
	b := sha512.Sum512([]byte(name))
	return envelope.Subject{Name: name, Digests: []digest.Digest{must(digest.New(digest.SHA256, a[:])), must(digest.New(digest.SHA512, b[:]))}}
}

func must(d digest.Digest, err error) digest.Digest {
	if err != nil {
		panic(err)
	}
	return d
}

func sign(t testing.TB, predicate string, subjects []envelope.Subject, signers ...signer) []byte {
	t.Helper()
	payload, err := envelope.NewStatement(testPredicate, json.RawMessage(predicate), subjects...)
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, envelope.PayloadTypeInToto, payload, signers...)
}

func signPayload(t testing.TB, payloadType string, payload []byte, signers ...signer) []byte {
	t.Helper()
	ss := make([]envelope.Signer, len(signers))
	for i, s := range signers {
		ss[i] = s.Signer
	}
	env, err := envelope.Sign(context.Background(), payloadType, payload, ss...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSubmitGetList(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			k := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			app := artifact("app.tar")
			raw := sign(t, `{"passed":true}`, []envelope.Subject{app}, k)

			first, created, err := f.log.Submit(ctx, raw)
			if err != nil || !created || first.Seq != 1 {
				t.Fatalf("Submit = seq %d created %v err %v; want 1 true nil", first.Seq, created, err)
			}
			again, created, err := f.log.Submit(ctx, raw)
			if err != nil || created || again.Seq != 1 {
				t.Errorf("resubmit = seq %d created %v err %v; want the original entry", again.Seq, created, err)
			}
			got, err := f.log.Get(ctx, 1)
			if err != nil || string(got.Envelope) != string(raw) || got.PredicateType != testPredicate ||
				fmt.Sprint(got.SignerKeyIDs) != "["+k.pub.ID+"]" || len(got.Subjects) != 1 || got.Subjects[0].Name != "app.tar" {
				t.Errorf("Get(1) = %+v, %v", got, err)
			}
			// Two algorithms for one subject: an alias claim signed by k.
			claims, err := f.store.AliasClaims(ctx, store.ClaimQuery{Digests: app.Digests[:1]})
			if err != nil || len(claims) != 1 || claims[0].StatementSeq != 1 || claims[0].SignerKeyIDs[0] != k.pub.ID {
				t.Errorf("alias claims = %+v, %v", claims, err)
			}

			other := newSigner(t, f.store, envelope.KeyTypeECDSAP256, true)
			if _, _, err := f.log.Submit(ctx, sign(t, `{"passed":false}`, []envelope.Subject{app}, other)); err != nil {
				t.Fatal(err)
			}
			list := func(q statement.Query) string {
				q.Digest = app.Digests[1]
				sts, next, err := f.log.List(ctx, q)
				if err != nil {
					t.Fatalf("List(%+v): %v", q, err)
				}
				var seqs []int64
				for _, s := range sts {
					seqs = append(seqs, s.Seq)
				}
				return fmt.Sprintf("%v next=%q", seqs, next)
			}
			for _, tc := range []struct {
				q    statement.Query
				want string
			}{
				{statement.Query{PageSize: 10}, `[2 1] next=""`},
				{statement.Query{PageSize: 1}, `[2] next="2"`},
				{statement.Query{PageSize: 1, PageToken: "2"}, `[1] next=""`},
				{statement.Query{PageSize: 10, SignerKeyID: k.pub.ID}, `[1] next=""`},
				{statement.Query{PageSize: 10, PredicateType: "https://example.com/other"}, `[] next=""`},
			} {
				if got := list(tc.q); got != tc.want {
					t.Errorf("List(%+v) = %s, want %s", tc.q, got, tc.want)
				}
			}
			if _, _, err := f.log.List(ctx, statement.Query{Digest: app.Digests[0], PageSize: 1, PageToken: "x"}); !errors.Is(err, statement.ErrInvalidPage) {
				t.Errorf("bad page token: %v, want ErrInvalidPage", err)
			}
		})
	}
}

func TestRejectedStoresNothing(t *testing.T) {
	s := teststore.Backends()[0].Open(t)
	f := newFixture(t, s, map[string]statement.Validator{
		"https://example.com/vote/v1": func(_ context.Context, st envelope.Statement, _ []string) error {
			return errors.New("votes need a reason")
		},
	})
	ctx := context.Background()
	k := newSigner(t, s, envelope.KeyTypeED25519, true)
	k2 := newSigner(t, s, envelope.KeyTypeED25519, true)
	rsa := newSigner(t, s, envelope.KeyTypeRSA, true)
	stranger := newSigner(t, s, envelope.KeyTypeED25519, false)
	app := []envelope.Subject{artifact("app.tar")}
	good := sign(t, `{}`, app, k)

	// A signature by stranger filed under k's key id.
	forged := func() []byte {
		var env dsse.Envelope
		if err := json.Unmarshal(sign(t, `{}`, app, stranger), &env); err != nil {
			t.Fatal(err)
		}
		env.Signatures[0].KeyID = k.pub.ID
		raw, _ := json.Marshal(env)
		return raw
	}
	// k's good signature, then a second one under keyID that keyID's key
	// did not make.
	twoSigsOneBad := func(keyID string) []byte {
		var env, bad dsse.Envelope
		_ = json.Unmarshal(sign(t, `{}`, app, k), &env)
		_ = json.Unmarshal(forged(), &bad)
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: keyID, Sig: bad.Signatures[0].Sig})
		raw, _ := json.Marshal(env)
		return raw
	}
	statementJSON := func(subjects string) []byte {
		return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":` + subjects + `,"predicateType":"` + testPredicate + `","predicate":{}}`)
	}
	deep := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"predicateType":"x","predicate":` +
		strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
	vote, _ := envelope.NewStatement("https://example.com/vote/v1", json.RawMessage(`{}`), app...)

	tests := []struct {
		name string
		raw  []byte
		want error
		msg  string
	}{
		{"unknown signer", sign(t, `{}`, app, stranger), envelope.ErrUnknownKey, stranger.pub.ID},
		{"forged signature", forged(), envelope.ErrBadSignature, ""},
		{"one of two signatures bad", twoSigsOneBad(k2.pub.ID), envelope.ErrBadSignature, "signatures[1]"},
		{"wrong key type", twoSigsOneBad(rsa.pub.ID), envelope.ErrWrongKeyType, "rsa"},
		{"payload type mismatch", signPayload(t, "application/json", statementJSON(`[{"digest":{"sha256":"`+strings.Repeat("ab", 32)+`"}}]`), k), envelope.ErrPayloadType, "application/json"},
		{"no subjects", signPayload(t, envelope.PayloadTypeInToto, statementJSON(`[]`), k), envelope.ErrInvalidStatement, "subject"},
		{"malformed subject digest", signPayload(t, envelope.PayloadTypeInToto, statementJSON(`[{"digest":{"sha256":"xyz"}}]`), k), envelope.ErrInvalidStatement, "subject[0]"},
		{"duplicate subject", signPayload(t, envelope.PayloadTypeInToto, statementJSON(`[{"digest":{"sha256":"`+strings.Repeat("ab", 32)+`"}},{"digest":{"sha256":"`+strings.Repeat("ab", 32)+`"}}]`), k), envelope.ErrInvalidStatement, "subject[1]"},
		{"too deep", signPayload(t, envelope.PayloadTypeInToto, []byte(deep), k), envelope.ErrTooDeep, ""},
		{"too large", []byte(`{"payloadType":"x","payload":"` + strings.Repeat("A", 2<<20) + `","signatures":[]}`), envelope.ErrTooLarge, ""},
		{"garbage", []byte("not json"), envelope.ErrMalformed, ""},
		{"predicate owner refuses", signPayload(t, envelope.PayloadTypeInToto, vote, k), statement.ErrRejected, "votes need a reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.log.Submit(ctx, tc.raw)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Submit = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
			if n, _ := s.LogSize(ctx); n != 0 {
				t.Errorf("log size %d after a rejected submission, want 0", n)
			}
		})
	}
	if _, _, err := f.log.Submit(ctx, good); err != nil {
		t.Errorf("the unforged envelope: %v", err)
	}
}

func TestLogProofs(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			k := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			for i := range 7 {
				if _, _, err := f.log.Submit(ctx, sign(t, `{}`, []envelope.Subject{artifact(fmt.Sprint(i))}, k)); err != nil {
					t.Fatal(err)
				}
			}
			signed, size, err := f.log.Checkpoint(ctx, 0)
			if err != nil || size != 7 {
				t.Fatalf("Checkpoint = size %d, %v", size, err)
			}
			cp, err := tlog.OpenCheckpoint(signed, f.vkey)
			if err != nil {
				t.Fatal(err)
			}
			for seq := int64(1); seq <= 7; seq++ {
				proof, _, treeSize, err := f.log.InclusionProof(ctx, seq, 0)
				if err != nil {
					t.Fatal(err)
				}
				st, _ := f.log.Get(ctx, seq)
				if err := tlog.VerifyInclusion(tlog.LeafHash(st.Envelope), uint64(seq-1), treeSize, proof, cp.Hash); err != nil {
					t.Errorf("inclusion of %d: %v", seq, err)
				}
			}
			old, _, _ := f.log.Checkpoint(ctx, 3)
			oldCP, err := tlog.OpenCheckpoint(old, f.vkey)
			if err != nil {
				t.Fatal(err)
			}
			proof, _, _, err := f.log.ConsistencyProof(ctx, 3, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckConsistent(oldCP, cp, proof); err != nil {
				t.Errorf("consistency 3 -> 7: %v", err)
			}
			if _, _, _, err := f.log.InclusionProof(ctx, 8, 0); !errors.Is(err, statement.ErrBeyondLog) {
				t.Errorf("proof past the end: %v, want ErrBeyondLog", err)
			}
			if _, _, err := f.log.Checkpoint(ctx, 99); !errors.Is(err, statement.ErrBeyondLog) {
				t.Errorf("checkpoint past the end: %v, want ErrBeyondLog", err)
			}
		})
	}
}

// TestConcurrentSubmissions: 64 submitters produce a gap-free log whose
// signed root equals the root recomputed from the stored entries.
func TestConcurrentSubmissions(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			k := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			const workers, each = 64, 3
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						_, _, err := f.log.Submit(ctx, sign(t, `{}`, []envelope.Subject{artifact(fmt.Sprintf("%d-%d", w, i))}, k))
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			signed, size, err := f.log.Checkpoint(ctx, 0)
			if err != nil || size != workers*each {
				t.Fatalf("checkpoint size %d, %v; want %d", size, err, workers*each)
			}
			cp, err := tlog.OpenCheckpoint(signed, f.vkey)
			if err != nil {
				t.Fatal(err)
			}
			rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
			for seq := int64(1); seq <= int64(size); seq++ {
				st, err := f.log.Get(ctx, seq)
				if err != nil {
					t.Fatalf("entry %d missing: the log must be gap-free: %v", seq, err)
				}
				if err := rng.Append(tlog.LeafHash(st.Envelope), nil); err != nil {
					t.Fatal(err)
				}
			}
			root, err := rng.GetRootHash(nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(root) != string(cp.Hash) {
				t.Errorf("signed root %x != root recomputed from stored entries %x", cp.Hash, root)
			}
		})
	}
}

func TestAppendVerified(t *testing.T) {
	f := newFixture(t, teststore.Backends()[0].Open(t), nil)
	ctx := context.Background()
	app := artifact("app.tar")
	rec := store.Statement{
		PayloadType:   "application/vnd.example.signed-manifest",
		PredicateType: "https://example.com/manifest/v1",
		Envelope:      []byte("manifest bytes and their detached signature, verbatim"),
		SignerKeyIDs:  []string{"pgp-fingerprint"},
		Subjects:      []store.StatementSubject{{Name: app.Name, Digests: app.Digests[:1]}},
	}
	first, created, err := f.log.AppendVerified(ctx, rec)
	if err != nil || !created || first.Seq != 1 || first.EnvelopeDigest.IsZero() {
		t.Fatalf("AppendVerified = %+v, %v, %v", first, created, err)
	}
	again, created, err := f.log.AppendVerified(ctx, rec)
	if err != nil || created || again.Seq != 1 {
		t.Errorf("AppendVerified again = seq %d created %v err %v; want the original entry", again.Seq, created, err)
	}
	proof, signed, size, err := f.log.InclusionProof(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.OpenCheckpoint(signed, f.vkey)
	if err != nil || tlog.VerifyInclusion(tlog.LeafHash(rec.Envelope), 0, size, proof, cp.Hash) != nil {
		t.Errorf("the appended record is not provably in the log: %v", err)
	}
}

// TestIndexer checks that an indexer runs once per new entry of its
// predicate type, inside the append's transaction: its writes commit with
// the entry, and its failure leaves neither the entry nor its writes.
func TestIndexer(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ctx := context.Background()
			skey, vkey, err := tlog.GenerateLogKey("test-log")
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu    sync.Mutex
				calls []int64
			)
			_, derived, err := envelope.GenerateKey(envelope.KeyTypeED25519)
			if err != nil {
				t.Fatal(err)
			}
			l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Indexers: map[string]statement.Indexer{
				testPredicate: func(ctx context.Context, w store.Writer, e store.Statement) error {
					mu.Lock()
					calls = append(calls, e.Seq)
					mu.Unlock()
					// A write standing for a derived table.
					if _, err := w.PutKey(ctx, store.Key{ID: derived.ID, Type: derived.Type, PublicKey: derived.Encode(), Label: "derived"}); err != nil {
						return err
					}
					if strings.Contains(string(e.Payload), "poison") {
						return errors.New("poisoned")
					}
					return nil
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			k := newSigner(t, s, envelope.KeyTypeED25519, true)

			bad := sign(t, `{"poison":true}`, []envelope.Subject{artifact("a")}, k)
			if _, _, err := l.Submit(ctx, bad); err == nil || !strings.Contains(err.Error(), "poisoned") {
				t.Fatalf("poisoned submit: %v, want the indexer's error", err)
			}
			if n, _ := s.LogSize(ctx); n != 0 {
				t.Errorf("log size after a failed index = %d, want 0", n)
			}
			if _, err := s.Key(ctx, derived.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the failed indexer's write survived: %v", err)
			}

			good := sign(t, `{"passed":true}`, []envelope.Subject{artifact("a")}, k)
			otherRaw := signPayload(t, envelope.PayloadTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://example.com/other","subject":[{"name":"b","digest":{"sha256":"`+strings.Repeat("ab", 32)+`"}}]}`), k)
			for _, raw := range [][]byte{good, good, otherRaw} {
				if _, _, err := l.Submit(ctx, raw); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Key(ctx, derived.ID); err != nil {
				t.Errorf("the indexer's write did not commit with the entry: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			// Seq 1 ran and rolled back with the poisoned entry; a resubmit
			// and another predicate type run nothing.
			if fmt.Sprint(calls) != "[1 1]" {
				t.Errorf("indexer calls = %v, want [1 1] (poisoned then good, both as seq 1)", calls)
			}
		})
	}
}

// TestLogProofsCached: proofs read the upper tree nodes through the Log's
// cache; proofs made with a warm cache, at several tree sizes and after
// the log grew, still verify against freshly signed checkpoints.
func TestLogProofsCached(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			k := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			n := 0
			grow := func(to int) {
				for ; n < to; n++ {
					if _, _, err := f.log.Submit(ctx, sign(t, `{}`, []envelope.Subject{artifact(fmt.Sprint("cached-", n))}, k)); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, size := range []int{40, 40, 70, 100} {
				grow(size)
				signed, got, err := f.log.Checkpoint(ctx, 0)
				if err != nil || got != uint64(size) {
					t.Fatalf("Checkpoint = size %d, %v; want %d", got, err, size)
				}
				cp, err := tlog.OpenCheckpoint(signed, f.vkey)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for seq := int64(1); seq <= int64(size); seq++ {
					seqs = append(seqs, seq)
				}
				proofs, err := f.log.InclusionProofsAt(ctx, seqs, uint64(size))
				if err != nil {
					t.Fatal(err)
				}
				for i, seq := range seqs {
					st, _ := f.log.Get(ctx, seq)
					if err := tlog.VerifyInclusion(tlog.LeafHash(st.Envelope), uint64(seq-1), uint64(size), proofs[i], cp.Hash); err != nil {
						t.Errorf("size %d: inclusion of %d: %v", size, seq, err)
					}
				}
			}
		})
	}
}
