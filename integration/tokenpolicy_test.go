package integration_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trustd-dev/trustd/internal/testpg"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// heldPolicies are the token policies the trustd of TestTokenPolicies
// holds (--token-policy-dir).
const heldPolicies = `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    levels: [SLSA_BUILD_LEVEL_2]
    require:
      any:
        - token: {maxAge: 1h}
        - tuf: {repo: acme/app, pattern: "*"}
`

// trivialPolicy is what a caller would write to get a token for anything:
// SLSA build level 3, and a requirement every digest meets.
const trivialPolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: NAME
    levels: [SLSA_BUILD_LEVEL_3]
    require:
      reputation: {minScore: -1}
`

// TestTokenPolicies drives server-held token policies through the real
// binaries: a bad policy file stops trustd at start naming the file; a
// trustd with no policies refuses to issue, saying how to configure one;
// on both backends, a held policy issues a token whose verifier id, levels
// and policy digest are the server's configuration and which trustctl
// verify accepts offline with the same file; the signing oracle (a caller's
// own policy, a name trustd does not hold) is refused with nothing signed
// and nothing logged; SIGHUP re-reads the policies and a bad edit keeps
// the previous ones.
func TestTokenPolicies(t *testing.T) {
	work := t.TempDir()
	badDir := filepath.Join(work, "bad")
	if err := os.MkdirAll(badDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(badDir, "deploy.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(heldPolicies, "SLSA_BUILD_LEVEL_2", "level-two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "trustd", "--data-dir", filepath.Join(work, "data"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "", "--token-policy-dir", badDir)
	if r.code != 2 || !strings.Contains(r.stderr, "--token-policy-dir") || !strings.Contains(r.stderr, bad) ||
		!strings.Contains(r.stderr, `policies[0].levels[0]: "level-two"`) {
		t.Errorf("bad policy file at start: exit %d %q", r.code, r.stderr)
	}

	// No policies configured: nothing is issued, and the error says how to
	// configure one.
	d := startTrustd(t, "--data-dir", filepath.Join(work, "none"))
	r = trustctl(t, d.grpcAddr, "token", "issue", "sha256:"+strings.Repeat("ab", 32), "--policy", "production")
	if r.code != 2 || !strings.Contains(r.stderr, "no token policies configured") || !strings.Contains(r.stderr, "--token-policy-dir DIR") {
		t.Errorf("no policies: exit %d %q", r.code, r.stderr)
	}
	d.stop(t)

	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { tokenPolicies(t, backend) })
	}
}

func tokenPolicies(t *testing.T, backend string) {
	work := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policyDir := filepath.Join(work, "policies")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	policyFile := write("policies/deploy.yaml", heldPolicies)
	const verifierID = "https://trustd.example/ci"
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy-dir", policyDir, "--token-verifier-id", verifierID}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	if !strings.Contains(d.logs(), `msg="token policies" production=sha256:`) {
		t.Errorf("trustd does not log the policies it holds:\n%s", d.logs())
	}
	tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	genKey(t, rootKey)
	genKey(t, targetsKey)
	must(tc("tuf", "init", "acme/app", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	artifact := write("app.tar", "release bytes\n")
	must(tc("sign", artifact, "--repo", "acme/app", "--name", "app.tar", "--key", targetsKey), "sign")

	// A held policy: the token's verifier id, levels and policy are the
	// server's configuration, and the digest is the one the verifier's
	// copy of the file has.
	must(tc("token", "issue", artifact, "--policy", "production", "--attach"), "token issue")
	var check struct {
		Policies []struct {
			Digest string `json:"digest"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(must(tc("policy", "check", policyFile, "-o", "json"), "policy check").stdout), &check); err != nil || len(check.Policies) != 1 {
		t.Fatalf("policy check: %v %+v", err, check)
	}
	checked := check.Policies
	vsa := tokenPredicate(t, readFile(t, artifact+".trust.json"))
	if vsa.Verifier.ID != verifierID || strings.Join(vsa.VerifiedLevels, ",") != "SLSA_BUILD_LEVEL_2" || vsa.Policy.URI != "trustd:policy/production" ||
		"sha256:"+vsa.Policy.Digest["sha256"] != checked[0].Digest || vsa.VerificationResult != "PASSED" {
		t.Errorf("token predicate %+v, want verifier %s, levels SLSA_BUILD_LEVEL_2, policy digest %s", vsa, verifierID, checked[0].Digest)
	}
	tokenKey := filepath.Join(work, "token.pub")
	must(tc("token", "key", "--out", tokenKey), "token key")
	if r := trustctl(t, "127.0.0.1:1", "verify", artifact, "--policy", policyFile, "--policy-name", "production", "--offline", "--token-key", tokenKey); r.code != 0 {
		t.Errorf("offline verify with the held policy's file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The oracle: a caller's own policy, by file or on the wire, and a name
	// trustd does not hold. Nothing is signed, nothing is logged.
	other := write("other.bin", "bytes nobody vouches for\n")
	before := checkpointSize(t, d)
	trivial := write("trivial.yaml", strings.Replace(trivialPolicy, "NAME", "trivial", 1))
	if r := tc("token", "issue", other, "--policy", trivial, "--out", filepath.Join(work, "t1.json")); r.code != 2 || !strings.Contains(r.stderr, "is not a policy name") {
		t.Errorf("token issue --policy FILE: exit %d %q", r.code, r.stderr)
	}
	if r := tc("token", "issue", other, "--policy", "trivial", "--out", filepath.Join(work, "t2.json")); r.code != 2 ||
		!strings.Contains(r.stderr, `"trivial": no such policy; this trustd holds production`) {
		t.Errorf("token issue --policy UNKNOWN: exit %d %q", r.code, r.stderr)
	}
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tokens := trustv1.NewTokenServiceClient(conn)
	for _, name := range []string{"trivial", "production"} {
		req := &trustv1.IssueTokenRequest{Digests: []string{"sha256:" + strings.Repeat("0f", 32)}, PolicyName: name}
		raw := protowire.AppendTag(nil, 4, protowire.BytesType) // the retired policy document field
		req.ProtoReflect().SetUnknown(protowire.AppendBytes(raw, []byte(strings.Replace(trivialPolicy, "NAME", name, 1))))
		resp, err := tokens.IssueToken(context.Background(), req)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "policy: trustd evaluates only the policies it holds") || len(resp.GetToken()) != 0 {
			t.Errorf("caller's policy %q on the wire: %v, token %q", name, err, resp.GetToken())
		}
	}
	for _, f := range []string{"t1.json", "t2.json"} {
		if _, err := os.Stat(filepath.Join(work, f)); err == nil {
			t.Errorf("a refused token issue wrote %s", f)
		}
	}
	if after := checkpointSize(t, d); after != before {
		t.Errorf("log size %s after refused requests, was %s", after, before)
	}

	// SIGHUP re-reads the directory: a new policy is served; a bad edit is
	// logged and the policies held before stay.
	write("policies/late.json", `{"apiVersion": "trustd.dev/policy/v1", "policies": [{"name": "late", "levels": ["SLSA_BUILD_LEVEL_1"], "require": {"tuf": {"repo": "acme/app", "target": "app.tar"}}}]}`)
	hup(t, d, `msg="token policies reloaded" late=sha256:`)
	must(tc("token", "issue", artifact, "--policy", "late", "--out", filepath.Join(work, "late.json")), "token issue after reload")
	if vsa := tokenPredicate(t, readFile(t, filepath.Join(work, "late.json"))); strings.Join(vsa.VerifiedLevels, ",") != "SLSA_BUILD_LEVEL_1" {
		t.Errorf("reloaded policy levels %v", vsa.VerifiedLevels)
	}
	broken := write("policies/broken.yaml", "apiVersion: trustd.dev/policy/v1\npolicies: []\n")
	hup(t, d, "token policies: keeping the previous ones")
	if !strings.Contains(d.logs(), broken) {
		t.Errorf("the refused reload does not name %s:\n%s", broken, d.logs())
	}
	must(tc("token", "issue", artifact, "--policy", "late", "--out", filepath.Join(work, "late2.json")), "token issue after a refused reload")
}

// vsaPredicate is the part of a token's VSA predicate a consumer checks.
type vsaPredicate struct {
	Verifier struct {
		ID string `json:"id"`
	} `json:"verifier"`
	Policy struct {
		URI    string            `json:"uri"`
		Digest map[string]string `json:"digest"`
	} `json:"policy"`
	VerificationResult string   `json:"verificationResult"`
	VerifiedLevels     []string `json:"verifiedLevels"`
}

// tokenPredicate decodes a token's VSA predicate, as a generic VSA
// consumer reads it.
func tokenPredicate(t *testing.T, env string) vsaPredicate {
	t.Helper()
	var e struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(env), &e); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate vsaPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	return st.Predicate
}

// checkpointSize is the size of the log in trustd's current checkpoint.
func checkpointSize(t *testing.T, d *daemon) string {
	t.Helper()
	lines := strings.Split(string(httpGet(t, "http://"+d.httpAddr+"/log/checkpoint")), "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", lines)
	}
	return lines[1]
}

// hup sends trustd SIGHUP and waits until its log shows want.
func hup(t *testing.T, d *daemon, want string) {
	t.Helper()
	seen := strings.Count(d.logs(), want)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.logs(), want) == seen {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after SIGHUP:\n%s", want, d.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
