package attesttest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// NotationCA is a certificate authority and a code-signing leaf it issued,
// made in memory, as a Notation user's PKI: the CA goes into a trust
// store, the leaf signs with notation-go.
type NotationCA struct {
	CA      *x509.Certificate
	CAKey   crypto.Signer
	Leaf    *x509.Certificate
	LeafKey crypto.Signer
}

// NewNotationCA makes a CA named cn and a leaf "cn signer" it issued, with
// the key usages Notation requires (CA: certSign; leaf: digitalSignature,
// codeSigning).
func NewNotationCA(t testing.TB, cn string) *NotationCA {
	t.Helper()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"trustd test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1,
	}
	ca, caKey := issue(t, caTmpl, nil, nil)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn + " signer", Organization: []string{"trustd test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	leaf, leafKey := issue(t, leafTmpl, ca, caKey)
	return &NotationCA{CA: ca, CAKey: caKey, Leaf: leaf, LeafKey: leafKey}
}

// issue makes a fresh P-256 key and a certificate for it from tmpl,
// signed by parent's key, or self-signed when parent is nil.
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// WriteTrustStore puts the CA's certificate into the Notation trust store
// at dir, as the named CA store (dir/x509/ca/store/NAME.pem), and returns
// dir.
func (c *NotationCA) WriteTrustStore(t testing.TB, dir, store string) string {
	t.Helper()
	d := filepath.Join(dir, "x509", "ca", store)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})
	if err := os.WriteFile(filepath.Join(d, c.CA.Subject.CommonName+".pem"), pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// NotationPolicy is one statement of a trust policy document.
type NotationPolicy struct {
	Name, Level       string
	Scopes, Stores    []string
	TrustedIdentities []string
}

// WriteTrustPolicy writes a trustpolicy.json (version 1.0) with the given
// statements to path; an empty Level is strict, empty identities "*".
func WriteTrustPolicy(t testing.TB, path string, ps ...NotationPolicy) string {
	t.Helper()
	type sv struct {
		Level string `json:"level"`
	}
	type tp struct {
		Name                  string   `json:"name"`
		RegistryScopes        []string `json:"registryScopes"`
		SignatureVerification sv       `json:"signatureVerification"`
		TrustStores           []string `json:"trustStores"`
		TrustedIdentities     []string `json:"trustedIdentities"`
	}
	doc := struct {
		Version       string `json:"version"`
		TrustPolicies []tp   `json:"trustPolicies"`
	}{Version: "1.0"}
	for _, p := range ps {
		if p.Level == "" {
			p.Level = "strict"
		}
		if p.TrustedIdentities == nil {
			p.TrustedIdentities = []string{"*"}
		}
		doc.TrustPolicies = append(doc.TrustPolicies, tp{p.Name, p.Scopes, sv{p.Level}, p.Stores, p.TrustedIdentities})
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Signer is notation-go's signer with the leaf key and the chain leaf, CA.
func (c *NotationCA) Signer(t testing.TB) notation.Signer {
	t.Helper()
	s, err := signer.NewGenericSigner(c.LeafKey, []*x509.Certificate{c.Leaf, c.CA})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sign signs desc with notation-go in the envelope format mediaType
// (application/cose or application/jose+json) and returns the envelope.
func (c *NotationCA) Sign(t testing.TB, desc ocispec.Descriptor, mediaType string) []byte {
	t.Helper()
	sig, _, err := c.Signer(t).Sign(context.Background(), desc, notation.SignerSignOptions{SignatureMediaType: mediaType})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// SignAndPush signs the image ref (REGISTRY/REPO@DIGEST or :TAG) in
// format mediaType and pushes the signature to its registry as an OCI
// referrer, with notation-go's registry package: through the referrers
// API when referrersAPI is true, else by the referrers tag schema
// (sha256-HEX index). It returns the signed image's descriptor.
func (c *NotationCA) SignAndPush(t testing.TB, ref, mediaType string, referrersAPI bool) ocispec.Descriptor {
	t.Helper()
	repo, err := remote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	if err := repo.SetReferrersCapability(referrersAPI); err != nil {
		t.Fatal(err)
	}
	desc, err := notation.Sign(context.Background(), c.Signer(t), registry.NewRepository(repo), notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: mediaType},
		ArtifactReference: ref,
	})
	if err != nil {
		t.Fatal(err)
	}
	return desc
}
