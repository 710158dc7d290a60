package releaseimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trustd")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuildReproducible: the same inputs give the same digest, so a
// release can be rebuilt and compared; each input changes it.
func TestBuildReproducible(t *testing.T) {
	bin := fakeBinary(t, "\x7fELF not really\n")
	base := Options{Binary: bin, OS: "linux", Arch: "amd64", Version: "v1.2.3", Revision: strings.Repeat("a", 40), Created: time.Unix(1700000000, 0)}
	digest := func(o Options) string {
		t.Helper()
		img, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		// As make image writes it: into an OCI layout, read back and
		// validated (every digest and size checked).
		p, err := layout.Write(t.TempDir(), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		back, err := p.Image(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(back); err != nil {
			t.Fatalf("invalid image: %v", err)
		}
		return d.String()
	}
	first := digest(base)
	if again := digest(base); again != first {
		t.Fatalf("rebuild gave %s, first build %s", again, first)
	}
	for name, change := range map[string]func(*Options){
		"binary":  func(o *Options) { o.Binary = fakeBinary(t, "other bytes\n") },
		"created": func(o *Options) { o.Created = o.Created.Add(time.Second) },
		"version": func(o *Options) { o.Version = "v1.2.4" },
		"arch":    func(o *Options) { o.Arch = "arm64" },
	} {
		o := base
		change(&o)
		if digest(o) == first {
			t.Errorf("changing the %s kept the digest", name)
		}
	}
}

func TestBuildContents(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0)
	img, err := Build(Options{Binary: fakeBinary(t, "binary"), CABundle: ca, OS: "linux", Arch: "amd64", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		mode int64
		uid  int
		dir  bool
	}{
		"etc":                               {0o755, 0, true},
		"etc/group":                         {0o644, 0, false},
		"etc/passwd":                        {0o644, 0, false},
		"etc/ssl":                           {0o755, 0, true},
		"etc/ssl/certs":                     {0o755, 0, true},
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0, false},
		"tmp":                               {0o1777, 0, true},
		"trustd":                            {0o755, 0, false},
		"var":                               {0o755, 0, true},
		"var/lib":                           {0o755, 0, true},
		"var/lib/trustd":                    {0o700, UID, true},
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[h.Name]
		if !ok {
			t.Errorf("unexpected entry %s", h.Name)
			continue
		}
		seen[h.Name] = true
		if h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.uid || (h.Typeflag == tar.TypeDir) != w.dir || !h.ModTime.Equal(created) {
			t.Errorf("%s: mode %o uid %d gid %d type %c mtime %s", h.Name, h.Mode, h.Uid, h.Gid, h.Typeflag, h.ModTime)
		}
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("missing %s", n)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/trustd" || c.WorkingDir != StateDir ||
		!cf.Created.Equal(created) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config %+v", cf)
	}
	if _, ok := c.ExposedPorts["7400/tcp"]; !ok {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	if c.Labels["org.opencontainers.image.created"] != "2023-11-14T22:13:20Z" {
		t.Errorf("labels %v", c.Labels)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{OS: "linux", Arch: "amd64"}, "Binary"},
		{Options{Binary: "/nonexistent/trustd", OS: "linux", Arch: "amd64"}, "binary"},
		{Options{Binary: fakeBinary(t, "x")}, "OS and Arch"},
		{Options{Binary: fakeBinary(t, "x"), OS: "linux", Arch: "amd64", CABundle: "/nonexistent/ca.pem"}, "CA bundle"},
	} {
		if _, err := Build(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) = %v, want an error naming %s", tc.o, err, tc.want)
		}
	}
}
