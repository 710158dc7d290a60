package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/gpgtest"
)

// gnupg is a throwaway GNUPGHOME driven in batch mode (no passphrases).
type gnupg struct {
	*gpgtest.Home
	t *testing.T
}

func newGnuPG(t *testing.T) *gnupg { return &gnupg{gpgtest.New(t), t} }

// run runs gpg in batch mode without input.
func (g *gnupg) run(args ...string) []byte {
	g.t.Helper()
	return g.Run(nil, args...)
}

// newKey makes an Ed25519 certify-only primary key with an Ed25519
// signing subkey and returns the primary and subkey fingerprints.
func (g *gnupg) newKey(uid string) (primary, subkey string) {
	g.t.Helper()
	g.run("--quick-gen-key", uid, "ed25519", "cert", "0")
	primary = g.Fingerprints(uid)[0]
	g.run("--quick-add-key", primary, "ed25519", "sign", "0")
	fprs := g.Fingerprints(uid)
	if len(fprs) != 2 {
		g.t.Fatalf("gpg lists %d keys for %s, want 2", len(fprs), uid)
	}
	return fprs[0], fprs[1]
}

// TestPGPFlow walks a release manager's OpenPGP path with real gpg and the
// real binaries: register a gpg key, publish a gpg-signed SHA256SUMS, find
// a file by digest, delegate to a second key through gpg, decide names in
// and out of scope, revoke the root as compromised and see it everywhere.
func TestPGPFlow(t *testing.T) {
	g := newGnuPG(t)
	t.Setenv("GNUPGHOME", g.Dir) // for trustctl --gpg
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
	rev := g.GenRevoke(root, "1", "key leaked")
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
