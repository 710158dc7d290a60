package tuf

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// binsRepo is a repository whose targets delegate to hashed bins, filled
// with n targets.
type binsRepo struct {
	*fixture
	binKey testKey
	bins   *metadata.Delegations
}

// fakeTarget is a target entry for name with hashes derived from the name
// (the server never sees target bytes, so any well-formed hashes do).
func fakeTarget(name string) *metadata.TargetFiles {
	s256, s512 := sha256.Sum256([]byte(name)), sha512.Sum512([]byte(name))
	return &metadata.TargetFiles{Length: int64(len(name)) * 1000, Hashes: metadata.Hashes{"sha256": s256[:], "sha512": s512[:]}, Path: name}
}

func newBinsRepo(tb testing.TB, n, bits int) *binsRepo {
	tb.Helper()
	f := newFixture(tb, fixtureOpts{})
	r := &binsRepo{fixture: f, binKey: newTestKey(tb, 0)}
	var err error
	if r.bins, err = HashedBins("bins", bits, keySet(1, r.binKey)); err != nil {
		tb.Fatal(err)
	}
	f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) { md.Signed.Delegations = r.bins }, f.targets...)
	byBin := map[string]map[string]*metadata.TargetFiles{}
	for _, name := range BinNames(r.bins) {
		byBin[name] = map[string]*metadata.TargetFiles{}
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pkg/%06d/artifact-%06d.tar.gz", i/1000, i)
		bin, err := BinFor(r.bins, name)
		if err != nil {
			tb.Fatal(err)
		}
		byBin[bin][name] = fakeTarget(name)
	}
	// Build quickly: sign every bin v1 and publish them all in one change
	// with one snapshot and timestamp, bypassing Upload's checks (which the
	// publish under test runs).
	var files []File
	changed := map[string]int64{}
	for _, bin := range BinNames(r.bins) {
		md := metadata.Targets(f.clock.Now().Add(90 * 24 * time.Hour).Truncate(time.Second))
		md.Signed.Targets = byBin[bin]
		files = append(files, File{Role: bin, Version: 1, Data: mustSign(tb, md, r.binKey)})
		changed[bin] = 1
	}
	tr, err := f.svc.load(f.ctx, "test", f.repo)
	if err != nil {
		tb.Fatal(err)
	}
	online, err := f.svc.signOnline(tr, tr.root, changed, true, f.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.st.Apply(f.ctx, Change{Repo: f.repo, Publish: append(files, online...)}); err != nil {
		tb.Fatal(err)
	}
	return r
}

// nextBinUpload builds the signed next version of name's bin with name added.
func (r *binsRepo) nextBinUpload(tb testing.TB, name string) (string, []byte) {
	bin, err := BinFor(r.bins, name)
	if err != nil {
		tb.Fatal(err)
	}
	md, err := AddTarget(r.current(bin), name, fakeTarget(name), r.clock.Now().Add(90*24*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return bin, mustSign(tb, md, r.binKey)
}

func TestHashedBins100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-target repository")
	}
	const n, bits = 100_000, 8
	start := time.Now()
	r := newBinsRepo(t, n, bits)
	t.Logf("built %d targets in %d bins in %v", n, 1<<bits, time.Since(start).Round(time.Millisecond))

	before := r.st.Latest(r.repo)
	written := r.st.BytesWritten()
	bin, doc := r.nextBinUpload(t, "pkg/new/artifact-new.tar.gz")
	start = time.Now()
	res, err := r.svc.Upload(r.ctx, r.repo, bin, doc)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	firstWritten := r.st.BytesWritten() - written
	t.Logf("first publish (cold delegation cache: reads the delegations of all %d bins once): %v", 1<<bits, elapsed.Round(time.Microsecond))
	after := r.st.Latest(r.repo)
	var changed []string
	for role, v := range after {
		if v != before[role] {
			if v != before[role]+1 {
				t.Errorf("%s went from v%d to v%d", role, before[role], v)
			}
			changed = append(changed, role)
		}
	}
	sort.Strings(changed)
	if want := []string{bin, metadata.SNAPSHOT, metadata.TIMESTAMP}; fmt.Sprint(changed) != fmt.Sprint(sortedStrings(want)) {
		t.Fatalf("changed %v, want %v", changed, want)
	}
	if len(res.Targets) != 1 || res.Targets[0].Name != "pkg/new/artifact-new.tar.gz" || res.Targets[0].Role != bin {
		t.Fatalf("result targets = %+v", res.Targets)
	}
	sizes := map[string]int{}
	for _, f := range res.Published {
		sizes[f.Role] = len(f.Data)
	}
	warm := r.st.BytesWritten()
	bin2, doc2 := r.nextBinUpload(t, "pkg/new/artifact-new-2.tar.gz")
	start = time.Now()
	if _, err := r.svc.Upload(r.ctx, r.repo, bin2, doc2); err != nil {
		t.Fatal(err)
	}
	t.Logf("second publish (warm): %v, wrote %d bytes", time.Since(start).Round(time.Microsecond), r.st.BytesWritten()-warm)
	t.Logf("publish one more target: %v; wrote %d bytes (%s %d, snapshot %d, timestamp %d)",
		elapsed.Round(time.Microsecond), firstWritten, bin, sizes[bin], sizes[metadata.SNAPSHOT], sizes[metadata.TIMESTAMP])
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
