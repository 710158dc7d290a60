package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestVerifyAttestationPolicy drives an attestation requirement through the
// real binaries: trustctl verify reads the attestations trustd verified on
// ingest, matches their indexed SLSA fields against the policy's
// conditions, and stops counting one its signer withdraws.
func TestVerifyAttestationPolicy(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			args := []string{"--data-dir", filepath.Join(work, "data")}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			d := startTrustd(t, args...)
			tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
			write := func(name, data string) string {
				p := filepath.Join(work, name)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			key := filepath.Join(work, "builder.pem")
			for _, a := range [][]string{{"key", "generate", "--out", key}, {"key", "add", key + ".pub"}} {
				if r := tc(a...); r.code != 0 {
					t.Fatalf("%v: exit %d: %s", a, r.code, r.stderr)
				}
			}
			app := write("app.tar", "attested bytes\n")
			pred := write("provenance.json", `{"buildDefinition":{"buildType":"https://example.com/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://ci.example/builder"}}}`)
			r := tc("attest", "sign", app, "--predicate-type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--key", key, "-o", "json")
			if r.code != 0 {
				t.Fatalf("attest sign: exit %d: %s", r.code, r.stderr)
			}
			var signed struct {
				Attestation struct {
					Seq json.Number `json:"seq"`
				} `json:"attestation"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &signed); err != nil || signed.Attestation.Seq == "" {
				t.Fatalf("attest sign output %q: %v", r.stdout, err)
			}
			policy := func(builder string) string {
				return write("policy-"+strings.ReplaceAll(builder, "/", "_")+".yaml", `apiVersion: trustd.dev/policy/v1
policies:
  - name: built-by-ci
    require:
      attestation:
        predicateType: https://slsa.dev/provenance/v1
        conditions: {builderId: "`+builder+`"}
`)
			}
			verdict := func(policyFile string) (int, string) {
				r := tc("verify", app, "--policy", policyFile, "-o", "json")
				var v struct {
					Result struct {
						Reason string `json:"reason"`
					} `json:"result"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Fatalf("verify output %q: %v (stderr %s)", r.stdout, err, r.stderr)
				}
				return r.code, v.Result.Reason
			}
			good, other := policy("https://ci.example/builder"), policy("https://ci.example/someone-else")
			if code, reason := verdict(good); code != 0 || reason != "" {
				t.Errorf("verify with the right builder: exit %d reason %q, want a pass", code, reason)
			}
			if code, reason := verdict(other); code != 1 || reason != "CONDITION_FAILED" {
				t.Errorf("verify with another builder: exit %d reason %q, want 1 CONDITION_FAILED", code, reason)
			}
			if r := tc("revoke", "statement", string(signed.Attestation.Seq), "--reason", "withdrawn", "--key", key); r.code != 0 {
				t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
			}
			if code, reason := verdict(good); code != 1 || reason != "UNSIGNED" {
				t.Errorf("verify after the attestation was withdrawn: exit %d reason %q, want 1 UNSIGNED", code, reason)
			}
		})
	}
}
