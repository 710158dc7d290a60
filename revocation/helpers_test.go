package revocation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// env is a store, a statement log wired with the revocation and OpenPGP
// validators and the revocation indexer, and the revocation service.
type env struct {
	store store.Store
	log   *statement.Log
	svc   *revocation.Service
	pgp   *pgplog.Service
	keys  *keys.Registry
	now   time.Time
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

func newEnv(t testing.TB, st store.Store, cfg revocation.Config) *env {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, keys: keys.NewRegistry(st), now: time.Now().UTC().Truncate(time.Second)}
	// pgplog's chain decisions read the store only; the service that
	// appends OpenPGP records is the one the log feeds.
	if cfg.PGP == nil {
		cfg.PGP = pgplog.New(st, nil)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return e.now }
	}
	e.svc = revocation.New(st, cfg)
	validators := pgplog.Validators(st)
	maps.Copy(validators, e.svc.Validators())
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators,
		Indexers: e.svc.Indexers()})
	if err != nil {
		t.Fatal(err)
	}
	e.log = l
	e.pgp = pgplog.New(st, l)
	return e
}

// key generates and registers an ed25519 key.
func (e *env) key(t testing.TB) testKey {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), pub.Encode(), ""); err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, id: pub.ID}
}

// sign signs an in-toto statement with signers and returns the envelope.
func sign(t testing.TB, stmt []byte, signers ...envelope.Signer) []byte {
	t.Helper()
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, stmt, signers...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// revoke submits a revocation (or reinstatement) signed by signers.
func (e *env) revoke(t testing.TB, p revocation.Predicate, signers ...envelope.Signer) (store.Statement, error) {
	t.Helper()
	if p.Action == "" {
		p.Action = revocation.ActionRevoke
	}
	if p.Reason == "" {
		p.Reason = revocation.ReasonRetired
	}
	if p.Effective.IsZero() {
		p.Effective = e.now
	}
	stmt, err := revocation.NewStatement(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), sign(t, stmt, signers...))
	return st, err
}

// attest submits an ordinary attestation about subject signed by signers.
func (e *env) attest(t testing.TB, name string, signers ...envelope.Signer) store.Statement {
	t.Helper()
	stmt, err := envelope.NewStatement("https://example.com/test/v1", json.RawMessage(`{"n":"`+name+`"}`),
		envelope.Subject{Name: name, Digests: []digestT{sha256Of(name)}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), sign(t, stmt, signers...))
	if err != nil {
		t.Fatalf("attest: %v", err)
	}
	return st
}

// teststoreSQLite is a fresh SQLite store.
func teststoreSQLite(t testing.TB) store.Store { return teststore.Backends()[0].Open(t) }

// sortEntries sorts list entries by target key, as a snapshot holds them.
func sortEntries(es []revocation.Entry) {
	slices.SortFunc(es, func(a, b revocation.Entry) int { return bytes.Compare(a.Key[:], b.Key[:]) })
}
