package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TestKeyRotation rotates trustd's token, revocation-list and log keys
// through the real binaries on both backends, with clients that pinned the
// state before the rotation: an offline verifier that pinned trustd/keys'
// root and synced, and a log watcher that pinned the log key on first use.
// Each step is a restart with the rotated key flags. The verifier learns
// the next token key before it signs, verifies tokens of the old key and
// of the new one, accepts a revocation list signed by the new list key,
// and stops accepting the old token key only once trustd drops it; the
// watcher follows the checkpoint signed by both log keys to the new key and
// keeps proving consistency; a watcher that missed the rotation is refused,
// unless it trusts the log key trustd/keys publishes. The database records
// the new log key, so a replica with the retired one alone is refused.
func TestKeyRotation(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { keyRotation(t, backend) })
	}
}

func keyRotation(t *testing.T, backend string) {
	work := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policyFile := write("policies/deploy.yaml", heldPolicies)
	keyFile := func(name string) string { return filepath.Join(work, "keys", name) }
	if err := os.MkdirAll(filepath.Join(work, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The token and list keys, made here to know their ids; trustd creates
	// missing ones the same way.
	tokenID := func(name string) string {
		_, pub, err := token.LoadOrCreateKey(keyFile(name))
		if err != nil {
			t.Fatal(err)
		}
		return pub.ID
	}
	listID := func(name string) string {
		_, pub, err := revocation.LoadListKey(keyFile(name))
		if err != nil {
			t.Fatal(err)
		}
		return pub.ID
	}
	tokA, tokB := tokenID("token-a.key"), tokenID("token-b.key")
	listA, listB := listID("list-a.key"), listID("list-b.key")
	base := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy-dir", filepath.Dir(policyFile)}
	if backend == "postgres" {
		base = append(base, "--db", testpg.URL(t))
	}
	start := func(tokens, lists, logs string) *daemon {
		t.Helper()
		k := func(names string) string {
			var out []string
			for _, n := range strings.Split(names, ",") {
				out = append(out, keyFile(n))
			}
			return strings.Join(out, ",")
		}
		return startTrustd(t, append(append([]string(nil), base...), "--token-key", k(tokens), "--revocation-list-key", k(lists), "--log-key", k(logs))...)
	}
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	cache := filepath.Join(work, "cache") // the offline verifier's
	rootFile := filepath.Join(work, "keys-root.json")
	logState := filepath.Join(work, "log-state.json") // the log watcher's
	sync := func(d *daemon) string {
		t.Helper()
		r := must(trustctl(t, d.grpcAddr, "revocations", "sync", "--cache", cache, "--root", rootFile, "--tuf-url", "http://"+d.httpAddr+"/tuf/trustd/keys", "-o", "json"), "revocations sync")
		var out struct {
			ListKey string `json:"list_key"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out.ListKey
	}
	// verifyOffline checks art's attached token with no server, from the
	// pinned root and the synced cache.
	verifyOffline := func(art string) result {
		t.Helper()
		return trustctl(t, "127.0.0.1:1", "verify", art, "--policy", policyFile, "--policy-name", "production", "--offline",
			"--trust-root", rootFile, "--cache", cache, "-o", "json")
	}
	issue := func(d *daemon, art string) {
		t.Helper()
		must(trustctl(t, d.grpcAddr, "sign", art, "--repo", "acme/app", "--name", filepath.Base(art), "--key", filepath.Join(work, "targets.pem")), "sign "+art)
		must(trustctl(t, d.grpcAddr, "token", "issue", art, "--policy", "production", "--attach"), "token issue "+art)
	}
	tokenKeyOf := func(art string) string {
		t.Helper()
		var env struct {
			Signatures []struct {
				KeyID string `json:"keyid"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal([]byte(readFile(t, art+".trust.json")), &env); err != nil || len(env.Signatures) != 1 {
			t.Fatalf("token of %s: %v", art, err)
		}
		return env.Signatures[0].KeyID
	}
	watch := func(d *daemon, args ...string) result {
		t.Helper()
		return trustctl(t, d.grpcAddr, append([]string{"log", "watch", "--once", "--state", logState}, args...)...)
	}

	// Before: keys A. The verifier pins trustd/keys' root and syncs; the
	// watcher pins the log key on first use.
	d := start("token-a.key", "list-a.key", "log-a.key")
	logA := strings.Fields(readFile(t, keyFile("log-a.key")))[1]
	if err := os.WriteFile(rootFile, httpGet(t, "http://"+d.httpAddr+"/tuf/trustd/keys/1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	genKey(t, filepath.Join(work, "root.pem"))
	genKey(t, filepath.Join(work, "targets.pem"))
	must(trustctl(t, d.grpcAddr, "tuf", "init", "acme/app", "--root-key", filepath.Join(work, "root.pem"), "--root-threshold", "1",
		"--targets-key", filepath.Join(work, "targets.pem.pub"), "--targets-threshold", "1"), "tuf init")
	artA := write("app-a.tar", "release A\n")
	issue(d, artA)
	if got := tokenKeyOf(artA); got != tokA {
		t.Fatalf("token of A signed by %s, want %s", got, tokA)
	}
	if got := sync(d); got != listA {
		t.Errorf("list signed by %s, want %s", got, listA)
	}
	must(verifyOffline(artA), "offline verify of A's token before the rotation")
	if r := must(watch(d), "log watch"); !strings.Contains(r.stderr, "trusting log key "+logA+" on first use") {
		t.Errorf("log watch did not pin %s: %q", logA, r.stderr)
	}
	missed := filepath.Join(work, "missed-state.json") // a watcher that will miss the rotation
	must(trustctl(t, d.grpcAddr, "log", "watch", "--once", "--state", missed), "log watch (missed)")
	seqA := logSize(t, d)
	inclusion := filepath.Join(work, "inclusion-state.json") // a client that only checks inclusion
	if r := must(trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seqA), "--state", inclusion), "verify-inclusion"); !strings.Contains(r.stderr, "on first use") {
		t.Errorf("verify-inclusion did not pin the log key: %q", r.stderr)
	}
	d.stop(t)

	// Step 1: the next token key is announced; the list and log keys
	// rotate: B signs, A is accepted (and co-signs checkpoints).
	d = start("token-a.key,token-b.key", "list-b.key,list-a.key", "log-b.key,log-a.key")
	logB := strings.Fields(readFile(t, keyFile("log-b.key")))[1]
	for _, want := range []string{"key rotation: token key in use", "in_use=" + tokA, "accepted=[" + tokB + "]", "in_use=" + listB, "in_use=" + logB} {
		if !strings.Contains(d.logs(), want) {
			t.Errorf("trustd's start does not log %q:\n%s", want, d.logs())
		}
	}
	if got := sync(d); got != listB {
		t.Errorf("after step 1, list signed by %s, want the new key %s", got, listB)
	}
	cp := string(httpGet(t, "http://"+d.httpAddr+"/log/checkpoint"))
	if !strings.Contains(cp, "\n"+"new-log-key "+logB+"\n") || strings.Count(cp, "— trustd-log ") != 2 {
		t.Errorf("checkpoint during the log key rotation:\n%s\nwant it to announce %s and carry two signatures", cp, logB)
	}
	r := must(watch(d), "log watch across the rotation")
	if !strings.Contains(r.stderr, "log key rotated") || !strings.Contains(r.stderr, "announces "+logB) || !strings.Contains(r.stdout, fmt.Sprintf("consistent with size %d", seqA)) {
		t.Errorf("log watch across the rotation: %q %q", r.stdout, r.stderr)
	}
	var st struct {
		VerifierKey string   `json:"verifier_key"`
		RetiredKeys []string `json:"retired_keys"`
	}
	if err := json.Unmarshal([]byte(readFile(t, logState)), &st); err != nil || st.VerifierKey != logB || len(st.RetiredKeys) != 1 || st.RetiredKeys[0] != logA {
		t.Errorf("log state after the rotation: %+v, %v; want %s pinned, %s retired", st, err, logB, logA)
	}
	must(trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seqA), "--state", logState), "verify-inclusion with the followed key")
	if r := must(trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seqA), "--state", inclusion), "verify-inclusion across the rotation"); !strings.Contains(r.stderr, "log key rotated") {
		t.Errorf("verify-inclusion pinned on the old key did not follow: %q", r.stderr)
	}
	must(verifyOffline(artA), "offline verify of A's token during step 1")
	d.stop(t)

	// Step 2: B signs tokens; A's tokens still verify. The log key A no
	// longer co-signs. The verifier has not synced since step 1, yet knows
	// B: it was announced before it signed.
	d = start("token-b.key,token-a.key", "list-b.key", "log-b.key")
	artB := write("app-b.tar", "release B\n")
	issue(d, artB)
	if got := tokenKeyOf(artB); got != tokB {
		t.Fatalf("token of B signed by %s, want %s", got, tokB)
	}
	must(verifyOffline(artB), "offline verify of B's token before syncing (the key was announced)")
	must(verifyOffline(artA), "offline verify of A's token after the switch")
	if got := sync(d); got != listB {
		t.Errorf("after step 2, list signed by %s", got)
	}
	must(verifyOffline(artA), "offline verify of A's token after syncing step 2")
	must(verifyOffline(artB), "offline verify of B's token after syncing step 2")
	if cp := string(httpGet(t, "http://"+d.httpAddr+"/log/checkpoint")); strings.Contains(cp, "new-log-key") || strings.Count(cp, "— trustd-log ") != 1 {
		t.Errorf("checkpoint after the log key rotation:\n%s", cp)
	}
	if r := watch(d); r.code != 0 || !strings.Contains(r.stdout, "consistent with size") || strings.Contains(r.stderr, "rotated") {
		t.Errorf("log watch after the rotation: %d %q %q", r.code, r.stdout, r.stderr)
	}
	must(trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seqA), "--state", logState), "verify-inclusion after the rotation")
	must(trustctl(t, d.grpcAddr, "log", "verify-inclusion", fmt.Sprint(seqA), "--state", inclusion), "verify-inclusion (followed in step 1) after the rotation")
	// A watcher that slept through the rotation still pins A: refused…
	if r := trustctl(t, d.grpcAddr, "log", "watch", "--once", "--state", missed); r.code != 1 || !strings.Contains(r.stderr, "no signature by log key") {
		t.Errorf("watcher that missed the rotation: %d %q %q; want exit 1", r.code, r.stdout, r.stderr)
	}
	// …unless it trusts trustd/keys' root, which publishes the new key.
	r = trustctl(t, d.grpcAddr, "log", "watch", "--once", "--state", missed, "--trust-root", rootFile,
		"--tuf-url", "http://"+d.httpAddr+"/tuf/trustd/keys", "--cache", filepath.Join(work, "missed-cache"))
	if r.code != 0 || !strings.Contains(r.stderr, "publishes "+logB) || !strings.Contains(r.stdout, "consistent with size") {
		t.Errorf("watcher that missed the rotation, with --trust-root: %d %q %q", r.code, r.stdout, r.stderr)
	}
	d.stop(t)

	// The rotation changed the log key the database records: a replica
	// left with the old key alone is refused.
	args := append(append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", ""}, base...), "--log-key", keyFile("log-a.key"))
	if r := run(t, nil, "trustd", args...); r.code == 0 || !strings.Contains(r.stderr, "this database's log is signed by "+logB) {
		t.Errorf("a replica with the retired log key alone: exit %d %q", r.code, r.stderr)
	}

	// Step 3: A is dropped. trustd says what stops verifying; after a sync
	// A's tokens no longer verify, B's do.
	d = start("token-b.key", "list-b.key", "log-b.key")
	if !strings.Contains(d.logs(), "no longer published") || !strings.Contains(d.logs(), "key="+tokA) {
		t.Errorf("trustd does not log the retired token key:\n%s", d.logs())
	}
	sync(d)
	must(verifyOffline(artB), "offline verify of B's token after step 3")
	if r := verifyOffline(artA); r.code != 1 || !strings.Contains(r.stdout, "TOKEN_INVALID") || !strings.Contains(r.stdout, "no trusted token key made it") {
		t.Errorf("A's token after its key was retired: exit %d %q; want exit 1, TOKEN_INVALID", r.code, r.stdout)
	}
	// The root the clients pinned before the rotation is still the root.
	if r := httpStatus(t, "http://"+d.httpAddr+"/tuf/trustd/keys/2.root.json"); r != 404 {
		t.Errorf("trustd/keys root v2: HTTP %d, want 404 (the rotation changes targets only)", r)
	}
	d.stop(t)
}

// httpStatus is the status code of a GET.
func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
