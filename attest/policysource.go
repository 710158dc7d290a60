package attest

import (
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/store"
)

// IndexFields returns the stored index of an attestation as policy reads
// it; nil for an opaque predicate type.
func IndexFields(x *store.Attestation) *policy.AttestationIndex {
	if x == nil {
		return nil
	}
	return &policy.AttestationIndex{BuilderID: x.BuilderID, BuildType: x.BuildType, SourceRepository: x.SourceRepository, SourceRef: x.SourceRef,
		DocumentName: x.DocumentName, DocumentVersion: x.DocumentVersion, VerifierID: x.VerifierID, VerificationResult: x.VerificationResult}
}
