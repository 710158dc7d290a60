package attest_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/policy"
)

// TestPolicySource: the policy evaluator sees each unrevoked attestation
// once (whichever digest found it), with key signers and Sigstore
// identities apart, its indexed fields under the policy's condition names,
// and its log entry as input.
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
	got, err := svc.PolicySource().Attestations(ctx, app, attest.PredicateSLSAProvenanceV1)
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
	if none, err := svc.PolicySource().Attestations(ctx, app, "https://example.com/none/v1"); err != nil || len(none) != 0 {
		t.Errorf("another predicate type = %+v, %v", none, err)
	}
}
