package apiconv_test

import (
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/apiconv"
)

// TestEvidenceRequestRoundTrip: every field of an evidence request
// survives the wire, the signers a policy names above all (without them
// the server gathers only the newest entries, which anyone can fill).
func TestEvidenceRequestRoundTrip(t *testing.T) {
	sum := sha256.Sum256([]byte("app"))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	r := evidence.Request{Digests: []digest.Digest{d}, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindAttestations},
		At: time.Unix(1700000000, 0).UTC(), TUFRoles: []evidence.RoleRef{{Repo: "acme/app", Role: "targets"}},
		PGPRoots: [][]string{{"FPR"}}, PredicateTypes: []string{"https://slsa.dev/provenance/v1"}, TrustSets: [][]string{{"k"}},
		Tokens: []string{"tok"}, Keys: []string{"k"}, Statements: []digest.Digest{d}, Signers: []string{"k", "sigstore:https://issuer.example#ci@example.com"}}
	got, err := apiconv.EvidenceRequestFromProto(apiconv.EvidenceRequestToProto(r))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
}
