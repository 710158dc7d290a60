package attest

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
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
			if seen[a.Seq] || a.Revoked {
				continue
			}
			seen[a.Seq] = true
			out = append(out, PolicyAttestation(a))
		}
	}
	return out, nil
}

// PolicyAttestation is a as policy evaluation sees it: key signers and
// Sigstore identities apart, the indexed predicate fields by name. The
// server's source and trustctl's (over the AttestService API) both use it,
// so a policy reads the same evidence online and in token issuance.
func PolicyAttestation(a Attestation) policy.Attestation {
	pa := policy.Attestation{
		Seq:   uint64(a.Seq),
		Input: policy.Input{URI: fmt.Sprintf("trustd:log/%d", a.Seq), Digest: a.EnvelopeDigest},
	}
	for _, id := range a.SignerIDs {
		if issuer, subject, ok := ParseSigstoreSignerID(id); ok {
			pa.Identities = append(pa.Identities, policy.SigstoreIdentity{Issuer: issuer, Subject: subject})
		} else {
			pa.Signers = append(pa.Signers, id)
		}
	}
	if x := a.Index; x != nil {
		pa.Fields = map[string]string{}
		for name, v := range map[string]string{
			"builderId": x.BuilderID, "buildType": x.BuildType, "sourceRepository": x.SourceRepository, "sourceRef": x.SourceRef,
			"documentName": x.DocumentName, "documentVersion": x.DocumentVersion,
			"verifierId": x.VerifierID, "verificationResult": x.VerificationResult,
		} {
			if v != "" {
				pa.Fields[name] = v
			}
		}
	}
	return pa
}
