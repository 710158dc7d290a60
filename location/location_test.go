package location_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/store"
)

// TestCheckURI: only https and oci locations (http where allowed), never
// file: or other schemes, credentials, fragments, or non-public addresses
// unless allowed; an oci location names one of the subject's digests.
func TestCheckURI(t *testing.T) {
	d := sha256Of("a")
	ds := []digest.Digest{d, sha512Of("a")}
	loop := location.Rules{AllowHTTP: true, AllowPrivate: true}
	for _, tc := range []struct {
		uri   string
		rules location.Rules
		want  string // "" accepted, else a word of the error
	}{
		{"https://mirror.example.com/app.tar.gz", location.Rules{}, ""},
		{"https://mirror.example.com/targets/", location.Rules{}, ""},
		{"https://bucket.example.com/a?X-Sig=1", location.Rules{}, ""},
		{"oci://registry.example.com:5000/acme/app@" + d.String(), location.Rules{}, ""},
		{"http://127.0.0.1:8080/x", loop, ""},
		{"http://mirror.example.com/x", location.Rules{}, "plain http"},
		{"file:///etc/passwd", loop, "scheme"},
		{"ftp://mirror.example.com/x", loop, "scheme"},
		{"gopher://mirror.example.com/x", location.Rules{}, "scheme"},
		{"", location.Rules{}, "required"},
		{"https://user:pw@mirror.example.com/x", location.Rules{}, "credentials"},
		{"https://mirror.example.com/x#frag", location.Rules{}, "fragment"},
		{"https://mirror.example.com/a b", location.Rules{}, "space"},
		{"https:///x", location.Rules{}, "no host"},
		{"https://127.0.0.1/x", location.Rules{}, "non-public"},
		{"https://10.1.2.3/x", location.Rules{}, "non-public"},
		{"https://169.254.169.254/latest/meta-data", location.Rules{}, "non-public"},
		{"https://[::1]/x", location.Rules{}, "non-public"},
		{"https://[fe80::1]/x", location.Rules{}, "non-public"},
		{"https://[::ffff:192.168.0.1]/x", location.Rules{}, "non-public"},
		{"https://0.0.0.0/x", location.Rules{}, "non-public"},
		{"https://localhost/x", location.Rules{}, "loopback"},
		{"https://0x7f.1/x", location.Rules{}, "numeric"},
		{"https://2130706433/x", location.Rules{}, "numeric"},
		{"https://mirror.example.com/a/../b", location.Rules{}, ".."},
		{"https://mirror.example.com/dir/?q=1", location.Rules{}, "no query"},
		{"https://mirror.example.com:99999999/x", location.Rules{}, "port"},
		{"oci://registry.example.com/acme/app", location.Rules{}, "names the blob"},
		{"oci://registry.example.com/Acme/app@" + d.String(), location.Rules{}, "repository"},
		{"oci://registry.example.com/acme/app@" + sha256Of("b").String(), location.Rules{}, "not among"},
		{"oci://registry.example.com/acme/app@sha256:ABC", location.Rules{}, "canonical"},
		{"oci://registry.example.com/acme/app@" + d.String() + "?x=1", location.Rules{}, "query"},
		{"https://" + strings.Repeat("a", location.MaxURIBytes) + ".example.com/", location.Rules{}, "longer"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			err := location.CheckURI(tc.uri, ds, tc.rules)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("accepted; want an error saying %q", tc.want)
			case !errors.Is(err, location.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "predicate.uri"):
				t.Fatalf("error %v; want ErrInvalid naming predicate.uri and saying %q", err, tc.want)
			}
		})
	}
}

// TestParse: one subject with digests, a target-path name, a predicate of
// exactly {"uri"}.
func TestParse(t *testing.T) {
	d := sha256Of("a")
	ok := `{"uri":"https://mirror.example.com/a"}`
	for _, tc := range []struct {
		name      string
		subjects  []envelope.Subject
		predicate string
		field     string
	}{
		{"good", []envelope.Subject{{Name: "dir/a.tar.gz", Digests: []digest.Digest{d}}}, ok, ""},
		{"two subjects", []envelope.Subject{{Digests: []digest.Digest{d}}, {Digests: []digest.Digest{sha256Of("b")}}}, ok, "subject"},
		{"no digest", []envelope.Subject{{Name: "a"}}, ok, "subject[0].digest"},
		{"dot-dot name", []envelope.Subject{{Name: "../a", Digests: []digest.Digest{d}}}, ok, "subject[0].name"},
		{"absolute name", []envelope.Subject{{Name: "/a", Digests: []digest.Digest{d}}}, ok, "subject[0].name"},
		{"no predicate", []envelope.Subject{{Digests: []digest.Digest{d}}}, "", "predicate"},
		{"unknown field", []envelope.Subject{{Digests: []digest.Digest{d}}}, `{"uri":"https://m.example.com/a","size":1}`, "predicate.size"},
		{"wrong type", []envelope.Subject{{Digests: []digest.Digest{d}}}, `{"uri":1}`, "predicate.uri"},
		{"trailing data", []envelope.Subject{{Digests: []digest.Digest{d}}}, ok + `{}`, "predicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := envelope.Statement{PredicateType: location.PredicateType, Subjects: tc.subjects}
			if tc.predicate != "" {
				st.Predicate = []byte(tc.predicate)
			}
			c, err := location.Parse(st, location.Rules{})
			if tc.field == "" {
				if err != nil || c.URI != "https://mirror.example.com/a" || c.Name != "dir/a.tar.gz" {
					t.Fatalf("Parse = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, location.ErrInvalid) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("error %v; want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

// TestURLs: a directory serves the file under both TUF consistent-snapshot
// names; other locations are their own address.
func TestURLs(t *testing.T) {
	ds := []digest.Digest{sha256Of("a"), sha512Of("a")}
	got := location.URLs("https://m.example.com/t/", "rel/app.tar.gz", ds)
	want := []string{"https://m.example.com/t/rel/" + ds[0].Hex() + ".app.tar.gz", "https://m.example.com/t/rel/" + ds[1].Hex() + ".app.tar.gz"}
	if !slices.Equal(got, want) {
		t.Errorf("directory URLs %q, want %q", got, want)
	}
	for _, u := range []string{"https://m.example.com/app.tar.gz", "oci://r.example.com/a@" + ds[0].String()} {
		if got := location.URLs(u, "app.tar.gz", ds); !slices.Equal(got, []string{u}) {
			t.Errorf("URLs(%s) = %q", u, got)
		}
	}
}

// TestSubmitAndLookup: through the log, on both backends: the publisher's
// location is authoritative and listed first, anyone else's a mirror;
// claims with two signers or a refused URI are not stored; a withdrawn
// (revoked) claim is no longer offered; the cap per digest refuses a
// stranger's claim beyond it but never the publisher's.
func TestSubmitAndLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), location.Options{MaxPerDigest: 3})
		owner, ownerTUF := e.tufKey(t, "owner")
		mirrorA, mirrorB, stranger := e.key(t, "mirror-a"), e.key(t, "mirror-b"), e.key(t, "stranger")
		app := "release bytes"
		e.tufPublish(t, "acme/app", ownerTUF, "app.tar.gz", []byte(app))
		ds := []digest.Digest{sha256Of(app), sha512Of(app)}

		a := e.mustClaim(t, mirrorA, "https://a.example.com/app.tar.gz", "app.tar.gz", ds...)
		e.mustClaim(t, owner, "https://acme.example.com/targets/", "app.tar.gz", ds...)
		e.mustClaim(t, mirrorB, "https://b.example.com/app.tar.gz", "app.tar.gz", ds[0])
		if _, err := e.claim(t, stranger, "https://s.example.com/app.tar.gz", "app.tar.gz", ds[0]); !errors.Is(err, location.ErrTooMany) {
			t.Fatalf("a fourth claim of %s: %v; want ErrTooMany", ds[0], err)
		}
		e.mustClaim(t, owner, "oci://registry.example.com/acme/app@"+ds[0].String(), "app.tar.gz", ds[0])
		if _, err := e.submit(t, statementOf(t, location.PredicateType, location.Predicate{URI: "https://x.example.com/a"}, "a", sha256Of("x")), mirrorA, mirrorB); !errors.Is(err, location.ErrInvalid) {
			t.Fatalf("a claim with two signers: %v; want ErrInvalid", err)
		}
		if _, err := e.claim(t, stranger, "file:///srv/app.tar.gz", "a", sha256Of("y")); !errors.Is(err, location.ErrInvalid) {
			t.Fatalf("a file: claim: %v; want ErrInvalid", err)
		}
		if n, err := e.store.LocationCount(ctx, sha256Of("y")); err != nil || n != 0 {
			t.Fatalf("refused claims stored: %d rows, %v", n, err)
		}

		r, err := e.svc.Lookup(ctx, ds[1])
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"authoritative https://acme.example.com/targets/", "authoritative oci://registry.example.com/acme/app@" + ds[0].String(),
			"mirror https://a.example.com/app.tar.gz", "mirror https://b.example.com/app.tar.gz"}
		if got := uris(r); !slices.Equal(got, want) {
			t.Fatalf("locations %q, want %q", got, want)
		}
		dir := r.Locations[0]
		if dir.KeyID != owner.id || len(dir.URLs) != 2 || dir.URLs[0] != "https://acme.example.com/targets/"+ds[0].Hex()+".app.tar.gz" || dir.Seq == 0 {
			t.Errorf("directory location %+v", dir)
		}
		if r.Length != int64(len(app)) {
			t.Errorf("length %d, want %d", r.Length, len(app))
		}

		e.withdraw(t, a, mirrorA)
		if _, err := e.svc.Lookup(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
		r, _ = e.svc.Lookup(ctx, ds[0])
		if got := uris(r); slices.Contains(got, "mirror https://a.example.com/app.tar.gz") || len(got) != 3 {
			t.Errorf("after withdrawal: %q", got)
		}

		// Content mirror A and B both hold: none now that A withdrew.
		shared, err := e.svc.Shared(ctx, mirrorB.id, owner.id, digest.Digest{}, 10)
		if err != nil || !slices.Equal(shared, []digest.Digest{ds[0]}) {
			t.Errorf("shared by B and the owner = %v, %v; want %v", shared, err, ds[0])
		}
		if shared, err := e.svc.Shared(ctx, mirrorA.id, owner.id, digest.Digest{}, 10); err != nil || len(shared) != 0 {
			t.Errorf("shared by A (withdrawn) and the owner = %v, %v; want none", shared, err)
		}
	})
}
