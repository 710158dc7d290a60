package pgp

import (
	"errors"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
)

const (
	h256  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	h256b = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	h512  = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)

// TestParseManifest covers the GNU and BSD formats, escaping, and the
// lines that must be reported rather than indexed.
func TestParseManifest(t *testing.T) {
	type entry struct {
		line   int
		name   string
		digest string
		binary bool
	}
	for _, tc := range []struct {
		name     string
		in       string
		opts     ManifestOptions
		want     []entry
		problems []int // line numbers reported
	}{
		{name: "sha256sum text and binary", in: h256 + "  a.txt\n" + h256b + " *b.bin\n",
			want: []entry{{1, "a.txt", "sha256:" + h256, false}, {2, "b.bin", "sha256:" + h256b, true}}},
		{name: "sha512sum and crlf", in: h512 + "  a b.iso\r\n",
			want: []entry{{1, "a b.iso", "sha512:" + h512, false}}},
		{name: "escaped name", in: `\` + h256 + `  dir/a\\b\nc` + "\n",
			want: []entry{{1, "dir/a\\b\nc", "sha256:" + h256, false}}},
		{name: "unescaped backslash is literal", in: h256 + `  a\b` + "\n",
			want: []entry{{1, `a\b`, "sha256:" + h256, false}}},
		{name: "bad escape", in: `\` + h256 + `  a\x` + "\n", problems: []int{1}},
		{name: "BSD tags", in: "SHA256 (a.txt) = " + h256 + "\nSHA512 (b (1).txt) = " + h512 + "\nBLAKE2b (c) = " + h512 + "\nBLAKE2b-256 (d) = " + h256 + "\nSHA3-256 (e) = " + h256 + "\n",
			want: []entry{{1, "a.txt", "sha256:" + h256, false}, {2, "b (1).txt", "sha512:" + h512, false}, {3, "c", "blake2b-512:" + h512, false}, {4, "d", "blake2b-256:" + h256, false}, {5, "e", "sha3-256:" + h256, false}}},
		{name: "b2sum output", in: h512 + "  a\n" + h256 + "  b\n", opts: ManifestOptionsFor("B2SUMS"),
			want: []entry{{1, "a", "blake2b-512:" + h512, false}, {2, "b", "blake2b-256:" + h256, false}}},
		{name: "SHA256SUMS rejects other lengths", in: h512 + "  a\n", opts: ManifestOptionsFor("release/SHA256SUMS"), problems: []int{1}},
		{name: "md5 and sha1 refused", in: strings.Repeat("a", 32) + "  a\nMD5 (b) = " + strings.Repeat("a", 32) + "\n" + strings.Repeat("b", 40) + "  c\n", problems: []int{1, 2, 3}},
		{name: "garbage, comment and blank lines", in: "hello world\n\n# comment\n" + h256 + "  ok\nSHA256 (x) = zz\n" + h256 + "\n",
			want: []entry{{4, "ok", "sha256:" + h256, false}}, problems: []int{1, 3, 5, 6}},
		{name: "smuggled second digest for the same file", in: h256 + "  a.tar\n" + h256b + "  b.tar\nSHA256 (a.tar) = " + h256b + "\n",
			want: []entry{{2, "b.tar", "sha256:" + h256b, false}}, problems: []int{1, 3}},
		{name: "smuggled through escaping", in: h256 + "  a\\\\b\n\\" + h256b + "  a\\\\\\\\b\n",
			problems: []int{1, 2}},
		{name: "exact repeat indexed once", in: h256 + "  a\n" + h256 + " *a\n",
			want: []entry{{1, "a", "sha256:" + h256, false}}, problems: []int{2}},
		{name: "same file, two algorithms", in: h256 + "  a\n" + h512 + "  a\n",
			want: []entry{{1, "a", "sha256:" + h256, false}, {2, "a", "sha512:" + h512, false}}},
		{name: "uppercase hex", in: strings.ToUpper(h256) + "  a\n", want: []entry{{1, "a", "sha256:" + h256, false}}},
		{name: "one space only", in: h256 + " a\n", problems: []int{1}},
		{name: "empty name", in: h256 + "  \n", problems: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, problems, err := ParseManifestWith([]byte(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tc.want) {
				t.Fatalf("entries %+v, want %+v (problems %v)", entries, tc.want, problems)
			}
			for i, w := range tc.want {
				e := entries[i]
				if e.Line != w.line || e.Name != w.name || e.Digest != digest.MustParse(w.digest) || e.Binary != w.binary {
					t.Errorf("entry %d: %+v, want %+v", i, e, w)
				}
			}
			var lines []int
			for _, p := range problems {
				lines = append(lines, p.Line)
				if p.Reason == "" || p.String() == "" {
					t.Errorf("problem without reason: %+v", p)
				}
			}
			if len(lines) != len(tc.problems) {
				t.Fatalf("problems %v, want lines %v", problems, tc.problems)
			}
			for i := range lines {
				if lines[i] != tc.problems[i] {
					t.Fatalf("problems %v, want lines %v", problems, tc.problems)
				}
			}
		})
	}
}

// TestParseManifestLimits checks the bounds and the misuse errors.
func TestParseManifestLimits(t *testing.T) {
	if _, _, err := ParseManifest(make([]byte, MaxManifestBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if _, _, err := ParseManifest([]byte(strings.Repeat("\n", MaxManifestLines+1))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too many lines: %v", err)
	}
	if _, _, err := ParseManifest(fixture(t, "SHA256SUMS.ed25519.clear")); !errors.Is(err, ErrMalformed) {
		t.Errorf("clearsigned input: %v", err)
	}
	if _, _, err := ParseManifestWith(nil, ManifestOptions{Untagged: []digest.Algorithm{digest.SHA256, digest.BLAKE2b_256}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("ambiguous options: %v", err)
	}
	long := h256 + "  " + strings.Repeat("n", MaxManifestNameBytes+1) + "\n"
	if e, p, err := ParseManifest([]byte(long)); err != nil || len(e) != 0 || len(p) != 1 {
		t.Errorf("long name: %v %v %v", e, p, err)
	}
}
