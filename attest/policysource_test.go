package attest_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/policy"
)

// attestations are the attestations of predicateType naming ds as the
// policy evaluator sees them through the one evidence model: built by
// trustd's builder over svc, proven, checked by the client, and read from
// the verified set.
func attestations(t *testing.T, e *env, svc *attest.Service, ds []digest.Digest, predicateType string) ([]policy.Attestation, error) {
	t.Helper()
	ctx := context.Background()
	b := &evidencesvc.Builder{Store: e.store, Log: e.log, Attest: svc}
	req := evidence.Request{Digests: ds, Kinds: []evidence.Kind{evidence.KindAttestations}, PredicateTypes: []string{predicateType}}
	bundle, err := b.Build(ctx, req, true)
	if err != nil {
		return nil, err
	}
	set, err := evidence.Verify(ctx, bundle, evidence.VerifyOptions{LogKey: e.log.VerifierKey(), Digests: ds})
	if err != nil {
		return nil, err
	}
	return set.Sources(evidence.SourceOptions{}).Attestations.Attestations(ctx, ds, predicateType)
}

// TestPolicySource: the policy evaluator sees each unrevoked attestation
// once (whichever digest found it), with key signers and Sigstore
// identities apart, its indexed fields under the policy's condition names,
// and its log entry as input; a keyless (Sigstore bundle) attestation
// passes the client's check of the evidence like a DSSE one.
func TestPolicySource(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	ctx := context.Background()
	app := sumsOf("policy app")
	stmt := statementJSON(t, attest.PredicateSLSAProvenanceV1, provenanceV1, envelope.Subject{Name: "app", Digests: app})
	raw, keyID := goSigner(envelope.KeyTypeED25519)(t, e, stmt)
	byKey, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	bundle := attesttest.Attest(t, e.vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true})
	keyless, _, err := e.svc.Put(ctx, attest.PutRequest{Data: bundle})
	if err != nil {
		t.Fatal(err)
	}
	revokedRaw, _ := goSigner(envelope.KeyTypeED25519)(t, e, statementJSON(t, attest.PredicateSLSAProvenanceV1, `{}`, envelope.Subject{Digests: app}))
	revoked, _, err := e.svc.Put(ctx, attest.PutRequest{Data: revokedRaw})
	if err != nil {
		t.Fatal(err)
	}
	svc := attest.New(e.store, e.log, attest.Options{Revocations: revokedSeqs{revoked.Seq: "withdrawn"}})
	got, err := attestations(t, e, svc, app, attest.PredicateSLSAProvenanceV1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != uint64(keyless.Seq) || got[1].Seq != uint64(byKey.Seq) {
		t.Fatalf("Attestations = %+v", got)
	}
	want := policy.SigstoreIdentity{Issuer: issuer, Subject: identity}
	if len(got[0].Identities) != 1 || got[0].Identities[0] != want || len(got[0].Signers) != 0 {
		t.Errorf("keyless signers = %+v, %+v", got[0].Signers, got[0].Identities)
	}
	if len(got[1].Signers) != 1 || got[1].Signers[0] != keyID || len(got[1].Identities) != 0 {
		t.Errorf("key signers = %+v, %+v", got[1].Signers, got[1].Identities)
	}
	for _, a := range got {
		if a.Fields["builderId"] != "https://github.com/actions/runner/github-hosted" || a.Fields["sourceRepository"] != "https://github.com/example/app" ||
			a.Fields["sourceRef"] != "refs/heads/main" {
			t.Errorf("fields of %d = %v", a.Seq, a.Fields)
		}
		if a.Input.URI == "" || a.Input.Digest.IsZero() {
			t.Errorf("input of %d = %+v", a.Seq, a.Input)
		}
	}
	if got[1].Input.Digest != byKey.EnvelopeDigest {
		t.Errorf("input digest = %s, want %s", got[1].Input.Digest, byKey.EnvelopeDigest)
	}
	if none, err := attestations(t, e, svc, app, "https://example.com/none/v1"); err != nil || len(none) != 0 {
		t.Errorf("another predicate type = %+v, %v", none, err)
	}
}
