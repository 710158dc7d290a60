package attest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/recordtype"
)

// TestPutRefusesReservedTypes: PutAttestation is a caller path like
// Submit. Neither a DSSE envelope nor a Sigstore bundle may carry a type
// trustd writes itself (TUF metadata, an OpenPGP manifest, a message
// signature or a Notation signature it names), a type callers send only as DSSE (a vote), an
// unknown type of trustd's namespace, or a VSA in trustd's name (its
// tokens). Nothing is stored.
func TestPutRefusesReservedTypes(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			app := sumsOf("app v1.0")
			subject := envelope.Subject{Name: "app.tar.gz", Digests: app}
			trustdVSA := `{"verifier":{"id":"` + recordtype.TokenVerifier + `"},"verificationResult":"PASSED","timeVerified":"2026-01-01T00:00:00Z"}`
			for _, tc := range []struct {
				predicateType, predicate string
				dsse, bundle             bool // sent as
			}{
				{recordtype.TUFMetadata, `{}`, true, true},
				{recordtype.PGPManifest, `{}`, true, true},
				{recordtype.SigstoreMessageSig, `{}`, true, true},
				{recordtype.NotationSignature, `{}`, true, true},
				{recordtype.Vote, `{}`, false, true},
				{"https://trustd.dev/unknown/v1", `{}`, true, true},
				{attest.PredicateSLSAVSAV1, trustdVSA, true, true},
			} {
				stmt := statementJSON(t, tc.predicateType, tc.predicate, subject)
				var docs [][]byte
				if tc.dsse {
					raw, _ := goSigner(envelope.KeyTypeED25519)(t, e, stmt)
					docs = append(docs, raw)
				}
				if tc.bundle {
					docs = append(docs, attesttest.Attest(t, e.vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true}))
				}
				for i, doc := range docs {
					before := logSize(t, e.store)
					if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: doc}); !errors.Is(err, recordtype.ErrReserved) {
						t.Errorf("%s (document %d): Put = %v, want ErrReserved", tc.predicateType, i, err)
					}
					if after := logSize(t, e.store); after != before {
						t.Errorf("%s: log grew from %d to %d", tc.predicateType, before, after)
					}
				}
			}
			// Another verifier's VSA is a caller's attestation like any other.
			other := statementJSON(t, attest.PredicateSLSAVSAV1,
				`{"verifier":{"id":"https://verifier.example.com"},"verificationResult":"PASSED","timeVerified":"2026-01-01T00:00:00Z"}`, subject)
			raw, _ := goSigner(envelope.KeyTypeED25519)(t, e, other)
			if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw}); err != nil {
				t.Errorf("another verifier's VSA: %v", err)
			}
		})
	}
}
