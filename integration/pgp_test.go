package integration_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gnupg is a throwaway GNUPGHOME driven in batch mode (no passphrases).
type gnupg struct {
	t    *testing.T
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gpg is not installed; scripts/test-deps.sh installs it")
		}
		t.Skip("gpg not installed")
	}
	home, err := os.MkdirTemp("", "gpgi") // short: gpg-agent's socket path is bounded
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = g.env()
		_ = cmd.Run()
		_ = os.RemoveAll(home)
	})
	return g
}

func (g *gnupg) env() []string { return append(os.Environ(), "GNUPGHOME="+g.home, "LC_ALL=C") }

func (g *gnupg) exec(stdin []byte, args ...string) []byte {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpg", args...)
	cmd.Env = g.env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v", strings.Join(args, " "), errors.Join(err, errors.New(errb.String())))
	}
	return out.Bytes()
}

func (g *gnupg) run(args ...string) []byte {
	g.t.Helper()
	return g.exec(nil, append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
}

// newKey makes an Ed25519 certify-only primary key with an Ed25519
// signing subkey and returns the primary and subkey fingerprints.
func (g *gnupg) newKey(uid string) (primary, subkey string) {
	g.t.Helper()
	g.run("--quick-gen-key", uid, "ed25519", "cert", "0")
	primary = g.fingerprints(uid)[0]
	g.run("--quick-add-key", primary, "ed25519", "sign", "0")
	fprs := g.fingerprints(uid)
	if len(fprs) != 2 {
		g.t.Fatalf("gpg lists %d keys for %s, want 2", len(fprs), uid)
	}
	return fprs[0], fprs[1]
}

func (g *gnupg) fingerprints(uid string) []string {
	g.t.Helper()
	var fprs []string
	for _, line := range strings.Split(string(g.run("--with-colons", "--list-keys", uid)), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fprs = append(fprs, strings.ToLower(f[9]))
		}
	}
	return fprs
}

// TestPGPFlow walks a release manager's OpenPGP path with real gpg and the
// real binaries: register a gpg key, publish a gpg-signed SHA256SUMS, find
// a file by digest, delegate to a second key through gpg, decide names in
// and out of scope, revoke the root as compromised and see it everywhere.
func TestPGPFlow(t *testing.T) {
	g := newGnuPG(t)
	t.Setenv("GNUPGHOME", g.home) // for trustctl --gpg
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	root, rootSub := g.newKey("Root <root@example.org>")
	dev, devSub := g.newKey("Dev <dev@example.org>")
	for _, who := range []struct{ fpr, file string }{{root, "root.asc"}, {dev, "dev.asc"}} {
		cert := write(who.file, g.run("--export", "--armor", who.fpr))
		if r := ctl("key", "add", cert, "--label", who.file); r.code != 0 || !strings.Contains(r.stdout, "registered "+who.fpr+" (pgp)") {
			t.Fatalf("key add %s: %d %q %q", who.file, r.code, r.stdout, r.stderr)
		}
	}
	r := ctl("key", "show", root)
	if r.code != 0 || !strings.Contains(r.stdout, "status valid") || !strings.Contains(r.stdout, "uid Root <root@example.org>") ||
		!strings.Contains(r.stdout, "sub ed25519 "+rootSub+" [sign]") {
		t.Fatalf("key show: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A gpg-signed SHA256SUMS with one malformed line.
	artifact := []byte("release tarball bytes")
	sum := sha256.Sum256(artifact)
	sums := fmt.Sprintf("%s  app-1.0.tar.gz\nthis line is not a checksum\n%s *app-1.0.zip\n", hex.EncodeToString(sum[:]), strings.Repeat("ab", 32))
	manifest := write("SHA256SUMS", []byte(sums))
	sig := write("SHA256SUMS.gpg", g.run("--local-user", root, "--detach-sign", "--output", "-", manifest))
	r = ctl("pgp", "publish", manifest, sig)
	if r.code != 0 || !strings.Contains(r.stdout, "published SHA256SUMS") || !strings.Contains(r.stdout, "2 entries") ||
		!strings.Contains(r.stdout, "signed by "+root+" (key "+rootSub+")") || !strings.Contains(r.stdout, "not indexed: line 2") {
		t.Fatalf("pgp publish: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "publish", manifest, sig); r.code != 0 || !strings.Contains(r.stdout, "already published") {
		t.Errorf("pgp publish again: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("subject", "sha256:"+hex.EncodeToString(sum[:]))
	if r.code != 0 || !strings.Contains(r.stdout, "signed in manifest SHA256SUMS by key "+root) {
		t.Fatalf("subject: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "publish", manifest, write("bad.gpg", []byte("not a signature"))); r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("publish with a garbage signature: %d %q", r.code, r.stderr)
	}

	// Delegate releases/** to dev, signed by root through gpg.
	r = ctl("pgp", "delegate", "--from", root, "--to", dev, "--scope", "releases/**", "--gpg", root)
	if r.code != 0 || !strings.Contains(r.stdout, "accepted: seq") {
		t.Fatalf("pgp delegate: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("pgp", "verify", "--name", "releases/app-1.0.tar.gz", "--signer", devSub, "--root", root)
	if r.code != 0 || !strings.Contains(r.stdout, "allowed: root "+root+" -> delegation") {
		t.Fatalf("verify inside the scope: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("pgp", "verify", "--name", "other/app.tar.gz", "--signer", devSub, "--root", root)
	if r.code != 1 || !strings.Contains(r.stdout, "refused: scope-escape") {
		t.Fatalf("verify outside the scope: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// Revoke the root as compromised (gpg menu 1 is reason code 2).
	rev := g.exec([]byte("y\n1\nkey leaked\n\ny\n"), "--no-tty", "--command-fd", "0", "--status-fd", "2",
		"--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--gen-revoke", root)
	r = ctl("pgp", "revoke", write("rev.asc", rev))
	if r.code != 0 || !strings.Contains(r.stdout, "revoked "+root+" (key compromised, hard") {
		t.Fatalf("pgp revoke: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("key", "show", root)
	if r.code != 0 || !strings.Contains(r.stdout, "status revoked (key compromised") {
		t.Errorf("key show after revoke: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("pgp", "verify", "--name", "releases/app-1.0.tar.gz", "--signer", devSub, "--root", root)
	if r.code != 1 || !strings.Contains(r.stdout, "refused: revoked-compromised") {
		t.Errorf("verify after the root's compromise: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "publish", manifest, sig); r.code != 2 || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("publish by the revoked key: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
