package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestIdentityVerifiedVoters: through the real binaries, alice binds her
// voter key to her Sigstore identity both ways (trustctl identity bind
// with her key, and a keyless bundle of the same statement from her
// identity through trustctl attest put); bob signs only his side. Both like a digest: reputation
// counts two voters, and with --verified-only alice alone.
func TestIdentityVerifiedVoters(t *testing.T) {
	const issuer = "https://token.actions.example.com"
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			vs, err := ca.NewVirtualSigstore()
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"--data-dir", filepath.Join(work, "data"), "--sigstore-trusted-root", attesttest.WriteTrustedRoot(t, vs), "--sigstore-require-sct=false"}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			d := startTrustd(t, args...)
			write := func(name string, data []byte) string {
				p := filepath.Join(work, name)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			must := func(r result, what string) result {
				t.Helper()
				if r.code != 0 {
					t.Fatalf("%s: %d %q %q", what, r.code, r.stdout, r.stderr)
				}
				return r
			}

			ids := map[string]string{}
			for _, name := range []string{"alice", "bob"} {
				key := filepath.Join(work, name+".pem")
				must(trustctl(t, d.grpcAddr, "key", "generate", "--out", key), "key generate")
				r := must(trustctl(t, d.grpcAddr, "key", "add", key+".pub", "-o", "json"), "key add")
				var added struct {
					Key struct {
						ID string `json:"id"`
					} `json:"key"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Key.ID == "" {
					t.Fatalf("key add: %q", r.stdout)
				}
				ids[name] = added.Key.ID

				b := identity.Binding{KeyID: added.Key.ID, Issuer: issuer, Subject: name + "@example.com"}
				if name == "bob" {
					// Bob signs his side with the generic statement command, and
					// his identity never signs.
					pred, err := json.Marshal(b)
					if err != nil {
						t.Fatal(err)
					}
					kd, err := identity.KeyDigest(b.KeyID)
					if err != nil {
						t.Fatal(err)
					}
					must(trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", identity.BindingPredicateType,
						"--predicate", write(name+"-binding.json", pred),
						"--subject", "key:"+b.KeyID+"="+kd.String(),
						"--subject", b.SignerID()+"="+identity.IdentityDigest(b.SignerID()).String(),
						"--key", key), "statement sign (binding)")
					continue
				}
				// Alice: trustctl identity bind signs her key's side and writes
				// the statement her identity signs keylessly into a bundle.
				stmtFile := filepath.Join(work, "alice.intoto.json")
				must(trustctl(t, d.grpcAddr, "identity", "bind", "--issuer", issuer, "--subject", b.Subject, "--key", key,
					"--statement-out", stmtFile), "identity bind")
				stmt, err := os.ReadFile(stmtFile)
				if err != nil {
					t.Fatal(err)
				}
				bundle := attesttest.Attest(t, vs, b.Subject, issuer, stmt, time.Now().Add(time.Minute), attesttest.Opts{TLog: true})
				r = must(trustctl(t, d.grpcAddr, "attest", "put", write("alice.sigstore.json", bundle), "-o", "json"), "attest put (binding bundle)")
				if !strings.Contains(r.stdout, attest.SigstoreSignerID(issuer, b.Subject)) {
					t.Fatalf("attest put: %s names no Sigstore signer", r.stdout)
				}
			}
			if r := trustctl(t, d.grpcAddr, "identity", "bind", "--issuer", "https://x#y", "--subject", "a", "--key", filepath.Join(work, "bob.pem")); r.code != 2 ||
				!strings.Contains(r.stderr, "predicate.issuer") || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("identity bind with a bad issuer: %d %q", r.code, r.stderr)
			}

			// A binding that names alice's key, signed by bob's, is refused (exit 2).
			pred, err := json.Marshal(identity.Binding{KeyID: ids["alice"], Issuer: issuer, Subject: "bob@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			kd, err := identity.KeyDigest(ids["alice"])
			if err != nil {
				t.Fatal(err)
			}
			if r := trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", identity.BindingPredicateType,
				"--predicate", write("forged.json", pred), "--subject", kd.String(),
				"--subject", identity.IdentityDigest(attest.SigstoreSignerID(issuer, "bob@example.com")).String(),
				"--key", filepath.Join(work, "bob.pem")); r.code != 2 || !strings.Contains(r.stderr, "predicate.keyId") {
				t.Fatalf("forged binding: %d %q", r.code, r.stderr)
			}

			app := write("app.tar", []byte("release bytes"))
			for _, name := range []string{"alice", "bob"} {
				must(trustctl(t, d.grpcAddr, "vote", app, "--like", "--key", filepath.Join(work, name+".pem")), "vote")
			}
			sha := strings.Fields(must(trustctl(t, d.grpcAddr, "digest", "-a", "sha256", app), "digest").stdout)[0]
			if all := reputation(t, d.grpcAddr, sha); all.Voters != 2 || all.Quality.Positive != 2 {
				t.Fatalf("reputation: %+v, want 2 voters", all)
			}
			if ver := reputation(t, d.grpcAddr, sha, "--verified-only"); ver.Voters != 1 || ver.Quality.Positive != 1 {
				t.Fatalf("reputation --verified-only: %+v, want alice alone", ver)
			}
		})
	}
}

// TestIdentityPGPRootFlag: a malformed --identity-pgp-root stops trustd
// with exit 2 and names the flag.
func TestIdentityPGPRootFlag(t *testing.T) {
	r := run(t, nil, "trustd", "--data-dir", t.TempDir(), "--identity-pgp-root", "not-a-fingerprint")
	if r.code != 2 || !strings.Contains(r.stderr, "--identity-pgp-root") {
		t.Fatalf("trustd --identity-pgp-root not-a-fingerprint: %d %q", r.code, r.stderr)
	}
}
