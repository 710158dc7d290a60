package envelope

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadPrivateKeyOpenSSL(t *testing.T) {
	tests := []struct {
		file     string
		stem     string // the public key it must match
		password string
	}{
		{"ed25519.key", "ed25519", ""},
		{"p256.key", "p256", ""},
		{"p384.key", "p384", ""},
		{"rsa3072.key", "rsa3072", ""},
		{"p384.sec1.key", "p384", ""},
		{"rsa3072.pkcs1.key", "rsa3072", ""},
		{"p256.enc.key", "p256", testPassword},
		{"ed25519.enc.key", "ed25519", testPassword},
		{"ed25519.scrypt.key", "ed25519", testPassword},
		{"rsa3072.des3.key", "rsa3072", testPassword},
		{"p256.key", "p256", "ignored for an unencrypted key"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, pub, err := LoadPrivateKey(readTestdata(t, tt.file), []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			want := mustPublic(t, tt.stem)
			if pub.ID != want.ID || pub.Type != want.Type || pub.Scheme != want.Scheme {
				t.Errorf("public key %+v, want %+v", pub, want)
			}
			if id, _ := s.KeyID(); id != want.ID {
				t.Errorf("signer key id %s, want %s", id, want.ID)
			}
			sig, err := s.Sign(context.Background(), []byte("data"))
			if err != nil {
				t.Fatal(err)
			}
			if err := newVerifier(want).Verify(context.Background(), []byte("data"), sig); err != nil {
				t.Errorf("signature does not verify with the public key: %v", err)
			}
		})
	}
}

func TestLoadPrivateKeyPassword(t *testing.T) {
	for _, file := range []string{"p256.enc.key", "ed25519.scrypt.key", "rsa3072.des3.key"} {
		t.Run(file, func(t *testing.T) {
			_, _, err := LoadPrivateKey(readTestdata(t, file), []byte("wrong password"))
			checkError(t, err, ErrBadPassword, "envelope: private key", "wrong password")
			if errors.Is(err, ErrPasswordRequired) {
				t.Error("a wrong password also matches ErrPasswordRequired")
			}

			_, _, err = LoadPrivateKey(readTestdata(t, file), nil)
			checkError(t, err, ErrBadPassword, "the key is encrypted: password required")
			if !errors.Is(err, ErrPasswordRequired) {
				t.Error("a missing password does not match ErrPasswordRequired")
			}
		})
	}
}

// encryptedDER returns the EncryptedPrivateKeyInfo of testdata/p256.enc.key
// after mutate has changed it.
func encryptedDER(t *testing.T, mutate func(info *encryptedPrivateKeyInfo, params *pbes2Params, kdf *pbkdf2Params)) []byte {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, "p256.enc.key"))
	var info encryptedPrivateKeyInfo
	var params pbes2Params
	var kdf pbkdf2Params
	if _, err := asn1.Unmarshal(block.Bytes, &info); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	mutate(&info, &params, &kdf)
	marshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	params.KeyDerivationFunc.Parameters = asn1.RawValue{FullBytes: marshal(kdf)}
	info.Algorithm.Parameters = asn1.RawValue{FullBytes: marshal(params)}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: marshal(info)})
}

func TestLoadPrivateKeyRejects(t *testing.T) {
	pemOf := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	key := readTestdata(t, "p256.key")
	tests := []struct {
		name     string
		input    []byte
		password string
		want     []string
	}{
		{"public key", readTestdata(t, "p256.pub"), "", []string{"this is a public key"}},
		{"certificate", readTestdata(t, "p256.cert.pem"), "", []string{`"CERTIFICATE"`}},
		{"garbage", []byte("not a key"), "", []string{"not a PEM private key"}},
		{"trailing data", append(bytes.Clone(key), "x"...), "", []string{"trailing data"}},
		{"too large", append(bytes.Clone(key), bytes.Repeat([]byte(" "), MaxKeyBytes)...), "", []string{"the limit is 65536"}},
		{"corrupt PKCS#8", pemOf("PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}), "", []string{"not a valid PRIVATE KEY"}},
		{"legacy encryption", []byte("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END EC PRIVATE KEY-----\n"), "x", []string{"legacy OpenSSL PEM encryption"}},
		{"openssh", pemOf("OPENSSH PRIVATE KEY", []byte("x")), "", []string{"OpenSSH"}},
		{"PBES1", readTestdata(t, "p256.pbes1.key"), testPassword, []string{"PBES1", "-v2 aes-256-cbc"}},
		{"huge iteration count", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, _ *pbes2Params, k *pbkdf2Params) { k.IterationCount = 1 << 30 }), testPassword, []string{"iteration count 1073741824"}},
		{"PBKDF2 keyLength", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, _ *pbes2Params, k *pbkdf2Params) { k.KeyLength = 32 }), testPassword, []string{"keyLength"}},
		{"PBKDF2 SHA-512 PRF", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, _ *pbes2Params, k *pbkdf2Params) {
			k.PRF.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
		}), testPassword, []string{"PRF 1.2.840.113549.2.11"}},
		{"ciphertext not whole blocks", encryptedDER(t, func(i *encryptedPrivateKeyInfo, _ *pbes2Params, _ *pbkdf2Params) {
			i.EncryptedData = i.EncryptedData[:len(i.EncryptedData)-3]
		}), testPassword, []string{"not a positive multiple"}},
		{"short IV", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Parameters = asn1.RawValue{FullBytes: []byte{0x04, 0x02, 0x00, 0x00}}
		}), testPassword, []string{"IV must be 16 bytes"}},
		{"AES-GCM", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Algorithm = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
		}), testPassword, []string{"AES-GCM"}},
		{"unknown cipher", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Algorithm = asn1.ObjectIdentifier{1, 2, 3}
		}), testPassword, []string{"unsupported cipher 1.2.3"}},
		{"unknown KDF", encryptedDER(t, func(_ *encryptedPrivateKeyInfo, p *pbes2Params, _ *pbkdf2Params) {
			p.KeyDerivationFunc.Algorithm = asn1.ObjectIdentifier{1, 2, 3}
		}), testPassword, []string{"key derivation function 1.2.3"}},
		{"not encrypted info", pemOf("ENCRYPTED PRIVATE KEY", []byte{0x05, 0x00}), testPassword, []string{"EncryptedPrivateKeyInfo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := LoadPrivateKey(tt.input, []byte(tt.password))
			checkError(t, err, ErrInvalidKey, append([]string{"envelope: private key"}, tt.want...)...)
			if s != nil {
				t.Error("returned a signer with the error")
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	for _, kt := range []string{KeyTypeED25519, KeyTypeECDSAP256, KeyTypeECDSAP384, KeyTypeRSA} {
		t.Run(kt, func(t *testing.T) {
			privPEM, pub, err := GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			if pub.Type != kt {
				t.Errorf("type %s, want %s", pub.Type, kt)
			}
			if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("not PKCS#8 PEM: %.40q", privPEM)
			}
			s, loaded, err := LoadPrivateKey(privPEM, nil)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.ID != pub.ID {
				t.Errorf("loaded key id %s, generated %s", loaded.ID, pub.ID)
			}
			env, err := Sign(context.Background(), PayloadTypeInToto, []byte("{}"), s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(context.Background(), env, newRegistry(pub).lookup); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, _, err := GenerateKey("dsa")
	checkError(t, err, ErrInvalidKey, `cannot generate key type "dsa"`)
}

func TestGenerateKeyEncrypted(t *testing.T) {
	privPEM, pub, err := GenerateKeyEncrypted(KeyTypeED25519, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")) {
		t.Fatalf("not encrypted PKCS#8 PEM: %.40q", privPEM)
	}
	_, loaded, err := LoadPrivateKey(privPEM, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID != pub.ID {
		t.Errorf("loaded key id %s, generated %s", loaded.ID, pub.ID)
	}
	_, _, err = LoadPrivateKey(privPEM, []byte("wrong"))
	checkError(t, err, ErrBadPassword)

	_, _, err = GenerateKeyEncrypted(KeyTypeED25519, nil)
	checkError(t, err, ErrBadPassword, "an encrypted key: password required")

	// openssl, where installed, must read what we write.
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed; scripts/test-deps.sh installs it")
		}
		t.Skip("openssl not installed: skipping the openssl interop check")
	}
	cmd := exec.Command("openssl", "pkey", "-pubout", "-passin", "pass:"+testPassword)
	cmd.Stdin = bytes.NewReader(privPEM)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cannot read the encrypted key: %v\n%s", err, out)
	}
	fromOpenSSL, err := ParsePublicKey(out)
	if err != nil || fromOpenSSL.ID != pub.ID {
		t.Fatalf("openssl's public key %v, %v; want id %s", fromOpenSSL.ID, err, pub.ID)
	}
}

func TestWritePrivateKeyFile(t *testing.T) {
	privPEM, _, err := GenerateKey(KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.key")
	if err := WritePrivateKeyFile(path, privPEM); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %o, want 600", mode)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, privPEM) {
		t.Fatalf("read back %q, %v", got, err)
	}
	if err := WritePrivateKeyFile(path, []byte("other")); err == nil {
		t.Fatal("overwrote an existing key file")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, privPEM) {
		t.Fatal("the existing key file changed")
	}
}

// TestSignerNeverPrintsKey formats a signer with every common verb and checks
// that no private key material comes out.
func TestSignerNeverPrintsKey(t *testing.T) {
	s, pub, err := LoadPrivateKey(readTestdata(t, "ed25519.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(readTestdata(t, "ed25519.key"))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	seed := priv.(ed25519.PrivateKey).Seed()
	want := "envelope.Signer(ed25519 " + pub.ID + ")"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, s)
		if out != want {
			t.Errorf("%s gives %q, want %q", verb, out, want)
		}
		if strings.Contains(strings.ToLower(out), hex.EncodeToString(seed[:8])) || strings.Contains(out, fmt.Sprint(seed[:4])) {
			t.Errorf("%s prints key material: %q", verb, out)
		}
	}
}
