package pgp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// gpgHome is a throwaway GnuPG home driven in batch mode.
type gpgHome struct {
	t    testing.TB
	home string
}

// newGPG returns a gpg harness in a fresh GNUPGHOME, skipping the test if
// gpg is not installed; the agent it starts is stopped at cleanup.
func newGPG(t testing.TB) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gpg is not installed; scripts/test-deps.sh installs it")
		}
		t.Skip("gpg not installed")
	}
	// gpg-agent's socket path must be short: use a short temp dir.
	home, err := os.MkdirTemp("", "pgpt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{t: t, home: home}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = g.env()
		_ = cmd.Run()
		_ = os.RemoveAll(home)
	})
	return g
}

func (g *gpgHome) env() []string {
	return append(os.Environ(), "GNUPGHOME="+g.home, "LC_ALL=C")
}

// run runs gpg in batch mode with an empty passphrase and returns stdout.
func (g *gpgHome) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	out, err := g.try(stdin, args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (g *gpgHome) try(stdin []byte, args ...string) ([]byte, error) {
	all := append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	return g.exec(stdin, all...)
}

func (g *gpgHome) exec(stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpg", args...)
	cmd.Env = g.env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.Join(err, errors.New(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// fingerprints returns the primary and subkey fingerprints gpg lists for
// a user id, lowercase.
func (g *gpgHome) fingerprints(uid string) []string {
	g.t.Helper()
	out := g.run(nil, "--with-colons", "--list-keys", uid)
	var fprs []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fprs = append(fprs, strings.ToLower(f[9]))
		}
	}
	if len(fprs) == 0 {
		g.t.Fatalf("gpg lists no key for %s", uid)
	}
	return fprs
}

// genRevoke drives the interactive gpg --gen-revoke with --command-fd 0;
// menu is gpg's choice (0 no reason, 1 compromised, 2 superseded, 3 retired).
func (g *gpgHome) genRevoke(fpr, menu, text string) []byte {
	g.t.Helper()
	answers := "y\n" + menu + "\n" + text + "\n\ny\n"
	out, err := g.exec([]byte(answers), "--no-tty", "--command-fd", "0", "--status-fd", "2",
		"--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--gen-revoke", fpr)
	if err != nil {
		g.t.Fatalf("gpg --gen-revoke: %v", err)
	}
	return out
}
