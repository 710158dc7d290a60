package integration_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// wirePolicy: "release" passes with a token, or online with a signature by
// the release key; either way nothing involved may be revoked by a list
// older than 4s. "liked" needs two likes (Wilson lower bound 0.34).
const wirePolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      all:
        - any:
            - token: {maxAge: 1h}
            - threshold: {k: 1, signers: [{key: "RELEASE"}]}
        - revocation: {maxAge: 4s}
  - name: liked
    require:
      reputation: {minScore: 0.3, minVotes: 2}
`

// wireResult is a verdict's requirement tree.
type wireResult struct {
	Kind     string       `json:"kind"`
	Outcome  string       `json:"outcome"`
	Reason   string       `json:"reason"`
	Detail   string       `json:"detail"`
	Children []wireResult `json:"children"`
}

// detail is the detail of the first leaf of kind, "" if none.
func (r wireResult) detail(kind string) string {
	if len(r.Children) == 0 && r.Kind == kind {
		return r.Detail
	}
	for _, c := range r.Children {
		if d := c.detail(kind); d != "" {
			return d
		}
	}
	return ""
}

// leafReasons lists "kind:REASON" for every leaf of the tree with a reason.
func (r wireResult) leafReasons() []string {
	if len(r.Children) == 0 {
		if r.Reason == "" {
			return nil
		}
		return []string{r.Kind + ":" + r.Reason}
	}
	var out []string
	for _, c := range r.Children {
		out = append(out, c.leafReasons()...)
	}
	return out
}

// TestDeployEvidenceWiring drives the evidence behind deploy policies with
// the real binaries on both backends: the token key read through trustd's
// trustd/keys TUF repository from a pinned root (online, then offline from
// go-tuf's cache), tokens carrying the revocation list they were checked
// against, a revoked signer failing verify online and offline (REVOKED), a
// stale cached revocation list failing offline (STALE_METADATA), and a
// reputation threshold passing and failing (REPUTATION_BELOW).
func TestDeployEvidenceWiring(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { deployEvidenceWiring(t, backend) })
	}
}

func deployEvidenceWiring(t *testing.T, backend string) {
	work := t.TempDir()
	key := func(name string) (string, string) {
		p := filepath.Join(work, name+".pem")
		return p, genKey(t, p)
	}
	securityKey, security := key("security")
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	releaseKey, release := key("release")
	// trustd holds the policies it issues tokens for: the same file the
	// verifier enforces.
	policyFile := write("policy.yaml", strings.Replace(wirePolicy, "RELEASE", release, 1))
	args := []string{"--data-dir", filepath.Join(work, "data"), "--security-authority", security, "--revocation-list-validity", "1m",
		"--token-policy", policyFile}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	oldKey, old := key("old")
	aliceKey, _ := key("alice")
	bobKey, _ := key("bob")
	for _, k := range []string{securityKey, releaseKey, oldKey, aliceKey, bobKey} {
		must(tc("key", "add", k+".pub"), "key add")
	}
	artifact := write("app.tar", "release bytes for the wiring test\n")
	signed := must(tc("statement", "sign", "--predicate-type", "https://example.com/test-result/v1", "--predicate", write("pred.json", `{"tests":"passed"}`),
		"--artifact", artifact, "--key", releaseKey, "-o", "json"), "statement sign")
	var entry struct {
		Entry struct {
			Seq json.Number `json:"seq"`
		} `json:"entry"`
	}
	if err := json.Unmarshal([]byte(signed.stdout), &entry); err != nil || entry.Entry.Seq == "" {
		t.Fatalf("statement sign output: %v %q", err, signed.stdout)
	}
	verify := func(server, name string, extra ...string) (result, wireResult) {
		t.Helper()
		a := append([]string{"verify", artifact, "--policy", policyFile, "--policy-name", name, "-o", "json"}, extra...)
		r := trustctl(t, server, a...)
		var v struct {
			Outcome string     `json:"outcome"`
			Result  wireResult `json:"result"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("verify %v: not JSON (exit %d): %v\n%s\n%s", extra, r.code, err, r.stdout, r.stderr)
		}
		return r, v.Result
	}

	// The token key through TUF: asking for it publishes it in trustd/keys;
	// read from the pinned root it is the key trustd reports.
	served := must(tc("token", "key"), "token key").stdout
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
	rootFile := write("keys-root.json", string(httpGet(t, tufURL+"/1.root.json")))
	cache := filepath.Join(work, "cache")
	viaTUF := must(tc("token", "key", "--root", rootFile, "--tuf-url", tufURL, "--cache", cache), "token key --root").stdout
	if viaTUF != served || !strings.Contains(viaTUF, "PUBLIC KEY") {
		t.Errorf("token key through TUF %q, trustd reports %q", viaTUF, served)
	}
	// A pinned root whose signed part was altered does not verify.
	var rootDoc map[string]any
	if err := json.Unmarshal([]byte(readFile(t, rootFile)), &rootDoc); err != nil {
		t.Fatal(err)
	}
	rootDoc["signed"].(map[string]any)["expires"] = "2099-01-01T00:00:00Z"
	altered, _ := json.Marshal(rootDoc)
	alteredRoot := write("altered-root.json", string(altered))
	if r := tc("token", "key", "--root", alteredRoot, "--tuf-url", tufURL, "--cache", filepath.Join(work, "cache2")); r.code != 2 {
		t.Errorf("token key with an altered root: exit %d %q", r.code, r.stderr)
	}

	// A revocation before the token is issued: the token records the list
	// it was checked against.
	must(tc("revoke", "key", old, "--reason", "retired", "--key", oldKey), "revoke old key")
	must(tc("token", "issue", artifact, "--policy", "release", "--attach"), "token issue")
	sidecar := readFile(t, artifact+".trust.json")
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(sidecar), &env); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	var st struct {
		Predicate struct {
			Ext struct {
				RevocationListSeq uint64   `json:"revocationListSeq"`
				Signers           []string `json:"signers"`
			} `json:"https://trustd.dev/token/v1"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil || st.Predicate.Ext.RevocationListSeq == 0 || !slices.Contains(st.Predicate.Ext.Signers, release) {
		t.Errorf("token extension: %v %+v\n%s", err, st.Predicate.Ext, payload)
	}

	// Online: the signature and the live revocation index pass; the token
	// beside the bytes too, its key read through TUF from the pinned root
	// (an altered root leaves the token undecided).
	if r, v := verify(d.grpcAddr, "release"); r.code != 0 {
		t.Errorf("online verify: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}
	if r, v := verify(d.grpcAddr, "release", "--trust-root", rootFile, "--tuf-url", tufURL, "--cache", cache); r.code != 0 || len(v.leafReasons()) != 0 {
		t.Errorf("online verify, token key through TUF: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}
	if r, v := verify(d.grpcAddr, "release", "--trust-root", alteredRoot, "--tuf-url", tufURL, "--cache", filepath.Join(work, "cache3")); r.code != 0 ||
		!slices.Equal(v.leafReasons(), []string{"token:EVIDENCE_UNAVAILABLE"}) {
		t.Errorf("online verify, altered TUF root: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}
	// Offline, from a fresh sync: the token passes; the token key is read
	// from the cached TUF metadata through the pinned root, and nothing is
	// contacted (the server address is closed).
	const closed = "127.0.0.1:1"
	must(tc("revocations", "sync", "--root", rootFile, "--tuf-url", tufURL, "--cache", cache), "revocations sync")
	offline := []string{"--offline", "--trust-root", rootFile, "--cache", cache}
	if r, v := verify(closed, "release", offline...); r.code != 0 {
		t.Errorf("offline verify: exit %d %v\n%s\n%s", r.code, v.leafReasons(), r.stdout, r.stderr)
	}
	// Without the cached TUF metadata the pinned root alone proves nothing.
	if r := trustctl(t, closed, "verify", artifact, "--policy", policyFile, "--policy-name", "release",
		"--offline", "--trust-root", rootFile, "--cache", filepath.Join(work, "empty")); r.code != 2 {
		t.Errorf("offline verify with no cached metadata: exit %d\n%s", r.code, r.stdout)
	}

	// The cached list ages past the policy's 4s: STALE_METADATA offline.
	time.Sleep(4500 * time.Millisecond)
	if r, v := verify(closed, "release", offline...); r.code != 1 || !slices.Contains(v.leafReasons(), "revocation:STALE_METADATA") {
		t.Errorf("stale list offline: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}

	// The signed statement is withdrawn by its signer: online the
	// revocation requirement names it; offline, once synced, the
	// evaluator's deny-overrides check fails the verdict on the token's
	// input, whatever the tree.
	must(tc("revoke", "statement", string(entry.Entry.Seq), "--reason", "withdrawn", "--key", releaseKey), "withdraw statement")
	if r, v := verify(d.grpcAddr, "release"); r.code != 1 || !slices.Contains(v.leafReasons(), "revocation:REVOKED") || !strings.Contains(v.detail("revocation"), "statement sha256:") {
		t.Errorf("withdrawn statement online: exit %d %v %q\n%s", r.code, v.leafReasons(), v.detail("revocation"), r.stderr)
	}
	must(tc("revocations", "sync", "--cache", cache, "--tuf-url", tufURL), "revocations sync (delta)")
	if r, v := verify(closed, "release", offline...); r.code != 1 || !slices.Contains(v.leafReasons(), "revocations:REVOKED") || !strings.Contains(v.detail("revocations"), "statement sha256:") {
		t.Errorf("withdrawn statement offline: exit %d %v %q\n%s", r.code, v.leafReasons(), v.detail("revocations"), r.stderr)
	}

	// The release key is revoked: online the revocation requirement
	// fails; offline, once synced, the deny-overrides check fails the
	// verdict on the signer the token names.
	must(tc("revoke", "key", release, "--reason", "compromised", "--key", releaseKey), "revoke release key")
	if r, v := verify(d.grpcAddr, "release"); r.code != 1 || !slices.Contains(v.leafReasons(), "revocation:REVOKED") || !strings.Contains(v.detail("revocation"), "key "+release) {
		t.Errorf("revoked signer online: exit %d %v %q\n%s", r.code, v.leafReasons(), v.detail("revocation"), r.stderr)
	}
	must(tc("revocations", "sync", "--cache", cache, "--tuf-url", tufURL), "revocations sync (delta)")
	if r, v := verify(closed, "release", offline...); r.code != 1 || !slices.Contains(v.leafReasons(), "revocations:REVOKED") || !strings.Contains(v.detail("revocations"), "key "+release) {
		t.Errorf("revoked signer offline: exit %d %v %q\n%s", r.code, v.leafReasons(), v.detail("revocations"), r.stderr)
	}
	// trustd no longer issues a token for it.
	if r := tc("token", "issue", artifact, "--policy", "release"); r.code != 1 {
		t.Errorf("token issue with a revoked signer: exit %d %s", r.code, r.stderr)
	}

	// Reputation: one like is below the threshold, two reach it; online and
	// in trustd's own evaluation (a token is issued).
	must(tc("vote", artifact, "--like", "--key", aliceKey), "vote alice")
	if r, v := verify(d.grpcAddr, "liked"); r.code != 1 || !slices.Equal(v.leafReasons(), []string{"reputation:REPUTATION_BELOW"}) {
		t.Errorf("one like: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}
	if r := tc("token", "issue", artifact, "--policy", "liked"); r.code != 1 || !strings.Contains(r.stdout, "REPUTATION_BELOW") {
		t.Errorf("token issue with one like: exit %d %s", r.code, r.stdout)
	}
	must(tc("vote", artifact, "--like", "--key", bobKey), "vote bob")
	if r, v := verify(d.grpcAddr, "liked"); r.code != 0 {
		t.Errorf("two likes: exit %d %v\n%s", r.code, v.leafReasons(), r.stderr)
	}
	must(tc("token", "issue", artifact, "--policy", "liked"), "token issue with two likes")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOneResolver: the commands that take an artifact read it through the
// one resolver, so an image in a real registry (by tag) is signed, voted
// on, attested and scored exactly as verify later checks it: by its
// manifest digest. A file works the same way.
func TestOneResolver(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { oneResolver(t, backend) })
	}
}

func oneResolver(t *testing.T, backend string) {
	work := t.TempDir()
	args := []string{"--data-dir", filepath.Join(work, "data")}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	reg := startRegistry(t)
	tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	imageRef := reg.host + "/acme/app:2.0"
	tag, err := name.ParseReference(imageRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	imgDigest, _ := img.Digest()
	file := filepath.Join(work, "app.tar")
	if err := os.WriteFile(file, []byte("file bytes for the resolver test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fileSHA := strings.Fields(tc("digest", "-a", "sha256", file).stdout)[0]

	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	aliceKey := filepath.Join(work, "alice.pem")
	genKey(t, rootKey)
	genKey(t, targetsKey)
	genKey(t, aliceKey)
	must(tc("key", "add", aliceKey+".pub"), "key add")
	must(tc("tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")

	// sign REF: the image by tag, the file by path; the targets name their
	// manifest digest and file digest, and verify passes for both.
	must(tc("sign", imageRef, "--repo", "acme/images", "--name", "app/image-2.0", "--key", targetsKey), "sign image")
	must(tc("sign", file, "--repo", "acme/images", "--name", "app/app.tar", "--key", targetsKey), "sign file")
	for _, want := range []string{imgDigest.String(), fileSHA} {
		if r := tc("subject", want, "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, "https://trustd.dev/tuf/metadata/v1") {
			t.Errorf("subject %s after sign: exit %d\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	policyFile := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: p\n    require:\n      tuf: {repo: acme/images, pattern: \"app/*\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{imageRef, reg.host + "/acme/app@" + imgDigest.String(), file} {
		if r := tc("verify", ref, "--policy", policyFile); r.code != 0 {
			t.Errorf("verify %s: exit %d\n%s%s", ref, r.code, r.stdout, r.stderr)
		}
	}

	// vote REF: the vote on the tag counts for the manifest digest, and
	// reputation takes the REF too.
	must(tc("vote", imageRef, "--like", "--key", aliceKey), "vote image")
	must(tc("vote", file, "--trust", "--key", aliceKey), "vote file")
	for _, tcase := range []struct{ ref, axis string }{{imageRef, "quality"}, {imgDigest.String(), "quality"}, {file, "trust"}, {fileSHA, "trust"}} {
		r := tc("reputation", tcase.ref, "-o", "json")
		var rep map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
			t.Fatalf("reputation %s: exit %d %v\n%s", tcase.ref, r.code, err, r.stderr)
		}
		axis, _ := rep[tcase.axis].(map[string]any)
		if axis["positive"] != "1" && axis["positive"] != float64(1) {
			t.Errorf("reputation %s: %s = %v, want 1 positive", tcase.ref, tcase.axis, rep[tcase.axis])
		}
	}

	// statement sign --artifact REF: the subject is the manifest digest.
	pred := filepath.Join(work, "pred.json")
	if err := os.WriteFile(pred, []byte(`{"scan":"clean"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	must(tc("statement", "sign", "--predicate-type", "https://example.com/scan/v1", "--predicate", pred, "--artifact", imageRef, "--key", aliceKey), "statement sign image")
	if r := tc("subject", imgDigest.String()); r.code != 0 || !strings.Contains(r.stdout, "https://example.com/scan/v1") {
		t.Errorf("subject after statement sign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A missing file that is no registry reference: exit 2, one line.
	if r := tc("vote", filepath.Join(work, "missing.tar"), "--like", "--key", aliceKey); r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("vote on a missing file: exit %d %q", r.code, r.stderr)
	}
}
