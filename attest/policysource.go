package attest

import (
	"context"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// maxPolicyAttestations bounds the attestations one policy requirement
// reads per digest (newest first).
const maxPolicyAttestations = 500

// PolicySource returns the Service as the policy evaluator's source of
// attestations: the verified, unrevoked attestations of a predicate type
// that name any of the digests, with their signers (key ids, and Sigstore
// identities apart), their indexed fields under the policy's condition
// names (builderId, buildType, sourceRepository, sourceRef, …), and their
// log entry as the token's input.
func (s *Service) PolicySource() policy.AttestationSource { return policySource{s} }

type policySource struct{ s *Service }

func (p policySource) Attestations(ctx context.Context, ds []digest.Digest, predicateType string) ([]policy.Attestation, error) {
	var out []policy.Attestation
	seen := map[int64]bool{}
	for _, d := range ds {
		list, _, err := p.s.List(ctx, Query{Digest: d, PredicateType: predicateType, PageSize: maxPolicyAttestations})
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			// A record of a type the table reserves counts only as its
			// path wrote it (a forged row of an old database does not).
			if seen[a.Seq] || a.Revoked || !recordtype.Genuine(a.PayloadType, a.PredicateType) {
				continue
			}
			seen[a.Seq] = true
			out = append(out, policy.IndexedAttestation(a.Seq, a.EnvelopeDigest, a.SignerIDs, IndexFields(a.Index)))
		}
	}
	return out, nil
}

// IndexFields returns the stored index of an attestation as policy reads
// it; nil for an opaque predicate type.
func IndexFields(x *store.Attestation) *policy.AttestationIndex {
	if x == nil {
		return nil
	}
	return &policy.AttestationIndex{BuilderID: x.BuilderID, BuildType: x.BuildType, SourceRepository: x.SourceRepository, SourceRef: x.SourceRef,
		DocumentName: x.DocumentName, DocumentVersion: x.DocumentVersion, VerifierID: x.VerifierID, VerificationResult: x.VerificationResult}
}
