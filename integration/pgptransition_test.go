package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
)

// TestPGPTransitionAndRelease drives the ecosystem's OpenPGP formats
// through the real binaries: a key transition statement clearsigned by
// gpg with both keys is imported as a rotation by pgp publish (a stranger's
// one-key statement claiming the old key is refused and changes nothing),
// a manifest with nothing to index is refused, and a Debian Release file
// made by apt-ftparchive and signed by gpg (Release + Release.gpg) indexes
// its SHA-256 and SHA-512 digests as one subject per path.
func TestPGPTransitionAndRelease(t *testing.T) {
	g := newGnuPG(t)
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
	old, _ := g.newKey("Old <old@example.org>")
	nu, nuSub := g.newKey("New <new@example.org>")
	stranger, _ := g.newKey("Stranger <stranger@example.org>")
	for _, f := range []string{old, nu, stranger} {
		if r := ctl("key", "add", write(f+".asc", g.run("--export", "--armor", f))); r.code != 0 {
			t.Fatalf("key add: %d %q %q", r.code, r.stdout, r.stderr)
		}
	}
	statement := func(name, oldKey, newKey string) string {
		text := "I have set up a new OpenPGP key and am transitioning away from my old one.\n\nThe old key was:\n\n" +
			string(g.run("--fingerprint", oldKey)) + "\nAnd the new key is:\n\n" + string(g.run("--fingerprint", newKey))
		return write(name, []byte(text))
	}

	theft := statement("theft.txt", old, stranger)
	r := ctl("pgp", "publish", write("theft.asc", g.run("--clearsign", "--local-user", stranger, "--output", "-", theft)))
	if r.code != 2 || !strings.Contains(r.stderr, "1 signature(s)") || !strings.Contains(r.stderr, "the old key "+old) {
		t.Fatalf("a stranger's one-key statement: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("key", "show", old); r.code != 0 || !strings.Contains(r.stdout, "status valid") {
		t.Fatalf("key show after the refused statement: %d %q", r.code, r.stdout)
	}

	good := statement("transition.txt", old, nu)
	signed := write("transition.txt.asc", g.run("--clearsign", "--local-user", old, "--local-user", nu, "--output", "-", good))
	r = ctl("pgp", "publish", signed)
	if r.code != 0 || !strings.Contains(r.stdout, "imported key transition "+old+" -> "+nu+" (a rotation") {
		t.Fatalf("pgp publish of the transition statement: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "publish", signed); r.code != 0 || !strings.Contains(r.stdout, "already imported") {
		t.Errorf("publish again: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("key", "show", old); r.code != 0 || !strings.Contains(r.stdout, "superseded") || !strings.Contains(r.stdout, nu) {
		t.Errorf("key show of the old key: %d %q", r.code, r.stdout)
	}
	r = ctl("pgp", "verify", "--name", "releases/app.tar.gz", "--signer", nuSub, "--root", old)
	if r.code != 0 || !strings.Contains(r.stdout, "allowed: root "+old+" -> rotation") {
		t.Errorf("verify the new key against the old root: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A clearsigned file with no checksum line is refused, not logged empty.
	notes := write("NOTES", []byte("release notes, no checksums\n"))
	r = ctl("pgp", "publish", write("NOTES.asc", g.run("--clearsign", "--local-user", nu, "--output", "-", notes)))
	if r.code != 2 || !strings.Contains(r.stderr, "lists no digest") {
		t.Errorf("publish of a manifest with nothing to index: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A Debian repository's Release, by apt-ftparchive, signed by gpg.
	repo := filepath.Join(work, "repo")
	pkgs := filepath.Join(repo, "main", "binary-amd64", "Packages")
	if err := os.MkdirAll(filepath.Dir(pkgs), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkgs, []byte("Package: hello\nVersion: 1\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	release := write("Release", aptFtparchiveRelease(t, repo))
	sig := write("Release.gpg", g.run("--local-user", nu, "--armor", "--detach-sign", "--output", "-", release))
	r = ctl("pgp", "publish", release, sig)
	if r.code != 0 || !strings.Contains(r.stdout, "published Release") || !strings.Contains(r.stdout, "2 entries") {
		t.Fatalf("pgp publish Release Release.gpg: %d %q %q", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(release)
	entries, _, err := pgp.ParseManifestFile("Release", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Digest.Algorithm() != digest.SHA512 {
			continue
		}
		r = ctl("subject", e.Digest.String())
		if r.code != 0 || !strings.Contains(r.stdout, "signed in manifest Release by key "+nu) || !strings.Contains(r.stdout, "sha256:") {
			t.Errorf("subject %s: %d %q %q", e.Digest, r.code, r.stdout, r.stderr)
		}
	}
}

// aptFtparchiveRelease runs apt-ftparchive release in dir.
func aptFtparchiveRelease(t *testing.T, dir string) []byte {
	t.Helper()
	if _, err := exec.LookPath("apt-ftparchive"); err != nil {
		t.Fatal("apt-ftparchive is not installed; scripts/test-deps.sh installs apt-utils")
	}
	cmd := exec.Command("apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=stable", "release", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("apt-ftparchive release: %v", err)
	}
	return out
}
