package tuf

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/envelope"
)

func TestThresholdOverTime(t *testing.T) {
	f := newFixture(t, fixtureOpts{targetsKeys: 3, targetsThreshold: 2})
	k := f.targets
	md := f.nextTargets(metadata.TARGETS, addTarget(t, "app.bin", []byte("app")))
	first := mustSign(t, md, k[0])

	res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || len(res.Published) != 0 {
		t.Fatalf("first signature: %+v", res)
	}
	th := res.Pending.Thresholds
	if len(th) != 1 || th[0].Threshold != 2 || len(th[0].Signed) != 1 || th[0].Signed[0] != k[0].id || len(th[0].Missing) != 2 {
		t.Fatalf("thresholds = %+v", th)
	}
	if _, err := f.svc.Metadata(f.ctx, f.repo, "timestamp.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("timestamp published while pending: %v", err)
	}

	// Re-uploading the same proposal is idempotent.
	if res, err = f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, first); err != nil || res.Pending == nil {
		t.Fatalf("re-upload: %v %+v", err, res)
	}
	firstDigest := res.Pending.SignedDigest
	// A different proposal for the same version is kept beside it, keyed by
	// its own digest.
	other := mustSign(t, f.nextTargets(metadata.TARGETS, addTarget(t, "evil.bin", []byte("evil"))), k[2])
	if res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, other); err != nil || res.Pending == nil || res.Pending.SignedDigest == firstDigest {
		t.Fatalf("competing proposal: %+v, %v; want a second pending proposal", res, err)
	}
	before := f.st.Fingerprint(f.repo)
	// A bad signature is refused and the pending proposal is untouched.
	sigs, err := SignatureFor(first, k[1].signer)
	if err != nil {
		t.Fatal(err)
	}
	bad := []metadata.Signature{{KeyID: sigs[0].KeyID, Signature: append([]byte(nil), sigs[0].Signature...)}}
	bad[0].Signature[0] ^= 1
	if _, err := f.svc.AddSignatures(f.ctx, f.repo, metadata.TARGETS, 1, firstDigest, bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := f.svc.AddSignatures(f.ctx, f.repo, metadata.TARGETS, 7, "", sigs); !errors.Is(err, ErrNotFound) {
		t.Fatalf("signature for a version with no proposal: %v", err)
	}
	if after := f.st.Fingerprint(f.repo); after != before {
		t.Fatalf("rejected operations changed the state")
	}

	st, err := f.svc.Status(f.ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 2 || st.Pending[0].Role != metadata.TARGETS || st.Pending[0].Version != 1 || st.Pending[0].SignedDigest == "" ||
		st.Timestamp != nil {
		t.Fatalf("status = %+v", st)
	}

	// The second holder signs: published.
	res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.TARGETS, 1, firstDigest, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending != nil || rolesOf(res.Published) != "targets,snapshot,timestamp" {
		t.Fatalf("second signature: %+v", res)
	}
	if len(res.SignedBy) != 2 || len(res.Targets) != 1 || res.Targets[0].Name != "app.bin" || len(res.Targets[0].KeyIDs) != 2 {
		t.Fatalf("result = %+v", res)
	}
	st, err = f.svc.Status(f.ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 0 || st.Timestamp == nil || st.Timestamp.Version != 1 || len(st.Targets) != 1 || st.Targets[0].Version != 1 || st.Targets[0].Expires.IsZero() {
		t.Fatalf("status after publishing = %+v", st)
	}
	// The published document carries both signatures and go-tuf verifies it.
	root, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(f.rootV1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(f.current(metadata.TARGETS))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, pub); err != nil || len(pub.Signatures) != 2 {
		t.Fatalf("published targets: %v, %d signatures", err, len(pub.Signatures))
	}
}

func TestPublishResult(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	a, b := []byte("a v1"), []byte("b v1")
	res := f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) {
		addTarget(t, "a.bin", a)(md)
		addTarget(t, "b.bin", b)(md)
	}, f.targets...)
	if len(res.Targets) != 2 || res.Targets[0].Name != "a.bin" || res.Targets[0].Length != int64(len(a)) ||
		res.Targets[0].Digests[0] != digestsOf(a)[0] || res.Targets[0].Digests[1] != digestsOf(a)[1] ||
		res.Targets[0].Role != metadata.TARGETS || res.Targets[0].Version != 1 || res.Targets[0].KeyIDs[0] != f.targets[0].id {
		t.Fatalf("targets = %+v", res.Targets)
	}
	// Replace a, keep b, drop nothing: only a is listed.
	res = f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a v2")), f.targets...)
	if len(res.Targets) != 1 || res.Targets[0].Name != "a.bin" || len(res.Removed) != 0 {
		t.Fatalf("targets = %+v removed %v", res.Targets, res.Removed)
	}
	res = f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) { delete(md.Signed.Targets, "b.bin") }, f.targets...)
	if len(res.Targets) != 0 || len(res.Removed) != 1 || res.Removed[0] != "b.bin" {
		t.Fatalf("targets = %+v removed %v", res.Targets, res.Removed)
	}
	// Each publish wrote exactly the role, snapshot and timestamp, stored verbatim.
	if got := f.st.Latest(f.repo); got[metadata.TARGETS] != 3 || got[metadata.SNAPSHOT] != 3 || got[metadata.TIMESTAMP] != 3 || got[metadata.ROOT] != 1 {
		t.Fatalf("latest = %v", got)
	}
	for _, file := range res.Published {
		got, err := f.svc.Metadata(f.ctx, f.repo, fileName(file))
		if err != nil || string(got) != string(file.Data) {
			t.Fatalf("%s: %v", fileName(file), err)
		}
	}
}

func fileName(f File) string {
	if f.Role == metadata.TIMESTAMP {
		return "timestamp.json"
	}
	return strconv.FormatInt(f.Version, 10) + "." + f.Role + ".json"
}

func TestRefresh(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if files, err := f.svc.Refresh(f.ctx, f.repo, f.clock.Now()); err != nil || files != nil {
		t.Fatalf("refresh before any targets: %v %v", err, files)
	}
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	steps := []struct {
		after time.Duration
		want  string
	}{
		{time.Hour, ""},                            // nothing due
		{13 * time.Hour, "timestamp"},              // timestamp has < 12h left
		{time.Hour, ""},                            // fresh again
		{4 * 24 * time.Hour, "snapshot,timestamp"}, // snapshot has < 3.5 days left
	}
	for i, st := range steps {
		f.clock.Advance(st.after)
		files, err := f.svc.Refresh(f.ctx, f.repo, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := rolesOf(files); got != st.want {
			t.Fatalf("step %d: published %q, want %q", i, got, st.want)
		}
	}
	if _, err := f.svc.Refresh(f.ctx, "acme/none", f.clock.Now()); !errors.Is(err, ErrUnknownRepo) {
		t.Fatalf("refresh of an unknown repo: %v", err)
	}
}

func TestParseFileName(t *testing.T) {
	cases := []struct {
		name    string
		role    string
		version int64
		ok      bool
	}{
		{"3.root.json", "root", 3, true},
		{"root.json", "root", 0, true},
		{"timestamp.json", "timestamp", 0, true},
		{"4.snapshot.json", "snapshot", 4, true},
		{"7.targets.json", "targets", 7, true},
		{"2.bins-0a.json", "bins-0a", 2, true},
		{"2.a.b.json", "a.b", 2, true},
		{"releases.json", "releases", 0, true},
		{"0.root.json", "", 0, false},
		{"99999999999999999999.root.json", "", 0, false},
		{"root", "", 0, false},
		{".json", "", 0, false},
		{"1..json", "", 0, false},
		{"1.../x.json", "", 0, false},
		{"x/y.json", "", 0, false},
	}
	for _, tc := range cases {
		role, v, ok := ParseFileName(tc.name)
		if role != tc.role || v != tc.version || ok != tc.ok {
			t.Errorf("ParseFileName(%q) = %q, %d, %v; want %q, %d, %v", tc.name, role, v, ok, tc.role, tc.version, tc.ok)
		}
	}
	f := newFixture(t, fixtureOpts{})
	for _, name := range []string{"2.root.json", "timestamp.json", "x/../y", "1.targets.json"} {
		if _, err := f.svc.Metadata(f.ctx, f.repo, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Metadata(%q): %v, want ErrNotFound", name, err)
		}
	}
	if got, err := f.svc.Metadata(f.ctx, f.repo, "1.root.json"); err != nil || string(got) != string(f.rootV1) {
		t.Fatalf("1.root.json: %v", err)
	}
}

func TestOnlineKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keys, err := LoadOnlineKeys(dir, envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SnapshotKeyFile, TimestampKeyFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %#o, want 0600", name, st.Mode().Perm())
		}
	}
	snap, ts := keys.Keys(metadata.SNAPSHOT), keys.Keys(metadata.TIMESTAMP)
	if len(snap) != 1 || len(ts) != 1 {
		t.Fatalf("keys: %d snapshot, %d timestamp", len(snap), len(ts))
	}
	// Loading again gives the same keys; a rotated key file is picked up.
	if err := GenerateOnlineKey(filepath.Join(dir, "timestamp-2.pem"), envelope.KeyTypeECDSAP256); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOnlineKeys(dir, envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Keys(metadata.SNAPSHOT); len(got) != 1 || sortedKeys(got)[0] != sortedKeys(snap)[0] {
		t.Fatalf("snapshot key changed across loads")
	}
	if len(again.Keys(metadata.TIMESTAMP)) != 2 {
		t.Fatalf("rotated timestamp key not loaded")
	}
	// A key file others can read is refused.
	if err := os.Chmod(filepath.Join(dir, TimestampKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOnlineKeys(dir, envelope.KeyTypeED25519); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	if err := GenerateOnlineKey(filepath.Join(dir, "x.pem"), envelope.KeyTypeECDSAP384); !errors.Is(err, ErrWrongKeyType) {
		t.Fatalf("p384 online key: %v", err)
	}
	// The signer never prints key material.
	s, err := LoadOnlineKey(filepath.Join(dir, SnapshotKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if str := s.(interface{ String() string }).String(); strings.Contains(str, "PRIVATE") || !strings.Contains(str, sortedKeys(snap)[0]) {
		t.Fatalf("signer prints %q", str)
	}
	// One key cannot serve both online roles.
	o := NewOnlineKeys()
	if _, err := o.Add(metadata.SNAPSHOT, s); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Add(metadata.TIMESTAMP, s); !errors.Is(err, ErrDuplicateKeyID) {
		t.Fatalf("shared online key: %v", err)
	}
}

func TestEnvelopeSignerKeys(t *testing.T) {
	// Holders may bring ed25519, ecdsa-p256 and rsa keys (envelope keys).
	for _, kt := range KeyTypes {
		t.Run(kt, func(t *testing.T) {
			pemBytes, pub, err := envelope.GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			es, _, err := envelope.LoadPrivateKey(pemBytes, nil)
			if err != nil {
				t.Fatal(err)
			}
			k, id, err := KeyFromEnvelope(pub)
			if err != nil {
				t.Fatal(err)
			}
			if id != pub.ID {
				t.Fatalf("TUF key id %s != envelope key id %s", id, pub.ID)
			}
			holder := testKey{signer: EnvelopeSigner(es), key: k, id: id}
			f := newFixture(t, fixtureOpts{})
			f.targets = []testKey{holder}
			repo := "acme/" + kt
			root := f.signRoot(1, f.root, 1, f.targets, 1, f.online, f.root...)
			if _, err := f.svc.Init(f.ctx, repo, root); err != nil {
				t.Fatal(err)
			}
			f.repo = repo
			f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), holder)
		})
	}
}

func TestConcurrentPublish(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	const n = 8
	docs := make([][]byte, n)
	for i := range docs {
		docs[i] = mustSign(t, f.nextTargets(metadata.TARGETS, addTarget(t, "b.bin", []byte{byte(i)})), f.targets...)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range docs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, docs[i])
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrConflict), errors.Is(err, ErrVersion):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent publishes of targets v2 won, want 1", won)
	}
	if got := f.st.Latest(f.repo); got[metadata.TARGETS] != 2 || got[metadata.TIMESTAMP] != 2 {
		t.Fatalf("latest = %v", got)
	}
}
