// Package gpgtest runs the real gpg program in throwaway GNUPGHOMEs for
// tests, so certificates, edits and revocations are made the way people
// make them. It must not import package pgp, whose own tests use it.
package gpgtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Home is one throwaway GNUPGHOME.
type Home struct {
	t   testing.TB
	Dir string
}

// New returns a fresh GNUPGHOME, skipping the test when gpg is not
// installed (failing under CI); its agent is stopped at cleanup.
func New(t testing.TB) *Home {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gpg is not installed; scripts/test-deps.sh installs it")
		}
		t.Skip("gpg not installed")
	}
	dir, err := os.MkdirTemp("", "gpgt") // gpg-agent's socket path must be short
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h := &Home{t: t, Dir: dir}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = h.Env()
		_ = cmd.Run()
		_ = os.RemoveAll(dir)
	})
	return h
}

// Env is the environment gpg runs in: this home and the C locale, for
// programs under test that start gpg themselves.
func (h *Home) Env() []string { return append(os.Environ(), "GNUPGHOME="+h.Dir, "LC_ALL=C") }

// Run runs gpg in batch mode with an empty passphrase and returns its
// standard output, failing the test on error.
func (h *Home) Run(stdin []byte, args ...string) []byte {
	h.t.Helper()
	out, err := h.Try(stdin, args...)
	if err != nil {
		h.t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try is Run for commands expected to fail: it returns gpg's error
// (with its standard error) instead of failing the test.
func (h *Home) Try(stdin []byte, args ...string) ([]byte, error) {
	all := append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	return h.exec(stdin, all...)
}

func (h *Home) exec(stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpg", args...)
	cmd.Env = h.Env()
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

// GenKey makes an ed25519 key that can sign, for user id uid, and
// returns its primary fingerprint (lowercase).
func (h *Home) GenKey(uid string, extra ...string) string {
	h.t.Helper()
	h.Run(nil, append(extra, "--quick-gen-key", uid, "ed25519", "sign", "0")...)
	return h.Fingerprints(uid)[0]
}

// Fingerprints returns the primary and subkey fingerprints gpg lists for
// a user id, lowercase.
func (h *Home) Fingerprints(uid string) []string {
	h.t.Helper()
	out := h.Run(nil, "--with-colons", "--list-keys", uid)
	var fprs []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fprs = append(fprs, strings.ToLower(f[9]))
		}
	}
	if len(fprs) == 0 {
		h.t.Fatalf("gpg lists no key for %s", uid)
	}
	return fprs
}

// GenRevoke drives the interactive gpg --gen-revoke (armored output);
// menu is gpg's reason choice: 0 no reason, 1 compromised, 2 superseded,
// 3 retired.
func (h *Home) GenRevoke(fpr, menu, text string) []byte {
	h.t.Helper()
	answers := "y\n" + menu + "\n" + text + "\n\ny\n"
	out, err := h.exec([]byte(answers), "--no-tty", "--command-fd", "0", "--status-fd", "2",
		"--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--gen-revoke", fpr)
	if err != nil {
		h.t.Fatalf("gpg --gen-revoke: %v", err)
	}
	return out
}
