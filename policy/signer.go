package policy

import (
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/digest"
)

// sigstorePrefix starts every Sigstore signer id.
const sigstorePrefix = "sigstore:"

// SignerID is the signer id trustd records for a keyless Sigstore
// signature: the certificate's OIDC issuer and subject (its SAN), as
// "sigstore:ISSUER#SUBJECT". An OIDC issuer is a URL without a fragment,
// so the first '#' separates the two; the id is stable across
// certificates, so attestations, policies and feedback name the identity
// alike.
func (id SigstoreIdentity) SignerID() string {
	return sigstorePrefix + id.Issuer + "#" + id.Subject
}

// ParseSignerID splits a signer id made by SignerID; ok is false for any
// other signer id (a key id or an OpenPGP fingerprint).
func ParseSignerID(s string) (id SigstoreIdentity, ok bool) {
	rest, found := strings.CutPrefix(s, sigstorePrefix)
	if !found {
		return SigstoreIdentity{}, false
	}
	id.Issuer, id.Subject, ok = strings.Cut(rest, "#")
	return id, ok && id.Issuer != "" && id.Subject != ""
}

// AttestationIndex is what trustd indexes from the predicate of an
// attestation whose predicate type it understands (SLSA provenance, SBOMs,
// SLSA VSAs); empty fields were absent. It mirrors the store's index so
// that policy needs no store.
type AttestationIndex struct {
	BuilderID, BuildType, SourceRepository, SourceRef string
	DocumentName, DocumentVersion                     string
	VerifierID, VerificationResult                    string
}

// IndexedAttestation is a stored attestation as policy evaluation sees
// it: key signers and Sigstore identities apart, the indexed predicate
// fields under their condition names, the log entry as an input. trustd's
// own source and trustctl's (over the API) both build it here, so a policy
// reads the same evidence online and in token issuance.
func IndexedAttestation(seq int64, envelopeDigest digest.Digest, signerIDs []string, index *AttestationIndex) Attestation {
	a := Attestation{Seq: uint64(seq), Input: Input{URI: fmt.Sprintf("trustd:log/%d", seq), Digest: envelopeDigest}}
	for _, s := range signerIDs {
		if id, ok := ParseSignerID(s); ok {
			a.Identities = append(a.Identities, id)
		} else {
			a.Signers = append(a.Signers, s)
		}
	}
	if x := index; x != nil {
		a.Fields = map[string]string{}
		for name, v := range map[string]string{
			"builderId": x.BuilderID, "buildType": x.BuildType, "sourceRepository": x.SourceRepository, "sourceRef": x.SourceRef,
			"documentName": x.DocumentName, "documentVersion": x.DocumentVersion,
			"verifierId": x.VerifierID, "verificationResult": x.VerificationResult,
		} {
			if v != "" {
				a.Fields[name] = v
			}
		}
	}
	return a
}
