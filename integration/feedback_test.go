package integration_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// reputationJSON is the part of `trustctl reputation -o json` compared
// between instances.
type reputationJSON struct {
	Digest  string `json:"digest"`
	Quality struct {
		Positive int64   `json:"positive"`
		Negative int64   `json:"negative"`
		Score    float64 `json:"score"`
		PosW     float64 `json:"positive_weight"`
	} `json:"quality"`
	Trust struct {
		Positive int64   `json:"positive"`
		Negative int64   `json:"negative"`
		Score    float64 `json:"score"`
	} `json:"trust"`
	Voters     int64  `json:"voters"`
	LastVoteAt string `json:"last_vote_at"`
	WebOfTrust bool   `json:"web_of_trust"`
	Responses  []struct {
		Text string `json:"text"`
	} `json:"responses"`
}

func reputation(t *testing.T, addr string, args ...string) reputationJSON {
	t.Helper()
	r := trustctl(t, addr, append([]string{"reputation", "-o", "json"}, args...)...)
	var rep reputationJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("reputation %v: %d %q %q", args, r.code, r.stdout, r.stderr)
	}
	return rep
}

// TestFeedbackFederation: votes, trust statements and a publisher's
// response through the real trustctl on one trustd, exported and imported
// into a second trustd (from a file, then again from a URL: idempotent),
// which gives the same reputation for the same queries.
func TestFeedbackFederation(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			ids := map[string]string{}
			keyFile := func(name string) string { return filepath.Join(work, name+".pem") }
			names := []string{"root", "alice", "bob", "carol", "release"}
			for _, name := range names {
				r := trustctl(t, "127.0.0.1:1", "key", "generate", "--out", keyFile(name), "-o", "json")
				var gen struct {
					KeyID string `json:"key_id"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &gen); r.code != 0 || err != nil || gen.KeyID == "" {
					t.Fatalf("key generate: %q %q", r.stdout, r.stderr)
				}
				ids[name] = gen.KeyID
			}
			// Each server gets its own empty store and log key (so its own
			// log origin). The release key's attestations make it a
			// publisher of what they name on both.
			start := func(name string, extra ...string) *daemon {
				dir := filepath.Join(work, name)
				args := append([]string{"--data-dir", dir, "--log-origin", name + ".example", "--attestation-publisher", ids["release"]}, extra...)
				if backend == "postgres" {
					args = append(args, "--db", testpg.URL(t))
				}
				return startTrustd(t, args...)
			}
			// Importing is for operators: b serves mTLS and trustctl
			// calls it with an operator's certificate.
			pki := newTestPKI(t)
			a, bb := start("a"), start("b", pki.serverArgs()...)
			pki.useOperator(t, bb)

			for _, name := range names {
				r := trustctl(t, a.grpcAddr, "key", "add", keyFile(name)+".pub", "-o", "json")
				var added struct {
					Key struct {
						ID string `json:"id"`
					} `json:"key"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Key.ID != ids[name] {
					t.Fatalf("key add: %q %q", r.stdout, r.stderr)
				}
			}
			app := filepath.Join(work, "app.tar")
			if err := os.WriteFile(app, []byte("release bytes"), 0o644); err != nil {
				t.Fatal(err)
			}
			predicate := filepath.Join(work, "provenance.json")
			if err := os.WriteFile(predicate, []byte(`{"builder":"ci"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			// The publisher signs the release on both instances.
			for _, d := range []*daemon{a, bb} {
				if d == bb {
					if r := trustctl(t, bb.grpcAddr, "key", "add", keyFile("release")+".pub"); r.code != 0 {
						t.Fatalf("key add on b: %s", r.stderr)
					}
				}
				r := trustctl(t, d.grpcAddr, "statement", "sign", "--predicate-type", "https://slsa.dev/provenance/v1",
					"--predicate", predicate, "--artifact", app, "--key", keyFile("release"))
				if r.code != 0 {
					t.Fatalf("statement sign: %q", r.stderr)
				}
			}
			sha := strings.Fields(trustctl(t, a.grpcAddr, "digest", "-a", "sha256", app).stdout)[0]
			// bob signs an attestation of the release too, which does not
			// make him its publisher: his response is refused below.
			if r := trustctl(t, a.grpcAddr, "statement", "sign", "--predicate-type", "https://slsa.dev/provenance/v1",
				"--predicate", predicate, "--artifact", app, "--key", keyFile("bob")); r.code != 0 {
				t.Fatalf("statement sign by bob: %q", r.stderr)
			}

			steps := [][]string{
				{"vote", app, "--like", "--reason", "works as documented", "--key", keyFile("alice")},
				{"vote", sha, "--trust", "--key", keyFile("alice")},
				{"vote", app, "--dislike", "--key", keyFile("bob")},
				{"vote", sha, "--distrust", "--reason", "phones home", "--key", keyFile("carol")},
				{"vote", app, "--like", "--key", keyFile("carol")},
				{"vote", app, "--like", "--retract", "--key", keyFile("carol")},
				{"vote", "trust-key", ids["alice"], "--level", "high", "--key", keyFile("root")},
				{"vote", "trust-key", ids["bob"], "--level", "low", "--key", keyFile("alice")},
				{"vote", "trust-key", ids["carol"], "--level", "medium", "--key", keyFile("alice")},
				{"vote", "trust-key", ids["carol"], "--level", "distrust", "--key", keyFile("root")},
				{"vote", "respond", sha, "--text", "not a phone-home: update check, off by default", "--key", keyFile("release")},
			}
			for _, s := range steps {
				if r := trustctl(t, a.grpcAddr, s...); r.code != 0 || !strings.Contains(r.stdout, "accepted") {
					t.Fatalf("%v: %d %q %q", s, r.code, r.stdout, r.stderr)
				}
			}
			global := reputation(t, a.grpcAddr, sha)
			if global.Quality.Positive != 1 || global.Quality.Negative != 1 || global.Trust.Negative != 1 || global.Voters != 3 ||
				len(global.Responses) != 1 || global.LastVoteAt == "" {
				t.Fatalf("global reputation on a: %+v", global)
			}
			webArgs := []string{sha, "--trust-root", ids["root"], "--depth", "3"}
			web := reputation(t, a.grpcAddr, webArgs...)
			// carol is distrusted by the root: her distrust vote drops out;
			// bob counts with weight 0.25 (high, then low).
			if !web.WebOfTrust || web.Trust.Negative != 0 || web.Quality.PosW != 1 || web.Voters != 2 {
				t.Fatalf("web-of-trust reputation on a: %+v", web)
			}
			if r := trustctl(t, a.grpcAddr, "reputation", sha); r.code != 0 || !strings.Contains(r.stdout, "response by publisher "+ids["release"]) {
				t.Fatalf("text output: %q %q", r.stdout, r.stderr)
			}

			export := filepath.Join(work, "feedback.json")
			if r := trustctl(t, a.grpcAddr, "feedback", "export", "--out", export); r.code != 0 {
				t.Fatalf("export: %q", r.stderr)
			}
			r := trustctl(t, bb.grpcAddr, "feedback", "import", export)
			if r.code != 0 || !strings.Contains(r.stdout, "imported 11 entries from the log with key a.example+") {
				t.Fatalf("import: %d %q %q", r.code, r.stdout, r.stderr)
			}
			lines := trustctl(t, a.grpcAddr, "feedback", "export", "--format", "jsonl")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(lines.stdout)) }))
			defer srv.Close()
			r = trustctl(t, bb.grpcAddr, "feedback", "import", "--from", srv.URL+"/feedback.jsonl")
			if r.code != 0 || !strings.Contains(r.stdout, "imported 0 entries from the log with key a.example+") || !strings.Contains(r.stdout, "(11 already present)") {
				t.Fatalf("import again from a URL: %d %q %q", r.code, r.stdout, r.stderr)
			}
			for _, q := range [][]string{{sha}, webArgs} {
				want, got := reputation(t, a.grpcAddr, q...), reputation(t, bb.grpcAddr, q...)
				if want.Quality != got.Quality || want.Trust != got.Trust || want.Voters != got.Voters || want.LastVoteAt != got.LastVoteAt ||
					len(want.Responses) != len(got.Responses) {
					t.Fatalf("reputation %v differs:\n a %+v\n b %+v", q, want, got)
				}
			}

			// Bad input: one line, exit 2, nothing stored.
			for _, bad := range [][]string{
				{"vote", "sha256:abc", "--like", "--key", keyFile("alice")},
				{"vote", sha, "--like", "--dislike", "--key", keyFile("alice")},
				{"vote", "trust-key", ids["bob"], "--level", "very", "--key", keyFile("alice")},
				{"reputation", sha, "--trust-root", ids["root"], "--depth", "99"},
				{"vote", "respond", sha, "--text", "I did not publish this", "--key", keyFile("bob")},
			} {
				r := trustctl(t, a.grpcAddr, bad...)
				if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("%v: exit %d, stderr %q", bad, r.code, r.stderr)
				}
			}
		})
	}
}
