package attest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// env is a Service over a fresh store, with a virtual Sigstore (Fulcio CA,
// Rekor log, TSA: sigstore-go's own test helpers) whose trusted root is
// the Service's.
type env struct {
	store store.Store
	log   *statement.Log
	svc   *attest.Service
	keys  *keys.Registry
	vs    *ca.VirtualSigstore
	root  string // trusted_root.json of vs
}

func newEnv(t testing.TB, b teststore.Backend, maxStatement int) *env {
	t.Helper()
	st := b.Open(t)
	skey, vkey, err := tlog.GenerateLogKey("attest-test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{
		LogKey: skey, LogVerifierKey: vkey,
		Limits:     envelope.Limits{MaxEnvelopeBytes: attest.EnvelopeBound(maxStatement)},
		Validators: attest.Validators(maxStatement), Indexers: attest.Indexers(),
	})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	path := attesttest.WriteTrustedRoot(t, vs)
	tr, err := attest.LoadTrustedRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := attest.New(st, l, attest.Options{MaxStatementBytes: maxStatement, Sigstore: tr})
	return &env{store: st, log: l, svc: svc, keys: keys.NewRegistry(st), vs: vs, root: path}
}

// statementJSON is an in-toto v1 statement about subjects.
func statementJSON(t testing.TB, predicateType string, predicate string, subjects ...envelope.Subject) []byte {
	t.Helper()
	var p json.RawMessage
	if predicate != "" {
		p = json.RawMessage(predicate)
	}
	data, err := envelope.NewStatement(predicateType, p, subjects...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sha256Of(s string) digest.Digest {
	res, err := digest.Sum(context.Background(), strings.NewReader(s), []digest.Algorithm{digest.SHA256})
	if err != nil {
		panic(err)
	}
	return res.Digests[0]
}

func sumsOf(s string) []digest.Digest {
	res, err := digest.Sum(context.Background(), strings.NewReader(s), []digest.Algorithm{digest.SHA256, digest.SHA512})
	if err != nil {
		panic(err)
	}
	return res.Digests
}

func logSize(t testing.TB, s store.Store) uint64 {
	t.Helper()
	n, err := s.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
