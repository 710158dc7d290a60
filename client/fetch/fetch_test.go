package fetch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustd-dev/trustd/client/fetch"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/certtest"
)

// loopback is the one non-public network the tests let Get reach; servers
// on 127.0.0.2 stand for private addresses that must never be contacted.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func digests(b []byte) (s256, s512 digest.Digest) {
	a := sha256.Sum256(b)
	c := sha512.Sum512(b)
	s256, _ = digest.New(digest.SHA256, a[:])
	s512, _ = digest.New(digest.SHA512, c[:])
	return s256, s512
}

// server is an https server on addr (127.0.0.1 or 127.0.0.2) counting the
// connections it accepted.
type server struct {
	*httptest.Server
	conns atomic.Int32
}

func newServer(t *testing.T, addr string, h http.Handler) *server {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// serveBytes serves b with Range support, ETag and Last-Modified.
func serveBytes(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "a.bin", time.Unix(1e9, 0), bytes.NewReader(b))
	})
}

// cutOnce serves b, but the first full GET stops after half the bytes and
// drops the connection.
func cutOnce(b []byte, cuts *atomic.Int32) http.Handler {
	full := serveBytes(b)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" || cuts.Add(1) > 1 {
			full.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}

func pool(ss ...*server) *x509.CertPool {
	p := x509.NewCertPool()
	for _, s := range ss {
		p.AddCert(s.Certificate())
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGet(t *testing.T) {
	art := randomBytes(t, 3<<20+17)
	s256, s512 := digests(art)
	other := randomBytes(t, len(art))
	o256, _ := digests(other)

	good := newServer(t, "127.0.0.1", serveBytes(art))
	tampered := newServer(t, "127.0.0.1", serveBytes(other))
	broken := newServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	private := newServer(t, "127.0.0.2", serveBytes(art))
	redirect := newServer(t, "127.0.0.1", http.RedirectHandler(private.URL+"/a.bin", http.StatusFound))
	var cuts atomic.Int32
	cut := newServer(t, "127.0.0.1", cutOnce(art, &cuts))
	var loops atomic.Int32
	var loop *server
	loop = newServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	}))
	roots := pool(good, tampered, broken, private, redirect, cut, loop)

	auth := func(u string) fetch.Location {
		return fetch.Location{URL: u + "/a.bin", Kind: fetch.Authoritative, Claimer: "publisher"}
	}
	mirror := func(u string) fetch.Location {
		return fetch.Location{URL: u + "/a.bin", Kind: fetch.Mirror, Claimer: "stranger"}
	}
	withLen := func(l fetch.Location, n int64) fetch.Location { l.Length = n; return l }
	withDigests := func(l fetch.Location, ds ...digest.Digest) fetch.Location { l.Digests = ds; return l }

	tests := []struct {
		name     string
		want     digest.Digest
		locs     []fetch.Location
		mirrors  bool
		from     string // URL the bytes must come from; "" when Get must fail
		err      error
		failures int
		resumes  int
		silent   *server // must see no connection
		max      int64
	}{
		{name: "by sha256", want: s256, locs: []fetch.Location{auth(good.URL)}, from: good.URL},
		{name: "by sha512 with the publisher's sha256 and length", want: s512, locs: []fetch.Location{withLen(withDigests(auth(good.URL), s256), int64(len(art)))}, from: good.URL},
		{name: "first location down", want: s256, locs: []fetch.Location{auth(broken.URL), auth(good.URL)}, from: good.URL, failures: 1},
		{name: "tampered mirror refused, next used", want: s512, locs: []fetch.Location{mirror(tampered.URL), mirror(good.URL)}, mirrors: true, from: good.URL, failures: 1},
		{name: "tampered only", want: s256, locs: []fetch.Location{auth(tampered.URL)}, err: fetch.ErrMismatch},
		{name: "location names other bytes' sha256", want: s512, locs: []fetch.Location{withDigests(auth(good.URL), o256)}, err: fetch.ErrMismatch},
		{name: "longer than the publisher's length", want: s256, locs: []fetch.Location{withLen(auth(good.URL), int64(len(art)-1))}, err: fetch.ErrMismatch},
		{name: "larger than the cap", want: s256, locs: []fetch.Location{auth(good.URL)}, max: int64(len(art) - 1), err: fetch.ErrTooLarge},
		{name: "mirrors not asked for", want: s256, locs: []fetch.Location{mirror(good.URL)}, err: fetch.ErrNoLocations},
		{name: "authoritative before mirrors", want: s256, locs: []fetch.Location{mirror(tampered.URL), auth(good.URL)}, mirrors: true, from: good.URL},
		{name: "cut transfer resumed", want: s512, locs: []fetch.Location{auth(cut.URL)}, from: cut.URL, resumes: 1},
		{name: "private address never contacted", want: s256, locs: []fetch.Location{mirror(private.URL), mirror(good.URL)}, mirrors: true, from: good.URL, failures: 1, silent: private},
		{name: "redirect to a private address", want: s256, locs: []fetch.Location{auth(redirect.URL)}, err: fetch.ErrForbiddenAddress, silent: private},
		{name: "redirect loop capped", want: s256, locs: []fetch.Location{auth(loop.URL)}, err: fetch.ErrUnavailable},
		{name: "plain http refused", want: s256, locs: []fetch.Location{auth(strings.Replace(good.URL, "https", "http", 1))}, err: fetch.ErrBadLocation},
		{name: "file scheme refused", want: s256, locs: []fetch.Location{auth("file:///etc")}, err: fetch.ErrBadLocation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loops.Store(0)
			defer func() {
				if n := loops.Load(); n > fetch.DefaultMaxRedirects+1 {
					t.Errorf("%d requests to the redirect loop, want at most %d", n, fetch.DefaultMaxRedirects+1)
				}
			}()
			if tc.silent != nil {
				tc.silent.conns.Store(0)
			}
			out := filepath.Join(t.TempDir(), "out.bin")
			res, err := fetch.Get(context.Background(), tc.want, fetch.Options{
				Source: fetch.StaticLocations(tc.locs), Out: out, Mirrors: tc.mirrors,
				RootCAs: roots, AllowNetworksUnsafe: loopback, MaxBytes: tc.max,
			})
			if tc.silent != nil && tc.silent.conns.Load() != 0 {
				t.Errorf("the private server saw %d connections", tc.silent.conns.Load())
			}
			if tc.from == "" {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if _, serr := os.Stat(out); !os.IsNotExist(serr) {
					t.Errorf("--out exists after a failed get: %v", serr)
				}
				left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*"))
				if len(left) != 0 {
					t.Errorf("files left behind: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, art) {
				t.Fatalf("out holds %d bytes (%v), want the artifact's %d", len(got), err, len(art))
			}
			if !strings.HasPrefix(res.Location.URL, tc.from) || len(res.Failures) != tc.failures || res.Resumes != tc.resumes {
				t.Errorf("from %s, %d failures %v, %d resumes; want %s, %d, %d", res.Location.URL, len(res.Failures), res.Failures, res.Resumes, tc.from, tc.failures, tc.resumes)
			}
			if res.Digests[0] != tc.want || res.Size != int64(len(art)) {
				t.Errorf("result %v %d", res.Digests, res.Size)
			}
			if d, _ := (digest.Result{Digests: res.Digests}).Get(digest.SHA256); d != s256 {
				t.Errorf("sha256 = %v, want %v", d, s256)
			}
		})
	}
}

// TestGetResumeRefusedWhenChanged: a location whose content changes
// between the cut and the Range request is not spliced; Get moves on.
func TestGetResumeRefusedWhenChanged(t *testing.T) {
	art := randomBytes(t, 1<<20)
	s256, _ := digests(art)
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			cutOnce(art, new(atomic.Int32)).ServeHTTP(w, r)
			return
		}
		w.Header().Set("ETag", `"v2"`)
		b := bytes.Repeat([]byte{'x'}, len(art))
		if r.Header.Get("If-Range") == `"v1"` {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "a.bin", time.Unix(2e9, 0), bytes.NewReader(b))
	})
	s := newServer(t, "127.0.0.1", h)
	out := filepath.Join(t.TempDir(), "out")
	_, err := fetch.Get(context.Background(), s256, fetch.Options{Source: fetch.StaticLocations{{URL: s.URL + "/a", Kind: fetch.Authoritative}},
		Out: out, RootCAs: pool(s), AllowNetworksUnsafe: loopback})
	if !errors.Is(err, fetch.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

// TestGetCheck: a failing Check leaves --out untouched.
func TestGetCheck(t *testing.T) {
	art := randomBytes(t, 1000)
	s256, _ := digests(art)
	s := newServer(t, "127.0.0.1", serveBytes(art))
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("policy failed")
	_, err := fetch.Get(context.Background(), s256, fetch.Options{Source: fetch.StaticLocations{{URL: s.URL + "/a", Kind: fetch.Authoritative}},
		Out: out, RootCAs: pool(s), AllowNetworksUnsafe: loopback,
		Check: func(_ context.Context, p string, _ *fetch.Result) error {
			if b, _ := os.ReadFile(p); !bytes.Equal(b, art) {
				t.Errorf("Check saw %d bytes", len(b))
			}
			return refused
		}})
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("out = %q", b)
	}
}

// TestGetOCI fetches a blob by digest from a registry (go-containerregistry's
// in-memory one over plain http on loopback), by its sha256 and, through
// the publisher's sha256, by sha512.
func TestGetOCI(t *testing.T) {
	art := randomBytes(t, 2<<20)
	s256, s512 := digests(art)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	repo, err := name.NewRepository(host+"/acme/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(repo, static.NewLayer(art, types.OCILayer)); err != nil {
		t.Fatal(err)
	}
	other := randomBytes(t, 100)
	o256, _ := digests(other)
	if err := remote.WriteLayer(repo, static.NewLayer(other, types.OCILayer)); err != nil {
		t.Fatal(err)
	}
	loc := func(d digest.Digest) fetch.Location {
		return fetch.Location{URL: fmt.Sprintf("oci://%s/acme/app@%s", host, d), Kind: fetch.Authoritative}
	}
	for _, tc := range []struct {
		name string
		want digest.Digest
		loc  fetch.Location
		http bool
		err  error
	}{
		{"by sha256", s256, loc(s256), true, nil},
		{"by sha512 through the registry's sha256", s512, loc(s256), true, nil},
		{"by sha512, the location holding other bytes", s512, loc(o256), true, fetch.ErrMismatch},
		{"plain http registry refused", s256, loc(s256), false, fetch.ErrBadLocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := fetch.Get(context.Background(), tc.want, fetch.Options{Source: fetch.StaticLocations{tc.loc}, Out: out,
				AllowHTTPUnsafe: tc.http, AllowNetworksUnsafe: loopback})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, art) {
				t.Fatal("wrong bytes")
			}
		})
	}
}

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fd00::1", false}, {"100.64.0.1", false}, {"0.0.0.0", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"224.0.0.1", false}, {"::", false}, {"64:ff9b::a00:1", false},
	} {
		if got := fetch.Public(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// TestGetExtraRootCAs: ExtraRootCAs verify a private mirror without the
// system's roots replacing them, the name is still checked, and a chain
// neither they nor the system's roots verify is refused.
func TestGetExtraRootCAs(t *testing.T) {
	art := randomBytes(t, 1000)
	s256, _ := digests(art)
	s := newServer(t, "127.0.0.1", serveBytes(art))
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	other := certtest.NewCA(t, "another CA")
	tests := []struct {
		name  string
		url   string
		extra *x509.CertPool
		ok    bool
	}{
		{"the mirror's CA", s.URL + "/a", pool(s), true},
		{"another CA", s.URL + "/a", other.Pool(), false},
		// httptest's certificate names 127.0.0.1 and example.com, not localhost.
		{"the mirror's CA, another name", "https://localhost:" + port + "/a", pool(s), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, err := fetch.Get(context.Background(), s256, fetch.Options{Source: fetch.StaticLocations{{URL: tc.url, Kind: fetch.Authoritative}},
				Out: out, ExtraRootCAs: tc.extra, AllowNetworksUnsafe: append(slices.Clone(loopback), netip.MustParsePrefix("::1/128"))})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if !tc.ok && (!strings.Contains(err.Error(), "certificate") || fileExists(out)) {
				t.Fatalf("err = %v (want a certificate error), out written %v", err, fileExists(out))
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
