package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/pkcs11"
	"github.com/trustd-dev/trustd/internal/pkcs11/softhsmtest"
	"github.com/trustd-dev/trustd/tuf"
)

// open parses uri (the PIN taken from the URI) and opens the key.
func open(t *testing.T, uri string) (*pkcs11.Key, error) {
	t.Helper()
	ref, err := pkcs11.ParseURI(uri, "")
	if err != nil {
		t.Fatalf("ParseURI(%s): %v", uri, err)
	}
	k, err := pkcs11.Open(ref, ref.PIN)
	if err == nil {
		t.Cleanup(func() { _ = k.Close() })
	}
	return k, err
}

// TestTokenKeysSignTUFMetadata generates a key of each type on a SoftHSM2
// token, signs TUF targets metadata with it through the envelope and tuf
// adapters, and has go-tuf verify the signature as a client would.
func TestTokenKeysSignTUFMetadata(t *testing.T) {
	tk := softhsmtest.New(t, "release")
	for _, kt := range []string{envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA} {
		t.Run(kt, func(t *testing.T) {
			tk.Generate(t, "targets-"+kt, kt)
			k, err := open(t, tk.URI("targets-"+kt)+"&pin-value="+softhsmtest.PIN)
			if err != nil {
				t.Fatal(err)
			}
			es, pub, err := envelope.NewCryptoSigner(k)
			if err != nil {
				t.Fatal(err)
			}
			if pub.Type != kt {
				t.Fatalf("key type = %s, want %s", pub.Type, kt)
			}
			signer := tuf.EnvelopeSigner(es)
			key, id, err := tuf.PublicKeyOf(signer)
			if err != nil {
				t.Fatal(err)
			}
			if id != pub.ID {
				t.Errorf("TUF key id %s != envelope key id %s", id, pub.ID)
			}
			root := metadata.Root(time.Now().Add(time.Hour))
			if err := root.Signed.AddKey(key, metadata.TARGETS); err != nil {
				t.Fatal(err)
			}
			targets := metadata.Targets(time.Now().Add(time.Hour))
			if _, err := targets.Sign(signer); err != nil {
				t.Fatalf("sign on the token: %v", err)
			}
			if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
				t.Fatalf("go-tuf rejects the token's signature: %v", err)
			}
			// A changed payload must not verify: the signature is real.
			targets.Signed.Version++
			if err := root.VerifyDelegate(metadata.TARGETS, targets); err == nil {
				t.Fatal("go-tuf accepted the signature over other metadata")
			}
			// DSSE: the envelope verifier accepts what the token signed.
			env, err := envelope.Sign(t.Context(), "application/vnd.in-toto+json", []byte(`{}`), es)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := envelope.Verify(t.Context(), env, func(context.Context, string) (string, []byte, error) { return pub.Type, pub.Encode(), nil }); err != nil {
				t.Fatalf("envelope.Verify: %v", err)
			}
		})
	}
}

// TestImportedKeyMatchesFile imports an openssl-generated key into the
// token; the token's public half must be the file's.
func TestImportedKeyMatchesFile(t *testing.T) {
	tk := softhsmtest.New(t, "import")
	for _, c := range []struct{ kt, algo string }{
		{envelope.KeyTypeED25519, "ed25519"},
		{envelope.KeyTypeECDSAP256, "EC -pkeyopt ec_paramgen_curve:P-256"},
	} {
		t.Run(c.kt, func(t *testing.T) {
			if _, err := exec.LookPath("openssl"); err != nil {
				t.Skip("openssl not installed")
			}
			pemFile := filepath.Join(t.TempDir(), "key.pem")
			args := append([]string{"genpkey", "-out", pemFile, "-algorithm"}, strings.Fields(c.algo)...)
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl: %v\n%s", err, out)
			}
			data, err := os.ReadFile(pemFile)
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := envelope.LoadPrivateKey(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			tk.Import(t, "imported-"+c.kt, pemFile)
			k, err := open(t, tk.URI("imported-"+c.kt)+"&pin-value="+softhsmtest.PIN)
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := envelope.NewCryptoSigner(k)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID {
				t.Fatalf("token key id %s, file key id %s", got.ID, want.ID)
			}
		})
	}
}

// TestOpenRejects: each way of naming the wrong thing fails with its own
// sentinel, before anything is signed.
func TestOpenRejects(t *testing.T) {
	tk := softhsmtest.New(t, "neg")
	tk.Generate(t, "k", envelope.KeyTypeECDSAP256)
	tk.Generate(t, "dup", envelope.KeyTypeED25519)
	tk.Generate(t, "dup", envelope.KeyTypeED25519)
	pin := "&pin-value=" + softhsmtest.PIN
	for _, c := range []struct {
		name, uri string
		want      error
	}{
		{"wrong PIN", tk.URI("k") + "&pin-value=0000", pkcs11.ErrLogin},
		{"no PIN: private key invisible", tk.URI("k"), pkcs11.ErrNoKey},
		{"unknown label", tk.URI("nope") + pin, pkcs11.ErrNoKey},
		{"two keys with the label", tk.URI("dup") + pin, pkcs11.ErrNoKey},
		{"unknown token", "pkcs11:token=other;object=k?module-path=" + tk.Module + pin, pkcs11.ErrNoToken},
		{"not a PKCS#11 module", "pkcs11:token=neg;object=k?module-path=" + tk.Conf + pin, pkcs11.ErrModule},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := open(t, c.uri)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), softhsmtest.PIN) || strings.Contains(err.Error(), "0000") {
				t.Fatalf("error shows the PIN: %v", err)
			}
		})
	}
}

// TestSignRejectsWrongScheme: the crypto.Signer contract is kept (ECDSA
// takes a digest, RSA only PSS, ed25519 the message), and a closed key
// refuses to sign.
func TestSignRejectsWrongScheme(t *testing.T) {
	tk := softhsmtest.New(t, "scheme")
	pin := "&pin-value=" + softhsmtest.PIN
	keys := map[string]*pkcs11.Key{}
	for _, kt := range []string{envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA} {
		tk.Generate(t, kt, kt)
		k, err := open(t, tk.URI(kt)+pin)
		if err != nil {
			t.Fatal(err)
		}
		keys[kt] = k
	}
	h := sha256.Sum256([]byte("x"))
	for _, c := range []struct {
		name string
		key  string
		data []byte
		opts crypto.SignerOpts
	}{
		{"ed25519 prehashed", envelope.KeyTypeED25519, h[:], crypto.SHA256},
		{"ecdsa without hash", envelope.KeyTypeECDSAP256, []byte("x"), crypto.Hash(0)},
		{"ecdsa digest of wrong size", envelope.KeyTypeECDSAP256, h[:20], crypto.SHA256},
		{"rsa pkcs1v15", envelope.KeyTypeRSA, h[:], crypto.SHA256},
		{"rsa pss sha1", envelope.KeyTypeRSA, h[:20], &rsa.PSSOptions{Hash: crypto.SHA1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := keys[c.key].Sign(nil, c.data, c.opts); !errors.Is(err, pkcs11.ErrUnsupportedKey) {
				t.Fatalf("Sign = %v, want ErrUnsupportedKey", err)
			}
		})
	}
	// Go's own verifiers accept what the token signs with each scheme.
	sig, err := keys[envelope.KeyTypeECDSAP256].Sign(nil, h[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(keys[envelope.KeyTypeECDSAP256].Public().(*ecdsa.PublicKey), h[:], sig) {
		t.Fatalf("ecdsa signature does not verify: %v", err)
	}
	sig, err = keys[envelope.KeyTypeRSA].Sign(nil, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256})
	if err != nil || rsa.VerifyPSS(keys[envelope.KeyTypeRSA].Public().(*rsa.PublicKey), crypto.SHA256, h[:], sig, nil) != nil {
		t.Fatalf("rsa-pss (max salt) signature does not verify: %v", err)
	}
	sig, err = keys[envelope.KeyTypeED25519].Sign(nil, []byte("msg"), crypto.Hash(0))
	if err != nil || !ed25519.Verify(keys[envelope.KeyTypeED25519].Public().(ed25519.PublicKey), []byte("msg"), sig) {
		t.Fatalf("ed25519 signature does not verify: %v", err)
	}
	k := keys[envelope.KeyTypeED25519]
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(nil, []byte("msg"), crypto.Hash(0)); !errors.Is(err, pkcs11.ErrModule) {
		t.Fatalf("Sign after Close = %v, want ErrModule", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); strings.Contains(s, softhsmtest.PIN) {
		t.Fatalf("key prints its PIN: %s", s)
	}
}
