package integration_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
)

// TestNotationImport: notation-go signs an image (COSE and JWS) and pushes
// the signatures to a registry as OCI referrers; `trustctl import` finds
// them and trustd stores them, verified against its Notation trust store
// and policy, once. Against Debian's distribution registry (no referrers
// API: the sha256-HEX referrers tag) a stranger with their own CA has
// pushed a signature too, which trustd refuses and does not store; against
// go-containerregistry's in-process registry the referrers API is used.
func TestNotationImport(t *testing.T) {
	for _, tc := range []struct {
		name         string
		host         func(t *testing.T) string
		referrersAPI bool
		stranger     bool
	}{
		{"distribution-referrers-tag", func(t *testing.T) string { return startRegistry(t).host }, false, true},
		{"ggcr-referrers-api", func(t *testing.T) string {
			srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
			t.Cleanup(srv.Close)
			return strings.TrimPrefix(srv.URL, "http://")
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.host(t)
			repo := host + "/acme/app"
			tag, err := name.NewTag(repo + ":v1")
			if err != nil {
				t.Fatal(err)
			}
			img, err := random.Image(512, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(tag, img); err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			ref := repo + "@" + d.String()

			acme := attesttest.NewNotationCA(t, "acme")
			acme.SignAndPush(t, ref, attest.NotationMediaTypeCOSE, tc.referrersAPI)
			acme.SignAndPush(t, ref, attest.NotationMediaTypeJWS, tc.referrersAPI)
			if tc.stranger {
				attesttest.NewNotationCA(t, "acme").SignAndPush(t, ref, attest.NotationMediaTypeCOSE, tc.referrersAPI)
			}

			work := t.TempDir()
			store := acme.WriteTrustStore(t, filepath.Join(work, "truststore"), "acme")
			policy := attesttest.WriteTrustPolicy(t, filepath.Join(work, "trustpolicy.json"),
				attesttest.NotationPolicy{Name: "acme", Scopes: []string{repo}, Stores: []string{"ca:acme"}})
			dmn := startTrustd(t, "--data-dir", filepath.Join(work, "data"), "--notation-trust-store", store, "--notation-trust-policy", policy)

			wantCode := 0
			if tc.stranger {
				wantCode = 2 // an error: a signature was refused
			}
			for i, want := range []string{"2 imported, 0 already in trustd", "0 imported, 2 already in trustd"} {
				r := trustctl(t, dmn.grpcAddr, "import", repo+":v1")
				if r.code != wantCode || !strings.Contains(r.stdout, want) {
					t.Fatalf("import %d: exit %d, want %d, want %q:\n%s\n%s", i+1, r.code, wantCode, want, r.stdout, r.stderr)
				}
				if tc.stranger && (!strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "trusted certificate")) {
					t.Errorf("import %d: the stranger's refusal is not reported:\n%s", i+1, r.stdout)
				}
			}

			r := mustSucceed(t, trustctl(t, dmn.grpcAddr, "attest", "list", d.String(), "-o", "json"), "attest list")
			var list struct {
				Attestations []attestationJSON `json:"attestations"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
				t.Fatal(err)
			}
			signer := attest.NotationSignerID(acme.Leaf.Raw)
			if len(list.Attestations) != 2 {
				t.Fatalf("%d attestations, want acme's 2:\n%s", len(list.Attestations), r.stdout)
			}
			for _, a := range list.Attestations {
				if a.Kind != attest.KindNotation || len(a.Signers) != 1 || a.Signers[0] != signer {
					t.Errorf("attestation %+v, want kind %s signed by %s", a, attest.KindNotation, signer)
				}
			}
		})
	}
}
