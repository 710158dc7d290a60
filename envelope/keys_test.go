package envelope

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// goldenKeyID is the TUF key id of testdata/ed25519.pub, fixed here so that
// any change to the key id rule fails this test.
const goldenKeyID = "672b203b3baa9a7253ae55103894af247dfc92b98810eed1a9e8ff39f1bd9f4e"

func TestParsePublicKeyOpenSSL(t *testing.T) {
	ids := pythonKeyIDs(t)
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			k := mustPublic(t, tk.stem)
			if k.Type != tk.keyType || k.Scheme != tk.scheme {
				t.Errorf("type %s scheme %s, want %s %s", k.Type, k.Scheme, tk.keyType, tk.scheme)
			}
			if k.ID != ids[tk.stem].TUF {
				t.Errorf("key id %s, python-securesystemslib computed %s", k.ID, ids[tk.stem].TUF)
			}
		})
	}
}

func TestKeyIDGolden(t *testing.T) {
	if k := mustPublic(t, "ed25519"); k.ID != goldenKeyID {
		t.Fatalf("key id of testdata/ed25519.pub is %s, want %s: the key id rule changed", k.ID, goldenKeyID)
	}
}

// TestKeyIDMatchesGoTUF computes each key id with go-tuf independently: from
// the crypto key, and from the TUF JSON form python wrote, unmarshalled by
// go-tuf's own metadata.Key.
func TestKeyIDMatchesGoTUF(t *testing.T) {
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			k := mustPublic(t, tk.stem)
			mk, err := metadata.KeyFromPublicKey(k.Public)
			if err != nil {
				t.Fatal(err)
			}
			if tk.keyType == KeyTypeECDSAP384 {
				// go-tuf labels every ECDSA key nistp256; securesystemslib
				// and trustd label P-384 keys nistp384.
				if mk.Scheme != SchemeECDSAP256SHA256 {
					t.Fatalf("go-tuf now gives P-384 keys scheme %s: revisit tufKeyID", mk.Scheme)
				}
				mk.Scheme = SchemeECDSAP384SHA384
			}
			id, err := mk.ID()
			if err != nil {
				t.Fatal(err)
			}
			if id != k.ID {
				t.Errorf("go-tuf key id %s, ours %s", id, k.ID)
			}

			var fromJSON metadata.Key
			if err := json.Unmarshal(readTestdata(t, tk.stem+".tuf.json"), &fromJSON); err != nil {
				t.Fatal(err)
			}
			id, err = fromJSON.ID()
			if err != nil {
				t.Fatal(err)
			}
			if id != k.ID {
				t.Errorf("go-tuf key id of %s.tuf.json %s, ours %s", tk.stem, id, k.ID)
			}
		})
	}
}

// TestSSLibLegacyKeyID records that go-securesystemslib's LoadKey computes the
// classic securesystemslib key id (with keyid_hash_algorithms and a stripped
// PEM), not the TUF one: its signers must be given trustd's key id.
func TestSSLibLegacyKeyID(t *testing.T) {
	ids := pythonKeyIDs(t)
	for _, stem := range []string{"ed25519", "p256", "rsa3072"} {
		sk, err := signerverifier.LoadKey(readTestdata(t, stem+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		if sk.KeyID != ids[stem].Legacy {
			t.Errorf("%s: go-securesystemslib key id %s, python classic id %s", stem, sk.KeyID, ids[stem].Legacy)
		}
		if sk.KeyID == ids[stem].TUF {
			t.Errorf("%s: go-securesystemslib now computes the TUF key id: simplify the interop notes", stem)
		}
	}
}

func TestParsePublicKeyJSON(t *testing.T) {
	for _, tk := range testKeys {
		want := mustPublic(t, tk.stem)
		for _, form := range []string{"tuf", "sslib"} {
			t.Run(tk.stem+"."+form, func(t *testing.T) {
				k, err := ParsePublicKey(readTestdata(t, tk.stem+"."+form+".json"))
				if err != nil {
					t.Fatal(err)
				}
				if k.ID != want.ID || k.Type != want.Type || k.Scheme != want.Scheme || !bytes.Equal(k.Encode(), want.Encode()) {
					t.Errorf("got %s %s %s, want %s %s %s", k.ID, k.Type, k.Scheme, want.ID, want.Type, want.Scheme)
				}
			})
		}
	}
}

// TestParsePublicKeyTUFCompatKeyType parses the keytype the TUF spec gives
// ECDSA keys ("ecdsa-sha2-nistp256"), which go-tuf reads as "ecdsa": the key
// id is that of the normalised form.
func TestParsePublicKeyTUFCompatKeyType(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(readTestdata(t, "p256.tuf.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["keytype"] = "ecdsa-sha2-nistp256"
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustPublic(t, "p256"); k.ID != want.ID || k.Type != KeyTypeECDSAP256 {
		t.Errorf("got %s %s, want %s %s", k.ID, k.Type, want.ID, KeyTypeECDSAP256)
	}
}

// TestJSONKeyRoundTrip writes each key in the TUF JSON form with go-tuf and
// parses it back.
func TestJSONKeyRoundTrip(t *testing.T) {
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			k := mustPublic(t, tk.stem)
			mk, err := metadata.KeyFromPublicKey(k.Public)
			if err != nil {
				t.Fatal(err)
			}
			mk.Scheme = k.Scheme
			id, err := mk.ID()
			if err != nil {
				t.Fatal(err)
			}
			js, err := json.Marshal(map[string]any{"keytype": mk.Type, "scheme": mk.Scheme,
				"keyval": map[string]string{"public": mk.Value.PublicKey}, "keyid": id})
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParsePublicKey(js)
			if err != nil {
				t.Fatalf("ParsePublicKey(%s): %v", js, err)
			}
			if back.ID != k.ID || back.ID != id {
				t.Errorf("round trip id %s, want %s", back.ID, k.ID)
			}
		})
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	p256 := string(readTestdata(t, "p256.pub"))
	p256JSON := func(mutate func(m map[string]any)) []byte {
		m := map[string]any{"keytype": "ecdsa", "scheme": SchemeECDSAP256SHA256, "keyval": map[string]any{"public": p256}}
		mutate(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deep := strings.Repeat("[", 10) + strings.Repeat("]", 10)
	tests := []struct {
		name  string
		input []byte
		want  []string
	}{
		{"rsa 1024", readTestdata(t, "rsa1024.pub"), []string{"1024 bits", "at least 2048"}},
		{"secp256k1", readTestdata(t, "secp256k1.pub"), []string{"unsupported curve"}},
		{"P-521", readTestdata(t, "p521.pub"), []string{"unsupported curve P-521"}},
		{"private key PKCS#8", readTestdata(t, "p256.key"), []string{"this is a private key; give the public half"}},
		{"private key encrypted", readTestdata(t, "p256.enc.key"), []string{"this is a private key"}},
		{"private key SEC 1", readTestdata(t, "p384.sec1.key"), []string{"this is a private key"}},
		{"private key PKCS#1", readTestdata(t, "rsa3072.pkcs1.key"), []string{"this is a private key"}},
		{"PKCS#1 public key", readTestdata(t, "rsa3072.pkcs1.pub"), []string{`"RSA PUBLIC KEY"`}},
		{"certificate", readTestdata(t, "p256.cert.pem"), []string{"certificate"}},
		{"trailing garbage", append(readTestdata(t, "p256.pub"), "garbage"...), []string{"trailing data"}},
		{"two keys", append(readTestdata(t, "p256.pub"), readTestdata(t, "p384.pub")...), []string{"trailing data"}},
		{"leading garbage", append([]byte("hello\n"), readTestdata(t, "p256.pub")...), []string{"neither"}},
		{"garbage", []byte("ssh-ed25519 AAAA"), []string{"neither"}},
		{"empty", []byte("  \n"), []string{"empty"}},
		{"truncated PEM", readTestdata(t, "p256.pub")[:60], []string{"malformed PEM"}},
		{"corrupt DER", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), []string{"not a PKIX public key"}},
		{"PEM headers", []byte(strings.Replace(p256, "-----\n", "-----\nX-Note: hi\n\n", 1)), []string{"headers"}},
		{"too large", append(readTestdata(t, "p256.pub"), bytes.Repeat([]byte(" "), MaxKeyBytes)...), []string{"the limit is 65536"}},
		{"json private", p256JSON(func(m map[string]any) { m["keyval"].(map[string]any)["private"] = "secret" }), []string{"keyval.private", "this is a private key"}},
		{"json scheme mismatch", p256JSON(func(m map[string]any) { m["scheme"] = SchemeECDSAP384SHA384 }), []string{"scheme", "does not match"}},
		{"json rsa scheme", p256JSON(func(m map[string]any) { m["keytype"] = "rsa"; m["scheme"] = "rsa-pkcs1v15-sha256" }), []string{"scheme", "not supported"}},
		{"json wrong key for type", p256JSON(func(m map[string]any) { m["keytype"] = "rsa"; m["scheme"] = SchemeRSAPSSSHA256 }), []string{"scheme", "does not match"}},
		{"json unknown keytype", p256JSON(func(m map[string]any) { m["keytype"] = "sphincs" }), []string{"keytype", "unsupported key type"}},
		{"json unknown field", p256JSON(func(m map[string]any) { m["extra"] = 1 }), []string{"extra: unknown field"}},
		{"json keyval unknown field", p256JSON(func(m map[string]any) { m["keyval"].(map[string]any)["certificate"] = "x" }), []string{"keyval.certificate"}},
		{"json keyid mismatch", p256JSON(func(m map[string]any) { m["keyid"] = goldenKeyID }), []string{"keyid", "does not match"}},
		{"json no scheme", p256JSON(func(m map[string]any) { delete(m, "scheme") }), []string{"scheme: required"}},
		{"json no public", p256JSON(func(m map[string]any) { m["keyval"] = map[string]any{} }), []string{"keyval.public: required"}},
		{"json keytype not string", p256JSON(func(m map[string]any) { m["keytype"] = 7 }), []string{"keytype: must be a string"}},
		{"json ed25519 short", []byte(`{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"abcd"}}`), []string{"keyval.public", "64 hex characters"}},
		{"json ecdsa hex", []byte(`{"keytype":"ecdsa","scheme":"ecdsa-sha2-nistp256","keyval":{"public":"abcd"}}`), []string{"keyval.public", "PEM"}},
		{"json duplicate key", []byte(`{"keytype":"ed25519","keytype":"rsa"}`), []string{"keytype: duplicate key"}},
		{"json deep", []byte(`{"x":` + deep + `}`), []string{"nested deeper"}},
		{"json trailing", append(readTestdata(t, "ed25519.tuf.json"), "{}"...), []string{"trailing data"}},
		{"json syntax", []byte(`{"keytype":`), []string{"invalid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.input)
			checkError(t, err, ErrInvalidKey, append([]string{"envelope: public key"}, tt.want...)...)
			if k != (PublicKey{}) {
				t.Errorf("returned a key with the error: %+v", k)
			}
		})
	}
}

// TestParsePublicKeyLegacyKeyID checks that a declared keyid computed the
// classic way (keyid_hash_algorithms, stripped PEM) is accepted but does not
// become the key's id.
func TestParsePublicKeyLegacyKeyID(t *testing.T) {
	ids := pythonKeyIDs(t)
	k, err := ParsePublicKey(readTestdata(t, "p384.sslib.json"))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != ids["p384"].TUF {
		t.Errorf("key id %s, want the TUF id %s", k.ID, ids["p384"].TUF)
	}
}

func TestStoredKeyRoundTrip(t *testing.T) {
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			k := mustPublic(t, tk.stem)
			enc := k.Encode()
			if !bytes.HasPrefix(enc, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Fatalf("Encode() = %q", enc)
			}
			back, err := DecodeStoredKey(k.Type, enc)
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != k.ID || back.Type != k.Type || back.Scheme != k.Scheme {
				t.Errorf("DecodeStoredKey gave %+v, want %+v", back, k)
			}
			again, err := ParsePublicKey(enc)
			if err != nil || again.ID != k.ID {
				t.Errorf("ParsePublicKey(Encode()) = %v, %v", again.ID, err)
			}
		})
	}
}

func TestDecodeStoredKeyRejects(t *testing.T) {
	p256 := mustPublic(t, "p256").Encode()
	tests := []struct {
		name    string
		keyType string
		encoded []byte
		want    string
	}{
		{"type mismatch", KeyTypeRSA, p256, "registry row says rsa but holds a key of type ecdsa-p256"},
		{"curve mismatch", KeyTypeECDSAP384, p256, "holds a key of type ecdsa-p256"},
		{"unknown type", "pgp", p256, `key type "pgp"`},
		{"not PEM", KeyTypeECDSAP256, []byte("hello"), "not a PEM"},
		{"JSON form", KeyTypeED25519, readTestdata(t, "ed25519.tuf.json"), "not a PEM"},
		{"private key", KeyTypeECDSAP256, readTestdata(t, "p256.key"), "this is a private key"},
		{"trailing", KeyTypeECDSAP256, append(bytes.Clone(p256), 'x'), "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStoredKey(tt.keyType, tt.encoded)
			checkError(t, err, ErrInvalidKey, "envelope: stored key", tt.want)
		})
	}
}

// TestParsePublicKeyGoKeys covers keys made in Go, including an ed25519 key
// in PKIX and an ECDH key, which is not a signing key.
func TestParsePublicKeyGoKeys(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil || k.Type != KeyTypeED25519 {
		t.Fatalf("ed25519: %+v, %v", k, err)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdhPub, err := ec.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	_, err = newPublicKey(opPublicKey, "", ecdhPub)
	checkError(t, err, ErrInvalidKey, "key-agreement")
}

func TestKeyTypes(t *testing.T) {
	got := strings.Join(KeyTypes(), ",")
	if got != "ecdsa-p256,ecdsa-p384,ed25519,rsa" {
		t.Fatalf("KeyTypes() = %s", got)
	}
}
