package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/trustd-dev/trustd/attest/attesttest"
)

// TestInTotoReferenceCLI is the differential test against the Python
// in-toto reference implementation (attest.TestInTotoReference) through
// the real binaries: for every supply chain of attesttest.RefChain, made
// by in-toto-keygen, in-toto-sign and in-toto-run, the keys are registered
// with trustctl key add, the layout is put naming its owner by the
// securesystemslib key id, the links are put, and the verdict of trustctl
// attest verify-layout (exit 0 verified, 1 not; a refused submission is
// "not verified") must equal in-toto-verify's exit status.
func TestInTotoReferenceCLI(t *testing.T) {
	attesttest.RequireInTotoTools(t)
	rc := attesttest.NewRefChain(t)
	ref := make([]bool, len(rc.Cases))
	for i, tc := range rc.Cases {
		var why string
		if ref[i], why = rc.Verify(t, i); ref[i] != tc.Want {
			t.Fatalf("%s: in-toto-verify says %v (%s), but the case is built to be %v", tc.Name, ref[i], why, tc.Want)
		}
	}
	// One backend: the table is about 100 trustctl runs, and both stores are
	// compared with the reference by attest.TestInTotoReference.
	d := startTrustd(t, "--data-dir", t.TempDir())
	for _, k := range rc.Keys {
		if r := trustctl(t, d.grpcAddr, "key", "add", k.Pub); r.code != 0 {
			t.Fatalf("key add %s: exit %d: %s", k.Pub, r.code, r.stderr)
		}
	}
	work := t.TempDir()
	for i, tc := range rc.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, why := cliVerdict(t, d, filepath.Join(work, strconv.Itoa(i)), tc)
			if got != ref[i] {
				t.Errorf("trustctl/trustd say %v (%s), in-toto-verify says %v", got, why, ref[i])
			}
		})
	}
}

func cliVerdict(t *testing.T, d *daemon, prefix string, tc attesttest.RefCase) (bool, string) {
	t.Helper()
	layout := prefix + ".layout"
	writeTestFile(t, layout, tc.Layout)
	r := trustctl(t, d.grpcAddr, "attest", "put", layout, "--layout-key", tc.Owner.ID, "-o", "json")
	if r.code != 0 {
		if r.code != 2 {
			t.Fatalf("attest put layout: exit %d (want 0, or 2 for a refusal): %s", r.code, r.stderr)
		}
		return false, "layout refused: " + r.stderr
	}
	var put struct {
		Attestation attestationJSON `json:"attestation"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &put); err != nil {
		t.Fatalf("attest put output: %v\n%s", err, r.stdout)
	}
	seq := put.Attestation.Seq
	for j, link := range tc.Links {
		p := prefix + "." + strconv.Itoa(j) + ".link"
		writeTestFile(t, p, link)
		if r := trustctl(t, d.grpcAddr, "attest", "put", p, "--layout", string(seq)); r.code != 0 {
			if r.code != 2 {
				t.Fatalf("attest put link: exit %d (want 0, or 2 for a refusal): %s", r.code, r.stderr)
			}
			return false, "link refused: " + r.stderr
		}
	}
	sum := sha256.Sum256(tc.Product)
	r = trustctl(t, d.grpcAddr, "attest", "verify-layout", "sha256:"+hex.EncodeToString(sum[:]), "--layout", string(seq))
	switch r.code {
	case 0:
		return true, ""
	case 1:
		return false, r.stdout
	}
	t.Fatalf("verify-layout: exit %d (want 0 or 1): %s%s", r.code, r.stdout, r.stderr)
	return false, ""
}
