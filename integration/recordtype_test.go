package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestForgedRecordType is issue 13's forged-record attack through the real
// binaries on both backends: a stranger with a self-registered key signs
// statements of trustd's own record types (TUF metadata, an OpenPGP
// manifest) naming a publisher's release, to become its "publisher" and
// revoke it as malicious. The forgeries are refused (exit 2, one line,
// the log unchanged), the stranger's revocation is refused, and the
// publisher (a configured attestation signer) may still revoke it.
func TestForgedRecordType(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			publisherKey, strangerKey := filepath.Join(work, "publisher.pem"), filepath.Join(work, "stranger.pem")
			publisher := genKey(t, publisherKey)
			genKey(t, strangerKey)
			args := []string{"--data-dir", filepath.Join(work, "data"), "--attestation-publisher", publisher}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			d := startTrustd(t, args...)
			tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
			for _, k := range []string{publisherKey, strangerKey} {
				if r := tc("key", "add", k+".pub"); r.code != 0 {
					t.Fatalf("key add: %d %q", r.code, r.stderr)
				}
			}
			artifact := filepath.Join(work, "app.tar")
			predicate := filepath.Join(work, "pred.json")
			for path, data := range map[string]string{artifact: "release bytes", predicate: `{"repo":"evil/bait","role":"targets","version":1}`} {
				if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if r := tc("statement", "sign", "--predicate-type", "https://slsa.dev/provenance/v1", "--predicate", predicate,
				"--artifact", artifact, "--key", publisherKey); r.code != 0 {
				t.Fatalf("the publisher's attestation: %d %q", r.code, r.stderr)
			}
			sha := strings.Fields(tc("digest", "-a", "sha256", artifact).stdout)[0]
			size := func() float64 {
				var cp struct {
					Size float64 `json:"size"`
				}
				r := tc("log", "checkpoint", "-o", "json", "--state", filepath.Join(work, "log-state.json"))
				if err := json.Unmarshal([]byte(r.stdout), &cp); r.code != 0 || err != nil {
					t.Fatalf("log checkpoint: %d %q %q", r.code, r.stdout, r.stderr)
				}
				return cp.Size
			}
			before := size()
			for _, pt := range []string{"https://trustd.dev/tuf/metadata/v1", "https://trustd.dev/pgp/manifest/v1", "https://trustd.dev/anything/v1"} {
				r := tc("statement", "sign", "--predicate-type", pt, "--predicate", predicate, "--artifact", artifact, "--key", strangerKey)
				if r.code != 2 || !strings.Contains(r.stderr, "PermissionDenied") && !strings.Contains(r.stderr, "reserved record type") ||
					strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("forged %s: exit %d, stderr %q; want exit 2 with one line refusing the reserved type", pt, r.code, r.stderr)
				}
			}
			if after := size(); after != before {
				t.Errorf("log grew from %v to %v on refused forgeries", before, after)
			}
			if r := tc("revoke", "digest", sha, "--reason", "malicious", "--key", strangerKey); r.code != 2 || !strings.Contains(r.stderr, "holds no authority for it") {
				t.Errorf("the stranger's revocation of the release: %d %q", r.code, r.stderr)
			}
			if r := tc("revoke", "digest", sha, "--reason", "withdrawn", "--key", publisherKey); r.code != 0 || !strings.Contains(r.stdout, "accepted") {
				t.Errorf("the publisher's revocation of its release: %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}
