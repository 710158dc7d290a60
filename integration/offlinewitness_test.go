package integration_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testwitness"
	"github.com/trustd-dev/trustd/token"
)

// TestOfflineWitnesses drives the offline witness requirement through the
// real binaries: trustd pushes its checkpoints to two witnesses and puts
// the cosigned checkpoint, with the inclusion proofs of the token's log
// inputs, in every token it issues; 'trustctl verify --offline --witness'
// then passes with no server while the witnesses cosigned, and, once
// witness b is down, fails exit 1 naming it when both are required and
// passes requiring one of them. Without --witness nothing changes.
func TestOfflineWitnesses(t *testing.T) {
	work := t.TempDir()
	policyFile := filepath.Join(work, "policies", "deploy.yaml")
	if err := os.MkdirAll(filepath.Dir(policyFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, []byte(heldPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	_, pub, err := token.LoadOrCreateKey(filepath.Join(work, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	tokenPub := filepath.Join(work, "token.pub")
	if err := os.WriteFile(tokenPub, pub.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--data-dir", filepath.Join(work, "data"), "--log-key", filepath.Join(work, "log.key"),
		"--token-key", filepath.Join(work, "token.key"), "--token-policy-dir", filepath.Dir(policyFile)}
	// The first start creates the log key the witnesses must know.
	d := startTrustd(t, flags...)
	vkey := httpHeader(t, "http://"+d.httpAddr+"/log/checkpoint", "X-Log-Verifier-Key")
	d.stop(t)
	var wkeys []string
	var ws []*testwitness.Witness
	for i, name := range []string{"witness.example/a", "witness.example/b"} {
		w, err := testwitness.New(name, bytes.Repeat([]byte{byte(i + 1)}, 32), vkey)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(w)
		t.Cleanup(hs.Close)
		ws, wkeys = append(ws, w), append(wkeys, w.VerifierKey())
		flags = append(flags, "--witness", w.VerifierKey()+"="+hs.URL)
	}
	d = startTrustd(t, append(flags, "--witness-interval", "200ms")...)
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	genKey(t, filepath.Join(work, "root.pem"))
	genKey(t, filepath.Join(work, "targets.pem"))
	must(trustctl(t, d.grpcAddr, "tuf", "init", "acme/app", "--root-key", filepath.Join(work, "root.pem"), "--root-threshold", "1",
		"--targets-key", filepath.Join(work, "targets.pem.pub"), "--targets-threshold", "1"), "tuf init")
	issue := func(name string, k int) string {
		t.Helper()
		art := filepath.Join(work, name)
		if err := os.WriteFile(art, []byte("release "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		must(trustctl(t, d.grpcAddr, "sign", art, "--repo", "acme/app", "--name", name, "--key", filepath.Join(work, "targets.pem")), "sign "+name)
		waitWitnessed(t, d, vkey, wkeys, k) // the witnesses cosigned the entry just made
		must(trustctl(t, d.grpcAddr, "token", "issue", art, "--policy", "production", "--attach"), "token issue "+name)
		return art
	}
	verify := func(art string, args ...string) result {
		t.Helper()
		return trustctl(t, "127.0.0.1:1", append([]string{"verify", art, "--policy", policyFile, "--policy-name", "production", "--offline",
			"--token-key", tokenPub, "-o", "json"}, args...)...)
	}
	both := []string{"--log-key", vkey, "--witness", wkeys[0], "--witness", wkeys[1]}

	artA := issue("app-a.tar", 2)
	must(verify(artA), "offline verify without --witness")
	must(verify(artA, both...), "offline verify requiring witnesses a and b")

	// Witness b goes down: new tokens carry a's cosignature alone.
	ws[1].SetDown(true)
	artB := issue("app-b.tar", 1)
	if r := verify(artB, both...); r.code != 1 || !strings.Contains(r.stdout, "TOKEN_INVALID") || !strings.Contains(r.stdout, "missing: witness.example/b+") {
		t.Fatalf("offline verify requiring both with b down: exit %d %s %s, want 1 naming witness b", r.code, r.stdout, r.stderr)
	}
	must(verify(artB, append(both, "--witness-threshold", "1")...), "offline verify requiring 1 of 2")
	must(verify(artB), "offline verify without --witness, b down")
	// The checkpoint must be the log's: another log key refuses it.
	if r := verify(artA, "--log-key", "other.example/log+00000000+AAAA", "--witness", wkeys[0]); r.code == 0 {
		t.Fatalf("offline verify under another log key passed: %s", r.stdout)
	}
	d.stop(t)
}
