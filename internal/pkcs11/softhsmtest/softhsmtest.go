// Package softhsmtest makes throwaway SoftHSM2 tokens for tests of PKCS#11
// signing: a token in a temporary directory (SOFTHSM2_CONF points at its own
// configuration), with keys generated on the token by OpenSC's pkcs11-tool
// or imported by softhsm2-util. Without the tools the test is skipped, or
// fails under CI=true (scripts/test-deps.sh installs softhsm2 and opensc).
package softhsmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// PIN and SOPIN are the test tokens' user and security officer PINs.
const (
	PIN   = "1234"
	SOPIN = "5678"
)

// modulePaths are where Debian installs SoftHSM2's PKCS#11 module.
var modulePaths = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"}

// Token is one initialised SoftHSM2 token.
type Token struct {
	Label  string // token label
	Module string // path of libsofthsm2.so
	Conf   string // SOFTHSM2_CONF file
	PIN    string // user PIN

	mu   sync.Mutex
	next int // next key id
}

// Module returns the SoftHSM2 module path, skipping the test if SoftHSM2
// or pkcs11-tool is missing (failing it under CI=true).
func Module(t testing.TB) string {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; scripts/test-deps.sh installs softhsm2 and opensc", what)
		}
		t.Skipf("%s not installed (Debian packages softhsm2, opensc)", what)
	}
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool)
		}
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing("libsofthsm2.so")
	return ""
}

// New initialises a token labelled label in a fresh directory and points
// SOFTHSM2_CONF at it for this test (so the test must not be parallel).
func New(t testing.TB, label string) *Token {
	t.Helper()
	mod := Module(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tk := &Token{Label: label, Module: mod, Conf: conf, PIN: PIN}
	tk.run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN)
	return tk
}

// Env is the environment entry a subprocess (trustctl) needs to see the
// token.
func (tk *Token) Env() string { return "SOFTHSM2_CONF=" + tk.Conf }

// KeyTypes maps trustd key types to pkcs11-tool's --key-type.
var KeyTypes = map[string]string{
	"ed25519":    "EC:edwards25519",
	"ecdsa-p256": "EC:prime256v1",
	"rsa":        "rsa:2048",
}

// Generate makes a key pair of keyType (ed25519, ecdsa-p256 or rsa) on the
// token with label label; the private half never exists outside it.
func (tk *Token) Generate(t testing.TB, label, keyType string) {
	t.Helper()
	kt, ok := KeyTypes[keyType]
	if !ok {
		t.Fatalf("softhsmtest: key type %q", keyType)
	}
	tk.run(t, "pkcs11-tool", "--module", tk.Module, "--token-label", tk.Label, "--login", "--pin", tk.PIN,
		"--keypairgen", "--key-type", kt, "--label", label, "--id", tk.newID())
}

// Import stores a private key file (PEM PKCS#8) on the token with label
// label, as a key holder moving an existing key into an HSM would.
func (tk *Token) Import(t testing.TB, label, pemFile string) {
	t.Helper()
	tk.run(t, "softhsm2-util", "--import", pemFile, "--token", tk.Label, "--label", label, "--id", tk.newID(), "--pin", tk.PIN)
}

// URI is the RFC 7512 URI of key label, with the module path and without
// a PIN.
func (tk *Token) URI(label string) string {
	return fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s", tk.Label, label, tk.Module)
}

func (tk *Token) newID() string {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	tk.next++
	return fmt.Sprintf("%04x", tk.next)
}

func (tk *Token) run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), tk.Env())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
