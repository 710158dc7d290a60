package integration_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
)

type attestationJSON struct {
	Seq      json.Number `json:"seq"`
	Kind     string      `json:"kind"`
	Signers  []string    `json:"signers"`
	Subjects []struct {
		Name    string   `json:"name"`
		Digests []string `json:"digests"`
	} `json:"subjects"`
	Index struct {
		BuilderID        string `json:"builder_id"`
		SourceRepository string `json:"source_repository"`
		SourceRef        string `json:"source_ref"`
	} `json:"index"`
}

const integrationProvenance = `{"buildDefinition":{"buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/v1.0.0","repository":"https://github.com/example/app"}}},
"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}`

// TestAttestFlow drives attestations end to end through the real binaries
// on both backends: a key made by openssl signs provenance with `attest
// sign` (every digest of the artifact as subject), found by sha256 and
// sha512; a keyless Sigstore bundle from a virtual Sigstore is verified
// against --sigstore-trusted-root with an identity policy, and refused
// after the root is rotated and trustd gets SIGHUP; an in-toto layout and
// its links verify a final product and reject another.
func TestAttestFlow(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed; scripts/test-deps.sh installs it")
	}
	backends := []struct {
		name  string
		flags func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string { return []string{"--db", testpg.URL(t)} }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			work := t.TempDir()
			vs, err := ca.NewVirtualSigstore()
			if err != nil {
				t.Fatal(err)
			}
			rootFile := attesttest.WriteTrustedRoot(t, vs)
			d := startTrustd(t, append(b.flags(t), "--sigstore-trusted-root", rootFile, "--sigstore-require-sct=false", "--max-attestation-bytes", "1048576")...)

			// DSSE: openssl key, attest sign, list by either digest.
			key := filepath.Join(work, "release.pem")
			if out, err := exec.Command("openssl", "genpkey", "-algorithm", "ED25519", "-out", key).CombinedOutput(); err != nil {
				t.Fatalf("openssl genpkey: %v %s", err, out)
			}
			pub, err := exec.Command("openssl", "pkey", "-in", key, "-pubout").Output()
			if err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, key+".pub", pub)
			if r := trustctl(t, d.grpcAddr, "key", "add", key+".pub"); r.code != 0 {
				t.Fatalf("key add: %s", r.stderr)
			}
			artifact := filepath.Join(work, "app.tar.gz")
			writeTestFile(t, artifact, []byte("the app release"))
			prov := filepath.Join(work, "provenance.json")
			writeTestFile(t, prov, []byte(integrationProvenance))
			r := trustctl(t, d.grpcAddr, "attest", "sign", artifact, "--predicate-type", attest.PredicateSLSAProvenanceV1,
				"--predicate", prov, "--key", key, "-o", "json")
			if r.code != 0 {
				t.Fatalf("attest sign: exit %d: %s", r.code, r.stderr)
			}
			var put struct {
				Attestation attestationJSON `json:"attestation"`
				Created     bool            `json:"created"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &put); err != nil {
				t.Fatalf("attest sign output: %v\n%s", err, r.stdout)
			}
			a := put.Attestation
			if !put.Created || a.Kind != "dsse" || len(a.Subjects) != 1 || len(a.Subjects[0].Digests) != 2 ||
				a.Subjects[0].Name != "app.tar.gz" || a.Index.SourceRepository != "https://github.com/example/app" {
				t.Fatalf("attest sign = %s", r.stdout)
			}
			for _, alg := range []string{"sha256:", "sha512:"} {
				var d256 string
				for _, dg := range a.Subjects[0].Digests {
					if strings.HasPrefix(dg, alg) {
						d256 = dg
					}
				}
				r := trustctl(t, d.grpcAddr, "attest", "list", d256, "--predicate-type", attest.PredicateSLSAProvenanceV1)
				if r.code != 0 || !strings.Contains(r.stdout, "builder: https://github.com/actions/runner/github-hosted") ||
					!strings.Contains(r.stdout, "ref: refs/tags/v1.0.0") {
					t.Errorf("attest list %s: exit %d\n%s%s", d256, r.code, r.stdout, r.stderr)
				}
			}
			if r := trustctl(t, d.grpcAddr, "attest", "get", string(a.Seq), "--envelope"); r.code != 0 || !json.Valid([]byte(r.stdout)) ||
				!strings.Contains(r.stdout, envelope.PayloadTypeInToto) {
				t.Errorf("attest get --envelope: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			// A large SBOM is accepted up to --max-attestation-bytes (1 MiB here).
			sbom := func(packages int) string {
				var b strings.Builder
				b.WriteString(`{"spdxVersion":"SPDX-2.3","name":"app-sbom","packages":[`)
				for i := range packages {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(`{"SPDXID":"SPDXRef-Package-` + strconv.Itoa(i) + `","name":"pkg","versionInfo":"1.0.0","downloadLocation":"NOASSERTION"}`)
				}
				return b.String() + `]}`
			}
			for _, tc := range []struct {
				packages int
				code     int
				words    string
			}{{8000, 0, "document: app-sbom"}, {12000, 2, "--max-attestation-bytes=1048576"}} {
				p := filepath.Join(work, "sbom.json")
				writeTestFile(t, p, []byte(sbom(tc.packages)))
				r := trustctl(t, d.grpcAddr, "attest", "sign", artifact, "--predicate-type", attest.PredicateSPDX, "--predicate", p, "--key", key)
				if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.words) {
					t.Errorf("attest sign of a %d-package SBOM: exit %d, want %d with %q\n%s%s", tc.packages, r.code, tc.code, tc.words, r.stdout, r.stderr)
				}
			}
			if r := trustctl(t, d.grpcAddr, "attest", "list", "sha256:"+strings.Repeat("0", 64)); r.code != 1 {
				t.Errorf("attest list of an unknown digest: exit %d, want 1\n%s", r.code, r.stderr)
			}

			// Sigstore: a keyless bundle, verified with an identity policy.
			const iss, who = "https://token.actions.example.com", "ci@example.com"
			subject := []digest.Digest{digest.MustParse(a.Subjects[0].Digests[0])}
			stmt, err := envelope.NewStatement("https://example.com/test-result/v1", json.RawMessage(`{"passed":true}`), envelope.Subject{Digests: subject})
			if err != nil {
				t.Fatal(err)
			}
			bundle := filepath.Join(work, "result.sigstore.json")
			writeTestFile(t, bundle, attesttest.Attest(t, vs, who, iss, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true}))
			if r := trustctl(t, d.grpcAddr, "attest", "put", bundle, "--issuer", iss, "--identity", "someone-else@example.com"); r.code != 2 ||
				!strings.Contains(r.stderr, `expected SAN value "someone-else@example.com"`) {
				t.Errorf("attest put with the wrong identity: exit %d: %s", r.code, r.stderr)
			}
			r = trustctl(t, d.grpcAddr, "attest", "put", bundle, "--issuer", iss, "--identity-regexp", "^ci@", "--digest", subject[0].String())
			if r.code != 0 || !strings.Contains(r.stdout, "signed by "+attest.SigstoreSignerID(iss, who)) {
				t.Fatalf("attest put bundle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r = trustctl(t, d.grpcAddr, "attest", "list", subject[0].String(), "--signer", attest.SigstoreSignerID(iss, who), "-o", "json")
			var listed struct {
				Attestations []attestationJSON `json:"attestations"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &listed); r.code != 0 || err != nil || len(listed.Attestations) != 1 ||
				listed.Attestations[0].Kind != attest.KindSigstoreBundle {
				t.Errorf("attest list --signer: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
			}

			// Rotating the trusted root (SIGHUP) refuses bundles of the old one.
			other, err := ca.NewVirtualSigstore()
			if err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, rootFile, readTestFile(t, attesttest.WriteTrustedRoot(t, other)))
			if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return strings.Contains(d.logs(), "sigstore trusted root reloaded") }, d)
			fresh := filepath.Join(work, "fresh.sigstore.json")
			writeTestFile(t, fresh, attesttest.Attest(t, vs, who, iss, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true}))
			if r := trustctl(t, d.grpcAddr, "attest", "put", fresh); r.code != 2 || !strings.Contains(r.stderr, "does not verify against the trusted root") {
				t.Errorf("attest put of a bundle from the rotated-out Sigstore: exit %d: %s", r.code, r.stderr)
			}

			// in-toto: layout by the owner, links by the functionaries.
			sc := attesttest.NewSupplyChain(t)
			ownerPub := filepath.Join(work, "owner.pub")
			writeTestFile(t, ownerPub, sc.OwnerPEM)
			r = trustctl(t, d.grpcAddr, "key", "add", ownerPub)
			if r.code != 0 {
				t.Fatalf("key add owner: %s", r.stderr)
			}
			ownerID := keyID(t, ownerPub)
			layout := filepath.Join(work, "root.layout")
			writeTestFile(t, layout, sc.Layout(t, "integration"))
			r = trustctl(t, d.grpcAddr, "attest", "put", layout, "--layout-key", ownerID, "-o", "json")
			if r.code != 0 {
				t.Fatalf("attest put layout: exit %d: %s", r.code, r.stderr)
			}
			if err := json.Unmarshal([]byte(r.stdout), &put); err != nil {
				t.Fatal(err)
			}
			layoutSeq := put.Attestation.Seq
			for i, link := range [][]byte{
				sc.Link(t, "write-code", nil, []string{"foo.py"}, sc.Alice),
				sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob),
			} {
				p := filepath.Join(work, "step"+string(rune('0'+i))+".link")
				writeTestFile(t, p, link)
				if r := trustctl(t, d.grpcAddr, "attest", "put", p, "--layout", string(layoutSeq)); r.code != 0 {
					t.Fatalf("attest put link: exit %d: %s", r.code, r.stderr)
				}
			}
			r = trustctl(t, d.grpcAddr, "attest", "verify-layout", sc.Product.String(), "--layout", string(layoutSeq))
			if r.code != 0 || !strings.Contains(r.stdout, "PASS  inspection untar") || !strings.Contains(r.stdout, "verified: foo.tar.gz") {
				t.Errorf("verify-layout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			wrong := digest.MustParse("sha256:" + strings.Repeat("ab", 32))
			r = trustctl(t, d.grpcAddr, "attest", "verify-layout", wrong.String(), "--layout", string(layoutSeq))
			if r.code != 1 || !strings.Contains(r.stdout, "FAIL  inspection untar") || !strings.Contains(r.stdout, "PASS  step       package") {
				t.Errorf("verify-layout of another product: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			d.stop(t)
		})
	}
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func waitFor(t *testing.T, cond func() bool, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in 10s; trustd log:\n%s", d.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
