package integration_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/tlog"
)

// TestFeedbackImportFindings is issue 13's import finding through the real
// binaries, the importer on both backends: an import obeys the per-key
// rate limit like a direct write (imported entries count against it, one
// over it is refused and stored nothing, a retry imports nothing more),
// and only what the exporting log's key verifies is imported: an export
// whose checkpoint another key (of the same origin name) claims, or whose
// entries were swapped, is refused with nothing stored.
func TestFeedbackImportFindings(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			alice := filepath.Join(work, "alice.pem")
			genKey(t, alice)

			// The exporting trustd: three votes by alice.
			a := startTrustd(t, "--data-dir", filepath.Join(work, "a"))
			if r := trustctl(t, a.grpcAddr, "key", "add", alice+".pub"); r.code != 0 {
				t.Fatalf("key add: %d %q", r.code, r.stderr)
			}
			for i := range 3 {
				d := "sha256:" + strings.Repeat(strconv.Itoa(i+1), 64)
				if r := trustctl(t, a.grpcAddr, "vote", d, "--like", "--key", alice); r.code != 0 {
					t.Fatalf("vote: %d %q", r.code, r.stderr)
				}
			}
			export := filepath.Join(work, "feedback.json")
			if r := trustctl(t, a.grpcAddr, "feedback", "export", "--out", export); r.code != 0 {
				t.Fatalf("export: %d %q", r.code, r.stderr)
			}

			// The importing trustd: alice may write twice an hour; the
			// operator imports.
			pki := newTestPKI(t)
			args := append(pki.serverArgs(), "--data-dir", filepath.Join(work, "b"), "--vote-rate-limit", "2")
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t))
			}
			b := startTrustd(t, args...)
			pki.useOperator(t, b)
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.ca.Pool(), MinVersion: tls.VersionTLS12}}}
			size := func() uint64 { t.Helper(); return tlsLogSize(t, hc, b) }
			const limitHit = "already submitted 2 feedback statements within 1h0m0s (limit 2)"

			// Forgeries first: refused, nothing stored.
			var doc map[string]any
			if err := json.Unmarshal([]byte(readFile(t, export)), &doc); err != nil {
				t.Fatal(err)
			}
			_, impostor, err := tlog.GenerateLogKey(strings.SplitN(doc["verifierKey"].(string), "+", 2)[0])
			if err != nil {
				t.Fatal(err)
			}
			forged := func(name string, edit func(map[string]any)) string {
				var d map[string]any
				if err := json.Unmarshal([]byte(readFile(t, export)), &d); err != nil {
					t.Fatal(err)
				}
				edit(d)
				p := filepath.Join(work, name)
				data, err := json.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, p, data)
				return p
			}
			before := size()
			for _, tc := range []struct {
				name, file, want string
			}{
				{"another key of the same origin name", forged("impostor.json", func(d map[string]any) { d["verifierKey"] = impostor }), "checkpoint: not a checkpoint signed by verifierKey"},
				{"entries swapped", forged("swapped.json", func(d map[string]any) {
					es := d["entries"].([]any)
					e0, e1 := es[0].(map[string]any), es[1].(map[string]any)
					e0["envelope"], e1["envelope"] = e1["envelope"], e0["envelope"]
				}), "the envelope is not entry"},
			} {
				if r := trustctl(t, b.grpcAddr, "feedback", "import", tc.file); r.code != 2 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("import of an export with %s: exit %d %q, want a refusal naming %q", tc.name, r.code, r.stderr, tc.want)
				}
			}
			if got := size(); got != before {
				t.Errorf("refused imports grew the log from %d to %d", before, got)
			}

			// The genuine export: two entries fit alice's limit, the third
			// is refused.
			r := trustctl(t, b.grpcAddr, "feedback", "import", export)
			if r.code != 2 || !strings.Contains(r.stderr, limitHit) {
				t.Errorf("import over the rate limit: exit %d %q %q", r.code, r.stdout, r.stderr)
			}
			if got := size(); got != before+2 {
				t.Errorf("log size %d after the import, want %d (two entries within the limit)", got, before+2)
			}
			// A retry imports nothing more, and alice's direct write is over
			// the limit the imported entries used.
			if r := trustctl(t, b.grpcAddr, "feedback", "import", export); r.code != 2 || !strings.Contains(r.stderr, limitHit) {
				t.Errorf("import again: exit %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := trustctl(t, b.grpcAddr, "vote", "sha256:"+strings.Repeat("9", 64), "--like", "--key", alice); r.code != 2 ||
				!strings.Contains(r.stderr, limitHit) {
				t.Errorf("alice's direct vote after the import: exit %d %q %q", r.code, r.stdout, r.stderr)
			}
			if got := size(); got != before+2 {
				t.Errorf("log size %d after the refusals, want %d", got, before+2)
			}
		})
	}
}

// tlsLogSize is the size of d's log in the checkpoint it serves over
// HTTPS, read with hc.
func tlsLogSize(t *testing.T, hc *http.Client, d *daemon) uint64 {
	t.Helper()
	resp, err := hc.Get("https://" + d.httpAddr + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /log/checkpoint: %s %v", resp.Status, err)
	}
	lines := strings.Split(string(body), "\n")
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", lines)
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	return n
}
