package attest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
)

// FuzzNotationEnvelope feeds Notation envelopes (seeded with a COSE and a
// JWS envelope notation-go made) to the parser and the verifier: neither
// may panic, a parsed envelope signs the reference's digest, and nothing
// verifies against a trust store holding no CA that signed it.
func FuzzNotationEnvelope(f *testing.F) {
	ref, err := os.ReadFile(filepath.Join("testdata", "notation", "seed.ref"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct{ file, mediaType string }{{"seed.cose", attest.NotationMediaTypeCOSE}, {"seed.jws", attest.NotationMediaTypeJWS}} {
		env, err := os.ReadFile(filepath.Join("testdata", "notation", s.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.mediaType, env, string(ref))
	}
	f.Add(attest.NotationMediaTypeJWS, []byte(`{"payload":"","protected":"","header":{},"signature":""}`), string(ref))
	f.Add(attest.NotationMediaTypeCOSE, []byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40}, string(ref))

	dir := f.TempDir()
	other := attesttest.NewNotationCA(f, "other")
	store := other.WriteTrustStore(f, filepath.Join(dir, "truststore"), "other")
	policy := attesttest.WriteTrustPolicy(f, filepath.Join(dir, "trustpolicy.json"),
		attesttest.NotationPolicy{Name: "all", Scopes: []string{"*"}, Stores: []string{"ca:other"}})
	nt, err := attest.LoadNotationTrust(store, policy)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mediaType string, env []byte, ref string) {
		sig := attest.NotationSignature{MediaType: mediaType, Envelope: env, Reference: ref}
		payloadType, _, target, r, err := attest.ParseNotationEnvelope(sig)
		if err != nil {
			return
		}
		if !strings.HasSuffix(payloadType, map[string]string{attest.NotationMediaTypeCOSE: "+cose", attest.NotationMediaTypeJWS: "+jws"}[mediaType]) {
			t.Fatalf("payload type %s for %s", payloadType, mediaType)
		}
		if target.Digest.String() != r.DigestStr() {
			t.Fatalf("target %s, reference %s", target.Digest, r.DigestStr())
		}
		if res, err := attest.VerifyNotation(context.Background(), nt, sig); err == nil {
			t.Fatalf("verified by a trust store of another CA: %+v", res)
		}
	})
}
