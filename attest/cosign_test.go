package attest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/recordtype"
)

// cosignKey is a registered key signing as cosign signs with --key:
// ECDSA P-256 over the SHA-256 of the message.
type cosignKey struct {
	id     string
	pem    []byte
	signer envelope.Signer
}

func newCosignKey(t *testing.T, e *env, label string) cosignKey {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), pub.Encode(), label); err != nil {
		t.Fatal(err)
	}
	return cosignKey{id: pub.ID, pem: pub.Encode(), signer: s}
}

func (k cosignKey) sign(t *testing.T, msg []byte) string {
	t.Helper()
	sig, err := k.signer.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func simpleSigningPayload(d digest.Digest) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":"registry.example/app"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, d)
}

func record(t *testing.T, r cosign.Record) []byte {
	t.Helper()
	r.Cosign = cosign.RecordVersion
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCosignStranger is the attack first: a stranger who registers their
// own key gets nothing counted for another's artifact beyond a signature
// that is theirs. Their signature is recorded as theirs, never as the
// victim's; a record naming the victim's key with the stranger's signature,
// a victim's signature re-pointed at another digest, a bundle carrying a
// key other than the one named, are refused and store nothing.
func TestCosignStranger(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			victim := newCosignKey(t, e, "victim")
			stranger := newCosignKey(t, e, "stranger")
			image := sha256Of("victim's image manifest")
			other := sha256Of("another image manifest")
			blob := []byte("victim's release tarball")
			blobDigest := sha256Of(string(blob))

			victimPayload := simpleSigningPayload(image)
			victimSig := victim.sign(t, victimPayload)
			strangerBundle := fmt.Appendf(nil, `{"base64Signature":%q,"cert":%q}`,
				stranger.sign(t, blob), base64.StdEncoding.EncodeToString(stranger.pem))

			for _, tc := range []struct {
				name string
				data []byte
				want error
			}{
				{"stranger's signature named as the victim's key", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: victim.id,
					Data: victimPayload, Signature: stranger.sign(t, victimPayload)}), cosign.ErrBadSignature},
				{"victim's signature re-pointed at another image", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: victim.id,
					Data: simpleSigningPayload(other), Signature: victimSig}), cosign.ErrBadSignature},
				{"victim's blob signature claimed for another digest", record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: victim.id,
					Digest: other.String(), Data: fmt.Appendf(nil, `{"base64Signature":%q}`, victim.sign(t, blob))}), cosign.ErrBadSignature},
				{"stranger's bundle named as the victim's key", record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: victim.id,
					Digest: blobDigest.String(), Data: strangerBundle}), cosign.ErrKeyMismatch},
				{"unregistered key", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: "0123abcd",
					Data: victimPayload, Signature: victimSig}), envelope.ErrUnknownKey},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, _, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.data})
					if !errors.Is(err, tc.want) {
						t.Fatalf("Put = %v, want %v", err, tc.want)
					}
				})
			}
			for _, d := range []digest.Digest{image, other, blobDigest} {
				if list, _, err := e.svc.List(ctx, attest.Query{Digest: d, PageSize: 10}); err != nil || len(list) != 0 {
					t.Fatalf("after refusals, List(%s) = %+v, %v; want nothing stored", d, list, err)
				}
			}

			// The stranger's own signature of the victim's image is stored
			// as the stranger's, the only signer it names.
			a, created, err := e.svc.Put(ctx, attest.PutRequest{Data: record(t, cosign.Record{Kind: cosign.KindSimpleSigning,
				KeyID: stranger.id, Data: victimPayload, Signature: stranger.sign(t, victimPayload)}), Digest: image})
			if err != nil || !created {
				t.Fatalf("stranger's own signature: %v, created %v", err, created)
			}
			if len(a.SignerIDs) != 1 || a.SignerIDs[0] != stranger.id || a.PredicateType != recordtype.CosignSignature || a.Kind != attest.KindCosign {
				t.Fatalf("stranger's signature recorded as %+v", a)
			}
			list, _, err := e.svc.List(ctx, attest.Query{Digest: image, SignerID: victim.id, PageSize: 10})
			if err != nil || len(list) != 0 {
				t.Fatalf("List(victim) = %+v, %v; the stranger's signature counts as the victim's", list, err)
			}

			// A stranger's DSSE attestation naming the victim's key id is
			// refused by the log's own verification.
			stmt := statementJSON(t, attest.PredicateSLSAProvenanceV1, provenanceV1, envelope.Subject{Name: "app", Digests: []digest.Digest{image}})
			pae := dssePAE(envelope.PayloadTypeInToto, stmt)
			env := fmt.Appendf(nil, `{"payloadType":%q,"payload":%q,"signatures":[{"keyid":"","sig":%q}]}`,
				envelope.PayloadTypeInToto, base64.StdEncoding.EncodeToString(stmt), stranger.sign(t, pae))
			if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: record(t, cosign.Record{Kind: cosign.KindDSSE, KeyID: victim.id, Data: env})}); !errors.Is(err, envelope.ErrBadSignature) {
				t.Fatalf("stranger's DSSE as the victim's: %v, want %v", err, envelope.ErrBadSignature)
			}
			a, created, err = e.svc.Put(ctx, attest.PutRequest{Data: record(t, cosign.Record{Kind: cosign.KindDSSE, KeyID: stranger.id, Data: env})})
			if err != nil || !created || len(a.SignerIDs) != 1 || a.SignerIDs[0] != stranger.id || a.PredicateType != attest.PredicateSLSAProvenanceV1 {
				t.Fatalf("stranger's own DSSE: %+v, created %v, %v", a, created, err)
			}
		})
	}
}

// dssePAE is DSSE's pre-authentication encoding.
func dssePAE(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// TestCosignRecords: each kind verifies, is stored once (a re-submission
// is the same entry), and a malformed one is refused naming the field.
func TestCosignRecords(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			k := newCosignKey(t, e, "release")
			image := sha256Of("image manifest")
			blob := []byte("tarball")
			payload := simpleSigningPayload(image)
			good := []struct {
				name string
				data []byte
				subj digest.Digest
			}{
				{"simple-signing", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: k.id, Data: payload, Signature: k.sign(t, payload)}), image},
				{"blob bundle", record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: k.id, Digest: sha256Of(string(blob)).String(),
					Data: fmt.Appendf(nil, `{"base64Signature":%q,"cert":%q,"rekorBundle":null}`, k.sign(t, blob), base64.StdEncoding.EncodeToString(k.pem))}), sha256Of(string(blob))},
			}
			for _, tc := range good {
				t.Run(tc.name, func(t *testing.T) {
					a, created, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.data, Digest: tc.subj})
					if err != nil || !created {
						t.Fatalf("Put: %v, created %v", err, created)
					}
					again, created, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.data})
					if err != nil || created || again.Seq != a.Seq {
						t.Fatalf("second Put = seq %d, created %v, %v; want seq %d, not created", again.Seq, created, err, a.Seq)
					}
					r, err := cosign.ParseRecord(a.Envelope)
					if err != nil || r.KeyID != k.id {
						t.Fatalf("stored record: %+v, %v", r, err)
					}
				})
			}
			bad := []struct {
				name  string
				data  []byte
				want  error
				field string
			}{
				{"no kind", record(t, cosign.Record{KeyID: k.id, Data: payload}), cosign.ErrMalformed, "kind"},
				{"unknown field", []byte(`{"cosign":"v1","kind":"dsse","keyid":"x","data":"e30=","extra":1}`), cosign.ErrMalformed, "extra"},
				{"payload of another type", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: k.id,
					Data: []byte(`{"critical":{"identity":{},"image":{"docker-manifest-digest":"sha256:00"},"type":"x"}}`), Signature: "AA=="}), cosign.ErrMalformed, "critical.type"},
				{"signature not base64", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: k.id, Data: payload, Signature: "!!"}), cosign.ErrMalformed, "signature"},
				{"blob bundle without digest", record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: k.id, Data: []byte(`{"base64Signature":"AA=="}`)}), cosign.ErrMalformed, "digest"},
				{"certificate bundle", record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: k.id, Digest: image.String(),
					Data: fmt.Appendf(nil, `{"base64Signature":"AA==","cert":%q}`, base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")))}), cosign.ErrKeyMismatch, "cert"},
				{"wrong digest asked", record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: k.id, Data: payload, Signature: k.sign(t, payload)}), attest.ErrDigestMismatch, "data"},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					req := attest.PutRequest{Data: tc.data}
					if tc.want == attest.ErrDigestMismatch {
						req.Digest = sha256Of("something else")
					}
					_, _, err := e.svc.Put(ctx, req)
					if !errors.Is(err, tc.want) || !containsField(err, tc.field) {
						t.Fatalf("Put = %v, want %v naming %s", err, tc.want, tc.field)
					}
				})
			}
		})
	}
}

func containsField(err error, field string) bool {
	return err != nil && strings.Contains(err.Error(), field)
}

// TestCosignRealBundles: the protobuf Sigstore bundles real cosign v2.6.5
// made with a key (sign-blob and attest-blob --new-bundle-format, see
// ../cosign/testdata) verify against that key once registered: the
// message signature as a cosign signature of the blob, the DSSE one as the
// statement it carries; both are refused under another key.
func TestCosignRealBundles(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("..", "cosign", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			pub, _, err := e.keys.Add(ctx, read("release.pub"), "release")
			if err != nil {
				t.Fatal(err)
			}
			other := newCosignKey(t, e, "other")
			blob := sha256Of(string(read("blob.txt")))
			for _, tc := range []struct{ file, predicateType string }{
				{"cosign-sign-blob-new.sigstore.json", recordtype.CosignSignature},
				{"cosign-attest-blob-new.sigstore.json", "https://example.com/test-result/v1"},
			} {
				t.Run(tc.file, func(t *testing.T) {
					data := read(tc.file)
					if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: record(t, cosign.Record{Kind: cosign.KindSigstoreBundle, KeyID: other.id, Data: data})}); err == nil {
						t.Fatal("verified under another key")
					}
					a, created, err := e.svc.Put(ctx, attest.PutRequest{Data: record(t, cosign.Record{Kind: cosign.KindSigstoreBundle, KeyID: pub.ID, Data: data}), Digest: blob})
					if err != nil || !created || a.PredicateType != tc.predicateType || len(a.SignerIDs) != 1 || a.SignerIDs[0] != pub.ID {
						t.Fatalf("Put = %+v, created %v, %v", a, created, err)
					}
				})
			}
		})
	}
}
