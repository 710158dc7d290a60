package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// logSize reads the size of d's statement log from its signed checkpoint
// (the note's second line).
func logSize(t *testing.T, d *daemon) uint64 {
	t.Helper()
	lines := strings.Split(string(httpGet(t, "http://"+d.httpAddr+"/log/checkpoint")), "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", lines)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	return n
}

// TestKeysRepoTakeover: with the real binaries on both backends, trustd's
// own trustd/keys exists from the first start, before any client asks,
// holding the token and revocation-list keys; a stranger's 'tuf init
// trustd/keys' (or any name under trustd/) is refused (PermissionDenied:
// server.TestTUFErrors checks the code) and stores nothing; their targets signed into trustd/keys are refused; a
// go-tuf client pinned to the served root gets trustd's token key. A
// restart appends nothing.
func TestKeysRepoTakeover(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { keysRepoTakeover(t, backend) })
	}
}

func keysRepoTakeover(t *testing.T, backend string) {
	work := t.TempDir()
	args := []string{"--data-dir", filepath.Join(work, "data")}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"

	// Before any client call: the repository and both keys are there.
	rootFile := filepath.Join(work, "keys-root.json")
	if err := os.WriteFile(rootFile, httpGet(t, tufURL+"/1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	var targets struct {
		Signed struct {
			Targets map[string]json.RawMessage `json:"targets"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(httpGet(t, tufURL+"/1.targets.json"), &targets); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"token.pub", "revocation-list.pub"} {
		if _, ok := targets.Signed.Targets[name]; !ok {
			t.Errorf("trustd/keys targets v1 at start lacks %s: %v", name, targets.Signed.Targets)
		}
	}
	size := logSize(t, d)

	// The stranger tries to take the name, and to publish into it.
	stranger := filepath.Join(work, "stranger.pem")
	genKey(t, stranger)
	for _, repo := range []string{"trustd/keys", "trustd/other", "trustd"} {
		r := trustctl(t, d.grpcAddr, "tuf", "init", repo, "--root-key", stranger, "--root-threshold", "1",
			"--targets-key", stranger+".pub", "--targets-threshold", "1")
		if r.code != 2 || !strings.Contains(r.stderr, "names under trustd/ are reserved") {
			t.Errorf("stranger's tuf init %s: exit %d %q, want a refusal naming the reserved names", repo, r.code, r.stderr)
		}
	}
	evil := filepath.Join(work, "token.pub")
	if err := os.WriteFile(evil, []byte("the stranger's token key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := trustctl(t, d.grpcAddr, "sign", evil, "--repo", "trustd/keys", "--name", "token.pub", "--key", stranger); r.code != 2 || !strings.Contains(r.stderr, "is not a key of root v1, role targets") {
		t.Errorf("stranger's sign into trustd/keys: exit %d %q, want a refusal of their key", r.code, r.stderr)
	}
	if got := logSize(t, d); got != size {
		t.Errorf("refused writes grew the log from %d to %d", size, got)
	}

	// A pinned go-tuf client reads trustd's own token key.
	served := trustctl(t, d.grpcAddr, "token", "key")
	viaTUF := trustctl(t, d.grpcAddr, "token", "key", "--root", rootFile, "--tuf-url", tufURL, "--cache", filepath.Join(work, "cache"))
	if served.code != 0 || viaTUF.code != 0 || viaTUF.stdout != served.stdout || !strings.Contains(viaTUF.stdout, "PUBLIC KEY") {
		t.Errorf("token key through TUF %d %q, trustd reports %d %q", viaTUF.code, viaTUF.stdout+viaTUF.stderr, served.code, served.stdout)
	}

	// A restart finds the repository its own and appends nothing.
	size = logSize(t, d)
	d.stop(t)
	d = startTrustd(t, args...)
	if got := logSize(t, d); got != size {
		t.Errorf("a restart grew the log from %d to %d", size, got)
	}
}

// TestRepoCreationPolicy: with the real binaries, --tuf-repo-creation owners
// and --tuf-repo-owner let only a root v1 signed by the owner's key create a
// name under its pattern, and nobody create other names (no operator key).
func TestRepoCreationPolicy(t *testing.T) {
	work := t.TempDir()
	key := func(name string) (string, string) {
		p := filepath.Join(work, name+".pem")
		return p, genKey(t, p)
	}
	ownerKey, owner := key("owner")
	strangerKey, _ := key("stranger")
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"), "--tuf-repo-creation", "owners", "--tuf-repo-owner", "acme/*="+owner)
	if !strings.Contains(d.logs(), "TUF repository creation") || !strings.Contains(d.logs(), "acme/*: 1 key(s)") {
		t.Errorf("startup log does not state the creation policy:\n%s", d.logs())
	}
	initRepo := func(repo string, rootKeys ...string) result {
		args := []string{"tuf", "init", repo, "--root-threshold", "1", "--targets-key", strangerKey + ".pub", "--targets-threshold", "1"}
		for _, k := range rootKeys {
			args = append(args, "--root-key", k)
		}
		return trustctl(t, d.grpcAddr, args...)
	}
	size := logSize(t, d)
	for _, c := range []struct {
		repo string
		keys []string
		want string
	}{
		{"acme/images", []string{strangerKey}, "acme/*"},
		{"beta/images", []string{strangerKey}, "closed"},
		{"beta/images", []string{ownerKey}, "closed"},
	} {
		if r := initRepo(c.repo, c.keys...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("tuf init %s by %v: exit %d %q, want a refusal naming %q", c.repo, c.keys, r.code, r.stderr, c.want)
		}
	}
	if got := logSize(t, d); got != size {
		t.Errorf("refused inits grew the log from %d to %d", size, got)
	}
	// The owner's key, among the root keys (threshold 1 of 2), proves it.
	if r := initRepo("acme/images", strangerKey, ownerKey); r.code != 0 || !strings.Contains(r.stdout, "published acme/images: root v1") {
		t.Errorf("owner's tuf init: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestCompetingRootProposals: with the real binaries, a stranger's root
// proposal is refused; two holders of a 2-of-3 root each propose a
// different root v2 and both stay pending; 'ceremony sign' without
// --proposal refuses, listing both; signing one by a digest prefix
// publishes it, and 'ceremony publish --proposal' then reports the other as
// void.
func TestCompetingRootProposals(t *testing.T) {
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	keys := map[string]string{}
	for _, name := range []string{"a", "b", "c", "x", "stranger", "targets"} {
		keys[name] = filepath.Join(work, name+".pem")
		genKey(t, keys[name])
	}
	const repo = "acme/app"
	if r := ctl("tuf", "init", repo, "--root-key", keys["a"], "--root-key", keys["b"], "--root-key", keys["c"], "--root-threshold", "2",
		"--targets-key", keys["targets"]+".pub", "--targets-threshold", "1"); r.code != 0 {
		t.Fatalf("tuf init: %d %q", r.code, r.stderr)
	}
	// The stranger's proposal names and is signed by their key only.
	if r := ctl("ceremony", "propose", repo, "--root-key", keys["stranger"]+".pub", "--key", keys["stranger"]); r.code != 2 ||
		!strings.Contains(r.stderr, "no root key of the current root v1 signs it") {
		t.Errorf("stranger's proposal: exit %d %q, want a refusal naming root v1", r.code, r.stderr)
	}
	// A proposes handing the root to A and X (1 of 2); B proposes B and C
	// (2 of 2). Both are pending.
	if r := ctl("ceremony", "propose", repo, "--root-key", keys["a"]+".pub", "--root-key", keys["x"]+".pub", "--root-threshold", "1", "--key", keys["a"]); r.code != 0 {
		t.Fatalf("A's proposal: %d %q", r.code, r.stderr)
	}
	if r := ctl("ceremony", "propose", repo, "--root-key", keys["b"]+".pub", "--root-key", keys["c"]+".pub", "--root-threshold", "2", "--key", keys["b"]); r.code != 0 ||
		!strings.Contains(r.stdout, "is pending") {
		t.Fatalf("B's proposal beside A's: %d %q %q", r.code, r.stdout, r.stderr)
	}
	var st struct {
		Proposals []struct {
			SignedDigest string `json:"signed_digest"`
			Thresholds   []struct {
				Signed []string `json:"signed"`
			} `json:"thresholds"`
		} `json:"proposals"`
	}
	r := ctl("ceremony", "status", repo, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Proposals) != 2 {
		t.Fatalf("ceremony status: %d %q %v; want two proposals", r.code, r.stdout, err)
	}
	var byA, byB string
	for _, p := range st.Proposals {
		if len(p.Thresholds[0].Signed) == 1 && p.Thresholds[0].Signed[0] == keyID(t, keys["a"]+".pub") {
			byA = p.SignedDigest
		} else {
			byB = p.SignedDigest
		}
	}
	if byA == "" || byB == "" {
		t.Fatalf("proposals %+v", st.Proposals)
	}
	if r := ctl("ceremony", "status", repo); !strings.Contains(r.stdout, "2 root proposals pending") {
		t.Errorf("ceremony status text: %q", r.stdout)
	}
	r = ctl("ceremony", "sign", repo, "--key", keys["c"])
	if r.code != 2 || !strings.Contains(r.stderr, byA) || !strings.Contains(r.stderr, byB) || !strings.Contains(r.stderr, "--proposal") {
		t.Errorf("ceremony sign with two pending: exit %d %q, want both digests listed", r.code, r.stderr)
	}
	if r := ctl("ceremony", "publish", repo); r.code != 2 || !strings.Contains(r.stderr, "--proposal") {
		t.Errorf("ceremony publish with two pending: exit %d %q", r.code, r.stderr)
	}
	if r := ctl("ceremony", "publish", repo, "--proposal", byB[:10]); r.code != 1 || !strings.Contains(r.stderr, "still pending") {
		t.Errorf("ceremony publish --proposal B while pending: exit %d %q", r.code, r.stderr)
	}
	// C signs B's proposal: root v1's 2 of 3 (B, C) and its own 2 of 2.
	if r := ctl("ceremony", "sign", repo, "--key", keys["c"], "--proposal", byB[:10]); r.code != 0 || !strings.Contains(r.stdout, "published acme/app: root v2") {
		t.Fatalf("ceremony sign --proposal: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("ceremony", "publish", repo, "--proposal", byB); r.code != 0 || !strings.Contains(r.stdout, "root v2 of acme/app is published") {
		t.Errorf("ceremony publish of the winner: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("ceremony", "publish", repo, "--proposal", byA[:12]); r.code != 1 || !strings.Contains(r.stderr, "another proposal") || !strings.Contains(r.stderr, "void") {
		t.Errorf("ceremony publish of the void proposal: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("ceremony", "status", repo); !strings.Contains(r.stdout, "no root proposal pending") {
		t.Errorf("after publishing: %q", r.stdout)
	}
}
