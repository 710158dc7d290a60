package integration_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/tlog"
)

// TestVerifyFollowsLogState: online verify with --log-state FILE remembers
// the checkpoint its evidence was proven under (written atomically, mode
// 0600, as 'trustctl log' writes it), so when the server's log is later
// rolled back (trustd restarted on a copy of its data taken before the
// checkpoint verify saw), the next verify is refused with exit 1 instead
// of trusting evidence from a history that shrank. Before, verify checked
// the checkpoint's signature but never saved or compared it.
func TestVerifyFollowsLogState(t *testing.T) {
	work := t.TempDir()
	data, snapshot := filepath.Join(work, "data"), filepath.Join(work, "snapshot")
	write := func(name, content string) string { t.Helper(); return writeFile(t, work, name, content) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	policyFile := write("deploy.yaml", `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      tuf: {repo: acme/images, pattern: "app/*"}
`)
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	genKey(t, rootKey)
	genKey(t, targetsKey)
	fileA := write("app-1.0.tar.gz", "app 1.0 release bytes\n")
	fileB := write("app-1.1.tar.gz", "app 1.1 release bytes\n")

	// A is published; the data is copied aside.
	d := startTrustd(t, "--data-dir", data)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	must(ctl("tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	must(ctl("sign", fileA, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", targetsKey), "sign A")
	d.stop(t)
	copyTree(t, data, snapshot)

	// B is published too; verify remembers the log as it is now.
	d = startTrustd(t, "--data-dir", data)
	must(ctl("sign", fileB, "--repo", "acme/images", "--name", "app/app-1.1.tar.gz", "--key", targetsKey), "sign B")
	state := filepath.Join(work, "log-state.json")
	must(ctl("verify", fileA, "--policy", policyFile, "--log-state", state), "verify A")
	info, err := os.Stat(state)
	if err != nil {
		t.Fatalf("verify --log-state wrote no state: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", info.Mode().Perm())
	}
	var st struct {
		VerifierKey string `json:"verifier_key"`
		Checkpoint  string `json:"checkpoint"`
	}
	raw, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("state: %v\n%s", err, raw)
	}
	cp, err := tlog.OpenCheckpoint([]byte(st.Checkpoint), st.VerifierKey)
	if err != nil {
		t.Fatalf("remembered checkpoint does not open with the pinned key: %v\n%s", err, raw)
	}
	// A later verify, after the log grew, proves it consistent and moves on.
	must(ctl("sign", write("other.bin", "other\n"), "--repo", "acme/images", "--name", "app/other.bin", "--key", targetsKey), "sign other")
	must(ctl("verify", fileA, "--policy", policyFile, "--log-state", state), "verify A after growth")
	raw, _ = os.ReadFile(state)
	_ = json.Unmarshal(raw, &st)
	if cp2, err := tlog.OpenCheckpoint([]byte(st.Checkpoint), st.VerifierKey); err != nil || cp2.Size <= cp.Size {
		t.Errorf("after growth the state holds size %d (%v), want more than %d", cp2.Size, err, cp.Size)
	}
	d.stop(t)

	// The server's log rolled back to the copy: A still verifies against
	// that history, but the history shrank.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	copyTree(t, snapshot, data)
	d = startTrustd(t, "--data-dir", data)
	r := ctl("verify", fileA, "--policy", policyFile, "--log-state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "inconsistent") {
		t.Errorf("verify after a rollback of the log: exit %d, want 1 naming the inconsistency\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// copyTree copies the directory src to dst, keeping file modes.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
