package integration_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/tuf"
)

// TestRootRotationCeremony: with the real binaries on SQLite, a repository
// with 2-of-3 root keys rotates its root 1→2→3 through 'trustctl ceremony'
// (propose signed by one key, status naming who is missing, sign by the
// other holders, publish confirming), then 3→4 air-gapped through a file;
// go-tuf's unmodified updater that trusted root 1 walks to each new root and
// still verifies the target. A proposal signed only by its own new keys is
// refused (PermissionDenied); root v5 also rotates the targets key and
// is published with the first targets version 'trustctl sign' signs with
// the new key, and the updater walks on to it.
func TestRootRotationCeremony(t *testing.T) {
	work := t.TempDir()
	d := startTrustd(t, "--data-dir", filepath.Join(work, "data"))
	const repo = "acme/images"
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }

	keys := map[string]string{} // name → private key file
	ids := map[string]string{}  // name → TUF key id
	for _, name := range []string{"old1", "old2", "old3", "new1", "new2", "new3", "new4", "new5", "targets"} {
		keys[name] = filepath.Join(work, name+".pem")
		if r := ctl("key", "generate", "--out", keys[name]); r.code != 0 {
			t.Fatalf("key generate %s: %d %s", name, r.code, r.stderr)
		}
		ids[name] = keyID(t, keys[name]+".pub")
	}
	pub := func(name string) string { return keys[name] + ".pub" }

	r := ctl("tuf", "init", repo, "--root-key", keys["old1"], "--root-key", keys["old2"], "--root-key", pub("old3"),
		"--root-threshold", "2", "--targets-key", pub("targets"), "--targets-threshold", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "published acme/images: root v1") {
		t.Fatalf("tuf init: %d %q %q", r.code, r.stdout, r.stderr)
	}
	content := []byte("app 1.0 release bytes\n")
	if err := os.MkdirAll(filepath.Join(work, "blobs", "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(work, "blobs", "app", "app-1.0.tar.gz")
	if err := os.WriteFile(artifact, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := ctl("sign", artifact, "--repo", repo, "--name", "app/app-1.0.tar.gz", "--key", keys["targets"]); r.code != 0 {
		t.Fatalf("sign: %d %q %q", r.code, r.stdout, r.stderr)
	}
	rootV1 := httpGet(t, "http://"+d.httpAddr+"/tuf/acme/images/1.root.json")
	blobs := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(work, "blobs"))))
	defer blobs.Close()

	// checkUpdater runs a fresh go-tuf updater trusting root v1 and wants it
	// to end on root vWant and verify the target.
	checkUpdater := func(want int64) {
		t.Helper()
		cfg, err := config.New("http://"+d.httpAddr+"/tuf/acme/images", rootV1)
		if err != nil {
			t.Fatal(err)
		}
		cfg.LocalMetadataDir, cfg.LocalTargetsDir = t.TempDir(), t.TempDir()
		cfg.RemoteTargetsURL = blobs.URL
		cfg.PrefixTargetsWithHash = false
		up, err := updater.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Refresh(); err != nil {
			t.Fatalf("updater Refresh (want root v%d): %v", want, err)
		}
		if got := up.GetTrustedMetadataSet().Root.Signed.Version; got != want {
			t.Fatalf("updater trusts root v%d, want v%d", got, want)
		}
		ti, err := up.GetTargetInfo("app/app-1.0.tar.gz")
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := up.DownloadTarget(ti, "", ""); err != nil || string(got) != string(content) {
			t.Fatalf("DownloadTarget on root v%d = %q, %v", want, got, err)
		}
	}
	checkUpdater(1)

	// rotate proposes root vN+1 with newKeys (2-of-2) signed by proposer,
	// checks it is pending and who is missing, then has every other signer
	// sign and checks it is published.
	rotate := func(version int64, oldAuth string, newKeys []string, proposer string, others []string, oldIDs []string) {
		t.Helper()
		args := []string{"ceremony", "propose", repo, "--root-threshold", "2", "--key", keys[proposer]}
		for _, k := range newKeys {
			args = append(args, "--root-key", pub(k))
		}
		r := ctl(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "is pending") {
			t.Fatalf("ceremony propose v%d: %d %q %q", version, r.code, r.stdout, r.stderr)
		}
		var st struct {
			RootVersion int64 `json:"root_version"`
			Proposals   []struct {
				Version    int64 `json:"version"`
				Thresholds []struct {
					Authority string   `json:"authority"`
					Met       bool     `json:"met"`
					Signed    []string `json:"signed"`
					Missing   []string `json:"missing"`
				} `json:"thresholds"`
			} `json:"proposals"`
		}
		r = ctl("ceremony", "status", repo, "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || len(st.Proposals) != 1 || len(st.Proposals[0].Thresholds) != 2 {
			t.Fatalf("ceremony status -o json: %d %q %q %v", r.code, r.stdout, r.stderr, err)
		}
		p := st.Proposals[0]
		old, nw := p.Thresholds[0], p.Thresholds[1]
		if st.RootVersion != version-1 || p.Version != version || old.Authority != oldAuth || old.Met || nw.Met ||
			!slices.Equal(old.Signed, []string{ids[proposer]}) || len(old.Missing) != len(oldIDs)-1 || len(nw.Missing) != 2 {
			t.Fatalf("ceremony status v%d: %+v", version, st)
		}
		for _, k := range newKeys {
			if !slices.Contains(nw.Missing, ids[k]) {
				t.Errorf("new threshold does not name %s (%s) missing: %+v", k, ids[k], nw)
			}
		}
		r = ctl("ceremony", "status", repo)
		if r.code != 0 || !strings.Contains(r.stdout, "missing "+ids[others[0]]) || !strings.Contains(r.stdout, "NOT met") {
			t.Errorf("ceremony status text: %d %q %q", r.code, r.stdout, r.stderr)
		}
		r = ctl("ceremony", "publish", repo)
		if r.code != 1 || !strings.Contains(r.stderr, "still pending") || !strings.Contains(r.stderr, ids[newKeys[0]]) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("ceremony publish while pending: %d %q, want exit 1 naming the missing keys on one line", r.code, r.stderr)
		}
		for i, k := range others {
			r = ctl("ceremony", "sign", repo, "--key", keys[k])
			last := i == len(others)-1
			if r.code != 0 || last != strings.Contains(r.stdout, "published acme/images: root v") {
				t.Fatalf("ceremony sign %s (last %v): %d %q %q", k, last, r.code, r.stdout, r.stderr)
			}
		}
		r = ctl("ceremony", "publish", repo)
		if r.code != 0 || !strings.Contains(r.stdout, "is published") {
			t.Fatalf("ceremony publish v%d: %d %q %q", version, r.code, r.stdout, r.stderr)
		}
		checkUpdater(version)
	}
	rotate(2, "root v1, role root", []string{"new1", "new2"}, "old1", []string{"old2", "new1", "new2"},
		[]string{ids["old1"], ids["old2"], ids["old3"]})
	rotate(3, "root v2, role root", []string{"new3", "new4"}, "new1", []string{"new2", "new3", "new4"},
		[]string{ids["new1"], ids["new2"]})

	// Air-gapped: root v4 is written to a file, signed offline, then sent.
	file := filepath.Join(work, "root-v4.json")
	r = ctl("ceremony", "propose", repo, "--root-key", pub("new5"), "--root-threshold", "1", "--key", keys["new3"], "--out", file)
	if r.code != 0 || !strings.Contains(r.stdout, "wrote root v4") {
		t.Fatalf("propose --out: %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, k := range []string{"new4", "new5"} {
		if r = run(t, nil, "trustctl", "ceremony", "sign", repo, "--file", file, "--key", keys[k]); r.code != 0 {
			t.Fatalf("sign --file %s: %d %q", k, r.code, r.stderr)
		}
	}
	r = ctl("ceremony", "publish", repo, "--file", file)
	if r.code != 0 || !strings.Contains(r.stdout, "root v4 of acme/images is published") {
		t.Fatalf("publish --file: %d %q %q", r.code, r.stdout, r.stderr)
	}
	checkUpdater(4)

	// A root v5 signed only by its own new key is refused: no key of root
	// v4 vouches for it, so it is not even kept pending. It also rotates
	// the targets key to new2.
	propose5 := []string{"ceremony", "propose", repo, "--root-key", pub("old1"), "--root-threshold", "1",
		"--targets-key", pub("new2"), "--targets-threshold", "1"}
	r = ctl(append(propose5, "--key", keys["old1"])...)
	if r.code != 2 || !strings.Contains(r.stderr, "no root key of the current root v4 signs it") {
		t.Fatalf("propose v5 signed by its new key only: %d %q %q, want a refusal", r.code, r.stdout, r.stderr)
	}
	if r = ctl("ceremony", "status", repo); !strings.Contains(r.stdout, "no root proposal pending") {
		t.Errorf("the refused proposal is pending: %q", r.stdout)
	}
	// Proposed by root v4's key, it waits for the new key's signature.
	if r = ctl(append(propose5, "--key", keys["new5"])...); r.code != 0 || !strings.Contains(r.stdout, "is pending") {
		t.Fatalf("propose v5: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("ceremony", "publish", repo)
	if r.code != 1 || !strings.Contains(r.stderr, "is still pending: root v5, role root has 0 of 1 signatures (missing: "+ids["old1"]+")") {
		t.Errorf("publish v5 signed by root v4's key only: %d %q, want exit 1", r.code, r.stderr)
	}
	checkUpdater(4)
	// Both thresholds met, but the published targets is signed by the old
	// targets key: root v5 waits for a targets version by new2.
	if r = ctl("ceremony", "sign", repo, "--key", keys["old1"]); r.code != 0 || !strings.Contains(r.stdout, "is pending") {
		t.Fatalf("ceremony sign old1: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = ctl("ceremony", "publish", repo)
	if r.code != 1 || !strings.Contains(r.stderr, "problem: root v5 changes the targets keys") {
		t.Errorf("publish v5 before its targets: %d %q, want exit 1 naming the targets", r.code, r.stderr)
	}
	checkUpdater(4)
	app2 := filepath.Join(work, "blobs", "app", "app-2.0.tar.gz")
	if err := os.WriteFile(app2, []byte("app 2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = ctl("sign", app2, "--repo", repo, "--name", "app/app-2.0.tar.gz", "--key", keys["new2"])
	if r.code != 0 || !strings.Contains(r.stdout, "published acme/images: root v5, targets v") {
		t.Fatalf("sign with the new targets key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r = ctl("ceremony", "publish", repo); r.code != 0 || !strings.Contains(r.stdout, "root v5 of acme/images is published") {
		t.Errorf("publish v5 after its targets: %d %q %q", r.code, r.stdout, r.stderr)
	}
	checkUpdater(5)
}

// keyID returns the TUF key id of a public key file.
func keyID(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := envelope.ParsePublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := tuf.KeyFromEnvelope(pk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func httpGet(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}

// TestOnlineKeyRotation: trustd's snapshot and timestamp keys are rotated
// through a ceremony. New key files are put in the keys directory and
// trustd restarted (it holds old and new); root v2 names only the new ones;
// the old files are removed and trustd restarted again. go-tuf's updater,
// trusting root 1 and keeping its metadata cached between runs, follows the
// rotation and keeps verifying targets published before and after it.
func TestOnlineKeyRotation(t *testing.T) {
	work := t.TempDir()
	keysDir := filepath.Join(work, "tuf-keys")
	args := []string{"--data-dir", filepath.Join(work, "data"), "--tuf-keys-dir", keysDir}
	d := startTrustd(t, args...)
	const repo = "acme/online"
	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{rootKey, targetsKey} {
		if r := trustctl(t, d.grpcAddr, "key", "generate", "--out", k); r.code != 0 {
			t.Fatalf("key generate: %d %s", r.code, r.stderr)
		}
	}
	if r := trustctl(t, d.grpcAddr, "tuf", "init", repo, "--root-key", rootKey, "--targets-key", targetsKey+".pub"); r.code != 0 {
		t.Fatalf("tuf init: %d %q", r.code, r.stderr)
	}
	blobDir := filepath.Join(work, "blobs")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		t.Fatal(err)
	}
	publish := func(d *daemon, name string) {
		t.Helper()
		p := filepath.Join(blobDir, name)
		if err := os.WriteFile(p, []byte("bytes of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := trustctl(t, d.grpcAddr, "sign", p, "--repo", repo, "--name", name, "--key", targetsKey); r.code != 0 {
			t.Fatalf("sign %s: %d %q", name, r.code, r.stderr)
		}
	}
	publish(d, "one.bin")
	rootV1 := httpGet(t, "http://"+d.httpAddr+"/tuf/"+repo+"/1.root.json")
	cache := t.TempDir()
	// refresh runs a client that keeps its trusted metadata in cache and
	// wants the online roles signed by the given keys.
	refresh := func(d *daemon, snapID, tsID string, names ...string) {
		t.Helper()
		trusted := rootV1
		if b, err := os.ReadFile(filepath.Join(cache, "root.json")); err == nil {
			trusted = b
		}
		blobs := httptest.NewServer(http.FileServer(http.Dir(blobDir)))
		defer blobs.Close()
		cfg, err := config.New("http://"+d.httpAddr+"/tuf/"+repo, trusted)
		if err != nil {
			t.Fatal(err)
		}
		cfg.LocalMetadataDir, cfg.LocalTargetsDir, cfg.RemoteTargetsURL, cfg.PrefixTargetsWithHash = cache, t.TempDir(), blobs.URL, false
		up, err := updater.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Refresh(); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		set := up.GetTrustedMetadataSet()
		if sg := set.Snapshot.Signatures; len(sg) != 1 || sg[0].KeyID != snapID {
			t.Errorf("snapshot signed by %+v, want %s", sg, snapID)
		}
		if sg := set.Timestamp.Signatures; len(sg) != 1 || sg[0].KeyID != tsID {
			t.Errorf("timestamp signed by %+v, want %s", sg, tsID)
		}
		for _, name := range names {
			ti, err := up.GetTargetInfo(name)
			if err != nil {
				t.Fatalf("GetTargetInfo(%s): %v", name, err)
			}
			if _, got, err := up.DownloadTarget(ti, "", ""); err != nil || string(got) != "bytes of "+name {
				t.Fatalf("DownloadTarget(%s) = %q, %v", name, got, err)
			}
		}
	}
	oldSnap, oldTS := onlineKeyID(t, keysDir, "snapshot.pem"), onlineKeyID(t, keysDir, "timestamp.pem")
	refresh(d, oldSnap, oldTS, "one.bin")

	// New online keys beside the old ones; trustd restarted holds both.
	for _, name := range []string{"snapshot-2.pem", "timestamp-2.pem"} {
		if r := trustctl(t, d.grpcAddr, "key", "generate", "--out", filepath.Join(keysDir, name)); r.code != 0 {
			t.Fatalf("key generate %s: %d %q", name, r.code, r.stderr)
		}
	}
	newSnap, newTS := keyID(t, filepath.Join(keysDir, "snapshot-2.pem.pub")), keyID(t, filepath.Join(keysDir, "timestamp-2.pem.pub"))
	d.stop(t)
	d = startTrustd(t, args...)
	r := trustctl(t, d.grpcAddr, "ceremony", "propose", repo, "--root-key", rootKey, "--key", rootKey,
		"--snapshot-key-id", newSnap, "--timestamp-key-id", newTS)
	if r.code != 0 || !strings.Contains(r.stdout, "published acme/online: root v2, snapshot v2, timestamp v2") {
		t.Fatalf("ceremony propose with the new online keys: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = trustctl(t, d.grpcAddr, "ceremony", "propose", repo, "--root-key", rootKey, "--key", rootKey, "--timestamp-key-id", "00ff")
	if r.code != 2 || !strings.Contains(r.stderr, "--timestamp-key-id: 00ff is not one of trustd's keys for the role") {
		t.Errorf("unknown online key id: %d %q", r.code, r.stderr)
	}
	refresh(d, newSnap, newTS, "one.bin")

	// The old key files go; trustd restarted signs with the new keys only.
	for _, name := range []string{"snapshot.pem", "timestamp.pem"} {
		if err := os.Remove(filepath.Join(keysDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	d.stop(t)
	d = startTrustd(t, args...)
	publish(d, "two.bin")
	refresh(d, newSnap, newTS, "one.bin", "two.bin")
}

// onlineKeyID is the TUF key id of one of trustd's online key files.
func onlineKeyID(t *testing.T, dir, name string) string {
	t.Helper()
	s, err := tuf.LoadOnlineKey(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := tuf.PublicKeyOf(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
