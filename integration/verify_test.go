package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// registry is a distribution registry (Debian's docker-registry) serving
// on a loopback port from a temporary storage directory.
type registry struct {
	host    string // 127.0.0.1:PORT
	storage string
}

func startRegistry(t *testing.T) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is not installed: run scripts/test-deps.sh")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	r := &registry{host: addr, storage: filepath.Join(dir, "storage")}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.storage, addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blobPath is where the registry keeps a blob's bytes.
func (r *registry) blobPath(hex string) string {
	return filepath.Join(r.storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

type verdictJSON struct {
	Outcome string `json:"outcome"`
	Result  struct {
		Kind     string `json:"kind"`
		Reason   string `json:"reason"`
		Children []struct {
			Kind     string   `json:"kind"`
			Outcome  string   `json:"outcome"`
			Reason   string   `json:"reason"`
			Evidence []string `json:"evidence"`
		} `json:"children"`
	} `json:"result"`
}

// reasons are the reason codes of the verdict's top result and children.
func (v verdictJSON) reasons() []string {
	out := []string{}
	if len(v.Result.Children) == 0 && v.Result.Reason != "" {
		out = append(out, v.Result.Reason)
	}
	for _, c := range v.Result.Children {
		if c.Reason != "" {
			out = append(out, c.Kind+":"+c.Reason)
		}
	}
	return out
}

func parseVerdict(t *testing.T, r result) verdictJSON {
	t.Helper()
	var v verdictJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("verdict is not JSON (exit %d): %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	return v
}

const deployPolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      any:
        - token: {maxAge: 1h}
        - tuf: {repo: acme/images, pattern: "app/*"}
  - name: strict
    require:
      tuf: {repo: acme/images, target: app/other}
`

func TestDeployVerify(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { deployVerify(t, backend) })
	}
}

func deployVerify(t *testing.T, backend string) {
	work := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// trustd issues tokens only for the policies it holds: the same file
	// the verifier enforces.
	policyFile := write("deploy.yaml", deployPolicy)
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	reg := startRegistry(t)
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }

	// A TUF repository whose targets role lists a release file and an
	// image manifest.
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{rootKey, targetsKey} {
		must(trustctl(t, d.grpcAddr, "key", "generate", "--out", k), "key generate")
	}
	must(trustctl(t, d.grpcAddr, "tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	artifact := write("app-1.0.tar.gz", "app 1.0 release bytes\n")
	must(trustctl(t, d.grpcAddr, "sign", artifact, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", targetsKey), "sign file")

	img, err := random.Image(4096, 2)
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
	imgDigest, _ := img.Digest()
	manifestFile := write("app-image-manifest.json", string(manifest))
	must(trustctl(t, d.grpcAddr, "sign", manifestFile, "--repo", "acme/images", "--name", "app/image-1.0", "--key", targetsKey), "sign manifest")
	imageRef := reg.host + "/acme/app:1.0"
	imageByDigest := reg.host + "/acme/app@" + imgDigest.String()

	// The same bytes over https, from a server whose CA the client is given.
	served := filepath.Join(work, "served")
	if err := os.MkdirAll(served, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(served, "app-1.0.tar.gz"), []byte("app 1.0 release bytes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	https := httptest.NewTLSServer(http.FileServer(http.Dir(served)))
	defer https.Close()
	caFile := write("ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: https.Certificate().Raw})))
	httpsRef := https.URL + "/app-1.0.tar.gz"

	tokenKey := filepath.Join(work, "token.pub")
	must(trustctl(t, d.grpcAddr, "token", "key", "--out", tokenKey), "token key")

	verify := func(server string, extra ...string) (result, verdictJSON) {
		t.Helper()
		a := append([]string{"verify", "--policy", policyFile, "--policy-name", "production", "-o", "json", "--blob-ca", caFile}, extra...)
		r := trustctl(t, server, a...)
		return r, parseVerdict(t, r)
	}

	// Online: the TUF evidence passes for the file, the URL and the image.
	for _, ref := range []string{artifact, httpsRef, imageRef, imageByDigest} {
		r, v := verify(d.grpcAddr, ref, "--layers")
		if r.code != 0 || v.Outcome != "pass" || v.Result.Children[1].Outcome != "pass" {
			t.Errorf("online verify %s: exit %d %+v\n%s", ref, r.code, v, r.stderr)
		}
	}
	// Text for people: the outcome, then each requirement with its evidence.
	r := trustctl(t, d.grpcAddr, "verify", artifact, "--policy", policyFile, "--policy-name", "production")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "PASS: policy production (sha256:") || !strings.Contains(r.stdout, "✓ tuf: target app/app-1.0.tar.gz in repo acme/images, signed under role targets") ||
		!strings.Contains(r.stdout, "✗ token [NO_TOKEN]") {
		t.Errorf("text verdict: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Bad input: exit 2 with one line naming what is wrong.
	badPolicy := write("bad.yaml", strings.Replace(deployPolicy, "maxAge: 1h", "maxAge: soon", 1))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", artifact, "--policy", badPolicy}, `line 6: "soon": want a duration`},
		{[]string{"verify", artifact, "--policy", policyFile}, "--policy-name: policy: the file holds 2 policies"},
		{[]string{"verify", artifact, "--policy", policyFile, "--policy-name", "production", "--offline"}, "--offline: give the trusted token key"},
		{[]string{"verify", filepath.Join(work, "missing.tar"), "--policy", policyFile, "--policy-name", "production"}, "no such file"},
	} {
		r := trustctl(t, d.grpcAddr, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want 2 with %q on one line", tc.args[1:], r.code, r.stderr, tc.want)
		}
	}

	// A policy the bytes do not meet fails (exit 1) with its reason code.
	r = trustctl(t, d.grpcAddr, "verify", imageRef, "--policy", policyFile, "--policy-name", "strict", "-o", "json")
	if v := parseVerdict(t, r); r.code != 1 || v.Outcome != "fail" || v.Result.Reason != "UNTRUSTED_SIGNER" {
		t.Errorf("strict policy: exit %d %+v", r.code, v)
	}

	// Tokens: issued by trustd, stored beside the bytes.
	r = must(trustctl(t, d.grpcAddr, "token", "issue", imageRef, "--policy", "production", "--attach", "-o", "json"), "token issue image")
	var issued struct {
		Issued   bool   `json:"issued"`
		TokenID  string `json:"tokenId"`
		Attached string `json:"attached"`
		Digest   string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &issued); err != nil || !issued.Issued || !strings.HasPrefix(issued.TokenID, "sha256:") ||
		issued.Digest != imgDigest.String() || !strings.Contains(issued.Attached, reg.host+"/acme/app@sha256:") {
		t.Fatalf("token issue image: %v %+v", err, issued)
	}
	// The registry has no referrers API: the token went to the fallback tag.
	fallback, err := name.ParseReference(reg.host + "/acme/app:sha256-" + imgDigest.Hex)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Get(fallback); err != nil {
		t.Errorf("referrers fallback tag: %v", err)
	}
	must(trustctl(t, d.grpcAddr, "token", "issue", artifact, "--policy", "production", "--attach"), "token issue file")
	if _, err := os.Stat(artifact + ".trust.json"); err != nil {
		t.Fatalf("no sidecar: %v", err)
	}
	// By digest alone, with no bytes read: the same evidence, a token for
	// the same subject.
	artSum := sha256.Sum256([]byte("app 1.0 release bytes\n"))
	r = must(trustctl(t, d.grpcAddr, "token", "issue", "sha256:"+hex.EncodeToString(artSum[:]), "--policy", "production", "-o", "json"), "token issue digest")
	if !strings.Contains(r.stdout, `"issued": true`) {
		t.Errorf("token issue by digest: %s", r.stdout)
	}
	must(trustctl(t, d.grpcAddr, "token", "issue", httpsRef, "--blob-ca", caFile, "--policy", "production",
		"--out", filepath.Join(served, "app-1.0.tar.gz.trust.json")), "token issue https")

	// Offline: the token alone decides, no server contacted (the address
	// given is closed).
	const closed = "127.0.0.1:1"
	for _, ref := range []string{artifact, httpsRef, imageRef, imageByDigest} {
		r, v := verify(closed, ref, "--offline", "--token-key", tokenKey, "--layers")
		if r.code != 0 || v.Outcome != "pass" || v.Result.Children[0].Outcome != "pass" || v.Result.Children[1].Reason != "OFFLINE" {
			t.Errorf("offline verify %s: exit %d %+v\n%s", ref, r.code, v, r.stderr)
		}
	}

	// Offline refusals, each with its reason code.
	otherKey := filepath.Join(work, "other.pem")
	must(trustctl(t, d.grpcAddr, "key", "generate", "--out", otherKey), "key generate")
	other := write("other.bin", "other bytes\n")
	sidecar, err := os.ReadFile(artifact + ".trust.json")
	if err != nil {
		t.Fatal(err)
	}
	write("other.bin.trust.json", string(sidecar))
	changedPolicy := write("changed.yaml", strings.Replace(deployPolicy, `pattern: "app/*"`, `pattern: "app/app-*"`, 1))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown key (file)", []string{artifact, "--token-key", otherKey + ".pub"}, "token:TOKEN_INVALID"},
		{"unknown key (image)", []string{imageRef, "--token-key", otherKey + ".pub"}, "token:TOKEN_INVALID"},
		{"token for another digest", []string{other, "--token-key", tokenKey}, "token:DIGEST_MISMATCH"},
		{"policy mismatch", []string{artifact, "--token-key", tokenKey, "--policy", changedPolicy}, "token:POLICY_MISMATCH"},
	} {
		r, v := verify(closed, append(tc.args, "--offline")...)
		if got := v.reasons(); r.code != 1 || v.Outcome != "fail" || len(got) != 2 || got[0] != tc.want || got[1] != "tuf:OFFLINE" {
			t.Errorf("%s: exit %d reasons %v, want 1 with %s\n%s", tc.name, r.code, got, tc.want, r.stderr)
		}
	}

	// An unreachable server: could not decide, exit 2.
	r, v := verify(closed, artifact)
	if r.code != 2 || v.Outcome != "undecided" {
		t.Errorf("unreachable server: exit %d %+v", r.code, v)
	}

	// An expired token: trustd restarted with a one-second token lifetime
	// (same data directory, same token key).
	d.stop(t)
	d = startTrustd(t, append(args, "--token-ttl", "1s")...)
	expired := filepath.Join(work, "expired.json")
	must(trustctl(t, d.grpcAddr, "token", "issue", artifact, "--policy", "production", "--out", expired), "token issue short-lived")
	must(trustctl(t, d.grpcAddr, "token", "attach", artifact, "--token", expired), "token attach")
	time.Sleep(1100 * time.Millisecond)
	r, v = verify(closed, artifact, "--offline", "--token-key", tokenKey)
	if got := v.reasons(); r.code != 1 || len(got) != 2 || got[0] != "token:EXPIRED" {
		t.Errorf("expired token: exit %d reasons %v\n%s", r.code, got, r.stderr)
	}
	r = trustctl(t, d.grpcAddr, "token", "attach", other, "--token", expired)
	if r.code != 2 || !strings.Contains(r.stderr, "not a token for") {
		t.Errorf("attach to other bytes: exit %d %q", r.code, r.stderr)
	}

	// A tampered layer in the registry: a definite no, online and offline,
	// even though the manifest, its TUF target and its token still hold.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := layers[1].Digest()
	blob := reg.blobPath(ld.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{d.grpcAddr}, {closed, "--offline", "--token-key", tokenKey}} {
		r, v := verify(mode[0], append([]string{imageRef, "--layers"}, mode[1:]...)...)
		if r.code != 1 || v.Outcome != "fail" || v.Result.Reason != "DIGEST_MISMATCH" || !strings.Contains(r.stdout, ld.String()) {
			t.Errorf("tampered layer %v: exit %d %+v\n%s", mode[1:], r.code, v, r.stdout)
		}
	}
	// Without --layers only the manifest is checked, which still holds.
	if r, v := verify(d.grpcAddr, imageRef); r.code != 0 || v.Outcome != "pass" {
		t.Errorf("manifest-only verify after layer tampering: exit %d %+v", r.code, v)
	}

	// TUF evidence verified by go-tuf from the pinned root v1.
	rootFile := write("root.json", string(httpGet(t, "http://"+d.httpAddr+"/tuf/acme/images/1.root.json")))
	pinned := []string{"--tuf-root", "acme/images=" + rootFile}
	r, v = verify(d.grpcAddr, append([]string{artifact}, pinned...)...)
	if r.code != 0 || v.Outcome != "pass" || len(v.Result.Children[1].Evidence) == 0 || !strings.Contains(v.Result.Children[1].Evidence[0], "verified from the pinned root") {
		t.Errorf("pinned TUF root: exit %d %+v", r.code, v)
	}
	// A pinned root whose signed part was altered does not verify.
	var rootDoc map[string]any
	if err := json.Unmarshal(httpGet(t, "http://"+d.httpAddr+"/tuf/acme/images/1.root.json"), &rootDoc); err != nil {
		t.Fatal(err)
	}
	rootDoc["signed"].(map[string]any)["expires"] = "2099-01-01T00:00:00Z"
	altered, _ := json.Marshal(rootDoc)
	wrongRoot := write("wrong-root.json", string(altered))
	if r, v := verify(d.grpcAddr, artifact, "--tuf-root", "acme/images="+wrongRoot); r.code != 2 || v.Outcome != "undecided" {
		t.Errorf("tampered pinned root: exit %d %+v", r.code, v)
	}
	// Targets metadata past its expiry: STALE_METADATA.
	must(trustctl(t, d.grpcAddr, "sign", other, "--repo", "acme/images", "--name", "app/other.bin", "--key", targetsKey, "--expires", "1s"), "sign short-lived")
	time.Sleep(2100 * time.Millisecond) // a lifetime counts whole seconds, rounded up
	for _, extra := range [][]string{nil, pinned} {
		r, v := verify(d.grpcAddr, append([]string{artifact}, extra...)...)
		if got := v.reasons(); r.code != 1 || len(got) != 2 || got[1] != "tuf:STALE_METADATA" {
			t.Errorf("expired targets %v: exit %d reasons %v\n%s", extra, r.code, got, r.stdout)
		}
	}
}

// TestVerifyPGPChainAndThreshold checks the OpenPGP and threshold
// requirements against a real trustd and real gpg: a release signed in a
// gpg-signed SHA256SUMS by a developer key and listed as a TUF target
// passes once the pinned root delegates to the developer, and fails as
// revoked once the root's compromise is published.
func TestVerifyPGPChainAndThreshold(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { verifyPGPChain(t, backend) })
	}
}

func verifyPGPChain(t *testing.T, backend string) {
	g := newGnuPG(t)
	t.Setenv("GNUPGHOME", g.Dir)
	work := t.TempDir()
	args := []string{"--data-dir", filepath.Join(work, "data")}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
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
	for _, fpr := range []string{root, dev} {
		must(ctl("key", "add", write(fpr+".asc", g.run("--export", "--armor", fpr))), "key add")
	}
	artifact := write("app-1.0.tar.gz", []byte("release tarball bytes\n"))
	data, _ := os.ReadFile(artifact)
	sum := sha256.Sum256(data)
	manifest := write("SHA256SUMS", []byte(hex.EncodeToString(sum[:])+"  app-1.0.tar.gz\n"))
	must(ctl("pgp", "publish", manifest, write("SHA256SUMS.gpg", g.run("--local-user", dev, "--detach-sign", "--output", "-", manifest))), "pgp publish")

	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{rootKey, targetsKey} {
		must(ctl("key", "generate", "--out", k), "key generate")
	}
	must(ctl("tuf", "init", "acme/files", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	must(ctl("sign", artifact, "--repo", "acme/files", "--name", "app-1.0.tar.gz", "--key", targetsKey), "sign")

	policyFile := write("policy.yaml", []byte(fmt.Sprintf(`apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      all:
        - pgp: {roots: [%s], name: "app-*"}
        - threshold:
            k: 2
            signers: [{pgp: %s}, {key: "%s"}, {key: "%s"}]
`, root, dev, keyID(t, targetsKey+".pub"), strings.Repeat("0", 64))))
	verify := func() (result, verdictJSON) {
		t.Helper()
		r := ctl("verify", artifact, "--policy", policyFile, "-o", "json")
		return r, parseVerdict(t, r)
	}
	r, v := verify()
	if got := v.reasons(); r.code != 1 || len(got) != 1 || got[0] != "pgp:UNTRUSTED_SIGNER" || v.Result.Children[1].Outcome != "pass" {
		t.Errorf("before delegation: exit %d reasons %v %+v", r.code, got, v)
	}
	must(ctl("pgp", "delegate", "--from", root, "--to", dev, "--scope", "**", "--gpg", root), "pgp delegate")
	r, v = verify()
	if r.code != 0 || v.Outcome != "pass" || !strings.Contains(r.stdout, "delegation "+root+" → "+dev) {
		t.Errorf("after delegation: exit %d %+v\n%s", r.code, v, r.stdout)
	}
	rev := g.GenRevoke(root, "1", "key leaked")
	must(ctl("pgp", "revoke", write("rev.asc", rev)), "pgp revoke")
	r, v = verify()
	if got := v.reasons(); r.code != 1 || len(got) != 1 || got[0] != "pgp:REVOKED" {
		t.Errorf("revoked root: exit %d reasons %v\n%s", r.code, got, r.stdout)
	}
}
