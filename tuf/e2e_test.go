package tuf

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// newUpdater builds go-tuf's unmodified updater for repo on srv, trusting
// root, caching metadata in cacheDir and fetching target bytes from blobs.
func newUpdater(t *testing.T, srv *httptest.Server, repo string, root []byte, blobs *httptest.Server, cacheDir string) *updater.Updater {
	t.Helper()
	cfg, err := config.New(srv.URL+"/tuf/"+repo, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = cacheDir
	cfg.LocalTargetsDir = t.TempDir()
	cfg.RemoteTargetsURL = blobs.URL
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// fetch resolves and downloads a target with the updater and checks bytes.
func fetch(t *testing.T, up *updater.Updater, name string, want []byte) {
	t.Helper()
	ti, err := up.GetTargetInfo(name)
	if err != nil {
		t.Fatalf("GetTargetInfo(%s): %v", name, err)
	}
	_, got, err := up.DownloadTarget(ti, "", "")
	if err != nil {
		t.Fatalf("DownloadTarget(%s): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DownloadTarget(%s) = %q, want %q", name, got, want)
	}
}

func TestUpdaterEndToEnd(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	app := []byte("app 1.0 bytes\n")
	tool := []byte("release tool bytes\n")
	rel := newTestKey(t, 0)
	f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) {
		addTarget(t, "app/app-1.0.tar.gz", app)(md)
		md.Signed.Delegations = &metadata.Delegations{
			Keys:  map[string]*metadata.Key{rel.id: rel.key},
			Roles: []metadata.DelegatedRole{{Name: "releases", KeyIDs: []string{rel.id}, Threshold: 1, Paths: []string{"rel/*"}}},
		}
	}, f.targets...)
	res := f.publishTargets("releases", addTarget(t, "rel/tool.bin", tool), rel)
	if len(res.Targets) != 1 || res.Targets[0].Name != "rel/tool.bin" || res.Targets[0].Role != "releases" ||
		len(res.Targets[0].Digests) != 2 || res.Targets[0].Digests[0] != digestsOf(tool)[0] || res.Targets[0].Digests[1] != digestsOf(tool)[1] {
		t.Fatalf("result targets = %+v", res.Targets)
	}

	srv := httptest.NewServer(tufHandler(f.svc, nil))
	defer srv.Close()
	blobs := blobServer(t, map[string][]byte{"app/app-1.0.tar.gz": app, "rel/tool.bin": tool})
	up := newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	if err := up.Refresh(); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	fetch(t, up, "app/app-1.0.tar.gz", app)
	fetch(t, up, "rel/tool.bin", tool)
	if _, err := up.GetTargetInfo("rel/missing.bin"); err == nil {
		t.Fatal("GetTargetInfo of an unknown target succeeded")
	}
}

func TestUpdaterHashedBins(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	binKey := newTestKey(t, 0)
	bins, err := HashedBins("bins", 3, keySet(1, binKey))
	if err != nil {
		t.Fatal(err)
	}
	f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) { md.Signed.Delegations = bins }, f.targets...)
	for _, name := range BinNames(bins) {
		f.publishTargets(name, nil, binKey)
	}
	blobsIn := map[string][]byte{}
	for _, name := range []string{"pkg/a-1.0.tgz", "pkg/b-2.1.tgz", "c.iso"} {
		content := []byte("content of " + name)
		blobsIn[name] = content
		bin, err := BinFor(bins, name)
		if err != nil {
			t.Fatal(err)
		}
		f.publishTargets(bin, addTarget(t, name, content), binKey)
	}
	srv := httptest.NewServer(tufHandler(f.svc, nil))
	defer srv.Close()
	blobs := blobServer(t, blobsIn)
	up := newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	for name, content := range blobsIn {
		fetch(t, up, name, content)
	}
}

func TestUpdaterRootRotation(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	app := []byte("app bytes")
	f.publishTargets(metadata.TARGETS, addTarget(t, "app.bin", app), f.targets...)

	// Root v2: three new root keys (2 of 3) and a rotated timestamp key.
	b := []testKey{newTestKey(t, 0), newTestKey(t, 0), newTestKey(t, 0)}
	newTS := newTestKey(t, 0)
	if _, err := f.online.Add(metadata.TIMESTAMP, newTS.signer); err != nil {
		t.Fatal(err)
	}
	spec := RootSpec{Version: 2, Expires: f.clock.Now().Add(365 * 24 * time.Hour),
		Root: keySet(2, b...), Targets: keySet(1, f.targets...),
		Snapshot: Keys(f.online.Keys(metadata.SNAPSHOT)), Timestamp: keySet(1, newTS)}
	root2, err := NewRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	// The ceremony: the old root key signs first; then new holders, one at a time.
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, mustSign(t, root2, f.root[0]))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || len(res.Pending.Thresholds) != 2 || len(res.Pending.Thresholds[0].Signed) != 1 || len(res.Pending.Thresholds[1].Signed) != 0 {
		t.Fatalf("after the old key: %+v", res.Pending)
	}
	st, err := f.svc.Status(f.ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 1 || st.Pending[0].Role != metadata.ROOT || st.Pending[0].Problem != "" {
		t.Fatalf("status pending = %+v", st.Pending)
	}
	pendingDoc := st.Pending[0]
	for i, holder := range b[:2] {
		doc := f.pendingData(metadata.ROOT, 2)
		sigs, err := SignatureFor(doc, holder.signer)
		if err != nil {
			t.Fatal(err)
		}
		res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, "", sigs)
		if err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
		if published := res.Pending == nil; published != (i == 1) {
			t.Fatalf("holder %d: published=%v (pending %+v)", i, published, res.Pending)
		}
	}
	if got := rolesOf(res.Published); got != "root,snapshot,timestamp" {
		t.Fatalf("root v2 published %s", got)
	}
	_ = pendingDoc

	// Root v3: one new root key; signed by 2 of root v2's keys and the new key at once.
	c := newTestKey(t, 0)
	spec.Version, spec.Root = 3, keySet(1, c)
	root3, err := NewRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = f.svc.Upload(f.ctx, f.repo, metadata.ROOT, mustSign(t, root3, b[1], b[2], c)); err != nil || res.Pending != nil {
		t.Fatalf("root v3: %v %+v", err, res)
	}

	srv := httptest.NewServer(tufHandler(f.svc, nil))
	defer srv.Close()
	blobs := blobServer(t, map[string][]byte{"app.bin": app})
	up := newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	if err := up.Refresh(); err != nil {
		t.Fatalf("Refresh from root v1: %v", err)
	}
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 3 {
		t.Fatalf("client root version = %d, want 3", v)
	}
	fetch(t, up, "app.bin", app)
	ts := up.GetTrustedMetadataSet().Timestamp
	if len(ts.Signatures) != 1 || ts.Signatures[0].KeyID != newTS.id {
		t.Fatalf("timestamp signed by %+v, want the rotated key %s", ts.Signatures, newTS.id)
	}
}

func (f *fixture) pendingData(role string, version int64) []byte {
	f.t.Helper()
	ps, err := f.st.Pending(f.ctx, f.repo)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range ps {
		if p.Role == role && p.Version == version {
			return p.Data
		}
	}
	f.t.Fatalf("no pending %s v%d", role, version)
	return nil
}

func rolesOf(files []File) string {
	s := ""
	for i, f := range files {
		if i > 0 {
			s += ","
		}
		s += f.Role
	}
	return s
}

func TestUpdaterRejectsRollback(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	oldTS := f.current(metadata.TIMESTAMP)
	oldSnap := f.current(metadata.SNAPSHOT)
	f.publishTargets(metadata.TARGETS, addTarget(t, "b.bin", []byte("b")), f.targets...)

	var serveOld func(repo, name string) ([]byte, bool)
	srv := httptest.NewServer(tufHandler(f.svc, func(repo, name string) ([]byte, bool) {
		if serveOld != nil {
			return serveOld(repo, name)
		}
		return nil, false
	}))
	defer srv.Close()
	blobs := blobServer(t, nil)
	cache := t.TempDir()
	up := newUpdater(t, srv, f.repo, f.rootV1, blobs, cache)
	if err := up.Refresh(); err != nil {
		t.Fatal(err)
	}

	// A mirror (or attacker) now serves the older timestamp: the client,
	// which trusts timestamp v2 from its cache, must refuse it.
	serveOld = func(_, name string) ([]byte, bool) {
		if name == "timestamp.json" {
			return oldTS, true
		}
		return nil, false
	}
	up = newUpdater(t, srv, f.repo, f.rootV1, blobs, cache)
	err := up.Refresh()
	if !errors.Is(err, &metadata.ErrBadVersionNumber{}) {
		t.Fatalf("Refresh with a rolled-back timestamp: %v, want ErrBadVersionNumber", err)
	}

	// A rolled-back snapshot behind a current timestamp fails its hash check.
	serveOld = func(_, name string) ([]byte, bool) {
		if name == "2.snapshot.json" {
			return oldSnap, true
		}
		return nil, false
	}
	up = newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	if err := up.Refresh(); !errors.Is(err, &metadata.ErrLengthOrHashMismatch{}) {
		t.Fatalf("Refresh with a substituted snapshot: %v, want ErrLengthOrHashMismatch", err)
	}
}

func TestUpdaterDetectsFreeze(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	app := []byte("app")
	f.publishTargets(metadata.TARGETS, addTarget(t, "app.bin", app), f.targets...)
	srv := httptest.NewServer(tufHandler(f.svc, nil))
	defer srv.Close()
	blobs := blobServer(t, map[string][]byte{"app.bin": app})

	// Nobody re-signs the timestamp: a day later, clients see a freeze.
	later := f.clock.Now().Add(DefaultTimestampExpiry + time.Hour)
	up := newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	up.UnsafeSetRefTime(later)
	if err := up.Refresh(); !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		t.Fatalf("Refresh with an expired timestamp: %v, want ErrExpiredMetadata", err)
	}

	// Refresh re-signs it and clients work again.
	f.clock.Advance(DefaultTimestampExpiry + time.Hour)
	files, err := f.svc.Refresh(f.ctx, f.repo, f.clock.Now())
	if err != nil || rolesOf(files) != "timestamp" {
		t.Fatalf("Refresh: %v, published %s", err, rolesOf(files))
	}
	up = newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir())
	up.UnsafeSetRefTime(later)
	fetch(t, up, "app.bin", app)
}

// TestUpdaterRootRotationNewTargetsKeys: each root rotation also replaces
// the targets keys. A root that would strand the published targets (signed
// by the old targets keys) waits, pending, for the next targets version
// signed by its new targets keys, whichever comes first, and both are
// published together with a new snapshot and timestamp. go-tuf's updater
// that trusted root 1 walks 1→2→3 and verifies the targets each time; an
// updater that trusted root 2 follows to 3 as well.
func TestUpdaterRootRotationNewTargetsKeys(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	app, app2 := []byte("app bytes"), []byte("app 2 bytes")
	f.publishTargets(metadata.TARGETS, addTarget(t, "app.bin", app), f.targets...)
	srv := httptest.NewServer(tufHandler(f.svc, nil))
	defer srv.Close()
	blobs := blobServer(t, map[string][]byte{"app.bin": app, "app2.bin": app2})
	// walk refreshes a client that keeps its trusted metadata in cache, as
	// a deployed client does between runs, and wants it on root vWant.
	cache := t.TempDir()
	walk := func(want int64) {
		t.Helper()
		trusted := f.rootV1
		if b, err := os.ReadFile(filepath.Join(cache, "root.json")); err == nil {
			trusted = b
		}
		up := newUpdater(t, srv, f.repo, trusted, blobs, cache)
		if err := up.Refresh(); err != nil {
			t.Fatalf("cached client: Refresh to root v%d: %v", want, err)
		}
		if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != want {
			t.Fatalf("cached client on root v%d, want %d", v, want)
		}
		fetch(t, up, "app.bin", app)
	}
	walk(1)

	// Root first: v2 (same root key, new targets key B) meets its thresholds
	// at once but stays pending, saying why.
	b := newTestKey(t, 0)
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, f.root, 1, []testKey{b}, 1, f.online, f.root...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || !strings.Contains(res.Pending.Problem, "root v2 changes the targets keys") {
		t.Fatalf("root v2 = %+v, want pending on its targets", res.Pending)
	}
	if v := f.st.Latest(f.repo)[metadata.ROOT]; v != 1 {
		t.Fatalf("root v%d published without its targets", v)
	}
	// Targets v2 signed by B goes with root v2: both are published.
	res, err = f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, mustSign(t, f.nextTargets(metadata.TARGETS, addTarget(t, "app2.bin", app2)), b))
	if err != nil {
		t.Fatal(err)
	}
	if got := rolesOf(res.Published); got != "root,targets,snapshot,timestamp" || res.Role != metadata.ROOT {
		t.Fatalf("targets v2 by the new key published %q (%+v)", got, res.Pending)
	}
	if ps, _ := f.st.Pending(f.ctx, f.repo); len(ps) != 0 {
		t.Fatalf("pending left after the rotation: %+v", ps)
	}
	walk(2)
	root2 := f.current(metadata.ROOT)

	// Targets first is refused (no pending root names the key), then root
	// v3 (new root key R3, new targets key C) is proposed but needs R3's
	// signature too; targets v3 by C waits beside it; R3's signature
	// publishes both.
	c, r3 := newTestKey(t, 0), newTestKey(t, 0)
	early := mustSign(t, f.nextTargets(metadata.TARGETS, nil), c)
	if _, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, early); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("targets by a key of no root = %v, want ErrBadSignature", err)
	}
	if res, err = f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(3, []testKey{r3}, 1, []testKey{c}, 1, f.online, f.root...)); err != nil || res.Pending == nil {
		t.Fatalf("root v3 proposal: %+v, %v", res, err)
	}
	if res, err = f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, early); err != nil || res.Pending == nil ||
		!strings.Contains(res.Pending.Problem, "pending root v3") {
		t.Fatalf("targets v3 by C: %+v, %v; want pending beside root v3", res, err)
	}
	st, err := f.svc.Status(f.ctx, f.repo)
	if err != nil || len(st.Pending) != 2 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	sigs, err := SignatureFor(f.pendingData(metadata.ROOT, 3), r3.signer)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 3, "", sigs); err != nil || rolesOf(res.Published) != "root,targets,snapshot,timestamp" {
		t.Fatalf("R3 signs root v3: %+v, %v", res, err)
	}

	walk(3)
	for name, up := range map[string]*updater.Updater{
		"fresh from root 1": newUpdater(t, srv, f.repo, f.rootV1, blobs, t.TempDir()),
		"fresh from root 2": newUpdater(t, srv, f.repo, root2, blobs, t.TempDir()),
	} {
		if err := up.Refresh(); err != nil {
			t.Fatalf("%s: Refresh: %v", name, err)
		}
		if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 3 {
			t.Fatalf("%s: root v%d, want 3", name, v)
		}
		if sg := up.GetTrustedMetadataSet().Targets[metadata.TARGETS].Signatures; len(sg) != 1 || sg[0].KeyID != c.id {
			t.Fatalf("%s: targets signed by %+v, want C", name, sg)
		}
		fetch(t, up, "app.bin", app)
		fetch(t, up, "app2.bin", app2)
	}
}

// TestTargetsKeyRotationEdges: the targets version that goes with a root
// changing the targets keys meets that root's targets threshold over time
// (2 of 2 here, one signature at a time); a key of neither root is still
// refused with nothing stored; and a targets version the old keys publish
// meanwhile moves the root on to wait for the version after it.
func TestTargetsKeyRotationEdges(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	b, c, stranger := newTestKey(t, 0), newTestKey(t, 0), newTestKey(t, 0)
	if res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, f.root, 1, []testKey{b, c}, 2, f.online, f.root...)); err != nil || res.Pending == nil {
		t.Fatalf("root v2: %+v, %v", res, err)
	}
	// The old keys still publish under root v1: targets v2.
	f.publishTargets(metadata.TARGETS, addTarget(t, "b.bin", []byte("b")), f.targets...)
	st, err := f.svc.Status(f.ctx, f.repo)
	if err != nil || len(st.Pending) != 1 || !strings.Contains(st.Pending[0].Problem, "published together with targets v3") {
		t.Fatalf("root v2 after targets v2 by the old key: %+v, %v", st, err)
	}
	before := f.st.Fingerprint(f.repo)
	if _, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, mustSign(t, f.nextTargets(metadata.TARGETS, nil), stranger)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("targets by a stranger: %v, want ErrBadSignature", err)
	}
	if f.st.Fingerprint(f.repo) != before {
		t.Fatal("a refused upload changed the state")
	}
	v3 := mustSign(t, f.nextTargets(metadata.TARGETS, addTarget(t, "c.bin", []byte("c"))), b)
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, v3)
	if err != nil || res.Pending == nil || len(res.Pending.Thresholds) != 1 || res.Pending.Thresholds[0].Authority != "root v2, role targets" ||
		len(res.Pending.Thresholds[0].Missing) != 1 || res.Pending.Thresholds[0].Missing[0] != c.id {
		t.Fatalf("targets v3 by B: %+v, %v; want pending on root v2's targets threshold, missing C", res, err)
	}
	if v := f.st.Latest(f.repo)[metadata.ROOT]; v != 1 {
		t.Fatalf("root v%d published before its targets met their threshold", v)
	}
	sigs, err := SignatureFor(f.pendingData(metadata.TARGETS, 3), c.signer)
	if err != nil {
		t.Fatal(err)
	}
	res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.TARGETS, 3, "", sigs)
	if err != nil || rolesOf(res.Published) != "root,targets,snapshot,timestamp" {
		t.Fatalf("C signs targets v3: %+v, %v", res, err)
	}
	if got := f.st.Latest(f.repo); got[metadata.ROOT] != 2 || got[metadata.TARGETS] != 3 {
		t.Fatalf("latest = %v, want root v2 and targets v3", got)
	}
}
