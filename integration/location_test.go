package integration_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ociregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// locationsJSON is the part of 'trustctl locations -o json' the test reads.
type locationsJSON struct {
	Digest    string   `json:"digest"`
	Digests   []string `json:"digests"`
	Length    int64    `json:"length"`
	Locations []struct {
		URI      string      `json:"uri"`
		URLs     []string    `json:"urls"`
		Kind     string      `json:"kind"`
		KeyID    string      `json:"key_id"`
		KeyLabel string      `json:"key_label"`
		Seq      json.Number `json:"seq"`
		ViaAlias string      `json:"via_alias"`
	} `json:"locations"`
}

// TestLocations drives issue 18's location claims and issue 15's TUF blob
// layout through the real binaries on both backends: 'trustctl sign
// --location DIR' writes the target under both consistent-snapshot names
// and claims the location, and go-tuf's own updater, with consistent
// snapshots and hash-prefixed target names, downloads it from a plain file
// server over DIR; 'sign --location oci://…' pushes the blob to a registry;
// 'locations' lists them as authoritative (with the TUF target length), a
// vendor's 'location add' as a mirror, a stranger's alias claim links
// nothing, '--shared-with' lists what two vendors hold, and a withdrawn
// claim is no longer offered.
func TestLocations(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			args := []string{"--data-dir", filepath.Join(work, "data"), "--location-allow-http", "--location-allow-private"}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t), "--tuf-keys-dir", filepath.Join(work, "tuf-keys"))
			}
			d := startTrustd(t, args...)
			ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
			keys := map[string]string{}
			for _, k := range []string{"root", "targets", "mirror", "stranger"} {
				keys[k] = filepath.Join(work, k+".pem")
				if r := ctl("key", "generate", "--out", keys[k]); r.code != 0 {
					t.Fatalf("key generate: %d %s", r.code, r.stderr)
				}
				if k != "root" {
					if r := ctl("key", "add", keys[k]+".pub", "--label", k); r.code != 0 {
						t.Fatalf("key add: %d %s", r.code, r.stderr)
					}
				}
			}
			if r := ctl("tuf", "init", "acme/images", "--root-key", keys["root"], "--root-threshold", "1",
				"--targets-key", keys["targets"]+".pub", "--targets-threshold", "1"); r.code != 0 {
				t.Fatalf("tuf init: %d %q %q", r.code, r.stdout, r.stderr)
			}
			content := []byte("app 1.0 release bytes, placed where they live\n")
			artifact := filepath.Join(work, "app-1.0.tar.gz")
			if err := os.WriteFile(artifact, content, 0o644); err != nil {
				t.Fatal(err)
			}
			s256, s512 := sha256.Sum256(content), sha512.Sum512(content)
			hex256, hex512 := hex.EncodeToString(s256[:]), hex.EncodeToString(s512[:])
			blobDir := filepath.Join(work, "blobs")
			if err := os.Mkdir(blobDir, 0o755); err != nil {
				t.Fatal(err)
			}
			blobs := httptest.NewServer(http.FileServer(http.Dir(blobDir)))
			defer blobs.Close()

			r := ctl("sign", artifact, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", keys["targets"],
				"--location", blobDir, "--location-url", blobs.URL+"/")
			if r.code != 0 || !strings.Contains(r.stdout, "location "+blobs.URL+"/ claimed: log entry") {
				t.Fatalf("sign --location DIR: %d %q %q", r.code, r.stdout, r.stderr)
			}
			for _, h := range []string{hex256, hex512} {
				got, err := os.ReadFile(filepath.Join(blobDir, "app", h+".app-1.0.tar.gz"))
				if err != nil || string(got) != string(content) {
					t.Fatalf("placed %s.app-1.0.tar.gz: %q, %v", h, got, err)
				}
			}

			// go-tuf's own updater, consistent snapshots and hash-prefixed
			// target names (its defaults), fetches from the file server.
			root := httpGet(t, "http://"+d.httpAddr+"/tuf/acme/images/1.root.json")
			for i := range 4 { // go-tuf picks either hash; fetch a few times
				cfg, err := config.New("http://"+d.httpAddr+"/tuf/acme/images", root)
				if err != nil {
					t.Fatal(err)
				}
				cfg.LocalMetadataDir, cfg.LocalTargetsDir = t.TempDir(), t.TempDir()
				cfg.RemoteTargetsURL = blobs.URL
				if !cfg.PrefixTargetsWithHash {
					t.Fatal("go-tuf's default no longer prefixes target names with their hash")
				}
				up, err := updater.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := up.Refresh(); err != nil {
					t.Fatalf("updater Refresh: %v", err)
				}
				if !up.GetTrustedMetadataSet().Root.Signed.ConsistentSnapshot {
					t.Fatal("trustd's root does not use consistent snapshots")
				}
				ti, err := up.GetTargetInfo("app/app-1.0.tar.gz")
				if err != nil {
					t.Fatal(err)
				}
				if _, got, err := up.DownloadTarget(ti, "", ""); err != nil || string(got) != string(content) {
					t.Fatalf("DownloadTarget %d = %q, %v", i, got, err)
				}
			}

			// An OCI repository: the blob is pushed, then claimed.
			reg := httptest.NewServer(ociregistry.New())
			defer reg.Close()
			host := strings.TrimPrefix(reg.URL, "http://")
			r = ctl("sign", artifact, "--repo", "acme/images", "--name", "app/app-1.0.tar.gz", "--key", keys["targets"],
				"--location", "oci://"+host+"/acme/blobs")
			ociURI := "oci://" + host + "/acme/blobs@sha256:" + hex256
			if r.code != 0 || !strings.Contains(r.stdout, "location "+ociURI+" claimed") {
				t.Fatalf("sign --location oci: %d %q %q", r.code, r.stdout, r.stderr)
			}
			blobRef, err := name.NewDigest(host + "/acme/blobs@sha256:" + hex256)
			if err != nil {
				t.Fatal(err)
			}
			layer, err := remote.Layer(blobRef)
			if err != nil {
				t.Fatal(err)
			}
			if rc, err := layer.Compressed(); err != nil {
				t.Fatalf("pushed blob: %v", err)
			} else {
				rc.Close()
			}

			// A vendor mirrors it; a stranger aims the release's sha512 at
			// bytes of their own through an alias claim of their own.
			r = ctl("location", "add", "app-1.0.tar.gz=sha256:"+hex256, "http://127.0.0.1:9/mirror/app-1.0.tar.gz", "--key", keys["mirror"], "-o", "json")
			var mirrorClaim struct {
				Entry struct {
					Seq json.Number `json:"seq"`
				} `json:"entry"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &mirrorClaim); r.code != 0 || err != nil {
				t.Fatalf("location add (mirror): %d %q %q", r.code, r.stdout, r.stderr)
			}
			evil := sha256.Sum256([]byte("the stranger's bytes"))
			evilHex := hex.EncodeToString(evil[:])
			predicate := filepath.Join(work, "alias.json")
			if err := os.WriteFile(predicate, []byte(`{}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if r := ctl("statement", "sign", "--predicate-type", "https://example.com/alias/v1", "--predicate", predicate,
				"--subject", "app-1.0.tar.gz=sha512:"+hex512+",sha256:"+evilHex, "--key", keys["stranger"]); r.code != 0 {
				t.Fatalf("stranger's alias claim: %d %q", r.code, r.stderr)
			}
			if r := ctl("location", "add", "sha256:"+evilHex, "http://127.0.0.1:9/evil.bin", "--key", keys["stranger"]); r.code != 0 {
				t.Fatalf("stranger's location: %d %q", r.code, r.stderr)
			}
			if r := ctl("location", "add", "sha256:"+evilHex, "file:///etc/passwd", "--key", keys["stranger"]); r.code != 2 || !strings.Contains(r.stderr, "predicate.uri") {
				t.Errorf("a file: location: %d %q", r.code, r.stderr)
			}

			locations := func(digest string) locationsJSON {
				t.Helper()
				r := ctl("locations", digest, "-o", "json")
				var out locationsJSON
				if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil {
					t.Fatalf("locations %s: %d %q %q", digest, r.code, r.stdout, r.stderr)
				}
				return out
			}
			got := locations("sha512:" + hex512)
			targetsID := keyID(t, keys["targets"]+".pub")
			want := []string{"LOCATION_KIND_AUTHORITATIVE " + blobs.URL + "/", "LOCATION_KIND_AUTHORITATIVE " + ociURI, "LOCATION_KIND_MIRROR http://127.0.0.1:9/mirror/app-1.0.tar.gz"}
			var have []string
			for _, l := range got.Locations {
				have = append(have, l.Kind+" "+l.URI)
				if strings.Contains(l.URI, "evil") {
					t.Errorf("the stranger's alias claim linked their location: %+v", l)
				}
			}
			if strings.Join(have, "\n") != strings.Join(want, "\n") {
				t.Fatalf("locations of sha512:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
			if l := got.Locations[0]; l.KeyID != targetsID || l.KeyLabel != "targets" || l.Seq == "" ||
				len(l.URLs) != 2 || l.URLs[1] != blobs.URL+"/app/"+hex512+".app-1.0.tar.gz" {
				t.Errorf("directory location %+v", l)
			}
			if got.Length != 46 || len(got.Digests) != 2 || got.Digests[1] != "sha256:"+hex256 {
				t.Errorf("length %d, digests %v", got.Length, got.Digests)
			}
			r = ctl("locations", "sha256:"+hex256)
			if r.code != 0 || !strings.Contains(r.stdout, "authoritative "+blobs.URL+"/  claimed by "+targetsID+" (targets), log entry") ||
				!strings.Contains(r.stdout, "mirror http://127.0.0.1:9/mirror/app-1.0.tar.gz  claimed by") || !strings.Contains(r.stdout, "length 46 bytes (TUF acme/images targets v") {
				t.Errorf("locations (text): %d %q %q", r.code, r.stdout, r.stderr)
			}

			// What the mirror and the publisher both hold.
			r = ctl("locations", "--shared-with", "targets", "--as", "mirror")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "sha256:"+hex256 {
				t.Errorf("locations --shared-with: %d %q %q", r.code, r.stdout, r.stderr)
			}

			// The mirror withdraws its claim: no longer offered or shared.
			if r := ctl("revoke", "statement", string(mirrorClaim.Entry.Seq), "--reason", "withdrawn", "--key", keys["mirror"]); r.code != 0 {
				t.Fatalf("revoke the mirror's claim: %d %q", r.code, r.stderr)
			}
			got = locations("sha256:" + hex256)
			if len(got.Locations) != 2 || got.Locations[1].URI != ociURI {
				t.Errorf("after withdrawal: %+v", got.Locations)
			}
			if r := ctl("locations", "--shared-with", "targets", "--as", "mirror"); r.code != 1 {
				t.Errorf("locations --shared-with after withdrawal: %d %q %q", r.code, r.stdout, r.stderr)
			}
			if r := ctl("locations", "sha256:"+strings.Repeat("0", 64)); r.code != 1 {
				t.Errorf("locations of an unknown digest: %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}
