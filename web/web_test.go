package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/web"
)

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestPages: every page of the view on both backends, its status code,
// what it must say, and the security headers on each; bad input is a 400
// naming the fault, unknown things a 404.
func TestPages(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			mh, err := multihash.Encode(f.a256.Bytes(), multihash.SHA2_256)
			if err != nil {
				t.Fatal(err)
			}
			mb, _ := multibase.Encode(multibase.Base58BTC, mh)
			b32, _ := multibase.Encode(multibase.Base32, mh)
			tests := []struct {
				name     string
				path     string
				code     int
				location string
				want     []string
			}{
				{"index", "/", 200, "", []string{`action="/search"`, `name="q"`}},
				{"search oci", "/search?q=" + f.a256.String(), 303, "/d/" + f.a256.String(), nil},
				{"search bare hex", "/search?q=" + f.a256.Hex(), 303, "/d/" + f.a256.String(), nil},
				{"search multibase base58", "/search?q=" + mb, 303, "/d/" + f.a256.String(), nil},
				{"search multibase base32", "/search?q=" + b32, 303, "/d/" + f.a256.String(), nil},
				{"search sha512", "/search?q=" + url.QueryEscape(f.a512.String()), 303, "/d/" + f.a512.String(), nil},
				{"search empty", "/search?q=", 400, "", []string{"a digest is required"}},
				{"search bad", "/search?q=sha256:xyz", 400, "", []string{"sha256:xyz"}},
				{"digest", "/d/" + f.a256.String(), 200, "", []string{"status-valid", "Published", f.a512.String(), "https://slsa.dev/provenance/v1",
					"builderId", "acme/app", "app.tar", "<svg", "series-quality", "series-trust", "dislike", "distrust", "/log/proof/inclusion?seq=", "/log/entry/",
					"OpenPGP manifest SHA256SUMS", "https://downloads.example.com/app.tar", "authoritative"}},
				{"digest sha512 alias", "/d/" + f.a512.String(), 200, "", []string{f.a256.String(), "status-valid"}},
				{"digest multibase redirects", "/d/" + mb, 303, "/d/" + f.a256.String(), nil},
				{"revoked", "/d/" + f.b256.String(), 200, "", []string{`class="verdict status-revoked"`, "malicious", f.authority}},
				// Only a stranger's statements name artifact C: trustd may
				// show them, never vouch for the bytes on their word.
				{"digest claims omitted", "/d/" + f.c256.String(), 200, "", []string{"2 more alias claims not shown", `class="verdict status-unvouched"`, "No publisher"}},
				// Artifact D's publisher's release is revoked: a
				// stranger's statement does not make it good.
				{"digest publisher's entry revoked", "/d/" + f.d256.String(), 200, "", []string{`class="verdict status-revoked"`, "every entry its publishers wrote about it is revoked", "compromised"}},
				{"digest unknown", "/d/sha256:" + strings.Repeat("0", 64), 404, "", []string{"no subject known"}},
				{"digest bad", "/d/sha256:zz", 400, "", []string{"sha256:zz"}},
				{"key", "/k/" + f.publisher, 200, "", []string{f.publisher, "Valid", "What it signed", "https://slsa.dev/provenance/v1"}},
				{"key pgp", "/k/" + f.pgp, 200, "", []string{"OpenPGP certificate", "Mallory &lt;script&gt;", "https://trustd.dev/pgp/manifest/v1"}},
				{"key retired", "/k/" + f.retired, 200, "", []string{"retired", "Rotations and revocations", f.authority, "https://trustd.dev/feedback/vote/v1"}},
				{"key authority", "/k/" + f.authority, 200, "", []string{"https://trustd.dev/revocation/v1"}},
				{"key unknown", "/k/" + strings.Repeat("ab", 32), 404, "", nil},
				{"tuf repo", "/tuf-repo/" + f.repo, 200, "", []string{"acme/app", "targets", "snapshot", "timestamp", "Pending ceremonies", f.missing}},
				{"tuf unknown", "/tuf-repo/nope/repo", 404, "", nil},
				{"log", "/log", 200, "", []string{"web-test-log", "tree size", "Recent entries", "/log/proof/inclusion?seq=1"}},
				{"css", "/static/style.css", 200, "", []string{".status-revoked"}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := get(t, f.srv.URL+tc.path)
					if resp.StatusCode != tc.code {
						t.Fatalf("GET %s: %d, want %d\n%s", tc.path, resp.StatusCode, tc.code, body)
					}
					if tc.location != "" && resp.Header.Get("Location") != tc.location {
						t.Errorf("GET %s: Location %q, want %q", tc.path, resp.Header.Get("Location"), tc.location)
					}
					for _, w := range tc.want {
						if !strings.Contains(body, w) {
							t.Errorf("GET %s: page lacks %q", tc.path, w)
						}
					}
					for h, v := range map[string]string{"Content-Security-Policy": web.CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
						if got := resp.Header.Get(h); got != v {
							t.Errorf("GET %s: %s = %q, want %q", tc.path, h, got, v)
						}
					}
				})
			}
		})
	}
}

// TestEscaping: the fixture put script and attribute-breaking payloads in
// every untrusted field (key labels, subject names, predicate fields, vote
// reasons, responses, revocation comments); no page shows one verbatim,
// and each page still shows it escaped where the field is displayed.
func TestEscaping(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			pages := map[string][]string{
				"/d/" + f.a256.String(): {"&lt;script&gt;window.__pwned=1&lt;/script&gt;", "&#34;&#39;&gt;&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;"},
				"/d/" + f.b256.String(): nil,
				"/k/" + f.publisher:     nil,
				"/k/" + f.pgp:           {"Mallory &lt;script&gt;window.__pwned=1&lt;/script&gt;"},
				"/k/" + f.authority:     nil,
				"/tuf-repo/" + f.repo:   nil,
				"/log":                  nil,
				"/search?q=" + url.QueryEscape(xssScript): {"&lt;script&gt;"},
			}
			for path, escaped := range pages {
				_, body := get(t, f.srv.URL+path)
				for _, frag := range xssFragments {
					if strings.Contains(body, frag) {
						t.Errorf("GET %s: page holds %q unescaped", path, frag)
					}
				}
				for _, e := range escaped {
					if !strings.Contains(body, e) {
						t.Errorf("GET %s: page lacks the escaped payload %q (is the field shown?)", path, e)
					}
				}
			}
		})
	}
}
