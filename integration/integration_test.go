// Package integration_test drives the real trustd and trustctl binaries
// end to end, on both store backends.
package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/store/storetest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trustd-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	// trustctl keeps log state (per server address) and its revocation
	// cache under these, and reads its config file from there: never the
	// user's own, and gone with the run.
	for env, sub := range map[string]string{"XDG_STATE_HOME": "state", "XDG_CACHE_HOME": "cache", "XDG_CONFIG_HOME": "config"} {
		if err := os.Setenv(env, filepath.Join(dir, sub)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	for _, name := range []string{"trustd", "trustctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", name, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running trustd process.
type daemon struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	done     chan error
	mu       sync.Mutex
	log      bytes.Buffer
}

var servingLine = regexp.MustCompile(`grpc=(\S+).*http=(\S+)`)

// startTrustd runs trustd with args on ephemeral loopback ports and waits
// until /readyz answers.
func startTrustd(t testing.TB, args ...string) *daemon {
	t.Helper()
	return startTrustdBinary(t, filepath.Join(binDir, "trustd"), args...)
}

// startTrustdBinary is startTrustd with another trustd binary (the release
// image's).
func startTrustdBinary(t testing.TB, bin string, args ...string) *daemon {
	t.Helper()
	args = append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)
	d := &daemon{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	select {
	case a := <-addrs:
		d.grpcAddr, d.httpAddr = a[0], a[1]
		// A new trustd is a new log, even on a port an earlier one used:
		// forget what trustctl pinned for that address.
		stale := filepath.Join(os.Getenv("XDG_STATE_HOME"), "trustctl", "log-"+strings.ReplaceAll(d.grpcAddr, ":", "_")+".json")
		if err := os.Remove(stale); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	case err := <-d.done:
		t.Fatalf("trustd exited before serving: %v\n%s", err, d.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("trustd did not start:\n%s", d.logs())
	}
	deadline := time.Now().Add(30 * time.Second)
	ready := "http://" + d.httpAddr + "/readyz"
	probe := http.DefaultClient
	if slices.Contains(args, "--tls-cert") {
		// HTTP serves TLS too; the probe only waits for readiness (the
		// mTLS tests verify the certificate).
		ready = "https://" + d.httpAddr + "/readyz"
		probe = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	for {
		resp, err := probe.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trustd never became ready: %v\n%s", err, d.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("trustd exit after SIGTERM: %v\n%s", err, d.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("trustd did not stop on SIGTERM:\n%s", d.logs())
	}
	if !strings.Contains(d.logs(), "shutting down") {
		t.Errorf("trustd did not log its graceful shutdown:\n%s", d.logs())
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t testing.TB, stdin io.Reader, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, bin), args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return result{code, out.String(), errb.String()}
}

// clientFlags holds the trustctl TLS flags of servers that need them, by
// gRPC address (see useOperator).
var clientFlags sync.Map

func trustctl(t testing.TB, server string, args ...string) result {
	t.Helper()
	flags := []string{"--server", server}
	if f, ok := clientFlags.Load(server); ok {
		flags = append(flags, f.([]string)...)
	}
	return run(t, nil, "trustctl", append(flags, args...)...)
}

// backend prepares an empty store, seeds it through the store package, and
// returns the trustd flags that select it.
type backend struct {
	name string
	seed func(t *testing.T) []string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) []string {
			dir := t.TempDir()
			s, err := sqlite.Open(context.Background(), filepath.Join(dir, "trustd.db"))
			if err != nil {
				t.Fatal(err)
			}
			seedAndClose(t, s)
			return []string{"--data-dir", dir}
		}},
		{"postgres", func(t *testing.T) []string {
			url := testpg.URL(t)
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			seedAndClose(t, s)
			return []string{"--db", url}
		}},
	}
}

func seedAndClose(t *testing.T, s store.Store) {
	storetest.Seed(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// subjectJSON is the part of trustctl subject -o json the tests read.
type subjectJSON struct {
	ID      uint64 `json:"id"`
	Digest  string `json:"digest"`
	Aliases []struct {
		Digest      string `json:"digest"`
		Queried     bool   `json:"queried"`
		SameSubject bool   `json:"same_subject"`
		Claims      []struct {
			Source  string `json:"source"`
			Signers []struct {
				ID string `json:"id"`
			} `json:"signers"`
			Seq uint64 `json:"seq"`
		} `json:"claims"`
	} `json:"aliases"`
	Facts []factJSON `json:"facts"`
}

// factJSON is one fact of trustctl subject -o json.
type factJSON struct {
	Seq           uint64   `json:"seq"`
	PredicateType string   `json:"predicate_type"`
	Digests       []string `json:"digests"`
	ViaAlias      *struct {
		Digest string `json:"digest"`
		Claims []struct {
			Seq     uint64 `json:"seq"`
			Signers []struct {
				ID string `json:"id"`
			} `json:"signers"`
		} `json:"claims"`
	} `json:"via_alias"`
	Status     string `json:"status"`
	Revocation *struct {
		Kind     string `json:"kind"`
		ID       string `json:"id"`
		Action   string `json:"action"`
		Reason   string `json:"reason"`
		Seq      uint64 `json:"seq"`
		Revokers []struct {
			ID    string `json:"id"`
			Label string `json:"label"`
		} `json:"revokers"`
	} `json:"revocation"`
	TUF *struct {
		Repo           string   `json:"repo"`
		Role           string   `json:"role"`
		Targets        []string `json:"targets"`
		Version        int64    `json:"version"`
		CurrentVersion int64    `json:"current_version"`
		ListedNow      bool     `json:"listed_now"`
	} `json:"tuf"`
	Manifest string `json:"manifest"`
}

func TestSubjectAcrossRestart(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			flags := b.seed(t)
			d := startTrustd(t, flags...)
			first := checkSubject(t, d.grpcAddr)
			d.stop(t)

			d = startTrustd(t, flags...)
			again := checkSubject(t, d.grpcAddr)
			if again.ID != first.ID {
				t.Errorf("subject id after restart = %d, want %d", again.ID, first.ID)
			}
			text := trustctl(t, d.grpcAddr, "subject", storetest.Seeded.SHA256.String())
			for _, want := range []string{"digest " + storetest.Seeded.SHA256.String(), "alias " + storetest.Seeded.SHA512.String(),
				"claimed by " + storetest.Seeded.Signer, "evidence: 1\n", "(also names " + storetest.Seeded.SHA512.String() + "): valid\n"} {
				if !strings.Contains(text.stdout, want) {
					t.Errorf("trustctl subject text lacks %q:\n%s", want, text.stdout)
				}
			}
			// The seeded statement names both digests: one fact, shown
			// once, as reached directly.
			if strings.Contains(text.stdout, "[via alias") {
				t.Errorf("trustctl subject shows the seeded statement again via its alias:\n%s", text.stdout)
			}
			d.stop(t)
		})
	}
}

func checkSubject(t *testing.T, addr string) subjectJSON {
	t.Helper()
	r := trustctl(t, addr, "subject", "--output", "json", storetest.Seeded.SHA256.Format("multihash"))
	if r.code != 0 {
		t.Fatalf("trustctl subject: exit %d: %s", r.code, r.stderr)
	}
	var s subjectJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("trustctl subject -o json: %v\n%s", err, r.stdout)
	}
	if s.Digest != storetest.Seeded.SHA256.String() || len(s.Aliases) != 2 || s.Aliases[1].Digest != storetest.Seeded.SHA512.String() ||
		!s.Aliases[1].SameSubject || len(s.Aliases[1].Claims) != 1 ||
		s.Aliases[1].Claims[0].Source != "statement" || len(s.Aliases[1].Claims[0].Signers) != 1 || s.Aliases[1].Claims[0].Signers[0].ID != storetest.Seeded.Signer {
		t.Errorf("subject = %+v", s)
	}
	if len(s.Facts) != 1 || len(s.Facts[0].Digests) != 2 || s.Facts[0].ViaAlias != nil || s.Facts[0].Status != "valid" {
		t.Errorf("facts = %+v, want the seeded statement once, naming both digests, valid", s.Facts)
	}
	return s
}

func TestTrustctlErrors(t *testing.T) {
	d := startTrustd(t, "--data-dir", t.TempDir())
	unknown := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name   string
		server string
		args   []string
		code   int
		stderr string
	}{
		{"unknown digest", d.grpcAddr, []string{"subject", unknown}, 1, "no subject known"},
		{"malformed digest", d.grpcAddr, []string{"subject", "sha256:xyz"}, 2, "DIGEST: digest \"sha256:xyz\""},
		{"unknown algorithm", d.grpcAddr, []string{"aliases", "md5:d41d8cd98f00b204e9800998ecf8427e"}, 2, "unknown algorithm"},
		{"bad output", d.grpcAddr, []string{"subject", "--output", "yaml", unknown}, 2, "--output"},
		{"unreachable", "127.0.0.1:1", []string{"subject", "--timeout", "3s", unknown}, 2, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := trustctl(t, tc.server, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("exit %d stderr %q; want exit %d and one line containing %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestTrustdConfigErrors(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"postgres does not connect", []string{"--db", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "--db: postgres: connect"},
		{"unknown db scheme", []string{"--db", "mysql://x"}, "--db: \"mysql://x\""},
		{"data dir not writable", []string{"--data-dir", filepath.Join(notADir, "sub")}, "--data-dir"},
		{"bad listen address", []string{"--data-dir", t.TempDir(), "--grpc-addr", "nonsense"}, "--grpc-addr"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, "trustd", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("trustd %v: exit %d stderr %q; want exit 2 naming %q", tc.args, r.code, r.stderr, tc.stderr)
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(binDir, "trustd"), "migrate")
		cmd.Env = append(os.Environ(), "TRUSTD_DB=sqlite:"+filepath.Join(t.TempDir(), "env.db"))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "migrated sqlite") || !strings.Contains(string(out), "env.db") {
			t.Errorf("TRUSTD_DB migrate: %v %s", err, out)
		}
	})
}

func TestDigestMatchesCoreutils(t *testing.T) {
	path := filepath.Join(t.TempDir(), "artifact.bin")
	data := bytes.Repeat([]byte("trustd integration artifact\n"), 100000)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []struct{ alg, cmd string }{{"sha256", "sha256sum"}, {"sha512", "sha512sum"}, {"blake2b-512", "b2sum"}} {
		out, err := exec.Command(tool.cmd, path).Output()
		if err != nil {
			t.Fatalf("%s: %v", tool.cmd, err)
		}
		want := tool.alg + ":" + strings.Fields(string(out))[0]
		r := run(t, nil, "trustctl", "digest", "--algorithm", tool.alg, path)
		if r.code != 0 || r.stdout != want+"  "+path+"\n" {
			t.Errorf("trustctl digest -a %s = %d %q, want %q (from %s)", tool.alg, r.code, r.stdout, want, tool.cmd)
		}
	}
	r := run(t, bytes.NewReader(data), "trustctl", "digest", "--output", "json", "-")
	var out struct {
		Size    int64 `json:"size"`
		Digests []struct {
			Algorithm string `json:"algorithm"`
			Digest    string `json:"digest"`
		} `json:"digests"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("trustctl digest -o json -: %d %v %s %s", r.code, err, r.stdout, r.stderr)
	}
	if out.Size != int64(len(data)) || len(out.Digests) != 8 {
		t.Errorf("json digest of stdin: size %d, %d digests; want %d and all 8 algorithms", out.Size, len(out.Digests), len(data))
	}
	if r := run(t, nil, "trustctl", "digest", "--algorithm", "md5", path); r.code != 2 || !strings.Contains(r.stderr, "--algorithm") {
		t.Errorf("unknown algorithm: exit %d %q", r.code, r.stderr)
	}
	if r := run(t, nil, "trustctl", "digest", filepath.Join(t.TempDir(), "missing")); r.code != 2 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: exit %d %q", r.code, r.stderr)
	}
}

// mustSucceed fails the test unless the trustctl run r (described by what)
// exited 0, showing its output, and returns r.
func mustSucceed(t testing.TB, r result, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s\n%s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

// writeFile writes content to dir/name (0644) and returns the path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
