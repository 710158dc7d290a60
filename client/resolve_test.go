package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/digest"
)

func sums(t *testing.T, data []byte, algs ...digest.Algorithm) []digest.Digest {
	t.Helper()
	res, err := digest.Sum(context.Background(), bytes.NewReader(data), algs)
	if err != nil {
		t.Fatal(err)
	}
	return res.Digests
}

func sameDigests(a, b []digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type countingProgress struct {
	starts int
	total  int64
	done   int
}

func (p *countingProgress) Start(string, int64) { p.starts++ }
func (p *countingProgress) Add(n int64)         { p.total += n }
func (p *countingProgress) Done()               { p.done++ }

func TestResolveFileAndStdin(t *testing.T) {
	data := bytes.Repeat([]byte("release "), 100000)
	p := filepath.Join(t.TempDir(), "app.tar.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	algs := []digest.Algorithm{digest.SHA256, digest.SHA512}
	prog := &countingProgress{}
	a, err := Resolve(context.Background(), p, ResolveOptions{Algorithms: algs, Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindFile || a.Name != "app.tar.gz" || a.Size != int64(len(data)) || !sameDigests(a.Digests, sums(t, data, algs...)) ||
		!strings.HasPrefix(a.ResourceURI, "file:///") {
		t.Errorf("file: %+v", a)
	}
	if prog.starts != 1 || prog.done != 1 || prog.total != int64(len(data)) {
		t.Errorf("progress saw %+v, want one download of %d bytes", prog, len(data))
	}
	a, err = Resolve(context.Background(), "-", ResolveOptions{Stdin: bytes.NewReader(data)})
	if err != nil || a.Kind != KindStdin || !sameDigests(a.Digests, sums(t, data, digest.SHA256)) {
		t.Errorf("stdin: %+v %v", a, err)
	}
}

func TestResolveRejects(t *testing.T) {
	tests := []struct {
		ref  string
		want error
	}{
		{"", ErrBadRef},
		{"http://example.com/app", ErrBadRef},
		{"no-such-file.tar", ErrUnreadable},
		{"oci://Not A Ref", ErrBadRef},
		{t.TempDir(), ErrBadRef}, // a directory
	}
	for _, tc := range tests {
		if _, err := Resolve(context.Background(), tc.ref, ResolveOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.ref, err, tc.want)
		}
	}
}

func TestResolveHTTPS(t *testing.T) {
	data := []byte("bytes over https\n")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA case makes the handshake fail
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()
	if _, err := Resolve(ctx, srv.URL+"/app.tar.gz", ResolveOptions{}); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted CA: %v", err)
	}
	a, err := Resolve(ctx, srv.URL+"/app.tar.gz", ResolveOptions{HTTPClient: srv.Client()})
	if err != nil || a.Kind != KindHTTPS || a.Name != "app.tar.gz" || !sameDigests(a.Digests, sums(t, data, digest.SHA256)) {
		t.Fatalf("https: %+v %v", a, err)
	}
	if toks, err := FindTokens(ctx, a, ResolveOptions{HTTPClient: srv.Client()}); err != nil || len(toks) != 0 {
		t.Errorf("no sidecar: %d tokens, %v", len(toks), err)
	}
	if _, err := Resolve(ctx, srv.URL+"/missing", ResolveOptions{HTTPClient: srv.Client()}); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}

// TestResolveOCIReferrersAPI runs against go-containerregistry's registry
// with the OCI 1.1 referrers API on (the distribution registry without it
// is exercised end to end in integration/verify_test.go).
func TestResolveOCIReferrersAPI(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.ParseReference(host + "/acme/app:1.0")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.RawManifest()
	want, _ := img.Digest()
	ctx := context.Background()
	// The resource URI is the name asked for, normalised, with the
	// digest read: a tag reference keeps its tag (which tokens bind), a
	// digest reference has none.
	for ref, uri := range map[string]string{
		host + "/acme/app:1.0":                         "oci://" + host + "/acme/app:1.0@" + want.String(),
		"oci://" + host + "/acme/app@" + want.String(): "oci://" + host + "/acme/app@" + want.String(),
		host + "/acme/app:1.0@" + want.String():        "oci://" + host + "/acme/app:1.0@" + want.String(),
	} {
		a, err := Resolve(ctx, ref, ResolveOptions{Layers: true})
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if a.Kind != KindOCI || a.SHA256().String() != want.String() || a.Size != int64(len(manifest)) || len(a.OCI.Checked) != 4 ||
			a.ResourceURI != uri {
			t.Errorf("%s: resource %s, want %s; %+v %+v", ref, a.ResourceURI, uri, a, a.OCI)
		}
	}
	// A multi-platform index: every child manifest and what it references.
	idx, err := random.Index(512, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	idxTag, _ := name.ParseReference(host + "/acme/multi:1.0")
	if err := remote.WriteIndex(idxTag, idx); err != nil {
		t.Fatal(err)
	}
	if a, err := Resolve(ctx, host+"/acme/multi:1.0", ResolveOptions{Layers: true}); err != nil || len(a.OCI.Checked) != 2*(1+1+2) {
		t.Errorf("index: %v, checked %d pieces, want 8", err, len(a.OCI.Checked))
	}
	other := "sha256:" + strings.Repeat("0", 64)
	if _, err := Resolve(ctx, host+"/acme/app@"+other, ResolveOptions{}); !errors.Is(err, ErrUnreadable) {
		t.Errorf("unknown digest: %v", err)
	}

	a, err := Resolve(ctx, host+"/acme/app:1.0", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if toks, err := FindTokens(ctx, a, ResolveOptions{}); err != nil || len(toks) != 0 {
		t.Fatalf("before attach: %d tokens, %v", len(toks), err)
	}
	tok := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"c2ln"}]}`)
	where, err := AttachToken(ctx, a, tok)
	if err != nil || !strings.Contains(where, host+"/acme/app@sha256:") {
		t.Fatalf("AttachToken: %q %v", where, err)
	}
	toks, err := FindTokens(ctx, a, ResolveOptions{})
	if err != nil || len(toks) != 1 || !bytes.Equal(toks[0], tok) {
		t.Fatalf("FindTokens: %q %v", toks, err)
	}
	// The referrers API answered: no fallback tag was written.
	if _, err := remote.Get(must(name.ParseReference(host + "/acme/app:sha256-" + want.Hex))); err == nil {
		t.Error("a fallback tag was written although the registry has the referrers API")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
