package tufstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

func newState(t *testing.T, st store.Store) (*tufstore.State, *statement.Log) {
	return newStateTB(t, st)
}

func newStateTB(t testing.TB, st store.Store) (*tufstore.State, *statement.Log) {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tufstore.New(st, l)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

func file(role string, v int64, data string) tuf.File {
	return tuf.File{Role: role, Version: v, Data: []byte(`{"signed":{"_type":"` + role + `","n":"` + data + `"},"signatures":[]}`)}
}

// TestStateContract holds the store-backed State to tuf.State's contract,
// as tuf.MemState fulfils it, on every backend.
func TestStateContract(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			s, _ := newState(t, st)
			const repo = "acme/images"
			if _, err := s.Get(ctx, repo, metadata.ROOT, 0); !errors.Is(err, tuf.ErrNotFound) {
				t.Fatalf("Get of an unknown repo = %v, want tuf.ErrNotFound", err)
			}
			pdoc := func(n string) []byte { return file("targets", 1, n).Data }
			pend := tuf.PendingWrite{Pending: tuf.Pending{Role: "targets", Version: 1, Digest: "d", Data: pdoc("p1")}}
			if err := s.Apply(ctx, tuf.Change{Repo: repo, PutPending: []tuf.PendingWrite{pend}}); !errors.Is(err, tuf.ErrNotFound) {
				t.Fatalf("pending write to an unknown repo = %v, want tuf.ErrNotFound", err)
			}
			root := file("root", 1, "r1")
			if err := s.Apply(ctx, tuf.Change{Repo: repo, Publish: []tuf.File{root}}); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name string
				c    tuf.Change
				err  error
			}{
				{"pending insert", tuf.Change{Repo: repo, PutPending: []tuf.PendingWrite{pend}}, nil},
				{"pending insert again", tuf.Change{Repo: repo, PutPending: []tuf.PendingWrite{pend}}, tuf.ErrConflict},
				{"pending replace, stale expect", tuf.Change{Repo: repo, PutPending: []tuf.PendingWrite{{Pending: tuf.Pending{Role: "targets", Version: 1, Digest: "d", Data: pdoc("p2")}, Expect: pdoc("p0")}}}, tuf.ErrConflict},
				{"pending replace", tuf.Change{Repo: repo, PutPending: []tuf.PendingWrite{{Pending: tuf.Pending{Role: "targets", Version: 1, Digest: "d", Data: pdoc("p2")}, Expect: pdoc("p1")}}}, nil},
				{"publish, drop pending", tuf.Change{Repo: repo, Publish: []tuf.File{file("targets", 1, "t1"), file("snapshot", 1, "s1"), file("timestamp", 1, "ts1")},
					DropPending: []tuf.PendingKey{{Role: "targets", Version: 1}}}, nil},
				{"publish conflict rolls back", tuf.Change{Repo: repo, Publish: []tuf.File{file("targets", 2, "t2"), file("timestamp", 1, "ts1b")}}, tuf.ErrConflict},
				{"duplicate in one change", tuf.Change{Repo: repo, Publish: []tuf.File{file("timestamp", 2, "a"), file("timestamp", 2, "b")}}, tuf.ErrConflict},
				{"second root", tuf.Change{Repo: repo, Publish: []tuf.File{file("root", 2, "r2")}}, nil},
			}
			for _, step := range steps {
				err := s.Apply(ctx, step.c)
				if (step.err == nil && err != nil) || (step.err != nil && !errors.Is(err, step.err)) {
					t.Fatalf("%s: Apply = %v, want %v", step.name, err, step.err)
				}
				if step.err != nil && errors.Is(err, store.ErrConflict) {
					t.Errorf("%s: the store sentinel leaks through: %v", step.name, err)
				}
			}
			gets := []struct {
				role    string
				version int64
				want    []byte
			}{
				{"root", 0, file("root", 2, "r2").Data},
				{"root", 1, root.Data},
				{"targets", 0, file("targets", 1, "t1").Data},
				{"timestamp", 0, file("timestamp", 1, "ts1").Data},
				{"targets", 2, nil},
				{"timestamp", 2, nil},
			}
			for _, g := range gets {
				got, err := s.Get(ctx, repo, g.role, g.version)
				if g.want == nil {
					if !errors.Is(err, tuf.ErrNotFound) {
						t.Errorf("Get(%s v%d) = %q, %v; want tuf.ErrNotFound", g.role, g.version, got, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, g.want) {
					t.Errorf("Get(%s v%d) = %q, %v; want %q", g.role, g.version, got, err, g.want)
				}
			}
			if ps, err := s.Pending(ctx, repo); err != nil || len(ps) != 0 {
				t.Errorf("Pending = %+v, %v; want none", ps, err)
			}
			// Every published file and every stored pending state is a log
			// entry; the rolled-back ones are not.
			size, err := st.LogSize(ctx)
			if err != nil || size != 7 {
				t.Errorf("log size = %d, %v; want 7 (root v1, pending p1 and p2, targets, snapshot, timestamp, root v2)", size, err)
			}
			for seq, want := range map[int64][]byte{2: pdoc("p1"), 3: pdoc("p2")} {
				e, err := st.Statement(ctx, seq)
				if err != nil || e.PredicateType != tufstore.PendingPredicateType || !bytes.Equal(e.Envelope, want) || len(e.Subjects) != 0 {
					t.Errorf("log entry %d = %+v, %v; want the pending proposal %s", seq, e, err, want)
				}
			}
			repos, err := s.Repos(ctx)
			if err != nil || len(repos) != 1 || repos[0] != repo {
				t.Errorf("Repos = %v, %v", repos, err)
			}
		})
	}
}

// TestPublishIsLoggedAndIndexed runs the real Service on the store: a
// published target's digests find the targets entry as evidence, linked by
// an alias claim signed by the targets key.
func TestPublishIsLoggedAndIndexed(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			s, l := newState(t, st)
			online := tuftest.OnlineKeys(t)
			svc, err := tuf.New(s, online, tuf.Config{})
			if err != nil {
				t.Fatal(err)
			}
			r := tuftest.NewRepo(t, "acme/images", online)
			if _, err := svc.Init(ctx, r.Name, r.RootV1); err != nil {
				t.Fatal(err)
			}
			content := []byte("app 1.0\n")
			res, err := svc.Upload(ctx, r.Name, metadata.TARGETS, r.SignTargets(t, nil, "app.tar.gz", content))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Published) != 3 {
				t.Fatalf("published %d files, want targets, snapshot, timestamp", len(res.Published))
			}
			s256 := sha256.Sum256(content)
			s512 := sha512.Sum512(content)
			d256, _ := digest.New(digest.SHA256, s256[:])
			d512, _ := digest.New(digest.SHA512, s512[:])
			view, err := st.SubjectView(ctx, d512, store.EvidencePage{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			// One evidence row per (entry, digest): the entry names both.
			if len(view.Evidence) != 2 || view.Evidence[0].Seq != view.Evidence[1].Seq || view.Evidence[0].PredicateType != tufstore.PredicateType ||
				len(view.Evidence[0].SignerKeyIDs) != 1 || view.Evidence[0].SignerKeyIDs[0] != r.Targets.ID {
				t.Fatalf("evidence = %+v", view.Evidence)
			}
			if len(view.Claims) != 1 || len(view.Claims[0].Digests) != 2 || view.Claims[0].StatementSeq != view.Evidence[0].Seq {
				t.Fatalf("claims = %+v", view.Claims)
			}
			if _, err := st.SubjectByDigest(ctx, d256); err != nil {
				t.Fatal(err)
			}
			entry, err := l.Get(ctx, view.Evidence[0].Seq)
			if err != nil || !bytes.Equal(entry.Envelope, res.Published[0].Data) || entry.PayloadType != tufstore.PayloadType {
				t.Fatalf("log entry = %+v, %v", entry, err)
			}
			// The next version re-signs the same target unchanged: not
			// indexed again.
			cur, _ := s.Get(ctx, r.Name, metadata.TARGETS, 0)
			if _, err := svc.Upload(ctx, r.Name, metadata.TARGETS, r.SignTargets(t, cur, "other.bin", []byte("other"))); err != nil {
				t.Fatal(err)
			}
			if view, err = st.SubjectView(ctx, d256, store.EvidencePage{Limit: 10}); err != nil || len(view.Evidence) != 2 {
				t.Fatalf("evidence after an unrelated version = %+v, %v", view.Evidence, err)
			}
			if size, _ := st.LogSize(ctx); size != 7 {
				t.Errorf("log size = %d, want 7", size)
			}
		})
	}
}

// TestCeremonyStepsAreLogged: a root rotation ceremony through the real
// Service on the store. Each stored state of the proposal is a log entry
// naming the key holders who had signed it by then; the published root
// names them all.
func TestCeremonyStepsAreLogged(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			s, l := newState(t, st)
			online := tuftest.OnlineKeys(t)
			svc, err := tuf.New(s, online, tuf.Config{})
			if err != nil {
				t.Fatal(err)
			}
			r := tuftest.NewRepo(t, "acme/images", online)
			if _, err := svc.Init(ctx, r.Name, r.RootV1); err != nil {
				t.Fatal(err)
			}
			k2, k3 := tuftest.NewKey(t), tuftest.NewKey(t)
			md, err := tuf.NewRoot(tuf.RootSpec{Version: 2, Expires: time.Now().Add(24 * time.Hour),
				Root:     tuf.KeySet{Keys: []*metadata.Key{r.Root.Key, k2.Key, k3.Key}, Threshold: 3},
				Targets:  tuf.KeySet{Keys: []*metadata.Key{r.Targets.Key}, Threshold: 1},
				Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
			if err != nil {
				t.Fatal(err)
			}
			proposal, err := tuf.Sign(md, r.Root.Signer)
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.Upload(ctx, r.Name, metadata.ROOT, proposal)
			if err != nil || res.Pending == nil {
				t.Fatalf("propose: %+v, %v; want pending", res, err)
			}
			for _, k := range []tuftest.Key{k2, k3} {
				sigs, err := tuf.SignatureFor(proposal, k.Signer)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.AddSignatures(ctx, r.Name, metadata.ROOT, 2, "", sigs); err != nil {
					t.Fatal(err)
				}
			}
			size, err := st.LogSize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pending [][]string
			var published []string
			for seq := int64(1); seq <= int64(size); seq++ {
				e, err := l.Get(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				var d tufstore.Descriptor
				if err := json.Unmarshal(e.Payload, &d); err != nil || d.Repo != r.Name {
					t.Fatalf("entry %d payload %s: %v", seq, e.Payload, err)
				}
				switch {
				case e.PredicateType == tufstore.PendingPredicateType && d.Pending && d.Role == metadata.ROOT && d.Version == 2:
					pending = append(pending, e.SignerKeyIDs)
				case e.PredicateType == tufstore.PredicateType && !d.Pending:
					published = append(published, fmt.Sprintf("%s v%d", d.Role, d.Version))
					if d.Role == metadata.ROOT && d.Version == 2 && len(e.SignerKeyIDs) != 3 {
						t.Errorf("published root v2 names signers %v, want all three", e.SignerKeyIDs)
					}
				default:
					t.Errorf("entry %d: %s %+v", seq, e.PredicateType, d)
				}
			}
			sorted := func(ids ...string) []string { sort.Strings(ids); return ids }
			want := [][]string{{r.Root.ID}, sorted(r.Root.ID, k2.ID)}
			if fmt.Sprint(pending) != fmt.Sprint(want) {
				t.Errorf("pending entries signed by %v, want %v (one per step before the threshold)", pending, want)
			}
			if fmt.Sprint(published) != "[root v1 root v2]" {
				t.Errorf("published entries %v", published)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	desc := []byte(`{"repo":"acme/images","role":"releases","version":3,"pending":true}`)
	d, err := tufstore.Describe(store.Statement{PayloadType: tufstore.PayloadType, PredicateType: tufstore.PendingPredicateType, Payload: desc})
	if err != nil || d != (tufstore.Descriptor{Repo: "acme/images", Role: "releases", Version: 3, Pending: true}) {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	for _, e := range []store.Statement{
		{PayloadType: "application/vnd.in-toto+json", PredicateType: tufstore.PredicateType, Payload: desc},
		{PayloadType: tufstore.PayloadType, PredicateType: "https://slsa.dev/provenance/v1", Payload: desc},
		{PayloadType: tufstore.PayloadType, PredicateType: tufstore.PredicateType, Payload: []byte(`{"repo":"acme/images"}`)},
		{PayloadType: tufstore.PayloadType, PredicateType: tufstore.PredicateType, Payload: []byte(`not json`)},
	} {
		if _, err := tufstore.Describe(e); !errors.Is(err, tufstore.ErrNotTUF) {
			t.Errorf("Describe(%s %s %s) = %v, want ErrNotTUF", e.PayloadType, e.PredicateType, e.Payload, err)
		}
	}
}

func FuzzDescribe(f *testing.F) {
	for _, s := range []string{
		`{"repo":"acme/images","role":"targets","version":1}`,
		`{"repo":"acme/images","role":"root","version":2,"pending":true}`,
		`{"repo":"","role":"x","version":0}`, `{"version":-1}`, `null`, `[]`, `{`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, pending bool) {
		pt := tufstore.PredicateType
		if pending {
			pt = tufstore.PendingPredicateType
		}
		d, err := tufstore.Describe(store.Statement{PayloadType: tufstore.PayloadType, PredicateType: pt, Payload: payload})
		if err != nil {
			if !errors.Is(err, tufstore.ErrNotTUF) {
				t.Fatalf("error without ErrNotTUF: %v", err)
			}
			return
		}
		if d.Repo == "" || d.Role == "" || d.Version < 1 {
			t.Fatalf("accepted an incomplete descriptor %+v from %q", d, payload)
		}
	})
}
