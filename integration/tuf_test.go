package integration_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/pkcs11/softhsmtest"
	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestTUFRepositoryFlow: a release engineer creates a TUF repository and
// signs an artifact with the real binaries; go-tuf's unmodified updater
// refreshes from trustd over HTTP and verifies the target served by a
// separate file server; the target is evidence for its digests; tampered
// and rolled-back uploads are rejected with exit 2 and a precise message.
func TestTUFRepositoryFlow(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			args := []string{"--data-dir", filepath.Join(work, "data")}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t), "--tuf-keys-dir", filepath.Join(work, "tuf-keys"))
			}
			d := startTrustd(t, args...)
			rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
			for _, k := range []string{rootKey, targetsKey} {
				if r := trustctl(t, d.grpcAddr, "key", "generate", "--out", k); r.code != 0 {
					t.Fatalf("key generate: %d %s", r.code, r.stderr)
				}
			}
			r := trustctl(t, d.grpcAddr, "tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
				"--targets-key", targetsKey+".pub", "--targets-threshold", "1")
			if r.code != 0 || !strings.Contains(r.stdout, "published acme/images: root v1") {
				t.Fatalf("tuf init: %d %q %q", r.code, r.stdout, r.stderr)
			}
			content := []byte("app 1.0 release bytes\n")
			artifact := filepath.Join(work, "app-1.0.tar.gz")
			if err := os.WriteFile(artifact, content, 0o644); err != nil {
				t.Fatal(err)
			}
			r = trustctl(t, d.grpcAddr, "sign", artifact, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", targetsKey, "-o", "json")
			var res struct {
				Published []struct{ Role string } `json:"published"`
				Targets   []struct {
					Digests []string `json:"digests"`
				} `json:"targets"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil || len(res.Published) != 3 || len(res.Targets) != 1 {
				t.Fatalf("sign: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// go-tuf's own updater, trusting root v1 fetched out of band.
			rootV1, err := http.Get("http://" + d.httpAddr + "/tuf/acme/images/1.root.json")
			if err != nil {
				t.Fatal(err)
			}
			root := make([]byte, 1<<20)
			n, _ := rootV1.Body.Read(root)
			for m := n; m > 0; {
				m, _ = rootV1.Body.Read(root[n:])
				n += m
			}
			rootV1.Body.Close()
			blobs := httptest.NewServer(http.StripPrefix("/", http.FileServer(http.Dir(work))))
			defer blobs.Close()
			if err := os.MkdirAll(filepath.Join(work, "app"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, "app", "app-1.0.tar.gz"), content, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.New("http://"+d.httpAddr+"/tuf/acme/images", root[:n])
			if err != nil {
				t.Fatal(err)
			}
			cfg.LocalMetadataDir = t.TempDir()
			cfg.LocalTargetsDir = t.TempDir()
			cfg.RemoteTargetsURL = blobs.URL
			cfg.PrefixTargetsWithHash = false
			up, err := updater.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := up.Refresh(); err != nil {
				t.Fatalf("updater Refresh: %v", err)
			}
			ti, err := up.GetTargetInfo("app/app-1.0.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := up.DownloadTarget(ti, "", "")
			if err != nil || string(got) != string(content) {
				t.Fatalf("DownloadTarget = %q, %v", got, err)
			}

			// The target is evidence for its digests, aliased by the role.
			sum := sha256.Sum256(content)
			r = trustctl(t, d.grpcAddr, "subject", "sha256:"+hex.EncodeToString(sum[:]))
			if r.code != 0 || !strings.Contains(r.stdout, "TUF repo acme/images: target app/app-1.0.tar.gz in role targets v1, signed by keys "+keyID(t, targetsKey+".pub")) ||
				!strings.Contains(r.stdout, "alias sha512:") {
				t.Errorf("subject: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// A tampered upload and a rollback are rejected, exit 2.
			cur, err := http.Get("http://" + d.httpAddr + "/tuf/acme/images/1.targets.json")
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.NewDecoder(cur.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			cur.Body.Close()
			replay := filepath.Join(work, "replay.json")
			raw, _ := json.Marshal(doc)
			if err := os.WriteFile(replay, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			doc["signed"].(map[string]any)["version"] = 2
			tampered := filepath.Join(work, "tampered.json")
			raw, _ = json.Marshal(doc)
			if err := os.WriteFile(tampered, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ file, want string }{
				{tampered, "signatures[0]"},
				{replay, "signed.version: 1, want 2: current targets is v1 (a rollback or replay)"},
			} {
				r = trustctl(t, d.grpcAddr, "tuf", "upload", "acme/images", tc.file, "--role", "targets")
				if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("upload %s: %d %q, want exit 2 with %q on one line", filepath.Base(tc.file), r.code, r.stderr, tc.want)
				}
			}
			r = trustctl(t, d.grpcAddr, "tuf", "status", "acme/images")
			if r.code != 0 || !strings.Contains(r.stdout, "targets    v1") || !strings.Contains(r.stdout, "pending: 0") {
				t.Errorf("tuf status: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// Two later releases move targets to v3: the first target is
			// shown against the role as it is now, once, though its entry
			// names two digests of it.
			for _, v := range []string{"1.1", "1.2"} {
				f := filepath.Join(work, "app-"+v+".tar.gz")
				if err := os.WriteFile(f, []byte("app "+v+" release bytes\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if r := trustctl(t, d.grpcAddr, "sign", f, "--repo", "acme/images", "--name", "app/app-"+v+".tar.gz", "--key", targetsKey); r.code != 0 {
					t.Fatalf("sign %s: %d %q %q", v, r.code, r.stdout, r.stderr)
				}
			}
			r = trustctl(t, d.grpcAddr, "subject", "sha256:"+hex.EncodeToString(sum[:]))
			if r.code != 0 || !strings.Contains(r.stdout, "TUF repo acme/images: target app/app-1.0.tar.gz in role targets v3 (current; first listed in v1)") ||
				strings.Contains(r.stdout, "in role targets v1,") || strings.Contains(r.stdout, "[via alias") {
				t.Errorf("subject after targets v3: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if n := strings.Count(r.stdout, "target app/app-1.0.tar.gz"); n != 1 {
				t.Errorf("subject prints the target %d times, want once:\n%s", n, r.stdout)
			}
		})
	}
}

// TestPKCS11Signers: root, targets and delegated keys live only on a
// SoftHSM2 token (generated there by pkcs11-tool). With the real binaries,
// 'tuf init', 'sign', 'tuf delegate', 'ceremony propose' and 'statement
// sign' sign on the token
// through RFC 7512 URIs, the PIN read from an environment variable or a
// pin-source file; go-tuf's updater verifies the result. A wrong PIN or an
// unknown key label fails with exit 2 and a one-line error, nothing signed.
func TestPKCS11Signers(t *testing.T) {
	tk := softhsmtest.New(t, "release")
	for _, k := range []struct{ label, kt string }{
		{"root", envelope.KeyTypeECDSAP256}, {"targets", envelope.KeyTypeED25519}, {"rel", envelope.KeyTypeRSA},
	} {
		tk.Generate(t, k.label, k.kt)
	}
	work := t.TempDir()
	pinFile := filepath.Join(work, "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HSM_PIN", softhsmtest.PIN)
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	const repo = "acme/hsm"

	r := ctl("tuf", "init", repo, "--root-key", tk.URI("root"), "--root-threshold", "1",
		"--targets-key", tk.URI("targets"), "--targets-threshold", "1", "--pin-env", "HSM_PIN")
	if r.code != 0 || !strings.Contains(r.stdout, "published acme/hsm: root v1") {
		t.Fatalf("tuf init with token keys: %d %q %q", r.code, r.stdout, r.stderr)
	}
	blobDir := filepath.Join(work, "blobs")
	content := []byte("signed on a token\n")
	if err := os.MkdirAll(filepath.Join(blobDir, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.tar", "rel/app-2.tar"} {
		if err := os.WriteFile(filepath.Join(blobDir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withPINFile := tk.URI("targets") + "&pin-source=file:" + pinFile
	if r := ctl("sign", filepath.Join(blobDir, "app.tar"), "--repo", repo, "--name", "app.tar", "--key", withPINFile); r.code != 0 {
		t.Fatalf("sign with token key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("tuf", "delegate", repo, "--to", "releases", "--key-file", tk.URI("rel"), "--threshold", "1",
		"--paths", "rel/*", "--key", tk.URI("targets"), "--pin-env", "HSM_PIN"); r.code != 0 {
		t.Fatalf("delegate with token keys: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("sign", filepath.Join(blobDir, "rel", "app-2.tar"), "--repo", repo, "--name", "rel/app-2.tar", "--role", "releases",
		"--key", tk.URI("rel"), "--pin-env", "HSM_PIN"); r.code != 0 {
		t.Fatalf("sign into the delegated role with an rsa token key: %d %q %q", r.code, r.stdout, r.stderr)
	}

	up := newUpdater(t, "http://"+d.httpAddr+"/tuf/"+repo, httpGet(t, "http://"+d.httpAddr+"/tuf/"+repo+"/1.root.json"), blobDir, t.TempDir())
	if err := up.Refresh(); err != nil {
		t.Fatalf("updater Refresh: %v", err)
	}
	for _, name := range []string{"app.tar", "rel/app-2.tar"} {
		ti, err := up.GetTargetInfo(name)
		if err != nil {
			t.Fatalf("GetTargetInfo(%s): %v", name, err)
		}
		if _, got, err := up.DownloadTarget(ti, "", ""); err != nil || string(got) != string(content) {
			t.Fatalf("DownloadTarget(%s) = %q, %v", name, got, err)
		}
	}

	// A DSSE statement signed on the token; its public half exported by
	// pkcs11-tool and converted by openssl, registered like any key.
	der, pemFile := filepath.Join(work, "root.der"), filepath.Join(work, "root.pub.pem")
	for _, c := range [][]string{
		{"pkcs11-tool", "--module", tk.Module, "--token-label", "release", "--read-object", "--type", "pubkey", "--label", "root", "-o", der},
		{"openssl", "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pemFile},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	if r := ctl("key", "add", pemFile); r.code != 0 {
		t.Fatalf("key add: %d %q", r.code, r.stderr)
	}
	predicate := filepath.Join(work, "p.json")
	if err := os.WriteFile(predicate, []byte(`{"hsm":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = ctl("statement", "sign", "--predicate-type", "https://example.com/hsm/v1", "--predicate", predicate,
		"--artifact", filepath.Join(blobDir, "app.tar"), "--key", tk.URI("root"), "--pin-env", "HSM_PIN")
	if r.code != 0 || !strings.Contains(r.stdout, "accepted: seq") {
		t.Fatalf("statement sign with token key: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A ceremony with the token's root key: root v2 adds a second root key
	// (a file) with threshold 2, proposed and signed on the token, then
	// signed with the file; go-tuf's updater walks to it.
	root2 := filepath.Join(work, "root2.pem")
	if r := ctl("key", "generate", "--out", root2); r.code != 0 {
		t.Fatalf("key generate: %d %q", r.code, r.stderr)
	}
	r = ctl("ceremony", "propose", repo, "--root-key", tk.URI("root"), "--root-key", root2+".pub", "--root-threshold", "2",
		"--key", tk.URI("root"), "--pin-env", "HSM_PIN")
	if r.code != 0 || !strings.Contains(r.stdout, "is pending") {
		t.Fatalf("ceremony propose with the token key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := ctl("ceremony", "sign", repo, "--key", root2); r.code != 0 || !strings.Contains(r.stdout, "published acme/hsm: root v2") {
		t.Fatalf("ceremony sign: %d %q %q", r.code, r.stdout, r.stderr)
	}
	up = newUpdater(t, "http://"+d.httpAddr+"/tuf/"+repo, httpGet(t, "http://"+d.httpAddr+"/tuf/"+repo+"/1.root.json"), blobDir, t.TempDir())
	if err := up.Refresh(); err != nil || up.GetTrustedMetadataSet().Root.Signed.Version != 2 {
		t.Fatalf("updater after the token ceremony: %v", err)
	}

	t.Setenv("BAD_PIN", "0000")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--key", tk.URI("targets"), "--pin-env", "BAD_PIN"}, "--key: pkcs11: open pkcs11:token=release;object=targets: log in"},
		{[]string{"--key", tk.URI("nope"), "--pin-env", "HSM_PIN"}, "no private key with this object/id on the token"},
		{[]string{"--key", "pkcs11:object=targets", "--pin-env", "HSM_PIN"}, "--key: pkcs11: parse uri: module-path: the URI names no PKCS#11 module"},
		{[]string{"--key", tk.URI("targets"), "--pin-env", "UNSET_PIN_VAR"}, "--pin-env: UNSET_PIN_VAR is not set"},
	} {
		r := ctl(append([]string{"sign", filepath.Join(blobDir, "app.tar"), "--repo", repo, "--name", "app.tar"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || strings.Contains(r.stderr, "0000") {
			t.Errorf("sign %v: %d %q, want exit 2 with %q on one line", c.args, r.code, r.stderr, c.want)
		}
	}
	if r := ctl("tuf", "status", repo); r.code != 0 || !strings.Contains(r.stdout, "targets    v2") || !strings.Contains(r.stdout, "root       v2") {
		t.Errorf("failed signs changed the repository: %q", r.stdout)
	}
}

// newUpdater is go-tuf's unmodified updater for the repository at
// metadataURL, trusting root, keeping its metadata in cacheDir, and fetching
// target bytes from a plain file server over blobDir.
func newUpdater(t *testing.T, metadataURL string, root []byte, blobDir, cacheDir string) *updater.Updater {
	t.Helper()
	blobs := httptest.NewServer(http.FileServer(http.Dir(blobDir)))
	t.Cleanup(blobs.Close)
	cfg, err := config.New(metadataURL, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir, cfg.LocalTargetsDir = cacheDir, t.TempDir()
	cfg.RemoteTargetsURL = blobs.URL
	cfg.PrefixTargetsWithHash = false
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// TestTUFThresholdDelegationAndAttacks drives the real binaries through a
// 2-of-2 targets role: 'trustctl sign' leaves the version pending, 'tuf
// status' names the missing key, 'tuf sign-pending' by the second holder
// publishes it; 'tuf delegate' (also 2-of-2) delegates rel/* to a role
// whose key then signs into it, and a path outside it is refused. Against
// trustd's real HTTP (through a proxy playing the attacker), go-tuf's
// updater rejects a rolled-back timestamp and detects a frozen one, while
// trustd itself re-signs the timestamp in the background before it expires.
func TestTUFThresholdDelegationAndAttacks(t *testing.T) {
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"), "--tuf-timestamp-expiry", "1m", "--tuf-refresh-interval", "1s")
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	const repo = "acme/dist"
	keys := map[string]string{}
	for _, name := range []string{"root", "t1", "t2", "rel"} {
		keys[name] = filepath.Join(work, name+".pem")
		if r := ctl("key", "generate", "--out", keys[name]); r.code != 0 {
			t.Fatalf("key generate: %d %s", r.code, r.stderr)
		}
	}
	if r := ctl("tuf", "init", repo, "--root-key", keys["root"], "--targets-key", keys["t1"]+".pub", "--targets-key", keys["t2"]+".pub",
		"--targets-threshold", "2"); r.code != 0 {
		t.Fatalf("tuf init: %d %q", r.code, r.stderr)
	}
	blobDir := filepath.Join(work, "blobs")
	if err := os.MkdirAll(filepath.Join(blobDir, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string {
		p := filepath.Join(blobDir, name)
		if err := os.WriteFile(p, []byte("bytes of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// twoOfTwo runs a targets step signed by t1 (left pending), then adds
	// t2's signature to targets vN with sign-pending (published).
	twoOfTwo := func(version int, args ...string) {
		t.Helper()
		r := ctl(append(args, "--key", keys["t1"])...)
		if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%s targets v%d is pending", repo, version)) {
			t.Fatalf("%v: %d %q %q, want pending", args, r.code, r.stdout, r.stderr)
		}
		r = ctl("tuf", "status", repo)
		if r.code != 0 || !strings.Contains(r.stdout, "pending: 1") || !strings.Contains(r.stdout, "missing "+keyID(t, keys["t2"]+".pub")) {
			t.Fatalf("tuf status: %d %q %q", r.code, r.stdout, r.stderr)
		}
		r = ctl("tuf", "sign-pending", repo, "--role", "targets", "--version", fmt.Sprint(version), "--key", keys["t2"])
		if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("published %s: targets v%d", repo, version)) {
			t.Fatalf("sign-pending v%d: %d %q %q", version, r.code, r.stdout, r.stderr)
		}
	}
	twoOfTwo(1, "sign", file("a.bin"), "--repo", repo, "--name", "a.bin")
	twoOfTwo(2, "tuf", "delegate", repo, "--to", "releases", "--key-file", keys["rel"]+".pub", "--threshold", "1", "--paths", "rel/*")
	if r := ctl("sign", file("rel/b.bin"), "--repo", repo, "--name", "rel/b.bin", "--role", "releases", "--key", keys["rel"]); r.code != 0 ||
		!strings.Contains(r.stdout, "published acme/dist: releases v1") {
		t.Fatalf("sign into the delegated role: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r := ctl("sign", file("c.bin"), "--repo", repo, "--name", "c.bin", "--role", "releases", "--key", keys["rel"])
	if r.code != 2 || !strings.Contains(r.stderr, `"c.bin"`) || !strings.Contains(r.stderr, "rel/*") {
		t.Errorf("target outside the delegated paths: %d %q, want exit 2 naming the path and the pattern", r.code, r.stderr)
	}

	sha := strings.Fields(ctl("digest", "-a", "sha512", filepath.Join(blobDir, "rel", "b.bin")).stdout)[0]
	if r := ctl("subject", sha); r.code != 0 || !strings.Contains(r.stdout, "TUF repo acme/dist: target rel/b.bin in role releases v1, signed by keys "+keyID(t, keys["rel"]+".pub")) {
		t.Errorf("subject of a delegated target: %d %q %q", r.code, r.stdout, r.stderr)
	}

	tsURL := "http://" + d.httpAddr + "/tuf/" + repo + "/timestamp.json"
	oldTS := httpGet(t, tsURL)
	twoOfTwo(3, "sign", file("d.bin"), "--repo", repo, "--name", "d.bin")
	rootV1 := httpGet(t, "http://"+d.httpAddr+"/tuf/"+repo+"/1.root.json")
	cache := t.TempDir()
	up := newUpdater(t, "http://"+d.httpAddr+"/tuf/"+repo, rootV1, blobDir, cache)
	if err := up.Refresh(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.bin", "rel/b.bin", "d.bin"} {
		ti, err := up.GetTargetInfo(name)
		if err != nil {
			t.Fatalf("GetTargetInfo(%s): %v", name, err)
		}
		if _, got, err := up.DownloadTarget(ti, "", ""); err != nil || string(got) != "bytes of "+name {
			t.Fatalf("DownloadTarget(%s) = %q, %v", name, got, err)
		}
	}
	// The attacker's mirror: trustd's HTTP, with timestamp.json replaced.
	var replay []byte
	var mu sync.Mutex
	target, _ := url.Parse("http://" + d.httpAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body := replay
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/timestamp.json") && body != nil {
			_, _ = w.Write(body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer mirror.Close()
	mirrorURL := mirror.URL + "/tuf/" + repo

	// Rollback: the client cached the current timestamp; the mirror serves
	// the one before it.
	mu.Lock()
	replay = oldTS
	mu.Unlock()
	cached, err := os.ReadFile(filepath.Join(cache, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := newUpdater(t, mirrorURL, cached, blobDir, cache).Refresh(); !errors.Is(err, &metadata.ErrBadVersionNumber{}) {
		t.Errorf("Refresh with a rolled-back timestamp: %v, want ErrBadVersionNumber", err)
	}

	// Freeze: the mirror keeps serving today's timestamp; trustd re-signs
	// its own once less than half its minute is left.
	frozen := httpGet(t, tsURL)
	var ts metadata.Metadata[metadata.TimestampType]
	if _, err := ts.FromBytes(frozen); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for bytes.Equal(httpGet(t, tsURL), frozen) {
		if time.Now().After(deadline) {
			t.Fatal("trustd did not re-sign the timestamp before it expired")
		}
		time.Sleep(500 * time.Millisecond)
	}
	mu.Lock()
	replay = frozen
	mu.Unlock()
	after := ts.Signed.Expires.Add(time.Second)
	frozenClient := newUpdater(t, mirrorURL, rootV1, blobDir, t.TempDir())
	frozenClient.UnsafeSetRefTime(after)
	if err := frozenClient.Refresh(); !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		t.Errorf("Refresh with a frozen timestamp: %v, want ErrExpiredMetadata", err)
	}
	live := newUpdater(t, "http://"+d.httpAddr+"/tuf/"+repo, rootV1, blobDir, t.TempDir())
	live.UnsafeSetRefTime(after)
	if err := live.Refresh(); err != nil {
		t.Errorf("Refresh from trustd itself at the same time: %v", err)
	}
}
