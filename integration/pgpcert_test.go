package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPGPCertificateUpdateFlow: a release manager edits a registered key
// with gpg and gives trustd the re-export, as people do: key add of the
// export with a new signing subkey updates the registered certificate
// (key show lists the subkey), adding it again changes nothing, and a
// revoked certificate's export is accepted by pgp revoke and by key add
// alike, with key show saying revoked for gpg's reason. On main both
// were refused ("another key is registered under this id"; "want one
// revocation signature packet, got PublicKey").
func TestPGPCertificateUpdateFlow(t *testing.T) {
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
	fpr, _ := g.newKey("Rel <rel@example.org>")
	if r := ctl("key", "add", write("v1.asc", g.run("--export", "--armor", fpr))); r.code != 0 || !strings.Contains(r.stdout, "registered "+fpr) {
		t.Fatalf("key add: %d %q %q", r.code, r.stdout, r.stderr)
	}

	g.run("--quick-add-key", fpr, "ed25519", "sign", "0")
	newSub := g.Fingerprints("rel@example.org")[2]
	v2 := write("v2.gpg", g.run("--export", fpr))
	r := ctl("key", "add", v2)
	if r.code != 0 || !strings.Contains(r.stdout, "updated (log entry") || !strings.Contains(r.stdout, "added subkey "+newSub) {
		t.Fatalf("key add of the re-export: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("key", "show", fpr); r.code != 0 || !strings.Contains(r.stdout, "sub ed25519 "+newSub+" [sign]") {
		t.Errorf("key show after the update: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("key", "add", v2); r.code != 0 || !strings.Contains(r.stdout, "already registered") {
		t.Errorf("key add again: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// Revoked in gpg (superseded: gpg menu 2), then exported.
	rev := g.GenRevoke(fpr, "2", "moved to a new key")
	g.Run(rev, "--import")
	revoked := write("revoked.asc", g.run("--export", "--armor", fpr))
	r = ctl("pgp", "revoke", revoked)
	if r.code != 0 || !strings.Contains(r.stdout, "revoked "+fpr+" (key superseded, soft") {
		t.Fatalf("pgp revoke of the revoked certificate: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("key", "add", revoked)
	if r.code != 0 || !strings.Contains(r.stdout, "added key-revocation "+fpr) {
		t.Fatalf("key add of the revoked certificate: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("key", "show", fpr); r.code != 0 || !strings.Contains(r.stdout, "status revoked (key superseded") {
		t.Errorf("key show after the revocation: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "revoke", write("garbage.asc", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"))); r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("pgp revoke of garbage: %d %q", r.code, r.stderr)
	}
}
