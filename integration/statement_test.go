package integration_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the database/sql driver, to tamper with a stopped server's file
)

// TestSignedStatementFlow walks a release engineer's path with the real
// binaries: generate a key, register it, sign a statement about an
// artifact, find it by digest, and check it is in the verifiable log.
func TestSignedStatementFlow(t *testing.T) {
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	keyFile := filepath.Join(work, "release.pem")
	// trustd's own trustd/keys entries come first; the statement follows.
	seq := logSize(t, d) + 1

	r := trustctl(t, d.grpcAddr, "key", "generate", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("key generate: %d %s", r.code, r.stderr)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	r = trustctl(t, d.grpcAddr, "key", "add", keyFile+".pub", "--label", "release", "-o", "json")
	var added struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Created bool `json:"created"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || !added.Created || len(added.Key.ID) != 64 {
		t.Fatalf("key add: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := trustctl(t, d.grpcAddr, "key", "add", keyFile+".pub"); r.code != 0 || !strings.Contains(r.stdout, "already registered") {
		t.Errorf("key add again: %d %q", r.code, r.stdout)
	}

	artifact := filepath.Join(work, "app.tar")
	if err := os.WriteFile(artifact, []byte("release bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	predicate := filepath.Join(work, "result.json")
	if err := os.WriteFile(predicate, []byte(`{"tests":"passed"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", "https://example.com/test-result/v1",
		"--predicate", predicate, "--artifact", artifact, "--key", keyFile)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("accepted: seq %d", seq)) {
		t.Fatalf("statement sign: %d %q %q", r.code, r.stdout, r.stderr)
	}
	sha := strings.Fields(trustctl(t, d.grpcAddr, "digest", "-a", "sha512", artifact).stdout)[0]

	r = trustctl(t, d.grpcAddr, "statement", "list", sha)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("seq %d", seq)) || !strings.Contains(r.stdout, added.Key.ID) {
		t.Errorf("statement list: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = trustctl(t, d.grpcAddr, "subject", sha)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("#%d https://example.com/test-result/v1 signed by %s", seq, added.Key.ID)) {
		t.Errorf("subject: %d %q", r.code, r.stdout)
	}

	state := filepath.Join(work, "log-state.json")
	r = trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seq), "--state", state)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("entry %d is in the log of size %d", seq, seq)) {
		t.Errorf("verify-inclusion: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// An unregistered signer is refused with its key id named.
	other := filepath.Join(work, "other.pem")
	trustctl(t, d.grpcAddr, "key", "generate", "--out", other)
	r = trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", "https://example.com/x", "--predicate", predicate,
		"--subject", sha, "--key", other)
	if r.code != 2 || !strings.Contains(r.stderr, "is not registered") {
		t.Errorf("unregistered signer: %d %q", r.code, r.stderr)
	}

	// A second statement names the sha512 digest alone: asked by sha256,
	// subject shows it once, labelled with the claim and signer that link
	// the two digests; the first statement, naming both, shows once as
	// reached directly. Key ids carry their labels.
	sha256d := strings.Fields(trustctl(t, d.grpcAddr, "digest", "-a", "sha256", artifact).stdout)[0]
	r = trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", "https://example.com/scan/v1",
		"--predicate", predicate, "--subject", "app.tar="+sha, "--key", keyFile)
	if r.code != 0 || !strings.Contains(r.stdout, "accepted: seq") {
		t.Fatalf("statement sign of the sha512 digest alone: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = trustctl(t, d.grpcAddr, "subject", sha256d)
	viaClaim := fmt.Sprintf("signed by %s (release) at ", added.Key.ID)
	if r.code != 0 || strings.Count(r.stdout, "https://example.com/test-result/v1") != 1 || strings.Count(r.stdout, "https://example.com/scan/v1") != 1 ||
		!strings.Contains(r.stdout, fmt.Sprintf("#%d https://example.com/test-result/v1 %s", seq, viaClaim)) ||
		!strings.Contains(r.stdout, "[via alias "+sha+", claimed by "+added.Key.ID+" (release) in statement") ||
		!strings.Contains(r.stdout, "evidence: 2\n") {
		t.Errorf("subject by sha256 after a statement naming the sha512 digest alone: %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "https://example.com/scan/v1") && !strings.Contains(line, "[via alias "+sha) {
			t.Errorf("the alias-reached fact is not labelled with its alias: %q", line)
		}
	}

	// Resubmitting the same envelope is idempotent.
	env := trustctl(t, d.grpcAddr, "statement", "get", fmt.Sprint(seq), "--envelope")
	envFile := filepath.Join(work, "env.json")
	if err := os.WriteFile(envFile, []byte(env.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := trustctl(t, d.grpcAddr, "statement", "submit", envFile); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("already in the log: seq %d", seq)) {
		t.Errorf("resubmit: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestEncryptedKeyFromOpenSSL signs with a key that openssl generated and
// encrypted, its password passed through the environment.
func TestEncryptedKeyFromOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed; scripts/test-deps.sh installs it")
		}
		t.Skip("openssl not installed")
	}
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	key := filepath.Join(work, "enc.pem")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-aes-256-cbc", "-pass", "pass:s3cret", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v %s", err, out)
	}
	pub, err := exec.Command("openssl", "pkey", "-in", key, "-passin", "pass:s3cret", "-pubout").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key+".pub", pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := trustctl(t, d.grpcAddr, "key", "add", key+".pub"); r.code != 0 {
		t.Fatalf("key add: %s", r.stderr)
	}
	args := []string{"statement", "sign", "--predicate-type", "https://example.com/x", "--predicate", "-",
		"--subject", "sha256:" + strings.Repeat("ab", 32), "--key", key, "--key-password-env", "KEY_PASSWORD"}
	cmd := exec.Command(filepath.Join(binDir, "trustctl"), append([]string{"--server", d.grpcAddr}, args...)...)
	cmd.Stdin = strings.NewReader(`{}`)
	cmd.Env = append(os.Environ(), "KEY_PASSWORD=s3cret")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "accepted: seq ") {
		t.Errorf("sign with encrypted openssl key: %v %s", err, out)
	}
	cmd = exec.Command(filepath.Join(binDir, "trustctl"), append([]string{"--server", d.grpcAddr}, args...)...)
	cmd.Stdin = strings.NewReader(`{}`)
	cmd.Env = append(os.Environ(), "KEY_PASSWORD=wrong")
	if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "password") {
		t.Errorf("wrong password: exit %d %s", cmd.ProcessState.ExitCode(), out)
	}
}

func signOne(t *testing.T, addr, work, key, name string) {
	t.Helper()
	p := filepath.Join(work, name+".json")
	if err := os.WriteFile(p, []byte(`{"n":"`+name+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(work, name)
	if err := os.WriteFile(a, []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := trustctl(t, addr, "statement", "sign", "--predicate-type", "https://example.com/x", "--predicate", p, "--artifact", a, "--key", key); r.code != 0 {
		t.Fatalf("sign %s: %s", name, r.stderr)
	}
}

// TestLogDetectsTamperingAndForks: a stored entry rewritten behind the
// log's back fails verify-inclusion; a server showing a history that
// diverges from the one a watcher saw fails watch.
func TestLogDetectsTamperingAndForks(t *testing.T) {
	work := t.TempDir()
	dataA, dataB := filepath.Join(work, "a"), filepath.Join(work, "b")
	logKey := filepath.Join(work, "log.key")
	key := filepath.Join(work, "k.pem")

	a := startTrustd(t, "--data-dir", dataA, "--log-key", logKey)
	base := logSize(t, a) // trustd's own trustd/keys entries
	trustctl(t, a.grpcAddr, "key", "generate", "--out", key)
	trustctl(t, a.grpcAddr, "key", "add", key+".pub")
	signOne(t, a.grpcAddr, work, key, "one")
	signOne(t, a.grpcAddr, work, key, "two")

	state := filepath.Join(work, "watch.json")
	if r := trustctl(t, a.grpcAddr, "log", "watch", "--once", "--state", state); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("size %d: first checkpoint", base+2)) {
		t.Fatalf("watch A: %d %q %q", r.code, r.stdout, r.stderr)
	}
	signOne(t, a.grpcAddr, work, key, "three")
	if r := trustctl(t, a.grpcAddr, "log", "watch", "--once", "--state", state); r.code != 0 ||
		!strings.Contains(r.stdout, fmt.Sprintf("size %d: consistent with size %d", base+3, base+2)) {
		t.Fatalf("watch A again: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// B signs with the same log key but holds another history.
	b := startTrustd(t, "--data-dir", dataB, "--log-key", logKey)
	trustctl(t, b.grpcAddr, "key", "add", key+".pub")
	for _, n := range []string{"x", "y", "z", "w"} {
		signOne(t, b.grpcAddr, work, key, n)
	}
	r := trustctl(t, b.grpcAddr, "log", "watch", "--once", "--state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "inconsistent") {
		t.Errorf("watch of a forked log: exit %d %q %q; want exit 1 naming the inconsistency", r.code, r.stdout, r.stderr)
	}

	// Tamper with A's stored entry "two" while it is stopped.
	a.stop(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataA, "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `UPDATE statements SET envelope = CAST(? AS BLOB) WHERE seq = ?`, `{"payloadType":"forged"}`, base+2); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a = startTrustd(t, "--data-dir", dataA, "--log-key", logKey)
	vstate := filepath.Join(work, "verify.json")
	if r := trustctl(t, a.grpcAddr, "log", "verify-inclusion", fmt.Sprint(base+1), "--state", vstate); r.code != 0 {
		t.Errorf("untouched entry %d: %d %q", base+1, r.code, r.stderr)
	}
	r = trustctl(t, a.grpcAddr, "log", "verify-inclusion", fmt.Sprint(base+2), "--state", vstate)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("entry %d is not in the log as served", base+2)) {
		t.Errorf("tampered entry %d: exit %d %q; want exit 1", base+2, r.code, r.stderr)
	}
}
