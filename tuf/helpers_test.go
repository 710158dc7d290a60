package tuf

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
)

// fakeClock is a settable clock for the Service.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is an offline key holder's key.
type testKey struct {
	signer signature.Signer
	key    *metadata.Key
	id     string
}

// newTestKey makes an ed25519 key; seed makes it deterministic (0: random).
func newTestKey(t testing.TB, seed byte) testKey {
	t.Helper()
	var priv ed25519.PrivateKey
	if seed == 0 {
		_, p, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		priv = p
	} else {
		priv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	}
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, id, err := PublicKeyOf(s)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, key: k, id: id}
}

func keySet(threshold int, keys ...testKey) KeySet {
	ks := KeySet{Threshold: threshold}
	for _, k := range keys {
		ks.Keys = append(ks.Keys, k.key)
	}
	return ks
}

func signers(keys ...testKey) []signature.Signer {
	out := make([]signature.Signer, len(keys))
	for i, k := range keys {
		out[i] = k.signer
	}
	return out
}

// fixture is one repository on a MemState with a fake clock.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	repo    string
	st      *MemState
	svc     *Service
	online  *OnlineKeys
	clock   *fakeClock
	root    []testKey // current root keys
	targets []testKey // targets keys
	tthresh int
	rootV1  []byte
}

type fixtureOpts struct {
	targetsKeys, targetsThreshold int
	rootKeys, rootThreshold       int  // default 1 of 1
	seedBase                      byte // deterministic keys if non-zero
	creation                      CreationPolicy
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	if o.targetsKeys == 0 {
		o.targetsKeys, o.targetsThreshold = 1, 1
	}
	if o.rootKeys == 0 {
		o.rootKeys, o.rootThreshold = 1, 1
	}
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	online := NewOnlineKeys()
	seed := func(i byte) byte {
		if o.seedBase == 0 {
			return 0
		}
		return o.seedBase + i
	}
	for i, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		k := newTestKey(t, seed(byte(100+i)))
		if _, err := online.Add(role, k.signer); err != nil {
			t.Fatal(err)
		}
	}
	st := NewMemState()
	svc, err := New(st, online, Config{Now: clock.Now, Creation: o.creation})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: context.Background(), repo: "acme/images", st: st, svc: svc, online: online, clock: clock, tthresh: o.targetsThreshold}
	for i := 0; i < o.rootKeys; i++ {
		f.root = append(f.root, newTestKey(t, seed(byte(1+i))))
	}
	for i := 0; i < o.targetsKeys; i++ {
		f.targets = append(f.targets, newTestKey(t, seed(byte(10+i))))
	}
	f.rootV1 = f.signRoot(1, f.root, o.rootThreshold, f.targets, o.targetsThreshold, online, f.root...)
	if _, err := svc.Init(f.ctx, f.repo, f.rootV1); err != nil {
		t.Fatal(err)
	}
	return f
}

// buildRoot returns an unsigned root.
func (f *fixture) buildRoot(version int64, rootKeys []testKey, rootThreshold int, targetsKeys []testKey, targetsThreshold int, online *OnlineKeys) *metadata.Metadata[metadata.RootType] {
	f.t.Helper()
	md, err := NewRoot(RootSpec{
		Version: version, Expires: f.clock.Now().Add(365 * 24 * time.Hour),
		Root: keySet(rootThreshold, rootKeys...), Targets: keySet(targetsThreshold, targetsKeys...),
		Snapshot: Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: Keys(online.Keys(metadata.TIMESTAMP)),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return md
}

func (f *fixture) signRoot(version int64, rootKeys []testKey, rootThreshold int, targetsKeys []testKey, targetsThreshold int, online *OnlineKeys, by ...testKey) []byte {
	f.t.Helper()
	return mustSign(f.t, f.buildRoot(version, rootKeys, rootThreshold, targetsKeys, targetsThreshold, online), by...)
}

func mustSign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], by ...testKey) []byte {
	t.Helper()
	out, err := Sign(md, signers(by...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// current returns the latest published bytes of role ("" → nil if absent).
func (f *fixture) current(role string) []byte {
	f.t.Helper()
	data, err := f.st.Get(f.ctx, f.repo, role, 0)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// targetFile hashes content into a target entry.
func targetFile(t testing.TB, content []byte) *metadata.TargetFiles {
	t.Helper()
	n, ds, err := HashTarget(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	tf, err := NewTargetFile(n, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

// nextTargets builds the next version of role with edit applied, unsigned.
func (f *fixture) nextTargets(role string, edit func(md *metadata.Metadata[metadata.TargetsType])) *metadata.Metadata[metadata.TargetsType] {
	f.t.Helper()
	md, err := NextTargets(f.current(role), f.clock.Now().Add(90*24*time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	if edit != nil {
		edit(md)
	}
	return md
}

// publishTargets uploads the next version of role with edit, signed by by,
// and requires it to be published.
func (f *fixture) publishTargets(role string, edit func(md *metadata.Metadata[metadata.TargetsType]), by ...testKey) *Result {
	f.t.Helper()
	res, err := f.svc.Upload(f.ctx, f.repo, role, mustSign(f.t, f.nextTargets(role, edit), by...))
	if err != nil {
		f.t.Fatalf("upload %s: %v", role, err)
	}
	if res.Pending != nil {
		f.t.Fatalf("upload %s: kept pending: %+v", role, res.Pending)
	}
	return res
}

func addTarget(t testing.TB, name string, content []byte) func(md *metadata.Metadata[metadata.TargetsType]) {
	tf := targetFile(t, content)
	return func(md *metadata.Metadata[metadata.TargetsType]) {
		c := *tf
		c.Path = name
		md.Signed.Targets[name] = &c
	}
}

// tufHandler serves svc's metadata in the TUF layout under /tuf/{repo}/,
// with an optional override hook for attack tests.
func tufHandler(svc *Service, override func(repo, name string) ([]byte, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := strings.CutPrefix(r.URL.Path, "/tuf/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		repo, name := path.Dir(p), path.Base(p)
		if override != nil {
			if data, ok := override(repo, name); ok {
				_, _ = w.Write(data)
				return
			}
		}
		data, err := svc.Metadata(r.Context(), repo, name)
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
}

// blobServer is a plain file server for target bytes, laid out as a TUF
// client with consistent snapshots asks for them: DIR/HASH.BASENAME for each
// of the target's hashes.
func blobServer(t testing.TB, blobs map[string][]byte) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	for name, data := range blobs {
		s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
		for _, h := range []string{hex.EncodeToString(s256[:]), hex.EncodeToString(s512[:])} {
			p := filepath.Join(dir, filepath.FromSlash(path.Dir(name)), h+"."+path.Base(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

func digestsOf(data []byte) []digest.Digest {
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	a, _ := digest.New(digest.SHA256, s256[:])
	b, _ := digest.New(digest.SHA512, s512[:])
	return []digest.Digest{a, b}
}
