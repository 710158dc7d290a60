package integration_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/certtest"
	"github.com/trustd-dev/trustd/internal/testpg"
)

// mirror is an https server on a loopback address, with a certificate from
// the test CA, counting the connections it accepted.
type mirror struct {
	url   string
	conns atomic.Int32
	srv   *http.Server
}

func startMirror(t testing.TB, ca *certtest.CA, addr string, h http.Handler) *mirror {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.Server(t, "127.0.0.2")
	m := &mirror{url: "https://" + l.Addr().String()}
	m.srv = &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				m.conns.Add(1)
			}
		}}
	go m.srv.ServeTLS(l, "", "")
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// serveFile serves b (Range, ETag) at any path.
func serveFile(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"release"`)
		http.ServeContent(w, r, "app.tar", time.Unix(1.7e9, 0), bytes.NewReader(b))
	})
}

// cutFirst serves b, but every full GET (no Range) stops half way and
// drops the connection: only a Range request gets the rest.
func cutFirst(b []byte) http.Handler {
	full := serveFile(b)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			full.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("ETag", `"release"`)
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	})
}

type getOutput struct {
	Digest   string   `json:"digest"`
	Size     int64    `json:"size"`
	Digests  []string `json:"digests"`
	Written  bool     `json:"written"`
	Resumes  int      `json:"resumes"`
	Location struct {
		URL  string `json:"url"`
		Kind string `json:"kind"`
	} `json:"location"`
	Failures []struct {
		URL   string `json:"url"`
		Kind  string `json:"kind"`
		Error string `json:"error"`
	} `json:"failures"`
	Verdict *struct {
		Outcome string `json:"outcome"`
	} `json:"verdict"`
}

const getPolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      tuf: {repo: acme/rel, pattern: "rel/*"}
  - name: other
    require:
      tuf: {repo: acme/rel, target: rel/none}
`

// TestGet drives trustctl get against the real trustd on both backends: an
// artifact published in a TUF repository, pushed to the distribution
// registry and served by https mirrors, fetched by sha256, by sha512
// through the publisher's TUF target (the registry knows only sha256) and
// by multihash; failover past a location that is down; a tampered mirror
// refused; a cut transfer resumed; a stranger's location at a private
// address never contacted; a withdrawn location no longer offered.
func TestGet(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { getFlow(t, backend) })
	}
}

func sums(b []byte) (string, string) {
	a, c := sha256.Sum256(b), sha512.Sum512(b)
	return "sha256:" + hex.EncodeToString(a[:]), "sha512:" + hex.EncodeToString(c[:])
}

func getFlow(t *testing.T, backend string) {
	work := t.TempDir()
	args := []string{"--data-dir", filepath.Join(work, "data"), "--location-allow-http", "--location-allow-private"}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	reg := startRegistry(t)
	tc := func(args ...string) result { return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }

	// Three releases of 3 MiB, published by the targets key of acme/rel
	// (TUF targets list sha256, sha512 and the length).
	rootKey, targetsKey, strangerKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem"), filepath.Join(work, "stranger.pem")
	for _, k := range []string{rootKey, targetsKey, strangerKey} {
		must(tc("key", "generate", "--out", k), "key generate")
	}
	for _, k := range []string{targetsKey, strangerKey} {
		must(tc("key", "add", k+".pub"), "key add")
	}
	must(tc("tuf", "init", "acme/rel", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	release := func(n string) ([]byte, string, string) {
		b := make([]byte, 3<<20)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(work, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		must(tc("sign", p, "--repo", "acme/rel", "--name", "rel/"+n, "--key", targetsKey), "sign "+n)
		s256, s512 := sums(b)
		return b, s256, s512
	}
	app, app256, app512 := release("app.tar")
	lib, lib256, lib512 := release("lib.tar")
	tool, tool256, _ := release("tool.tar")
	_, doc256, doc512 := release("doc.tar")

	// app is in the registry, by sha256 only.
	repo, err := name.NewRepository(reg.host + "/acme/rel")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(repo, static.NewLayer(app, types.OCILayer)); err != nil {
		t.Fatal(err)
	}
	ca := certtest.NewCA(t, "mirrors")
	caFile := ca.WriteFile(t, work, "mirror-ca")
	down := startMirror(t, ca, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	good := startMirror(t, ca, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/lib.tar"):
			serveFile(lib).ServeHTTP(w, r)
		default:
			serveFile(app).ServeHTTP(w, r)
		}
	}))
	tampered := startMirror(t, ca, "127.0.0.1", serveFile(bytes.Repeat([]byte{'x'}, len(lib))))
	cut := startMirror(t, ca, "127.0.0.1", cutFirst(tool))
	private := startMirror(t, ca, "127.0.0.2", serveFile(lib))

	predicates := 0
	claim := func(key, uri string, ds ...string) string {
		t.Helper()
		predicates++
		p := filepath.Join(work, fmt.Sprintf("location-%d.json", predicates))
		if err := os.WriteFile(p, fmt.Appendf(nil, `{"uri":%q}`, uri), 0o644); err != nil {
			t.Fatal(err)
		}
		r := must(tc("statement", "sign", "--predicate-type", "https://trustd.dev/location/v1", "--predicate", p,
			"--subject", strings.Join(ds, ","), "--key", key, "-o", "json"), "location claim "+uri)
		var out struct {
			Entry struct {
				Seq json.Number `json:"seq"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("claim %s: %v\n%s", uri, err, r.stdout)
		}
		return string(out.Entry.Seq)
	}
	// app: the publisher's own locations, the first one down, then the
	// registry (by sha256 only).
	claim(targetsKey, down.url+"/app.tar", app256)
	claim(targetsKey, "oci://"+reg.host+"/acme/rel@"+app256, app256)
	// lib: only mirrors, by a stranger: a private address first, a
	// tampered copy, a good one, and one later withdrawn.
	claim(strangerKey, private.url+"/lib.tar", lib256)
	claim(strangerKey, tampered.url+"/lib.tar", lib256)
	withdrawn := claim(strangerKey, good.url+"/withdrawn/lib.tar", lib256)
	claim(strangerKey, good.url+"/lib.tar", lib256)
	must(tc("revoke", "statement", withdrawn, "--reason", "withdrawn", "--key", strangerKey), "withdraw location")
	claim(strangerKey, tampered.url+"/doc.tar", doc256)
	// A stranger's claim that their blob in the registry is doc (its
	// sha512) too: an alias claim pointing a popular digest at their bytes.
	evil := bytes.Repeat([]byte("evil"), 1<<18)
	evil256, _ := sums(evil)
	if err := remote.WriteLayer(repo, static.NewLayer(evil, types.OCILayer)); err != nil {
		t.Fatal(err)
	}
	claim(strangerKey, "oci://"+reg.host+"/acme/rel@"+evil256, evil256, doc512)
	// tool: the publisher's location that cuts every full transfer.
	claim(targetsKey, cut.url+"/tool.tar", tool256)

	get := func(want string, extra ...string) (result, getOutput, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out.bin")
		a := append([]string{"get", want, "--out", out, "--blob-ca", caFile, "--allow-http-unsafe", "--allow-network-unsafe", "127.0.0.1/32", "-o", "json"}, extra...)
		r := tc(a...)
		var o getOutput
		if r.stdout != "" {
			if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
				t.Fatalf("get %s: not JSON: %v\n%s\n%s", want, err, r.stdout, r.stderr)
			}
		}
		return r, o, out
	}
	written := func(t *testing.T, path string, want []byte) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("--out holds %d bytes (%v), want the release's %d", len(b), err, len(want))
		}
	}
	mh := digest.MustParse(app512).Format(digest.FormatMultihash)

	// By sha256, sha512 (the registry knows only sha256) and multihash:
	// the publisher's location that is down is skipped, the registry used.
	for _, want := range []string{app256, app512, mh} {
		r, o, out := get(want)
		if r.code != 0 || !o.Written || o.Location.Kind != "authoritative" || !strings.HasPrefix(o.Location.URL, "oci://") ||
			len(o.Failures) != 1 || o.Failures[0].URL != down.url+"/app.tar" || !strings.Contains(o.Failures[0].Error, "503") {
			t.Errorf("get %s: exit %d %+v\n%s", want, r.code, o, r.stderr)
		}
		if !strings.Contains(strings.Join(o.Digests, " "), app256) || !strings.Contains(strings.Join(o.Digests, " "), app512) {
			t.Errorf("get %s: digests %v", want, o.Digests)
		}
		written(t, out, app)
	}

	// lib has only mirrors: without --mirrors nothing is fetched.
	if r, _, out := get(lib512); r.code != 2 || !strings.Contains(r.stderr, "--mirrors") {
		t.Errorf("get without --mirrors: exit %d %q", r.code, r.stderr)
	} else if _, err := os.Stat(out); err == nil {
		t.Error("--out written without a location")
	}
	// With --mirrors: the private address is refused without a
	// connection, the tampered copy refused, the good mirror used; the
	// withdrawn location is not offered.
	private.conns.Store(0)
	r, o, out := get(lib512, "--mirrors")
	if r.code != 0 || o.Location.URL != good.url+"/lib.tar" || o.Location.Kind != "mirror" || len(o.Failures) != 2 ||
		!strings.Contains(o.Failures[0].Error, "not a public address") || !strings.Contains(o.Failures[1].Error, "bytes do not match") {
		t.Errorf("get lib --mirrors: exit %d %+v\n%s", r.code, o, r.stderr)
	}
	if strings.Contains(r.stdout, "/withdrawn/") {
		t.Errorf("withdrawn location offered:\n%s", r.stdout)
	}
	written(t, out, lib)
	if n := private.conns.Load(); n != 0 {
		t.Errorf("the private address saw %d connections", n)
	}
	// Only tampered bytes on offer (the stranger's blob, if offered at
	// all, is not doc's either): refused, nothing at --out.
	r, o, out = get(doc512, "--mirrors")
	if r.code != 2 || o.Written || len(o.Failures) == 0 {
		t.Errorf("get doc: exit %d %+v\n%s", r.code, o, r.stderr)
	}
	for _, f := range o.Failures {
		if !strings.Contains(f.Error, "bytes do not match") {
			t.Errorf("get doc: %s refused for %q, want a mismatch", f.URL, f.Error)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("tampered bytes written to --out")
	}

	// tool: the transfer is cut half way, and resumed with Range.
	r, o, out = get(tool256)
	if r.code != 0 || o.Resumes != 1 || len(o.Failures) != 0 {
		t.Errorf("get tool: exit %d %+v\n%s", r.code, o, r.stderr)
	}
	written(t, out, tool)

	// --policy: the same verdict as verify, on the fetched bytes; --out
	// is written only when it passes.
	pol := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(pol, []byte(getPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	r, o, out = get(app512, "--policy", pol, "--policy-name", "release")
	if r.code != 0 || o.Verdict == nil || o.Verdict.Outcome != "pass" || !o.Written {
		t.Errorf("get --policy release: exit %d %+v\n%s", r.code, o, r.stderr)
	}
	written(t, out, app)
	r, o, out = get(app512, "--policy", pol, "--policy-name", "other")
	if r.code != 1 || o.Verdict == nil || o.Verdict.Outcome != "fail" || o.Written {
		t.Errorf("get --policy other: exit %d %+v\n%s", r.code, o, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--out written although the policy failed")
	}

	// Nothing known: exit 2, no file.
	none, _ := sums([]byte("nobody has these bytes"))
	if r, _, out := get(none); r.code != 2 || !strings.Contains(r.stderr, "no location holds the artifact") {
		t.Errorf("get unknown: exit %d %q", r.code, r.stderr)
	} else if _, err := os.Stat(out); err == nil {
		t.Error("--out written for an unknown digest")
	}
}
