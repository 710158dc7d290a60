package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestTUFRevocationWins: a verdict relying on a TUF targets role relies on
// the role's metadata (a log entry) and on the key that signed it, so a
// revocation of either fails it REVOKED online (live state), offline (a
// token beside the bytes and a freshly synced list) and in trustd's token
// issuance alike, with a policy that has no revocation requirement at all
// (deny-overrides). Before, the TUF branch never named the targets key or
// the metadata to the revocation check, and every verify passed.
func TestTUFRevocationWins(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { tufRevocationWins(t, backend) })
	}
}

func tufRevocationWins(t *testing.T, backend string) {
	work := t.TempDir()
	write := func(name, content string) string { t.Helper(); return writeFile(t, work, name, content) }
	policyFile := write("deploy.yaml", `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      any:
        - token: {maxAge: 1h}
        - tuf: {repo: acme/images, pattern: "app/*"}
`)
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	genKey(t, rootKey)
	targets := genKey(t, targetsKey)
	// Registered, so the targets key can sign revocations (of itself, of
	// the metadata it signed).
	must(ctl("key", "add", targetsKey+".pub"), "key add")
	must(ctl("tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	fileA := write("app-1.0.tar.gz", "app 1.0 release bytes\n")
	must(ctl("sign", fileA, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", targetsKey), "sign A")
	v1 := httpGet(t, "http://"+d.httpAddr+"/tuf/acme/images/1.targets.json")

	tokenKey := filepath.Join(work, "token.pub")
	must(ctl("token", "key", "--out", tokenKey), "token key")
	issue := func(ref string) result {
		t.Helper()
		return ctl("token", "issue", ref, "--policy", "production", "--attach", "-o", "json")
	}
	cache := filepath.Join(work, "cache")
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
	keysRoot := write("keys-root.json", string(httpGet(t, tufURL+"/1.root.json")))
	sync := func() {
		t.Helper()
		must(ctl("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "--root", keysRoot), "revocations sync")
	}
	online := func(ref string) result {
		t.Helper()
		return ctl("verify", ref, "--policy", policyFile, "-o", "json")
	}
	offline := func(ref string) result {
		t.Helper()
		return trustctl(t, "127.0.0.1:1", "verify", ref, "--policy", policyFile, "-o", "json", "--offline", "--token-key", tokenKey, "--cache", cache)
	}
	// revoked checks that online and offline verify of ref fail REVOKED
	// and that trustd issues no token for it.
	revoked := func(ref, what string) {
		t.Helper()
		sync()
		if r := online(ref); !revokedVerdict(t, r) {
			t.Errorf("%s: online verify: exit %d\n%s\n%s", what, r.code, r.stdout, r.stderr)
		}
		if r := offline(ref); !revokedVerdict(t, r) {
			t.Errorf("%s: offline verify: exit %d\n%s\n%s", what, r.code, r.stdout, r.stderr)
		}
		var out struct {
			Issued bool `json:"issued"`
		}
		if r := ctl("token", "issue", ref, "--policy", "production", "-o", "json"); r.code != 1 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Issued {
			t.Errorf("%s: token issue: exit %d\n%s\n%s", what, r.code, r.stdout, r.stderr)
		}
	}

	must(issue(fileA), "token issue A")
	sync()
	for _, r := range []result{online(fileA), offline(fileA)} {
		if r.code != 0 {
			t.Fatalf("verify before any revocation: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}

	// The targets metadata that lists A (v1), withdrawn by its signer.
	sum := sha256.Sum256(v1)
	must(ctl("revoke", "statement", "sha256:"+hex.EncodeToString(sum[:]), "--reason", "withdrawn", "--key", targetsKey), "revoke statement")
	revoked(fileA, "targets v1 withdrawn")

	// B is listed by targets v2 (not withdrawn): it passes until its
	// signing key is revoked as compromised.
	fileB := write("app-1.1.tar.gz", "app 1.1 release bytes\n")
	must(ctl("sign", fileB, "--repo", "acme/images", "--name", "app/app-1.1.tar.gz", "--key", targetsKey), "sign B")
	must(issue(fileB), "token issue B")
	sync()
	for _, r := range []result{online(fileB), offline(fileB)} {
		if r.code != 0 {
			t.Fatalf("verify B before the key's revocation: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	must(ctl("revoke", "key", targets, "--reason", "compromised", "--key", targetsKey), "revoke key")
	revoked(fileB, "targets key compromised")
}

// TestPGPChainKeyRevocationWins: a verdict relying on an OpenPGP chain
// relies on every key that signed a statement of it, not only on the
// manifest's signer: once the root that delegated to the developer revokes
// its own key as compromised (a revocation statement, which the chain
// decision itself does not read), online verify fails REVOKED, and so does
// offline verify with a token issued before and a freshly synced list.
// Before, the revocation check asked only about the developer's key, and
// both passed.
func TestPGPChainKeyRevocationWins(t *testing.T) {
	g := newGnuPG(t)
	t.Setenv("GNUPGHOME", g.Dir)
	work := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(r result, what string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit %d %q %q", what, r.code, r.stdout, r.stderr)
		}
	}
	root, _ := g.newKey("Root <root@example.org>")
	dev, _ := g.newKey("Dev <dev@example.org>")
	policyFile := write("deploy.yaml", []byte(`apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      any:
        - token: {maxAge: 1h}
        - pgp: {roots: [`+root+`], name: "app-*"}
`))
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	for _, fpr := range []string{root, dev} {
		must(ctl("key", "add", write(fpr+".asc", g.run("--export", "--armor", fpr))), "key add")
	}
	artifact := write("app-1.0.tar.gz", []byte("release tarball bytes\n"))
	sum := sha256.Sum256([]byte("release tarball bytes\n"))
	manifest := write("SHA256SUMS", []byte(hex.EncodeToString(sum[:])+"  app-1.0.tar.gz\n"))
	must(ctl("pgp", "delegate", "--from", root, "--to", dev, "--scope", "**", "--gpg", root), "pgp delegate")
	must(ctl("pgp", "publish", manifest, write("SHA256SUMS.gpg", g.run("--local-user", dev, "--detach-sign", "--output", "-", manifest))), "pgp publish")
	tokenKey := filepath.Join(work, "token.pub")
	must(ctl("token", "key", "--out", tokenKey), "token key")
	must(ctl("token", "issue", artifact, "--policy", "release", "--attach", "-o", "json"), "token issue")

	cache := filepath.Join(work, "cache")
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
	keysRoot := write("keys-root.json", httpGet(t, tufURL+"/1.root.json"))
	sync := func() {
		t.Helper()
		must(ctl("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "--root", keysRoot), "revocations sync")
	}
	online := func() result { t.Helper(); return ctl("verify", artifact, "--policy", policyFile, "-o", "json") }
	offline := func() result {
		t.Helper()
		return trustctl(t, "127.0.0.1:1", "verify", artifact, "--policy", policyFile, "-o", "json", "--offline", "--token-key", tokenKey, "--cache", cache)
	}
	sync()
	for _, r := range []result{online(), offline()} {
		if r.code != 0 {
			t.Fatalf("verify before the root's revocation: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	must(ctl("revoke", "key", root, "--reason", "compromised", "--gpg", root), "revoke key")
	sync()
	if r := online(); !revokedVerdict(t, r) {
		t.Errorf("online verify with the delegating root revoked: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := offline(); !revokedVerdict(t, r) {
		t.Errorf("offline verify with the delegating root revoked: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
