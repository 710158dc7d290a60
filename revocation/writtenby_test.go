package revocation_test

import (
	"context"
	"slices"
	"testing"

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
