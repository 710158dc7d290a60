package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// cosignBin finds cosign v2.6.x: the repository's bin/cosign (scripts/
// test-deps.sh installs it there), else one on PATH.
func cosignBin(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "bin", "cosign")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("cosign")
	if err != nil {
		t.Fatal("cosign is not installed: run scripts/test-deps.sh (it installs cosign v2.6.5 into bin/)")
	}
	return p
}

// cosignScript is run by `unshare -rn bash`: a network namespace whose only
// interface is its loopback, so cosign cannot phone home. It serves the
// test's registry storage there as 127.0.0.1:5000 and has cosign make, with
// keys it generates, everything trustd imports: signatures and attestations
// of an image in the registry (.sig, .att tags) and bundles of a blob, in
// the legacy and the protobuf format. The stranger's key signs the image too.
const cosignScript = `set -euo pipefail
ip link set lo up
cd "$WORK"
docker-registry serve ns-registry.yml >ns-registry.log 2>&1 &
REG=$!
trap 'kill $REG' EXIT
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break; sleep 0.1; done
export COSIGN_PASSWORD=test-password
C="$COSIGN"
IMG="127.0.0.1:5000/app@$DIGEST"
$C generate-key-pair --output-key-prefix release
$C generate-key-pair --output-key-prefix stranger
$C sign --key release.key --tlog-upload=false --yes "$IMG"
$C sign --key stranger.key --tlog-upload=false --yes "$IMG"
$C attest --key release.key --type https://example.com/test-result/v1 --predicate predicate.json --tlog-upload=false --yes "$IMG"
$C sign-blob --key release.key --bundle legacy.bundle.json --tlog-upload=false --yes blob.txt >/dev/null
$C sign-blob --key release.key --new-bundle-format --bundle new.bundle.json --tlog-upload=false --yes blob.txt >/dev/null
$C attest-blob --key release.key --new-bundle-format --bundle att.bundle.json --type https://example.com/test-result/v1 --predicate predicate.json --tlog-upload=false --yes blob.txt >/dev/null
$C sign-blob --key stranger.key --bundle stranger.bundle.json --tlog-upload=false --yes blob.txt >/dev/null
`

// TestCosignImport imports what real cosign (v2.6.x, run offline in its own
// network namespace with a distribution registry) made with a key: trustctl
// import finds the .sig and .att tags of an image and imports the release
// key's signature and attestation, then nothing on a second run; the
// stranger's signature of the same image is left out until its key is
// named, and then recorded as the stranger's. Blob bundles in both formats
// verify against the registered key, and are one entry (the key signed
// the blob once); the stranger's bundle named as the release key is
// refused.
func TestCosignImport(t *testing.T) {
	cosignPath := cosignBin(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is not installed")
	}
	reg := startRegistry(t)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.host + "/app:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	imgDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	writeTestFile(t, filepath.Join(work, "ns-registry.yml"), fmt.Appendf(nil,
		"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:5000\n", reg.storage))
	writeTestFile(t, filepath.Join(work, "predicate.json"), []byte(`{"suite":"unit","passed":true}`))
	blob := []byte("release tarball bytes\n")
	writeTestFile(t, filepath.Join(work, "blob.txt"), blob)
	writeTestFile(t, filepath.Join(work, "cosign.sh"), []byte(cosignScript))
	cmd := exec.Command("unshare", "-rn", "bash", filepath.Join(work, "cosign.sh"))
	cmd.Env = append(os.Environ(), "WORK="+work, "COSIGN="+cosignPath, "DIGEST="+imgDigest.String(), "HOME="+work)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign in a network namespace: %v\n%s", err, out)
	}

	d := startTrustd(t, "--data-dir", t.TempDir())
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
	must(trustctl(t, d.grpcAddr, "key", "add", filepath.Join(work, "release.pub"), "--label", "release"), "key add release")
	must(trustctl(t, d.grpcAddr, "key", "add", filepath.Join(work, "stranger.pub"), "--label", "stranger"), "key add stranger")
	release, stranger := keyID(t, filepath.Join(work, "release.pub")), keyID(t, filepath.Join(work, "stranger.pub"))

	// The image: by tag (resolved to its digest), twice.
	r := must(trustctl(t, d.grpcAddr, "import", reg.host+"/app:1.0", "--key", release), "import")
	if !strings.Contains(r.stdout, "cosign: 2 imported, 0 already in trustd, 1 signed by none of --key") {
		t.Fatalf("import:\n%s", r.stdout)
	}
	r = must(trustctl(t, d.grpcAddr, "import", reg.host+"/app@"+imgDigest.String(), "--key", release), "import again")
	if !strings.Contains(r.stdout, "cosign: 0 imported, 2 already in trustd, 1 signed by none of --key") ||
		!strings.Contains(r.stdout, "nothing new to import") {
		t.Fatalf("import again:\n%s", r.stdout)
	}
	list := listAttestations(t, d.grpcAddr, imgDigest.String())
	if got := signersByType(list); len(list) != 2 || got["https://trustd.dev/cosign/signature/v1"] != release ||
		got["https://example.com/test-result/v1"] != release {
		t.Fatalf("attestations of the image: %+v", list)
	}
	// Naming the stranger's key imports its signature, as the stranger's.
	r = must(trustctl(t, d.grpcAddr, "import", reg.host+"/app:1.0", "--key", release, "--key", stranger), "import with stranger")
	if !strings.Contains(r.stdout, "cosign: 1 imported, 2 already in trustd, 0 signed by none of --key") {
		t.Fatalf("import with stranger:\n%s", r.stdout)
	}
	var byStranger int
	for _, a := range listAttestations(t, d.grpcAddr, imgDigest.String()) {
		if len(a.Signers) != 1 {
			t.Fatalf("attestation with signers %v", a.Signers)
		}
		if a.Signers[0] == stranger {
			byStranger++
		}
	}
	if byStranger != 1 {
		t.Fatalf("%d attestations by the stranger, want 1", byStranger)
	}

	// Blobs: the legacy bundle needs the digest; both bundle formats
	// verify against the release key, and the key's signature of the blob
	// is logged once: the new format's bundle is the legacy one's entry.
	sum := sha256.Sum256(blob)
	blobDigest := "sha256:" + hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		file, predicateType string
		logged              bool
	}{
		{"legacy.bundle.json", "https://trustd.dev/cosign/signature/v1", false},
		{"new.bundle.json", "https://trustd.dev/cosign/signature/v1", true},
		{"att.bundle.json", "https://example.com/test-result/v1", false},
	} {
		r := must(trustctl(t, d.grpcAddr, "attest", "put", filepath.Join(work, tc.file), "--cosign-key", release, "--digest", blobDigest), "attest put "+tc.file)
		want := "accepted"
		if tc.logged {
			want = "already in the log"
		}
		if !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, tc.predicateType) {
			t.Errorf("attest put %s: want %q\n%s", tc.file, want, r.stdout)
		}
		r = must(trustctl(t, d.grpcAddr, "attest", "put", filepath.Join(work, tc.file), "--cosign-key", release, "--digest", blobDigest), "attest put again "+tc.file)
		if !strings.HasPrefix(r.stdout, "already in the log") {
			t.Errorf("attest put %s again:\n%s", tc.file, r.stdout)
		}
	}
	r = trustctl(t, d.grpcAddr, "attest", "put", filepath.Join(work, "stranger.bundle.json"), "--cosign-key", release, "--digest", blobDigest)
	if r.code != 2 || !strings.Contains(r.stderr, "does not verify with key "+release) {
		t.Fatalf("stranger's bundle as the release key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := listAttestations(t, d.grpcAddr, blobDigest); len(got) != 2 {
		t.Fatalf("attestations of the blob: %+v", got)
	}
}

// cosignListed is an attestation as trustctl attest list -o json prints it.
type cosignListed struct {
	Seq           json.Number `json:"seq"`
	Kind          string      `json:"kind"`
	PredicateType string      `json:"predicate_type"`
	Signers       []string    `json:"signers"`
}

func listAttestations(t *testing.T, addr, d string) []cosignListed {
	t.Helper()
	r := mustSucceed(t, trustctl(t, addr, "attest", "list", d, "-o", "json"), "attest list")
	var out struct {
		Attestations []cosignListed `json:"attestations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("attest list: %v\n%s", err, r.stdout)
	}
	return out.Attestations
}

func signersByType(list []cosignListed) map[string]string {
	m := map[string]string{}
	for _, a := range list {
		if len(a.Signers) == 1 {
			m[a.PredicateType] = a.Signers[0]
		}
	}
	return m
}
