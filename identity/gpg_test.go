package identity_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/gpgtest"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/revocation"
)

// gnupg runs the real gpg in a throwaway home.
type gnupg struct {
	*gpgtest.Home
	t *testing.T
}

// newGnuPG fails the test, even outside CI, when gpg is not installed.
func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg is not installed; scripts/test-deps.sh installs it")
	}
	return &gnupg{gpgtest.New(t), t}
}

// run runs gpg in batch mode, answering yes to its questions.
func (g *gnupg) run(args ...string) []byte {
	g.t.Helper()
	return g.Run(nil, append([]string{"--yes"}, args...)...)
}

// newKey makes an Ed25519 sign-and-certify key and returns its
// fingerprint.
func (g *gnupg) newKey(uid string) string {
	g.t.Helper()
	g.run("--quick-gen-key", uid, "ed25519", "sign,cert", "0")
	return g.Fingerprints(uid)[0]
}

// TestGnuPGCertification: certifications made by gpg --quick-sign-key
// verify a key when their certifier is a configured root, stop verifying
// when gpg --quick-revoke-sig withdraws them, and stop verifying when the
// root's key is revoked as compromised.
func TestGnuPGCertification(t *testing.T) {
	g := newGnuPG(t)
	root := g.newKey("Root CA <root@example.com>")
	member := g.newKey("Member <member@example.com>")
	former := g.newKey("Former <former@example.com>")
	outsider := g.newKey("Outsider <outsider@example.com>")
	g.run("--local-user", root, "--quick-sign-key", member)
	g.run("--local-user", root, "--quick-sign-key", former)
	g.run("--local-user", outsider, "--quick-sign-key", outsider) // a self-certification is no path
	formerCertified := g.run("--export", former)
	g.run("--quick-revoke-sig", former, root)
	certs := map[string][]byte{
		"root": g.run("--export", root), "member": g.run("--export", member),
		"former": g.run("--export", former), "outsider": g.run("--export", outsider),
	}
	if bytes.Equal(certs["former"], formerCertified) {
		t.Fatal("gpg --quick-revoke-sig changed nothing")
	}
	// Before gpg --quick-revoke-sig, former's certification verifies.
	before := teststore.Backends()[0].Open(t)
	for _, cert := range [][]byte{certs["root"], formerCertified} {
		if _, _, err := keys.NewRegistry(before).Add(context.Background(), cert, ""); err != nil {
			t.Fatal(err)
		}
	}
	if !newEnv(t, before, root).verified(t, former) {
		t.Fatal("former is not verified by the root's certification")
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			for name, cert := range certs {
				if _, _, err := keys.NewRegistry(s).Add(context.Background(), cert, name); err != nil {
					t.Fatalf("register %s: %v", name, err)
				}
			}
			e := newEnv(t, s, strings.ToUpper(root))
			for name, c := range map[string]struct {
				fpr  string
				want bool
			}{
				"root": {root, true}, "member": {member, true}, "former (certification revoked)": {former, false}, "outsider": {outsider, false},
			} {
				if got := e.verified(t, c.fpr); got != c.want {
					t.Errorf("%s: Verified = %v, want %v", name, got, c.want)
				}
			}
			e.revoke(t, nil, revocation.KindKey, root, revocation.ReasonCompromised)
			if e.verified(t, member) || e.verified(t, root) {
				t.Error("the root's certifications still verify after its key was revoked as compromised")
			}
		})
	}
}
