package cosign_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/cosign"
)

// seeds adds every file of testdata matching glob (cosign's own output)
// and the given inputs to f's corpus.
func seeds(f *testing.F, glob string, extra ...string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// FuzzParseLegacyBundle: any input is refused with an error or parsed
// into a signature within bounds; never a panic.
func FuzzParseLegacyBundle(f *testing.F) {
	seeds(f, "*.bundle.json", `{}`, `{"base64Signature":"AA=="}`, `{"base64Signature":"AA==","cert":"","rekorBundle":{}}`,
		`{"base64Signature":"AA==","cert":"LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KQUFBQQotLS0tLUVORCBQVUJMSUMgS0VZLS0tLS0K"}`, `[]`, `{"x":1}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := cosign.ParseLegacyBundle(data)
		if err != nil {
			return
		}
		if len(b.Signature) == 0 || len(b.Signature) > cosign.MaxSignatureBytes+3 {
			t.Fatalf("signature of %d bytes accepted", len(b.Signature))
		}
		if b.PublicKey != nil && !bytes.Contains(b.PublicKey, []byte("PUBLIC KEY")) {
			t.Fatalf("cert %q accepted as a public key", b.PublicKey)
		}
	})
}

// FuzzParseSimpleSigning: a parsed payload always names a digest and
// comes from within the bound.
func FuzzParseSimpleSigning(f *testing.F) {
	seeds(f, "*.payload.json", `{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},"type":"cosign container image signature"},"optional":{"a":"b"}}`,
		`{"critical":null}`, `{"critical":{"type":"cosign container image signature"}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := cosign.ParseSimpleSigning(data)
		if err != nil {
			return
		}
		if p.ManifestDigest.IsZero() || len(data) > cosign.MaxPayloadBytes {
			t.Fatalf("accepted %q as %+v", data, p)
		}
	})
}

// FuzzParseRecord: a parsed record re-encodes to a record that parses
// to the same thing (what trustd stores is canonical).
func FuzzParseRecord(f *testing.F) {
	seeds(f, "*.record.json", `{"cosign":"v1","kind":"dsse","keyid":"k","data":"e30="}`,
		`{"cosign":"v1","kind":"blob-bundle","keyid":"k","digest":"sha256:00","data":"e30="}`,
		`{"cosign":"v1","kind":"simple-signing","keyid":"k","data":"e30=","signature":"AA=="}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := cosign.ParseRecord(data)
		if err != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := cosign.ParseRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record %s: %v", enc, err)
		}
		enc2, _ := r2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %s then %s", enc, enc2)
		}
	})
}
