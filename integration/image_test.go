package integration_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The release policy trustd holds and a deploy enforces: the image's tag
// is a TUF target of release/trustd and a provenance attestation by the
// release builder names it; a trustd token for it decides alone, offline.
const releasePolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    require:
      any:
        - token: {maxAge: 1h}
        - all:
            - name: {tuf: {repo: release/trustd}}
            - attestation:
                predicateType: https://slsa.dev/provenance/v1
                signers: ["%s"]
                conditions: {builderId: "https://github.com/trustd-dev/trustd/make-image"}
`

// TestReleaseImage builds the release image with `make image`, pushes it
// to a real distribution registry, proves the image works by running the
// trustd extracted from it, and has that trustd sign its own release: a TUF
// target and a provenance attestation for the image digest, then a token
// attached beside the image in the registry, which trustctl verify checks
// offline with no server running.
func TestReleaseImage(t *testing.T) {
	reg := startRegistry(t)
	work := t.TempDir()
	write := func(name, content string) string { t.Helper(); return writeFile(t, work, name, content) }
	imageRef := reg.host + "/trustd/trustd:v-test"

	// make image, as a release does, pushing to the loopback registry.
	imageDir := filepath.Join(work, "image")
	mk := exec.Command("make", "--no-print-directory", "-C", "..", "image", "IMAGE_DIR="+imageDir, "PUSH="+imageRef, "IMAGE_TAG=trustd:v-test")
	out, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	pushed := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(reg.host) + `/trustd/trustd@(sha256:[0-9a-f]{64})$`).FindSubmatch(out)
	if pushed == nil {
		t.Fatalf("make image did not print the pushed digest:\n%s", out)
	}
	for _, p := range []string{"oci/index.json", "oci/oci-layout", "trustd.tar"} {
		if _, err := os.Stat(filepath.Join(imageDir, p)); err != nil {
			t.Errorf("make image output: %v", err)
		}
	}

	// Pulled back: an OCI image of one layer, configured to run trustd as
	// the non-root user.
	ref, err := name.ParseReference(imageRef)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	imgDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if imgDigest.String() != string(pushed[1]) {
		t.Fatalf("registry has %s, make image pushed %s", imgDigest, pushed[1])
	}
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" || len(manifest.Layers) != 1 ||
		c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/trustd" ||
		len(c.ExposedPorts) != 2 || c.Labels["org.opencontainers.image.title"] != "trustd" ||
		!regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(c.Labels["org.opencontainers.image.revision"]) ||
		c.Labels["org.opencontainers.image.version"] == "" {
		t.Errorf("image manifest %+v config %+v", manifest, c)
	}

	// Its filesystem: the static binary, the user, its state directory,
	// and no shell.
	root := extractImage(t, img)
	files := root.files
	for _, p := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[p]; ok {
			t.Errorf("the image has /%s", p)
		}
	}
	for p, h := range files {
		if strings.HasPrefix(p, "bin/") || strings.HasPrefix(p, "usr/") || strings.HasPrefix(p, "sbin/") {
			t.Errorf("the image has /%s: only /trustd is executable", p)
		}
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && p != "trustd" {
			t.Errorf("/%s is executable: only /trustd may be", p)
		}
	}
	if h := files["trustd"]; h == nil || h.Mode&0o777 != 0o755 || h.Uid != 0 {
		t.Errorf("/trustd: %+v, want root-owned 0755", h)
	}
	if h := files["var/lib/trustd"]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != 65532 || h.Mode&0o777 != 0o700 {
		t.Errorf("/var/lib/trustd: %+v, want a 0700 directory of uid 65532", h)
	}
	passwd, _ := os.ReadFile(filepath.Join(root.dir, "etc", "passwd"))
	if !strings.Contains(string(passwd), "trustd:x:65532:65532:") {
		t.Errorf("/etc/passwd has no trustd user:\n%s", passwd)
	}
	bin := filepath.Join(root.dir, "trustd")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/trustd is dynamically linked: the image has no libc")
		}
	}
	ef.Close()

	// The image's trustd serves: embedded SQLite, loopback ports.
	builderKey, rootKey, targetsKey := filepath.Join(work, "builder.pem"), filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{builderKey, rootKey, targetsKey} {
		mustSucceed(t, run(t, nil, "trustctl", "key", "generate", "--out", k), "key generate")
	}
	policyFile := write("release.yaml", fmt.Sprintf(releasePolicy, keyID(t, builderKey+".pub")))
	d := startTrustdBinary(t, bin, "--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile)
	resp, err := http.Get("http://" + d.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz of the image's trustd: %s", resp.Status)
	}
	// The container HEALTHCHECK: the image's trustd probes itself from
	// the environment a container gives it.
	probe := exec.Command(bin, "healthcheck")
	probe.Env = append(os.Environ(), "TRUSTD_HTTP_ADDR="+d.httpAddr)
	if out, err := probe.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ok http://"+d.httpAddr+"/readyz") {
		t.Errorf("trustd healthcheck: %v %q", err, out)
	}
	probe = exec.Command(bin, "healthcheck", "--http-addr", "127.0.0.1:1")
	if out, err := probe.CombinedOutput(); probe.ProcessState.ExitCode() != 1 {
		t.Errorf("trustd healthcheck of nothing: %v %q, want exit 1", err, out)
	}

	// The release, signed by that trustd: the tag as a TUF target…
	ctl := func(args ...string) result {
		t.Helper()
		return mustSucceed(t, trustctl(t, d.grpcAddr, args...), strings.Join(args[:2], " "))
	}
	ctl("key", "add", builderKey+".pub")
	ctl("tuf", "init", "release/trustd", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey+".pub", "--targets-threshold", "1")
	ctl("sign", imageRef, "--repo", "release/trustd", "--name", "trustd/trustd:v-test", "--key", targetsKey)
	// …and SLSA provenance about the manifest's digest (the image digest).
	rawManifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	manifestFile := write("manifest.json", string(rawManifest))
	pred := write("provenance.json", fmt.Sprintf(`{"buildDefinition":{"buildType":"https://github.com/trustd-dev/trustd/make-image/v1",`+
		`"externalParameters":{"revision":%q}},"runDetails":{"builder":{"id":"https://github.com/trustd-dev/trustd/make-image"}}}`,
		c.Labels["org.opencontainers.image.revision"]))
	ctl("attest", "sign", manifestFile, "--algorithm", "sha256", "--name", imageRef,
		"--predicate-type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--key", builderKey)

	// A token for the release policy, attached beside the image.
	tokenKey := filepath.Join(work, "token.pub")
	ctl("token", "key", "--out", tokenKey)
	r := ctl("token", "issue", imageRef, "--policy", "release", "--attach", "-o", "json")
	var issued struct {
		Issued   bool   `json:"issued"`
		TokenID  string `json:"tokenId"`
		Attached string `json:"attached"`
		Digest   string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &issued); err != nil || !issued.Issued || issued.Digest != imgDigest.String() {
		t.Fatalf("token issue: %v %s", err, r.stdout)
	}
	d.stop(t)

	// Pulled back from the registry: the token is an OCI artifact under
	// the referrers tag of the image digest, a DSSE envelope whose VSA
	// names the image digest and PASSED.
	tokenRef, err := name.ParseReference(reg.host + "/trustd/trustd:sha256-" + imgDigest.Hex)
	if err != nil {
		t.Fatal(err)
	}
	vsa := pullToken(t, tokenRef, imgDigest)
	if vsa.Predicate.VerificationResult != "PASSED" || !strings.HasPrefix(vsa.Predicate.ResourceURI, "oci://"+reg.host+"/trustd/trustd:v-test") {
		t.Errorf("token predicate %+v", vsa.Predicate)
	}

	// Offline, with no server at all: the token decides.
	const closed = "127.0.0.1:1"
	verify := func(ref string) (result, verdictJSON) {
		t.Helper()
		r := trustctl(t, closed, "verify", ref, "--policy", policyFile, "--policy-name", "release",
			"--offline", "--token-key", tokenKey, "--layers", "-o", "json")
		return r, parseVerdict(t, r)
	}
	if r, v := verify(imageRef); r.code != 0 || v.Outcome != "pass" {
		t.Errorf("offline verify of the release: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if r, v := verify(reg.host + "/trustd/trustd@" + imgDigest.String()); r.code != 0 || v.Outcome != "pass" {
		t.Errorf("offline verify by digest: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	// Another image under the release's name has no token: a definite no.
	other, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, other); err != nil {
		t.Fatal(err)
	}
	if r, v := verify(imageRef); r.code != 1 || v.Outcome != "fail" {
		t.Errorf("offline verify of a replaced tag: exit %d %+v, want a failure", r.code, v)
	}
}

// imageRoot is an image's filesystem extracted into dir, with the tar
// header of every entry by its path (no leading slash).
type imageRoot struct {
	dir   string
	files map[string]*tar.Header
}

// extractImage flattens the image's layers (mutate.Extract) into a
// temporary directory. Owners are recorded, not applied.
func extractImage(t *testing.T, img v1.Image) imageRoot {
	t.Helper()
	root := imageRoot{dir: t.TempDir(), files: map[string]*tar.Header{}}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		clean := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if clean == "." || strings.HasPrefix(clean, "..") {
			t.Fatalf("image entry %q escapes the root", h.Name)
		}
		root.files[clean] = h
		dst := filepath.Join(root.dir, filepath.FromSlash(clean))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(h.Mode)&0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("image entry %s has type %q: the image holds only directories and files", h.Name, h.Typeflag)
		}
	}
	return root
}

// vsaStatement is the part of a token's in-toto statement the test reads.
type vsaStatement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate struct {
		VerificationResult string `json:"verificationResult"`
		ResourceURI        string `json:"resourceUri"`
	} `json:"predicate"`
}

// pullToken reads the token artifact at ref and checks it is about subject.
func pullToken(t *testing.T, ref name.Reference, subject v1.Hash) vsaStatement {
	t.Helper()
	art, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("token artifact %s: %v", ref, err)
	}
	m, err := art.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != "application/vnd.trustd.token.v1+json" || m.Subject == nil || m.Subject.Digest != subject || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != "application/vnd.dsse.envelope.v1+json" {
		t.Fatalf("token artifact manifest %+v", m)
	}
	layers, err := art.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed() // stored as is: the envelope's bytes
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.PayloadType != "application/vnd.in-toto+json" || len(env.Signatures) == 0 {
		t.Fatalf("token envelope %v: %s", err, raw)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st vsaStatement
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != "https://slsa.dev/verification_summary/v1" || len(st.Subject) == 0 || st.Subject[0].Digest["sha256"] != subject.Hex {
		t.Fatalf("token statement %+v, want a VSA about %s", st, subject)
	}
	return st
}
