package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
)

// runCtl runs trustctl in process as main does.
func runCtl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	exit := run(root, &stdout, &stderr, func(c *cobra.Command) (*cobra.Command, error) { return c.ExecuteC() })
	return exit, stdout.String(), stderr.String()
}

// TestAttestSignReferenceForms: attest sign takes every reference form the
// resolver takes (a file, an OCI tag or digest reference, oci://), hashes
// only the algorithms asked for (sha256 and sha512 by default), and names
// an image by its manifest digest.
func TestAttestSignReferenceForms(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.ParseReference(host + "/acme/app:1.0")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	manifest, _ := img.Digest()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.pem")
	if code, _, stderr := runCtl(t, "key", "generate", "--out", keyFile); code != 0 {
		t.Fatalf("key generate: %s", stderr)
	}
	pred := filepath.Join(dir, "p.json")
	file := filepath.Join(dir, "app.tar.gz")
	for p, b := range map[string]string{pred: `{"builder":{"id":"x"}}`, file: "the app"} {
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(ref string, extra ...string) (int, []string, string) {
		t.Helper()
		code, stdout, stderr := runCtl(t, append([]string{"attest", "sign", ref, "--predicate-type", "https://slsa.dev/provenance/v1",
			"--predicate", pred, "--key", keyFile, "--out", "-", "--progress", "never"}, extra...)...)
		if code != 0 {
			return code, nil, stderr
		}
		var env struct {
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(stdout), &env); err != nil {
			t.Fatalf("%s: %v\n%s", ref, err, stdout)
		}
		payload, _ := base64.StdEncoding.DecodeString(env.Payload)
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(payload, &st); err != nil || len(st.Subject) != 1 {
			t.Fatalf("%s: statement %s: %v", ref, payload, err)
		}
		var ds []string
		for alg, hex := range st.Subject[0].Digest {
			ds = append(ds, alg+":"+hex)
		}
		sort.Strings(ds)
		return code, ds, stderr
	}
	for _, ref := range []string{host + "/acme/app:1.0", host + "/acme/app@" + manifest.String(), "oci://" + host + "/acme/app:1.0"} {
		code, ds, stderr := sign(ref)
		if code != 0 || len(ds) != 2 || ds[0] != manifest.String() || !strings.HasPrefix(ds[1], "sha512:") {
			t.Errorf("%s: exit %d digests %v, want the manifest's sha256 and sha512 only\n%s", ref, code, ds, stderr)
		}
	}
	if code, ds, stderr := sign(file, "-a", "sha256"); code != 0 || len(ds) != 1 || !strings.HasPrefix(ds[0], "sha256:") {
		t.Errorf("file -a sha256: exit %d digests %v\n%s", code, ds, stderr)
	}

}
