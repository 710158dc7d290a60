package integration_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// genKey makes a key pair with trustctl and returns its id.
func genKey(t testing.TB, path string) string {
	t.Helper()
	r := run(t, nil, "trustctl", "key", "generate", "--out", path, "-o", "json")
	var out struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil || out.KeyID == "" {
		t.Fatalf("key generate: %d %q %q", r.code, r.stdout, r.stderr)
	}
	return out.KeyID
}

// TestRevocationFlow drives revocation with the real binaries on both
// backends: the authority matrix as trustd enforces it, the subject view
// showing revoked evidence, the history, and the offline list: sync through
// the trustd/keys TUF repository, a delta, checks without the server, and
// a rollback refused.
// retiredToken is a token id (the sha256 of a token's envelope, the only
// form a token revocation may name) that the revocation flow retires.
const retiredToken = "sha256:65dcf16ea3dfa49069628089eb4a75483070f5584b2a21ee64912b5f621f12da"

func TestRevocationFlow(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			securityKey := filepath.Join(work, "security.pem")
			security := genKey(t, securityKey)
			args := []string{"--data-dir", filepath.Join(work, "data"), "--security-authority", security}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			d := startTrustd(t, args...)
			tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }

			releaseKey, otherKey := filepath.Join(work, "release.pem"), filepath.Join(work, "other.pem")
			release, other := genKey(t, releaseKey), genKey(t, otherKey)
			for _, k := range []string{securityKey, releaseKey, otherKey} {
				if r := tc("key", "add", k+".pub"); r.code != 0 {
					t.Fatalf("key add: %d %q", r.code, r.stderr)
				}
			}
			artifact := filepath.Join(work, "app.tar")
			if err := os.WriteFile(artifact, []byte("compromised release bytes"), 0o644); err != nil {
				t.Fatal(err)
			}
			predicate := filepath.Join(work, "pred.json")
			if err := os.WriteFile(predicate, []byte(`{"tests":"passed"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			r := tc("statement", "sign", "--predicate-type", "https://example.com/test-result/v1", "--predicate", predicate,
				"--artifact", artifact, "--key", releaseKey, "-o", "json")
			var signed struct {
				Entry struct {
					Seq json.Number `json:"seq"`
				} `json:"entry"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &signed); r.code != 0 || err != nil {
				t.Fatalf("statement sign: %d %q %q", r.code, r.stdout, r.stderr)
			}
			sha := strings.Fields(tc("digest", "-a", "sha256", artifact).stdout)[0]

			// Wrong parties are refused with the reason, exit 2.
			if r := tc("revoke", "statement", string(signed.Entry.Seq), "--reason", "withdrawn", "--key", otherKey); r.code != 2 || !strings.Contains(r.stderr, "did not sign statement") {
				t.Errorf("statement revoked by another key: %d %q", r.code, r.stderr)
			}
			if r := tc("revoke", "digest", sha, "--reason", "malicious", "--key", otherKey); r.code != 2 || !strings.Contains(r.stderr, "holds no authority for it") {
				t.Errorf("digest revoked by another key: %d %q", r.code, r.stderr)
			}
			if r := tc("revoke", "key", release, "--reason", "bored", "--key", otherKey); r.code != 2 || !strings.Contains(r.stderr, `--reason`) {
				t.Errorf("bad reason: %d %q", r.code, r.stderr)
			}

			// The right parties are accepted.
			if r := tc("revoke", "statement", string(signed.Entry.Seq), "--reason", "withdrawn", "--key", releaseKey); r.code != 0 || !strings.Contains(r.stdout, "accepted") {
				t.Fatalf("statement revoked by its signer: %d %q %q", r.code, r.stdout, r.stderr)
			}
			r = tc("revoke", "digest", sha, "--reason", "malicious", "--key", securityKey, "--comment", "backdoored build", "-o", "json")
			var revoked struct {
				Created bool `json:"created"`
				State   struct {
					Action   string   `json:"action"`
					Reason   string   `json:"reason"`
					Revokers []string `json:"revokers"`
				} `json:"state"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &revoked); r.code != 0 || err != nil || !revoked.Created || revoked.State.Action != "revoke" ||
				revoked.State.Reason != "malicious" || len(revoked.State.Revokers) != 1 || revoked.State.Revokers[0] != security {
				t.Fatalf("digest revoked by the security authority: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := tc("revoke", "key", other, "--reason", "compromised", "--key", otherKey); r.code != 0 {
				t.Fatalf("key revoked by itself: %d %q", r.code, r.stderr)
			}
			// A revoked key holds no authority, even over itself.
			if r := tc("revoke", "reinstate", "key", other, "--key", otherKey); r.code != 2 || !strings.Contains(r.stderr, "is revoked (compromised") {
				t.Errorf("reinstatement by the revoked key: %d %q", r.code, r.stderr)
			}

			// The subject shows its revoked evidence as revoked: who, why, when.
			r = tc("subject", sha)
			if r.code != 0 || !strings.Contains(r.stdout, "REVOKED") || !strings.Contains(r.stdout, "malicious") || !strings.Contains(r.stdout, security) ||
				!strings.Contains(r.stdout, "withdrawn") || !strings.Contains(r.stdout, "https://example.com/test-result/v1") ||
				!strings.Contains(r.stdout, "revoked evidence: 1") {
				t.Errorf("subject: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := tc("revocations", "lookup", "digest", sha); r.code != 1 || !strings.Contains(r.stdout, "revoked (malicious)") {
				t.Errorf("lookup: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := tc("revocations", "list"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
				t.Errorf("list: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// Offline: the first sync needs the pinned root of trustd/keys.
			cache := filepath.Join(work, "cache")
			tufURL := "http://" + d.httpAddr + "/tuf/trustd/keys"
			r = tc("revocations", "sync", "--cache", cache, "--tuf-url", tufURL)
			if r.code != 2 || !strings.Contains(r.stderr, "no trusted root") {
				t.Fatalf("sync without a pinned root: %d %q %q", r.code, r.stdout, r.stderr)
			}
			resp, err := http.Get(tufURL + "/1.root.json")
			if err != nil {
				t.Fatal(err)
			}
			root, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("root of trustd/keys: %d %v", resp.StatusCode, err)
			}
			rootFile := filepath.Join(work, "keys-root.json")
			if err := os.WriteFile(rootFile, root, 0o644); err != nil {
				t.Fatal(err)
			}
			r = tc("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "--root", rootFile, "-o", "json")
			var synced struct {
				Number  int64 `json:"number"`
				Since   int64 `json:"since"`
				InForce int   `json:"in_force"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &synced); r.code != 0 || err != nil || synced.Since != 0 || synced.InForce != 3 {
				t.Fatalf("first sync: %d %q %q", r.code, r.stdout, r.stderr)
			}
			first := synced.Number

			// Changes after the first sync arrive as a delta.
			if r := tc("revoke", "reinstate", "digest", sha, "--key", securityKey); r.code != 0 {
				t.Fatalf("reinstate: %d %q", r.code, r.stderr)
			}
			if r := tc("revoke", "token", retiredToken, "--reason", "retired", "--key", securityKey); r.code != 0 {
				t.Fatalf("revoke token: %d %q", r.code, r.stderr)
			}
			r = tc("revocations", "sync", "--cache", cache, "--tuf-url", tufURL, "-o", "json")
			if err := json.Unmarshal([]byte(r.stdout), &synced); r.code != 0 || err != nil || synced.Since != first || synced.InForce != 3 {
				t.Fatalf("delta sync: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// Checks answer from the cache with the server gone.
			d.stop(t)
			offline := func(args ...string) result {
				return run(t, nil, "trustctl", append([]string{"--server", "127.0.0.1:1", "revocations", "check", "--cache", cache}, args...)...)
			}
			if r := offline("key", other); r.code != 1 || !strings.Contains(r.stdout, "revoked (compromised)") || !strings.Contains(r.stdout, other) {
				t.Errorf("offline check of the revoked key: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := offline("digest", sha); r.code != 0 || !strings.Contains(r.stdout, "is not revoked") {
				t.Errorf("offline check of the reinstated digest: %d %q %q", r.code, r.stdout, r.stderr)
			}
			r = offline("token", retiredToken, "-o", "json")
			var checked struct {
				Revoked bool   `json:"revoked"`
				Reason  string `json:"reason"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &checked); r.code != 1 || err != nil || !checked.Revoked || checked.Reason != "retired" {
				t.Errorf("offline check of the token: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := offline("key", release); r.code != 0 {
				t.Errorf("offline check of a key in good standing: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := offline("key", release, "--max-staleness", "1ns"); r.code != 2 || !strings.Contains(r.stderr, "stale") {
				t.Errorf("offline check past the staleness limit: %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}
