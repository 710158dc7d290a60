package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

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
			if r.code != 0 || !strings.Contains(r.stdout, "https://trustd.dev/tuf/metadata/v1") || !strings.Contains(r.stdout, "alias sha512:") {
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
		})
	}
}
