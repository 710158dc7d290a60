package cosign_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRealCosign verifies what cosign v2.6.5 made with the key in
// testdata/release.pub (see integration.TestCosignImport, which makes
// them afresh): a legacy sign-blob bundle, a simple-signing payload with
// its .sig annotation, and a .att DSSE envelope.
func TestRealCosign(t *testing.T) {
	pub, err := envelope.ParsePublicKey(read(t, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := envelope.GenerateKey(envelope.KeyTypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, err := envelope.LoadPrivateKey(other, nil)
	if err != nil {
		t.Fatal(err)
	}

	b, err := cosign.ParseLegacyBundle(read(t, "cosign-sign-blob.bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(read(t, "blob.txt"))
	d, _ := digest.New(digest.SHA256, sum[:])
	if err := cosign.VerifyDigest(pub, d, b.Signature); err != nil {
		t.Errorf("legacy bundle: %v", err)
	}
	if err := cosign.VerifyDigest(otherPub, d, b.Signature); !errors.Is(err, cosign.ErrBadSignature) {
		t.Errorf("legacy bundle with another key: %v, want %v", err, cosign.ErrBadSignature)
	}

	payload := read(t, "cosign-sign.payload.json")
	p, err := cosign.ParseSimpleSigning(payload)
	if err != nil {
		t.Fatal(err)
	}
	if p.ManifestDigest.String() != "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268" || p.DockerReference != "127.0.0.1:5000/app" {
		t.Errorf("payload = %+v", p)
	}
	sig, err := cosign.DecodeSignature("signature", string(read(t, "cosign-sign.payload.sig")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cosign.VerifyMessage(pub, payload, sig); err != nil {
		t.Errorf("simple-signing: %v", err)
	}

	var env dsse.Envelope
	if err := json.Unmarshal(read(t, "cosign-attest.dsse.json"), &env); err != nil {
		t.Fatal(err)
	}
	body, _ := env.DecodeB64Payload()
	dsig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err := cosign.VerifyMessage(pub, dsse.PAE(env.PayloadType, body), dsig); err != nil {
		t.Errorf(".att envelope: %v", err)
	}
}

// TestParseErrors: each malformed input is refused naming its field.
func TestParseErrors(t *testing.T) {
	const dg = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268"
	for _, tc := range []struct {
		name, input, field string
		parse              func([]byte) error
		want               error
	}{
		{"bundle: no signature", `{"cert":""}`, "base64Signature", legacy, cosign.ErrMalformed},
		{"bundle: signature not base64", `{"base64Signature":"%%"}`, "base64Signature", legacy, cosign.ErrMalformed},
		{"bundle: huge signature", `{"base64Signature":"` + strings.Repeat("A", 8000) + `"}`, "base64Signature", legacy, cosign.ErrTooLarge},
		{"bundle: unknown field", `{"base64Signature":"AA==","x":1}`, "", legacy, cosign.ErrMalformed},
		{"bundle: cert not PEM", `{"base64Signature":"AA==","cert":"AAAA"}`, "cert", legacy, cosign.ErrMalformed},
		{"bundle: rekorBundle not an object", `{"base64Signature":"AA==","rekorBundle":[]}`, "rekorBundle", legacy, cosign.ErrMalformed},
		{"bundle: too large", `{"base64Signature":"` + strings.Repeat(" ", cosign.MaxBundleBytes) + `"}`, "", legacy, cosign.ErrTooLarge},
		{"payload: no critical", `{"optional":null}`, "critical", simple, cosign.ErrMalformed},
		{"payload: wrong type", `{"critical":{"identity":{},"image":{"docker-manifest-digest":"` + dg + `"},"type":"atomic container signature"}}`, "critical.type", simple, cosign.ErrMalformed},
		{"payload: no digest", `{"critical":{"identity":{},"image":{},"type":"cosign container image signature"}}`, "critical.image.docker-manifest-digest", simple, cosign.ErrMalformed},
		{"payload: bad digest", `{"critical":{"identity":{},"image":{"docker-manifest-digest":"sha256:xyz"},"type":"cosign container image signature"}}`, "critical.image.docker-manifest-digest", simple, cosign.ErrMalformed},
		{"payload: no identity", `{"critical":{"image":{"docker-manifest-digest":"` + dg + `"},"type":"cosign container image signature"}}`, "critical.identity", simple, cosign.ErrMalformed},
		{"payload: unknown critical field", `{"critical":{"identity":{},"image":{"docker-manifest-digest":"` + dg + `"},"type":"cosign container image signature","extra":1}}`, "", simple, cosign.ErrMalformed},
		{"payload: optional not an object", `{"critical":{"identity":{},"image":{"docker-manifest-digest":"` + dg + `"},"type":"cosign container image signature"},"optional":[1]}`, "optional", simple, cosign.ErrMalformed},
		{"payload: too large", strings.Repeat(" ", cosign.MaxPayloadBytes+1), "", simple, cosign.ErrTooLarge},
		{"record: version", `{"cosign":"v2","kind":"dsse","keyid":"k","data":"e30="}`, "cosign", record, cosign.ErrMalformed},
		{"record: no keyid", `{"cosign":"v1","kind":"dsse","data":"e30="}`, "keyid", record, cosign.ErrMalformed},
		{"record: no data", `{"cosign":"v1","kind":"dsse","keyid":"k"}`, "data", record, cosign.ErrMalformed},
		{"record: digest on a payload", `{"cosign":"v1","kind":"simple-signing","keyid":"k","data":"e30=","signature":"AA==","digest":"` + dg + `"}`, "digest", record, cosign.ErrMalformed},
		{"record: signature on a dsse", `{"cosign":"v1","kind":"dsse","keyid":"k","data":"e30=","signature":"AA=="}`, "signature", record, cosign.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.input))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error = %v, want %v naming %q", err, tc.want, tc.field)
			}
		})
	}
}

func legacy(b []byte) error { _, err := cosign.ParseLegacyBundle(b); return err }
func simple(b []byte) error { _, err := cosign.ParseSimpleSigning(b); return err }
func record(b []byte) error { _, err := cosign.ParseRecord(b); return err }
