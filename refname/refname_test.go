package refname

import (
	"errors"
	"strings"
	"testing"
)

var (
	hexA = strings.Repeat("a", 64)
	hexB = strings.Repeat("b", 64)
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		ref  string
		want string // canonical form; empty when an error is expected
		err  error
	}{
		// Registry host defaults and Docker Hub's library/ prefix.
		{"oci://alpine", "oci://docker.io/library/alpine:latest", nil},
		{"oci://alpine:3.19", "oci://docker.io/library/alpine:3.19", nil},
		{"docker.io/alpine:3.19", "oci://docker.io/library/alpine:3.19", nil},
		{"docker.io/library/alpine:3.19", "oci://docker.io/library/alpine:3.19", nil},
		{"index.docker.io/library/alpine:3.19", "oci://docker.io/library/alpine:3.19", nil},
		{"registry-1.docker.io/library/alpine:3.19", "oci://docker.io/library/alpine:3.19", nil},
		{"oci://index.docker.io/acme/app:1", "oci://docker.io/acme/app:1", nil},
		{"Registry.Example/acme/app:1.4", "oci://registry.example/acme/app:1.4", nil},
		{"OCI://registry.example/acme/app:1.4", "oci://registry.example/acme/app:1.4", nil},
		{"registry.example/acme/app", "oci://registry.example/acme/app:latest", nil},
		{"localhost:5000/app:1", "oci://localhost:5000/app:1", nil},
		{"localhost/app", "oci://localhost/app:latest", nil},
		{"127.0.0.1:5000/a/b/c:v1.2-rc_3", "oci://127.0.0.1:5000/a/b/c:v1.2-rc_3", nil},
		{"[::1]:5000/app:1", "oci://[::1]:5000/app:1", nil},
		// Tag versus digest: a digest reference binds no tag.
		{"registry.example/acme/app@sha256:" + hexA, "oci://registry.example/acme/app@sha256:" + hexA, nil},
		{"registry.example/acme/app:1.4@sha256:" + hexA, "oci://registry.example/acme/app:1.4@sha256:" + hexA, nil},
		// Files: the base name, wherever the file lies.
		{"file:///home/ci/dist/app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		{"file://host/dist/app%201.4.tar.gz", "file:///app%201.4.tar.gz", nil},
		{"dist/app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		{"./dist/app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		{"../app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		{"app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		{"app:1.4", "file:///app:1.4", nil},
		{"https://example.com/releases/app-1.4.tar.gz?sig=x#frag", "file:///app-1.4.tar.gz", nil},
		{"http://example.com/app-1.4.tar.gz", "file:///app-1.4.tar.gz", nil},
		// Names nothing.
		{"", "", ErrNoName},
		{"-", "", ErrNoName},
		{"stdin:", "", ErrNoName},
		// Not a reference.
		{"s3://bucket/app.tar.gz", "", ErrInvalid},
		{"https://example.com", "", ErrInvalid},
		{"https://example.com/", "", ErrInvalid},
		{"file:///tmp/", "", ErrInvalid},
		{"file://", "", ErrInvalid},
		{"https://example.com/a%zz", "", ErrInvalid},
		{"dist/", "", ErrInvalid},
		{"oci://registry.example/Acme/app:1", "", ErrInvalid},
		{"registry.example/acme/app:", "", ErrInvalid},
		{"registry.example/acme/app:-x", "", ErrInvalid},
		{"registry.example/acme/app:" + strings.Repeat("x", 129), "", ErrInvalid},
		{"registry.example/acme//app:1", "", ErrInvalid},
		{"registry.example/acme/app-:1", "", ErrInvalid},
		{"registry.example/acme/a..b:1", "", ErrInvalid},
		{"registry.example/acme/app@sha256:xyz", "", ErrInvalid},
		{"registry.example/acme/app@" + hexA, "", ErrInvalid},
		{"reg_istry.example/acme/app:1", "", ErrInvalid},
		{"registry.example:port/app:1", "", ErrInvalid},
		{"oci://" + strings.Repeat("a/", 200) + "a", "", ErrInvalid},
		{strings.Repeat("x", MaxLength+1), "", ErrInvalid},
	}
	for _, tc := range tests {
		n, err := Normalize(tc.ref)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Normalize(%q) = %v, %v; want %v", tc.ref, n, err, tc.err)
			}
			continue
		}
		if err != nil || n.String() != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.ref, n.String(), err, tc.want)
			continue
		}
		// The canonical form is a fixed point.
		if again, err := Normalize(n.String()); err != nil || again != n {
			t.Errorf("Normalize(%q) = %+v, %v; want %+v", n.String(), again, err, n)
		}
	}
}

func TestBinds(t *testing.T) {
	tag14 := "registry.example/acme/app:1.4"
	tests := []struct {
		evidence, asked string
		ok              bool
	}{
		{tag14, "oci://Registry.Example/acme/app:1.4", true},
		{"oci://registry.example/acme/app:1.4@sha256:" + hexA, tag14, true},
		{"oci://registry.example/acme/app:1.4@sha256:" + hexA, tag14 + "@sha256:" + hexA, true},
		// The retagged image: evidence for 1.3 does not bind 1.4.
		{"oci://registry.example/acme/app:1.3@sha256:" + hexA, tag14, false},
		{"oci://registry.example/acme/app:1.3@sha256:" + hexA, tag14 + "@sha256:" + hexA, false},
		// A digest reference binds no tag; asking for one by digest needs
		// only the repository.
		{"oci://registry.example/acme/app@sha256:" + hexA, tag14, false},
		{"oci://registry.example/acme/app:1.3@sha256:" + hexA, "registry.example/acme/app@sha256:" + hexA, true},
		{"oci://registry.example/acme/app@sha256:" + hexA, "registry.example/acme/app@sha256:" + hexA, true},
		{"oci://registry.example/acme/app@sha256:" + hexA, "registry.example/acme/app@sha256:" + hexB, false},
		{"oci://registry.example/acme/app", "registry.example/acme/app:latest", true},
		{"oci://registry.example/acme/other:1.4", tag14, false},
		{"oci://mirror.example/acme/app:1.4", tag14, false},
		{"oci://alpine:3.19", "index.docker.io/library/alpine:3.19", true},
		// Files: equal base names.
		{"file:///ci/dist/app-1.4.tar.gz", "https://example.com/app-1.4.tar.gz", true},
		{"file:///ci/dist/app-1.4.tar.gz", "file:///home/u/app-1.3.tar.gz", false},
		{"file:///ci/dist/app-1.4.tar.gz", tag14, false},
		{tag14, "file:///app:1.4", false},
	}
	for _, tc := range tests {
		ev, err := Normalize(tc.evidence)
		if err != nil {
			t.Fatal(err)
		}
		asked, err := Normalize(tc.asked)
		if err != nil {
			t.Fatal(err)
		}
		err = ev.Binds(asked)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrMismatch) {
			t.Errorf("%s binds %s: %v, want ok=%v", tc.evidence, tc.asked, err, tc.ok)
		}
	}
}

// FuzzNormalize: any input either normalises to a name whose canonical
// form is a fixed point that binds itself, or is refused with ErrNoName or
// ErrInvalid; nothing panics.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"oci://alpine", "registry.example/acme/app:1.4@sha256:" + hexA, "file:///a/b%20c", "https://h/x?y#z",
		"[::1]:5000/app:1", "dist/app.tar.gz", "-", "", "s3://x/y", "localhost:5000", "docker.io/a__b-c.d/e:T_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		n, err := Normalize(ref)
		if err != nil {
			if !errors.Is(err, ErrNoName) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Normalize(%.200q): %.200v matches neither ErrNoName nor ErrInvalid", ref, err)
			}
			return
		}
		again, err := Normalize(n.String())
		if err != nil || again != n {
			t.Fatalf("Normalize(%.200q) = %+v; its form %.200q normalises to %+v, %.200v", ref, n, n.String(), again, err)
		}
		if err := n.Binds(n); err != nil {
			t.Fatalf("%.200q does not bind itself: %.200v", n.String(), err)
		}
	})
}
