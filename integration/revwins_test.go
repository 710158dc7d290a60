package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// readmePolicy is the README's shape: a token, or the full evidence with
// a revocation check.
const readmePolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      any:
        - token: {maxAge: 1h}
        - all:
            - tuf: {repo: acme/images, pattern: "app/*"}
            - revocation: {}
`

// revokedVerdict reports whether a verify result is the definite no a
// revocation gives: exit 1, outcome fail, the deny-overrides leaf failing
// REVOKED above the requirement tree.
func revokedVerdict(t *testing.T, r result) bool {
	t.Helper()
	var v struct {
		Outcome string `json:"outcome"`
		Result  struct {
			Kind     string `json:"kind"`
			Children []struct {
				Kind    string `json:"kind"`
				Outcome string `json:"outcome"`
				Reason  string `json:"reason"`
			} `json:"children"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("verdict is not JSON (exit %d): %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	return r.code == 1 && v.Outcome == "fail" && v.Result.Kind == "deny-overrides" && len(v.Result.Children) == 2 &&
		v.Result.Children[0].Kind == "revocations" && v.Result.Children[0].Reason == "REVOKED"
}

// TestRevocationAlwaysWins is issue 14's first symptom through the real
// binaries, on both backends, for a file and an OCI image: with the
// README's policy (any: [token, all: [tuf, revocation]]) a token is
// issued and attached and everything passes online and offline; once the
// token's issuer revokes the token as compromised, and again once the
// security authority revokes the digests as malicious, online verify (live
// state) and offline verify (a freshly synced list) both fail REVOKED with
// exit 1, whatever the any branch says, and trustd issues no new token.
// Before, online printed PASS with "✗ revocation [REVOKED]" under it and
// never checked the token against revocations.
func TestRevocationAlwaysWins(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { revocationAlwaysWins(t, backend) })
	}
}

func revocationAlwaysWins(t *testing.T, backend string) {
	work := t.TempDir()
	write := func(name, content string) string { t.Helper(); return writeFile(t, work, name, content) }
	securityKey, issuerKey := filepath.Join(work, "security.pem"), filepath.Join(work, "issuer.pem")
	security, issuer := genKey(t, securityKey), genKey(t, issuerKey)
	policyFile := write("deploy.yaml", readmePolicy)
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile,
		"--security-authority", security, "--token-issuer", issuer}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	reg := startRegistry(t)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	for _, k := range []string{securityKey, issuerKey} {
		must(ctl("key", "add", k+".pub"), "key add")
	}

	// A TUF repository listing a release file and an image manifest.
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{rootKey, targetsKey} {
		must(ctl("key", "generate", "--out", k), "key generate")
	}
	must(ctl("tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	file := write("app-1.0.tar.gz", "app 1.0 release bytes\n")
	must(ctl("sign", file, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", targetsKey), "sign file")
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(reg.host + "/acme/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.RawManifest()
	must(ctl("sign", write("manifest.json", string(manifest)), "--repo", "acme/images", "--name", "app/image-1.0", "--key", targetsKey), "sign image")
	image := reg.host + "/acme/app:1.0"

	// Tokens, issued and attached beside the bytes.
	tokenKey := filepath.Join(work, "token.pub")
	must(ctl("token", "key", "--out", tokenKey), "token key")
	type issued struct {
		Issued  bool   `json:"issued"`
		TokenID string `json:"tokenId"`
		Digest  string `json:"digest"`
	}
	issue := func(ref string) issued {
		t.Helper()
		r := must(ctl("token", "issue", ref, "--policy", "production", "--attach", "-o", "json"), "token issue "+ref)
		var out issued
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.Issued || out.TokenID == "" {
			t.Fatalf("token issue %s: %v %s", ref, err, r.stdout)
		}
		return out
	}
	fileTok, imageTok := issue(file), issue(image)

	// The offline revocation list, synced through trustd/keys.
	cache := filepath.Join(work, "cache")
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
	keysRoot := write("keys-root.json", string(httpGet(t, tufURL+"/1.root.json")))
	sync := func() {
		t.Helper()
		must(ctl("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "--root", keysRoot), "revocations sync")
	}
	sync()
	const closed = "127.0.0.1:1"
	online := func(ref string, extra ...string) result {
		t.Helper()
		return ctl(append([]string{"verify", ref, "--policy", policyFile, "-o", "json"}, extra...)...)
	}
	offline := func(ref string) result {
		t.Helper()
		return trustctl(t, closed, "verify", ref, "--policy", policyFile, "-o", "json", "--offline", "--token-key", tokenKey, "--cache", cache)
	}
	for _, ref := range []string{file, image} {
		if r := online(ref); r.code != 0 {
			t.Fatalf("online verify %s before any revocation: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
		if r := offline(ref); r.code != 0 {
			t.Fatalf("offline verify %s before any revocation: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
	}

	// The file's token revoked as compromised by its issuer: the tuf
	// branch still holds, but the verdict relied on the token.
	must(ctl("revoke", "token", fileTok.TokenID, "--reason", "compromised", "--key", issuerKey), "revoke token")
	sync()
	if r := online(file); !revokedVerdict(t, r) {
		t.Errorf("online verify with a revoked token: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := offline(file); !revokedVerdict(t, r) {
		t.Errorf("offline verify with a revoked token: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := online(image); r.code != 0 {
		t.Errorf("online verify of the image, whose token is not revoked: exit %d\n%s", r.code, r.stdout)
	}

	// The digests revoked as malicious by the security authority.
	for _, dg := range []string{fileTok.Digest, imageTok.Digest} {
		must(ctl("revoke", "digest", dg, "--reason", "malicious", "--key", securityKey), "revoke digest")
	}
	sync()
	for _, ref := range []string{file, image} {
		if r := online(ref); !revokedVerdict(t, r) {
			t.Errorf("online verify of revoked %s: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
		if r := online(ref, "--layers"); !revokedVerdict(t, r) {
			t.Errorf("online verify --layers of revoked %s: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
		if r := offline(ref); !revokedVerdict(t, r) {
			t.Errorf("offline verify of revoked %s: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
		// People read the same: FAIL, never PASS over a failed revocation.
		r := ctl("verify", ref, "--policy", policyFile)
		if r.code != 1 || !strings.HasPrefix(r.stdout, "FAIL: policy production") || !strings.Contains(r.stdout, "✗ revocations [REVOKED]: revoked: digest "+map[string]string{file: fileTok.Digest, image: imageTok.Digest}[ref]+" (malicious)") {
			t.Errorf("text verdict of revoked %s: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
		// trustd's own evaluation refuses a token for them.
		r = ctl("token", "issue", ref, "--policy", "production", "-o", "json")
		if r.code != 1 || !strings.Contains(r.stdout, `"issued": false`) || !strings.Contains(r.stdout, "REVOKED") {
			t.Errorf("token issue for revoked %s: exit %d\n%s\n%s", ref, r.code, r.stdout, r.stderr)
		}
	}
}

// TestOneRevocationStateOneTimeRule is issue 14's second and third
// symptoms through the real binaries and real gpg, on both backends. A
// developer's key (its own pinned root) signs two SHA256SUMS manifests;
// the first is published at once, then the developer makes an OpenPGP
// revocation certificate (key superseded: soft) and publishes the second,
// signed before the revocation but first observed by the log after it;
// then the certificate is published with trustctl pgp revoke. Every view
// must tell the same story:
//   - one revocation state: revocations lookup and list, and revocations
//     check after a sync, say the key is revoked (superseded), citing the
//     certificate's log entry, as key show does;
//   - one time rule: the second manifest is void everywhere (subject marks
//     it REVOKED, pgp verify --at its signing time refuses it, a policy
//     fails it REVOKED) and the first counts everywhere (pgp verify with
//     its observed time allows it, subject does not mark it, the policy
//     passes, online and offline with a token).
func TestOneRevocationStateOneTimeRule(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { oneStateOneRule(t, backend) })
	}
}

func oneStateOneRule(t *testing.T, backend string) {
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
	dev, devSub := g.newKey("Dev <dev@example.org>")
	policyFile := write("deploy.yaml", []byte(`apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      any:
        - token: {maxAge: 1h}
        - pgp: {roots: [`+dev+`]}
`))
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	must(ctl("key", "add", write("dev.asc", g.run("--export", "--armor", dev))), "key add")

	// Two releases, each in its own signed SHA256SUMS.
	type release struct{ file, digest, sums, sig string }
	var rel [2]release
	for i, body := range []string{"release one\n", "release two\n"} {
		f := write(fmt.Sprintf("app-%d.tar.gz", i+1), []byte(body))
		sum := sha256.Sum256([]byte(body))
		sums := write(fmt.Sprintf("SHA256SUMS.%d", i+1), []byte(hex.EncodeToString(sum[:])+"  "+filepath.Base(f)+"\n"))
		sig := write(fmt.Sprintf("SHA256SUMS.%d.gpg", i+1), g.run("--local-user", devSub+"!", "--detach-sign", "--output", "-", sums))
		rel[i] = release{f, "sha256:" + hex.EncodeToString(sum[:]), sums, sig}
	}
	signedAt := time.Now().UTC().Format(time.RFC3339) // both were signed by now
	must(ctl("pgp", "publish", rel[0].sums, rel[0].sig), "publish the first manifest")
	observedFirst := time.Now().UTC().Format(time.RFC3339) // the log has observed it by now
	// The revocation is made (its effective time) after both signatures
	// and the first publication, before the second publication.
	time.Sleep(1100 * time.Millisecond)
	rev := write("rev.asc", g.GenRevoke(dev, "2", "new key"))
	time.Sleep(1100 * time.Millisecond)
	must(ctl("pgp", "publish", rel[1].sums, rel[1].sig), "publish the second manifest")
	r := must(ctl("pgp", "revoke", rev, "-o", "json"), "pgp revoke")
	var revoked struct {
		Entry struct {
			Seq json.Number `json:"seq"`
		} `json:"entry"`
		Hard bool `json:"hard"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &revoked); err != nil || revoked.Hard || revoked.Entry.Seq == "" {
		t.Fatalf("pgp revoke: %v %s", err, r.stdout)
	}
	logEntry := "log entry " + revoked.Entry.Seq.String()

	// One revocation state.
	if r := ctl("key", "show", dev); r.code != 0 || !strings.Contains(r.stdout, "status revoked (key superseded, soft)") {
		t.Errorf("key show: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("revocations", "lookup", "key", dev); r.code != 1 || !strings.Contains(r.stdout, "revoked (superseded)") || !strings.Contains(r.stdout, logEntry) {
		t.Errorf("revocations lookup key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("revocations", "list"); r.code != 0 || !strings.Contains(r.stdout, "key:"+dev+" revoked (superseded)") || !strings.Contains(r.stdout, logEntry) {
		t.Errorf("revocations list: %d %q %q", r.code, r.stdout, r.stderr)
	}
	cache := filepath.Join(work, "cache")
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
	keysRoot := write("keys-root.json", httpGet(t, tufURL+"/1.root.json"))
	must(ctl("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "--root", keysRoot), "revocations sync")
	const closed = "127.0.0.1:1"
	if r := trustctl(t, closed, "revocations", "check", "--cache", cache, "key", dev); r.code != 1 || !strings.Contains(r.stdout, "revoked (superseded)") || !strings.Contains(r.stdout, logEntry) {
		t.Errorf("revocations check key after a sync: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// The help says the one rule, not another.
	for _, cmd := range [][]string{{"pgp", "revoke", "--help"}, {"pgp", "verify", "--help"}, {"revoke", "--help"}} {
		r := ctl(cmd...)
		text := strings.Join(strings.Fields(r.stdout), " ")
		if r.code != 0 || !strings.Contains(text, "first observed") || strings.Contains(text, "made before the revocation stay valid") {
			t.Errorf("trustctl %s: %d\n%s", strings.Join(cmd, " "), r.code, r.stdout)
		}
	}

	// One time rule: the second manifest, observed after the
	// supersession, is void however early it claims to be signed.
	name := func(i int) string { return filepath.Base(rel[i].file) }
	if r := ctl("pgp", "verify", "--name", name(1), "--signer", devSub, "--root", dev, "--at", signedAt); r.code != 1 || !strings.Contains(r.stdout, "refused: revoked") {
		t.Errorf("pgp verify --at the signing time, not yet observed: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("pgp", "verify", "--name", name(0), "--signer", devSub, "--root", dev, "--at", signedAt, "--observed", observedFirst); r.code != 0 {
		t.Errorf("pgp verify of a signature observed before the supersession: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("subject", rel[1].digest); r.code != 0 || !strings.Contains(r.stdout, "REVOKED") || !strings.Contains(r.stdout, "superseded") ||
		!strings.Contains(r.stdout, logEntry) || strings.Contains(r.stdout, "log entry 0") {
		t.Errorf("subject of the late manifest's file: %d %q %q", r.code, r.stdout, r.stderr)
	} else {
		// One line per fact, its status now on it: the manifest's line
		// cites the pgp revoke's own log entry.
		facts := 0
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.Contains(line, "signed in manifest "+filepath.Base(rel[1].sums)) {
				facts++
				if !strings.Contains(line, ": REVOKED: key:"+dev) || !strings.Contains(line, "revoked (superseded)") || !strings.HasSuffix(line, logEntry) {
					t.Errorf("the revoked manifest's line does not cite the pgp revoke at %s: %q", logEntry, line)
				}
			}
		}
		if facts != 1 {
			t.Errorf("subject shows the manifest %d times, want once:\n%s", facts, r.stdout)
		}
	}
	// The same in JSON: the manifest's fact cites the pgp revoke's own
	// entry, never 0.
	var sj subjectJSON
	if r := ctl("subject", rel[1].digest, "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &sj) != nil || len(sj.Facts) != 1 ||
		sj.Facts[0].Manifest != filepath.Base(rel[1].sums) || sj.Facts[0].Status != "revoked" || sj.Facts[0].Revocation == nil ||
		fmt.Sprint(sj.Facts[0].Revocation.Seq) != revoked.Entry.Seq.String() || sj.Facts[0].Revocation.ID != dev {
		t.Errorf("subject -o json of the late manifest's file: %d %q; want one fact revoked by key %s at log entry %s", r.code, r.stdout, dev, revoked.Entry.Seq)
	}
	// The first manifest, observed before the supersession, still counts:
	// superseded, not revoked, citing the same log entry.
	if r := ctl("subject", rel[0].digest); r.code != 0 || strings.Contains(r.stdout, "REVOKED") || !strings.Contains(r.stdout, ": SUPERSEDED, still counts") ||
		!strings.Contains(r.stdout, logEntry) {
		t.Errorf("subject of the early manifest's file: %d %q %q", r.code, r.stdout, r.stderr)
	}
	verify := func(server string, i int, extra ...string) result {
		t.Helper()
		return trustctl(t, server, append([]string{"verify", rel[i].file, "--policy", policyFile, "-o", "json"}, extra...)...)
	}
	if r := verify(d.grpcAddr, 1); r.code != 1 || !strings.Contains(r.stdout, `"reason": "REVOKED"`) {
		t.Errorf("policy over the late manifest: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := ctl("token", "issue", rel[1].file, "--policy", "release"); r.code != 1 {
		t.Errorf("token issue over the late manifest: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := verify(d.grpcAddr, 0); r.code != 0 {
		t.Errorf("policy over the early manifest: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The early release's token names the superseded key as a signer; the
	// synced list holds its revocation, which by the same rule does not
	// void what was observed before it.
	tokenKey := filepath.Join(work, "token.pub")
	must(ctl("token", "key", "--out", tokenKey), "token key")
	must(ctl("token", "issue", rel[0].file, "--policy", "release", "--attach"), "token issue over the early manifest")
	if r := verify(closed, 0, "--offline", "--token-key", tokenKey, "--cache", cache); r.code != 0 {
		t.Errorf("offline verify of the early release's token: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A rotation is a revocation source too: the old key is superseded
	// in the one state, online and in the next synced list.
	older, _ := g.newKey("Older <older@example.org>")
	newer, _ := g.newKey("Newer <newer@example.org>")
	for _, fpr := range []string{older, newer} {
		must(ctl("key", "add", write(fpr+".asc", g.run("--export", "--armor", fpr))), "key add")
	}
	r = must(ctl("pgp", "rotate", "--old", older, "--new", newer, "--gpg", older, "--gpg", newer), "pgp rotate")
	if r := ctl("revocations", "lookup", "key", older); r.code != 1 || !strings.Contains(r.stdout, "revoked (superseded)") {
		t.Errorf("revocations lookup of a rotated key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	must(ctl("revocations", "sync", "--cache", cache, "--tuf-url", tufURL), "revocations sync")
	if r := trustctl(t, closed, "revocations", "check", "--cache", cache, "key", older); r.code != 1 || !strings.Contains(r.stdout, "revoked (superseded)") {
		t.Errorf("revocations check of a rotated key after a sync: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("revocations", "lookup", "key", newer); r.code != 0 {
		t.Errorf("revocations lookup of the new key: %d %q %q", r.code, r.stdout, r.stderr)
	}
}
