package location_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestStrangerAliasLinksNothing is the attack on GetLocations: a stranger
// registers a key, signs an alias claim saying a popular release's
// sha512 names the same bytes as a sha256 of their own, and claims a
// location of that sha256. Asking for the release by its sha512 must not
// offer the stranger's location; the publisher's own alias (its TUF
// target, carrying both hashes) does link its sha256 location.
func TestStrangerAliasLinksNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), location.Options{})
		owner, ownerTUF := e.tufKey(t, "owner")
		stranger := e.key(t, "stranger")
		app := "the popular release"
		e.tufPublish(t, "acme/app", ownerTUF, "app.tar.gz", []byte(app))
		e.mustClaim(t, owner, "oci://registry.example.com/acme/app@"+sha256Of(app).String(), "app.tar.gz", sha256Of(app))

		// The stranger's alias claim: an attestation naming both digests
		// in one subject (the store records it as an alias claim).
		if _, err := e.submit(t, statementOf(t, "https://example.com/alias/v1", map[string]string{}, "app.tar.gz", sha512Of(app), sha256Of("evil")), stranger); err != nil {
			t.Fatal(err)
		}
		e.mustClaim(t, stranger, "https://evil.example.com/evil.bin", "evil.bin", sha256Of("evil"))
		// Also one location claim naming both digests itself.
		e.mustClaim(t, stranger, "https://evil.example.com/both.bin", "both.bin", sha256Of("evil2"), sha512Of("evil2"))
		if _, err := e.submit(t, statementOf(t, "https://example.com/alias/v1", map[string]string{}, "x", sha512Of(app), sha256Of("evil2")), stranger); err != nil {
			t.Fatal(err)
		}

		r, err := e.svc.Lookup(ctx, sha512Of(app))
		if err != nil {
			t.Fatal(err)
		}
		got := uris(r)
		want := []string{"authoritative oci://registry.example.com/acme/app@" + sha256Of(app).String()}
		if !slices.Equal(got, want) {
			t.Fatalf("locations of %s = %q; want only the publisher's %q", sha512Of(app), got, want)
		}
		if !slices.Contains(r.Digests, sha256Of(app)) || slices.Contains(r.Digests, sha256Of("evil")) || slices.Contains(r.Digests, sha256Of("evil2")) {
			t.Errorf("digests %v: want the publisher's sha256 alias and no stranger's", r.Digests)
		}
		if r.Locations[0].ViaAlias != sha256Of(app) {
			t.Errorf("via alias %v, want %v", r.Locations[0].ViaAlias, sha256Of(app))
		}
		if r.Length != int64(len(app)) || r.LengthFrom != "acme/app targets v1 app.tar.gz" {
			t.Errorf("length %d from %q; want %d from the publisher's TUF target", r.Length, r.LengthFrom, len(app))
		}
		// Asked by the stranger's own digest, their location is theirs.
		r, err = e.svc.Lookup(ctx, sha256Of("evil"))
		if err != nil {
			t.Fatal(err)
		}
		if got := uris(r); !slices.Equal(got, []string{"mirror https://evil.example.com/evil.bin"}) || r.Length != 0 {
			t.Errorf("locations of the stranger's digest = %q (length %d)", got, r.Length)
		}
	})
}

// TestAliasFloodAddsNoReads is the attack on a lookup's cost: anyone may
// log statements whose subject lists a popular release's digest beside
// another, each of them an alias claim about the release. Weighing those
// claims must not read anything per claim, or a stranger sets how many
// reads every lookup of someone else's release takes.
func TestAliasFloodAddsNoReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open(t), location.Options{})
		app := e.release(t)

		var claimed int
		stranger := e.key(t, "stranger")
		flood := func(n int) {
			t.Helper()
			for range n {
				claimed++
				if _, err := e.submit(t, statementOf(t, "https://example.com/scan/v1", map[string]string{}, "x", sha512Of(app), sha256Of(fmt.Sprint("flood-", claimed))), stranger); err != nil {
					t.Fatal(err)
				}
			}
		}
		floodAddsNothing(t, e.store, sha512Of(app), "claims by a stranger", flood)
	})
}

// floodAddsNothing looks d up after flood(1), then after flood(20): the
// 20 more must change neither the answer nor its reads (freshLookup).
func floodAddsNothing(t *testing.T, st store.Store, d digest.Digest, what string, flood func(n int)) {
	t.Helper()
	flood(1)
	want, reads := freshLookup(t, st, d)
	flood(20)
	got, flooded := freshLookup(t, st, d)
	if !slices.Equal(uris(got), uris(want)) || !slices.Equal(got.Digests, want.Digests) {
		t.Errorf("20 more %s changed the lookup: %q %v -> %q %v", what, uris(want), want.Digests, uris(got), got.Digests)
	}
	if flooded != reads {
		t.Errorf("20 more %s took the lookup from %d to %d reads", what, reads, flooded)
	}
}

// mirror returns a function publishing n more versions of a stranger's
// TUF repository, each adding a target with content.
func (e *env) mirror(t *testing.T, content []byte) func(n int) {
	_, strangerTUF := e.tufKey(t, "stranger")
	svc, repo := tuftest.InitRepo(t, e.store, e.log, "evil/mirror", strangerTUF)
	var current []byte
	versions := 0
	return func(n int) {
		t.Helper()
		for range n {
			current = repo.SignTargets(t, current, fmt.Sprintf("copy-%d.tar.gz", versions), content)
			versions++
			if _, err := svc.Upload(context.Background(), "evil/mirror", metadata.TARGETS, current); err != nil {
				t.Fatalf("mirror version %d: %v", versions, err)
			}
		}
	}
}

// TestMirrorVersionsKeepLength: a stranger lists a release in a TUF
// repository of their own, in more versions than a lookup reads of the
// TUF entries naming it. The length still comes from the publisher's
// target: the publisher's entries are read by its keys, not among the
// newest anyone logged.
func TestMirrorVersionsKeepLength(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open(t), location.Options{})
		_, ownerTUF := e.tufKey(t, "owner")
		app := "the popular release"
		e.tufPublish(t, "acme/app", ownerTUF, "app.tar.gz", []byte(app))
		e.mirror(t, []byte(app))(101)
		r, err := e.svc.Lookup(context.Background(), sha256Of(app))
		if err != nil {
			t.Fatal(err)
		}
		if r.Length != int64(len(app)) || r.LengthFrom != "acme/app targets v1 app.tar.gz" {
			t.Errorf("length %d from %q; want %d from the publisher's TUF target", r.Length, r.LengthFrom, len(app))
		}
	})
}

// TestMirrorVersionsAddNoReads is the attack on a lookup's cost through
// TUF: each version of a stranger's repository listing a release is a
// publication whose target claims the release's hashes, so every lookup
// weighs it. Weighing 20 more must read nothing more.
func TestMirrorVersionsAddNoReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open(t), location.Options{})
		app := e.release(t)
		floodAddsNothing(t, e.store, sha512Of(app), "mirror versions", e.mirror(t, []byte(app)))
	})
}

// release publishes "the popular release" as app.tar.gz in acme/app,
// signed by a new owner key, with the owner's location of it.
func (e *env) release(t *testing.T) string {
	t.Helper()
	owner, ownerTUF := e.tufKey(t, "owner")
	app := "the popular release"
	e.tufPublish(t, "acme/app", ownerTUF, "app.tar.gz", []byte(app))
	e.mustClaim(t, owner, "oci://registry.example.com/acme/app@"+sha256Of(app).String(), "app.tar.gz", sha256Of(app))
	return app
}

// freshLookup looks d up through a new service over st, nothing cached
// from an earlier lookup, and counts its reads (teststore.Reads).
func freshLookup(t *testing.T, st store.Store, d digest.Digest) (location.Result, int64) {
	t.Helper()
	counted := &teststore.Reads{Store: st}
	rev := revocation.New(counted, revocation.Config{})
	r, err := location.New(counted, location.Options{Publishers: rev, Revocations: rev}).Lookup(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return r, counted.N()
}
