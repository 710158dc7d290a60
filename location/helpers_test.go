package location_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
)

// env is a store, a statement log wired with the location and revocation
// validators and indexers, and the services.
type env struct {
	store store.Store
	log   *statement.Log
	rev   *revocation.Service
	svc   *location.Service
	keys  *keys.Registry
}

type testKey struct {
	signer envelope.Signer
	id     string
}

// forEachBackend runs fn on SQLite and PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t testing.TB) store.Store)) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

func newEnv(t testing.TB, st store.Store, opts location.Options) *env {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, keys: keys.NewRegistry(st)}
	e.rev = revocation.New(st, revocation.Config{})
	opts.Publishers, opts.Revocations = e.rev, e.rev
	e.svc = location.New(st, opts)
	validators := e.rev.Validators()
	maps.Copy(validators, e.svc.Validators())
	indexers := e.rev.Indexers()
	maps.Copy(indexers, e.svc.Indexers())
	if e.log, err = statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: indexers}); err != nil {
		t.Fatal(err)
	}
	return e
}

// key generates and registers an ed25519 key.
func (e *env) key(t testing.TB, label string) testKey {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), pub.Encode(), label); err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, id: pub.ID}
}

// submit signs an in-toto statement with signers and submits it.
func (e *env) submit(t testing.TB, stmt []byte, signers ...testKey) (store.Statement, error) {
	t.Helper()
	ss := make([]envelope.Signer, len(signers))
	for i, k := range signers {
		ss[i] = k.signer
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, stmt, ss...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), raw)
	return st, err
}

// statement builds an in-toto statement of predicateType about one
// subject.
func statementOf(t testing.TB, predicateType string, predicate any, name string, ds ...digest.Digest) []byte {
	t.Helper()
	p, err := json.Marshal(predicate)
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := envelope.NewStatement(predicateType, p, envelope.Subject{Name: name, Digests: ds})
	if err != nil {
		t.Fatal(err)
	}
	return stmt
}

// claim submits a location claim of uri for the subject, signed by k.
func (e *env) claim(t testing.TB, k testKey, uri, name string, ds ...digest.Digest) (store.Statement, error) {
	t.Helper()
	return e.submit(t, statementOf(t, location.PredicateType, location.Predicate{URI: uri}, name, ds...), k)
}

// mustClaim is claim that must succeed.
func (e *env) mustClaim(t testing.TB, k testKey, uri, name string, ds ...digest.Digest) store.Statement {
	t.Helper()
	st, err := e.claim(t, k, uri, name, ds...)
	if err != nil {
		t.Fatalf("claim %s: %v", uri, err)
	}
	return st
}

// withdraw revokes the statement st, signed by k.
func (e *env) withdraw(t testing.TB, st store.Statement, k testKey) {
	t.Helper()
	stmt, err := revocation.NewStatement(revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: st.EnvelopeDigest.String()},
		Action: revocation.ActionRevoke, Reason: revocation.ReasonRetired, Effective: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.submit(t, stmt, k); err != nil {
		t.Fatalf("withdraw %d: %v", st.Seq, err)
	}
}

func sha256Of(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

func sha512Of(s string) digest.Digest {
	sum := sha512.Sum512([]byte(s))
	d, err := digest.New(digest.SHA512, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

// tufKey makes a registered key usable as a TUF targets key.
func (e *env) tufKey(t testing.TB, label string) (testKey, tuftest.Key) {
	t.Helper()
	k := e.key(t, label)
	ts := tuf.EnvelopeSigner(k.signer)
	mk, id, err := tuf.PublicKeyOf(ts)
	if err != nil {
		t.Fatal(err)
	}
	return k, tuftest.Key{Signer: ts, Key: mk, ID: id}
}

// tufPublish creates repository name whose targets key is targets and
// publishes one target with content (its sha256 and sha512: the
// publisher's alias claim).
func (e *env) tufPublish(t testing.TB, name string, targets tuftest.Key, target string, content []byte) {
	t.Helper()
	ctx := context.Background()
	svc, repo := tuftest.InitRepo(t, e.store, e.log, name, targets)
	if _, err := svc.Upload(ctx, name, metadata.TARGETS, repo.SignTargets(t, nil, target, content)); err != nil {
		t.Fatal(err)
	}
}

// uris lists the URIs and kinds of a lookup.
func uris(r location.Result) []string {
	var out []string
	for _, f := range r.Locations {
		out = append(out, string(f.Kind)+" "+f.URI)
	}
	return out
}
