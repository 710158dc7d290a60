package revocation_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// tufEntries returns the log entries of TUF targets metadata listing
// content, by repository.
func (e *env) tufEntries(t testing.TB, content string) map[string]store.EntryMeta {
	t.Helper()
	ctx := context.Background()
	ev, err := e.store.Evidence(ctx, store.EvidenceQuery{Digests: []digestT{sha256Of(content)}, PredicateType: tufstore.PredicateType, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.EntryMeta{}
	for _, r := range ev {
		st, err := e.store.Statement(ctx, r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := tufstore.Describe(st)
		if err != nil {
			t.Fatal(err)
		}
		out[desc.Repo] = r.Meta()
	}
	return out
}

// TestWrittenByPublisher: of the log entries listing a digest, those the
// publisher wrote (its TUF role's metadata, or an entry signed by a key of
// the role) are the publisher's, and a mirror's are not, whoever mirrors:
// reputation links aliases only through the publisher's entries.
func TestWrittenByPublisher(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		_, ownerMeta := e.tufKey(t)
		_, strangerMeta := e.tufKey(t)
		e.tufPublish(t, "acme/app", ownerMeta, "app.tar.gz", []byte("app"))
		e.tufPublish(t, "stranger/mirror", strangerMeta, "app.tar.gz", []byte("app"))
		// The owner's key signs the targets of another repository too.
		e.tufPublish(t, "acme/mirror", ownerMeta, "app-copy.tar.gz", []byte("app"))
		e.tufPublish(t, "stranger/tool", strangerMeta, "tool.tar.gz", []byte("tool"))
		app, tool := e.tufEntries(t, "app"), e.tufEntries(t, "tool")
		if len(app) != 3 || len(tool) != 1 {
			t.Fatalf("TUF entries %v and %v; want three repositories listing app, one tool", app, tool)
		}
		for _, tc := range []struct {
			name    string
			content string
			entries []store.EntryMeta
			want    []int64
		}{
			{"the owner's release", "app", []store.EntryMeta{app["acme/app"], app["stranger/mirror"], app["acme/mirror"]},
				[]int64{app["acme/app"].Seq, app["acme/mirror"].Seq}},
			{"the stranger's own release", "tool", []store.EntryMeta{tool["stranger/tool"], app["acme/app"]}, []int64{tool["stranger/tool"].Seq}},
			{"a digest nobody published", "nothing", []store.EntryMeta{app["acme/app"]}, nil},
			{"a TUF entry that does not exist", "app", []store.EntryMeta{app["acme/app"], {Seq: 1 << 40, PayloadType: app["acme/app"].PayloadType, PredicateType: tufstore.PredicateType}},
				[]int64{app["acme/app"].Seq}},
			{"no entries", "app", nil, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.svc.WrittenByPublisher(ctx, sha256Of(tc.content), tc.entries...)
				if err != nil || !slices.Equal(got, tc.want) {
					t.Fatalf("WrittenByPublisher = %v, %v; want %v", got, err, tc.want)
				}
			})
		}
	})
}

// TestFirstPublicationIgnoresMirrors is the attack on the cost of "who
// publishes this": anyone may list a release in a TUF repository of their
// own, version after version, and every version is an entry naming it.
// Finding the release's first publication must not read through them:
// the reads stay the same from 1 mirror version to 120.
func TestFirstPublicationIgnoresMirrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		owner, ownerMeta := e.tufKey(t)
		stranger, strangerMeta := e.tufKey(t)
		content := []byte("app")
		e.tufPublish(t, "acme/app", ownerMeta, "app.tar.gz", content)
		svc, mirror := tuftest.InitRepo(t, e.store, e.log, "stranger/mirror", strangerMeta)
		var current []byte
		listed := 0
		list := func(n int) {
			t.Helper()
			for range n {
				listed++
				current = mirror.SignTargets(t, current, fmt.Sprintf("copy-%d.tar.gz", listed), content)
				if _, err := svc.Upload(ctx, mirror.Name, metadata.TARGETS, current); err != nil {
					t.Fatal(err)
				}
			}
		}
		counted := &teststore.Reads{Store: e.store}
		svc2 := revocation.New(counted, revocation.Config{})
		ask := func() int64 {
			t.Helper()
			before := counted.N()
			if ok, err := svc2.IsPublisher(ctx, owner.id, sha256Of("app")); err != nil || !ok {
				t.Fatalf("IsPublisher(owner) = %v, %v; want true", ok, err)
			}
			if ok, err := svc2.IsPublisher(ctx, stranger.id, sha256Of("app")); err != nil || ok {
				t.Fatalf("IsPublisher(mirror) = %v, %v; want false", ok, err)
			}
			return counted.N() - before
		}
		list(1)
		reads := ask()
		list(119)
		if flooded := ask(); flooded != reads {
			t.Errorf("119 more mirror versions took the question from %d to %d reads", reads, flooded)
		}
	})
}
