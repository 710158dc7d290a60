package pgp

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// fixture reads a file from testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fixtureCert parses a certificate fixture.
func fixtureCert(t testing.TB, name string) *Certificate {
	t.Helper()
	c, err := ParseCertificate(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// testKey is a go-crypto generated key with its certificate.
type testKey struct {
	entity *openpgp.Entity
	cert   *Certificate
}

// t0 is the creation time of generated test keys.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func genConfig(at time.Time) *packet.Config {
	return &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return at }, DefaultHash: 0}
}

// genKey makes an Ed25519 key (created at t0) with an encryption subkey
// and a signing subkey, without gpg.
func genKey(t testing.TB, name string) *testKey {
	t.Helper()
	cfg := genConfig(t0)
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddSigningSubkey(cfg); err != nil {
		t.Fatal(err)
	}
	return &testKey{entity: e, cert: certOf(t, e)}
}

// certOf serializes an entity's public part and parses it.
func certOf(t testing.TB, e *openpgp.Entity) *Certificate {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificate(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signAt makes a binary detached signature over msg at time at with the
// entity's signing subkey (or the given config's SigningKey).
func signAt(t testing.TB, e *openpgp.Entity, msg []byte, at time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, []*openpgp.Entity{e}, bytes.NewReader(msg), genConfig(at)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// signingSubkey returns the fingerprint of the key's first sign-capable
// subkey, and encryptionSubkey that of its encryption subkey.
func (k *testKey) signingSubkey() string {
	return k.subkey(func(c Capabilities) bool { return c.Sign })
}
func (k *testKey) encryptionSubkey() string {
	return k.subkey(func(c Capabilities) bool { return c.Encrypt })
}

func (k *testKey) subkey(f func(Capabilities) bool) string {
	for _, s := range k.cert.Subkeys {
		if f(s.Capabilities) {
			return s.Fingerprint
		}
	}
	return ""
}

var (
	poolOnce sync.Once
	pool     []*testKey
)

// keyPool returns n generated keys shared by the tests in this process.
func keyPool(t testing.TB, n int) []*testKey {
	t.Helper()
	poolOnce.Do(func() {
		for i := range 8 {
			pool = append(pool, genKey(t, string(rune('a'+i))))
		}
	})
	if n > len(pool) {
		t.Fatalf("keyPool has %d keys, want %d", len(pool), n)
	}
	return pool[:n]
}
