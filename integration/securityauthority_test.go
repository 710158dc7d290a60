package integration_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/testpg"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// TestSecurityAuthorityQuorum drives a 2-of-3 security authority with the
// real binaries on both backends: one authority key alone is refused with
// PermissionDenied and nothing is logged; two keys sign one envelope
// either at once (--key A --key B) or apart (revoke --out, statement
// cosign, statement submit); the revocation names both; a reinstatement
// needs two keys too.
func TestSecurityAuthorityQuorum(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			keyFile := func(n string) string { return filepath.Join(work, n+".pem") }
			a, b, c := genKey(t, keyFile("a")), genKey(t, keyFile("b")), genKey(t, keyFile("c"))
			args := []string{"--data-dir", filepath.Join(work, "data"), "--security-authority", a + "," + b + "," + c,
				"--security-authority-threshold", "2"}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			d := startTrustd(t, args...)
			tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
			for _, n := range []string{"a", "b", "c"} {
				if r := tc("key", "add", keyFile(n)+".pub"); r.code != 0 {
					t.Fatalf("key add: %d %q", r.code, r.stderr)
				}
			}
			logSize := func() json.Number {
				r := tc("log", "checkpoint", "--state", filepath.Join(work, "log-state.json"), "-o", "json")
				var cp struct {
					Size json.Number `json:"size"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &cp); r.code != 0 || err != nil {
					t.Fatalf("log checkpoint: %d %q %q", r.code, r.stdout, r.stderr)
				}
				return cp.Size
			}
			sha := "sha256:" + strings.Repeat("ab", 32)
			lookup := func() result { return tc("revocations", "lookup", "digest", sha) }

			before := logSize()
			if r := tc("revoke", "digest", sha, "--reason", "malicious", "--key", keyFile("a")); r.code != 2 ||
				!strings.Contains(r.stderr, "needs 2 of its 3 keys to sign one envelope; 1 did") {
				t.Fatalf("one authority key: %d %q", r.code, r.stderr)
			}
			// The same envelope over the wire: PermissionDenied.
			one := filepath.Join(work, "one.json")
			if r := tc("revoke", "digest", sha, "--reason", "malicious", "--key", keyFile("a"), "--out", one); r.code != 0 {
				t.Fatalf("sign only: %d %q", r.code, r.stderr)
			}
			raw, err := os.ReadFile(one)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := client.New(d.grpcAddr, client.TLS{})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := cl.Revocations().SubmitRevocation(context.Background(), &trustv1.SubmitRevocationRequest{Envelope: raw}); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("SubmitRevocation by one authority key = %v, want PermissionDenied", err)
			}
			if after := logSize(); after != before {
				t.Fatalf("log grew from %s to %s on a refused revocation", before, after)
			}
			if r := lookup(); r.code != 0 || !strings.Contains(r.stdout, "is not revoked") {
				t.Fatalf("lookup after a refused revocation: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// Keys held apart: alice signs, bob cosigns, anyone submits.
			rev := filepath.Join(work, "rev.json")
			if r := tc("revoke", "digest", sha, "--reason", "malicious", "--key", keyFile("a"), "--out", rev); r.code != 0 {
				t.Fatalf("sign only: %d %q", r.code, r.stderr)
			}
			if r := tc("statement", "cosign", rev, "--key", keyFile("a"), "--out", rev); r.code != 2 || !strings.Contains(r.stderr, "already signed this envelope") {
				t.Fatalf("cosign by the same key: %d %q", r.code, r.stderr)
			}
			if r := tc("statement", "cosign", rev, "--key", keyFile("b"), "--out", rev); r.code != 0 ||
				!strings.Contains(r.stderr, "revoke digest:"+sha+" (malicious)") || !strings.Contains(r.stderr, "signed so far by "+a) {
				t.Fatalf("cosign: %d %q", r.code, r.stderr)
			}
			if r := tc("statement", "submit", rev); r.code != 0 || !strings.Contains(r.stdout, "signed by "+a+", "+b) {
				t.Fatalf("submit the cosigned envelope: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := lookup(); r.code != 1 || !strings.Contains(r.stdout, "revoked (malicious)") || !strings.Contains(r.stdout, "by "+a+", "+b) {
				t.Fatalf("lookup: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := tc("revocations", "list"); r.code != 0 || !strings.Contains(r.stdout, "by "+a+", "+b) {
				t.Fatalf("list: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// Reinstating needs the quorum too; --key twice signs at once.
			if r := tc("revoke", "reinstate", "digest", sha, "--key", keyFile("c")); r.code != 2 || !strings.Contains(r.stderr, "not authorized to revoke") {
				t.Fatalf("reinstatement by one key: %d %q", r.code, r.stderr)
			}
			if r := tc("revoke", "reinstate", "digest", sha, "--key", keyFile("c"), "--key", keyFile("b")); r.code != 0 || !strings.Contains(r.stdout, "signed by "+c+", "+b) {
				t.Fatalf("reinstatement by two keys: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := lookup(); r.code != 0 || !strings.Contains(r.stdout, "reinstated") {
				t.Fatalf("lookup after reinstating: %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestSecurityAuthorityThresholdRequired: beyond loopback trustd refuses to
// start with security authority keys but no threshold, naming the flag.
func TestSecurityAuthorityThresholdRequired(t *testing.T) {
	work := t.TempDir()
	a := genKey(t, filepath.Join(work, "a.pem"))
	r := run(t, nil, "trustd", "--data-dir", filepath.Join(work, "data"), "--grpc-addr", "0.0.0.0:0", "--http-addr", "",
		"--security-authority", a)
	if r.code == 0 || !strings.Contains(r.stderr, "--security-authority-threshold: required when trustd listens beyond loopback") {
		t.Fatalf("trustd beyond loopback without a threshold: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(work, "data", "trustd.db")); err == nil {
		t.Errorf("trustd created its database before refusing its flags")
	}
}
