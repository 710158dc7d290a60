package pgp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/gpgtest"
)

const testSums = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt\n" +
	"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 *hello.bin\n" +
	"SHA512 (tagged.tar) = cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e\n"

// TestGPGInterop generates RSA-3072 and Ed25519 keys with signing subkeys
// in a throwaway GNUPGHOME, registers what gpg exports, and verifies gpg's
// detached (binary and armored) and clear signatures over a SHA256SUMS file.
func TestGPGInterop(t *testing.T) {
	for _, alg := range []string{"ed25519", "rsa3072"} {
		t.Run(alg, func(t *testing.T) {
			g := gpgtest.New(t)
			uid := alg + "@example.org"
			g.Run(nil, "--quick-gen-key", "Test <"+uid+">", alg, "cert", "0")
			primary := g.Fingerprints(uid)[0]
			g.Run(nil, "--quick-add-key", primary, alg, "sign", "0")
			fprs := g.Fingerprints(uid)
			cert, err := ParseCertificate(g.Run(nil, "--armor", "--export", primary))
			if err != nil {
				t.Fatal(err)
			}
			if cert.Fingerprint != primary || len(cert.Subkeys) != 1 || cert.Subkeys[0].Fingerprint != fprs[1] {
				t.Fatalf("certificate %s subkeys %+v, gpg lists %v", cert.Fingerprint, cert.Subkeys, fprs)
			}
			if cert.Algorithm != alg || cert.Capabilities.Sign || !cert.Capabilities.Certify || !cert.Subkeys[0].Capabilities.Sign {
				t.Fatalf("algorithm %s capabilities %v / %v", cert.Algorithm, cert.Capabilities, cert.Subkeys[0].Capabilities)
			}
			if st := cert.Status(time.Now()); st.State != StateValid {
				t.Fatalf("status %s", st)
			}
			// Binary export gives the same certificate.
			bin, err := ParseCertificate(g.Run(nil, "--export", primary))
			if err != nil || !bytes.Equal(bin.Encode(), cert.Encode()) {
				t.Fatalf("binary export differs: %v", err)
			}

			dir := t.TempDir()
			sums := filepath.Join(dir, "SHA256SUMS")
			if err := os.WriteFile(sums, []byte(testSums), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"binary", "armor", "clear"} {
				var info SignatureInfo
				switch mode {
				case "binary":
					sig := g.Run(nil, "--local-user", primary, "--detach-sign", "--output", "-", sums)
					info, err = VerifyDetached(cert, []byte(testSums), sig)
					if err == nil {
						_, err2 := VerifyDetached(cert, []byte(testSums+"x"), sig)
						if !errors.Is(err2, ErrBadSignature) {
							t.Errorf("tampered manifest: %v, want ErrBadSignature", err2)
						}
					}
				case "armor":
					sig := g.Run(nil, "--local-user", primary, "--armor", "--detach-sign", "--output", "-", sums)
					info, err = VerifyDetached(cert, []byte(testSums), sig)
				case "clear":
					signed := g.Run(nil, "--local-user", primary, "--clearsign", "--output", "-", sums)
					var text []byte
					text, info, err = VerifyCleartext(cert, signed)
					if err == nil {
						entries, problems, perr := ParseManifest(text)
						if perr != nil || len(entries) != 3 || len(problems) != 0 {
							t.Errorf("clearsigned manifest: %d entries, problems %v, %v", len(entries), problems, perr)
						}
					}
				}
				if err != nil {
					t.Fatalf("%s signature: %v", mode, err)
				}
				if info.Primary != primary || info.SigningKey != fprs[1] || !strongHash(info.Hash) {
					t.Errorf("%s signature info %+v", mode, info)
				}
			}

			// The other direction: trustd's key signer with the exported
			// secret key, checked by gpg --verify.
			signer, err := NewKeySigner(g.Run(nil, "--armor", "--export-secret-keys", primary), nil)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signer.Sign(context.Background(), []byte(testSums))
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(dir, "SHA256SUMS.gpg")
			if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Try(nil, "--verify", sigFile, sums); err != nil {
				t.Errorf("gpg --verify of a KeySigner signature: %v", err)
			}
		})
	}
}

// TestGPGRevocations drives gpg --gen-revoke for every reason and checks
// the reason, hard/soft semantics and the verification against the key.
func TestGPGRevocations(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Rev <rev@example.org>", "ed25519", "sign", "0")
	fpr := g.Fingerprints("rev@example.org")[0]
	cert, err := ParseCertificate(g.Run(nil, "--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	other := fixtureCert(t, "rsa3072.asc")
	for _, tc := range []struct {
		menu   string
		reason Reason
		hard   bool
	}{
		{"0", ReasonNone, true},
		{"1", ReasonCompromised, true},
		{"2", ReasonSuperseded, false},
		{"3", ReasonRetired, false},
	} {
		rev := g.GenRevoke(fpr, tc.menu, "reason text "+tc.menu)
		r, err := VerifyRevocation(cert, rev)
		if err != nil {
			t.Fatalf("menu %s: %v", tc.menu, err)
		}
		if r.Reason != tc.reason || r.Hard != tc.hard || r.Fingerprint != fpr || r.Text != "reason text "+tc.menu || !r.HasReason {
			t.Errorf("menu %s: %+v", tc.menu, r)
		}
		if _, err := VerifyRevocation(other, rev); !errors.Is(err, ErrWrongKey) {
			t.Errorf("menu %s against another key: %v, want ErrWrongKey", tc.menu, err)
		}
		st := cert.Status(time.Now().Add(time.Hour), r)
		if st.State != StateRevoked || st.Revocation.Hard != tc.hard {
			t.Errorf("menu %s: status %s", tc.menu, st)
		}
	}

	// The revocation gpg made at key generation: colon-protected.
	pre, err := os.ReadFile(filepath.Join(g.Dir, "openpgp-revocs.d", strings.ToUpper(fpr)+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRevocation(pre); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "colon") {
		t.Errorf("colon-protected revocation: %v", err)
	}
	pre = bytes.Replace(pre, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	r, err := VerifyRevocation(cert, pre)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Hard {
		t.Errorf("gpg's pre-made revocation must be hard: %+v", r)
	}

	// Imported into gpg, the revocation travels inside the certificate.
	g.Run(g.GenRevoke(fpr, "2", "moved"), "--import")
	revoked, err := ParseCertificate(g.Run(nil, "--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked.Revocations) != 1 || revoked.Status(time.Now().Add(time.Hour)).State != StateRevoked {
		t.Errorf("exported revoked certificate: %+v", revoked.Revocations)
	}
}

// TestGPGExpired makes a key that expires after one day, with gpg's clock
// faked, and checks that its signature made while valid still verifies.
func TestGPGExpired(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--faked-system-time", "20200101T000000", "--quick-gen-key", "Old <old@example.org>", "ed25519", "sign", "1d")
	fpr := g.Fingerprints("old@example.org")[0]
	cert, err := ParseCertificate(g.Run(nil, "--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC); !cert.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", cert.Expires, want)
	}
	if st := cert.Status(time.Now()); st.State != StateExpired {
		t.Errorf("status now: %s", st)
	}
	msg := []byte(testSums)
	sig := g.Run(msg, "--faked-system-time", "20200101T120000", "--local-user", fpr, "--detach-sign", "--output", "-")
	if _, err := VerifyDetached(cert, msg, sig); err != nil {
		t.Errorf("signature made while the key was valid: %v", err)
	}
	if _, err := g.Try(msg, "--faked-system-time", "20200105T000000", "--local-user", fpr, "--detach-sign", "--output", "-"); err == nil {
		t.Errorf("gpg signed with an expired key")
	}
}

// TestGPGSigner signs a DSSE envelope through the gpg program and verifies
// it through envelope.Verify and the registered pgp key type.
func TestGPGSigner(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Signer <signer@example.org>", "ed25519", "sign", "0")
	fpr := g.Fingerprints("signer@example.org")[0]
	ctx := context.Background()
	s, err := NewGPGSigner(ctx, "gpg", strings.ToUpper(fpr), g.Env())
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(ctx, "application/vnd.in-toto+json", []byte(`{"a":1}`), s)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, id string) (string, []byte, error) {
		if id == fpr {
			return KeyType, s.Certificate().Encode(), nil
		}
		return "", nil, envelope.ErrUnknownKey
	}
	ids, err := envelope.Verify(ctx, env, lookup)
	if err != nil || len(ids) != 1 || ids[0] != fpr {
		t.Fatalf("envelope.Verify: %v %v", ids, err)
	}
	if _, err := NewGPGSigner(ctx, "gpg", strings.Repeat("ab", 20), g.Env()); !errors.Is(err, ErrGPG) {
		t.Errorf("unknown key: %v, want ErrGPG", err)
	}
}
