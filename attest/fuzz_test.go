package attest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// FuzzVerifyBundle feeds arbitrary bytes to bundle decoding and
// verification: it must reject or verify, never panic, and never return a
// result without an identity.
func FuzzVerifyBundle(f *testing.F) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		f.Fatal(err)
	}
	path := attesttest.WriteTrustedRoot(f, vs)
	tr, err := attest.LoadTrustedRoot(path)
	if err != nil {
		f.Fatal(err)
	}
	stmt, err := envelope.NewStatement("https://example.com/x/v1", json.RawMessage(`{"a":1}`), envelope.Subject{Digests: sumsOf("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(attesttest.Attest(f, vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true}))
	f.Add(attesttest.Attest(f, vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TSA: true}))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := attest.VerifyBundle(tr.Material(), data, attest.BundlePolicy{}, envelope.Limits{})
		if err == nil && (res.Issuer == "" || res.Subject == "") {
			t.Fatalf("verified a bundle with no identity: %+v", res)
		}
	})
}

// FuzzIndex feeds arbitrary predicates of every indexed type to the
// predicate indexers: they must reject with ErrInvalidPredicate or index,
// never panic.
func FuzzIndex(f *testing.F) {
	for _, seed := range []string{provenanceV1, `{"builder":{"id":"b"},"invocation":{"configSource":{"uri":"git+https://h/r@refs/heads/x"}}}`,
		`{"name":"doc","spdxVersion":"SPDX-2.3"}`, `{"bomFormat":"CycloneDX","metadata":{"component":{"name":"a","version":"1"}}}`,
		`{"verifier":{"id":"v"},"verificationResult":"PASSED"}`, `[]`, `{"builder":7}`, `null`} {
		f.Add(seed)
	}
	types := attest.IndexedPredicateTypes()
	f.Fuzz(func(t *testing.T, predicate string) {
		for _, typ := range types {
			_, ok, err := attest.Index(typ, json.RawMessage(predicate))
			if !ok {
				t.Fatalf("%s is not indexed", typ)
			}
			if err != nil && !errors.Is(err, attest.ErrInvalidPredicate) {
				t.Fatalf("%s: %v is not ErrInvalidPredicate", typ, err)
			}
		}
	})
}

// FuzzPut feeds arbitrary documents to Put, which sniffs the format (DSSE,
// bundle, in-toto metablock) and must reject what it cannot verify without
// storing anything.
func FuzzPut(f *testing.F) {
	e := newEnv(f, teststore.Backends()[0], 0)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AA=="}]}`))
	f.Add([]byte(`{"signed":{"_type":"layout","steps":[],"inspect":[],"keys":{},"expires":"2030-01-01T00:00:00Z","readme":""},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"link","name":"x","materials":{},"products":{},"byproducts":{},"command":[],"environment":{}},"signatures":[]}`))
	f.Add([]byte(`{"mediaType":"x"}`))
	f.Add([]byte(`{"signed":{"_type":7},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, _, err := e.svc.Put(context.Background(), attest.PutRequest{Data: data, LayoutKeyIDs: []string{"nobody"}, Layout: 1}); err == nil {
			t.Fatalf("accepted an unsigned document: %q", data)
		}
	})
}
