package client

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// maxAttestations bounds the attestations one requirement reads per
// digest (the API's page limit).
const maxAttestations = 500

// AttestationSource answers a policy's attestation requirements from
// trustd's AttestService: the attestations trustd verified on ingest (DSSE
// signatures against its key registry, Sigstore bundles against its
// trusted root) that name the bytes, less the revoked ones.
type AttestationSource struct {
	Attest trustv1.AttestServiceClient
}

// Attestations lists the unrevoked attestations of predicateType naming
// any of ds, each once.
func (s AttestationSource) Attestations(ctx context.Context, ds []digest.Digest, predicateType string) ([]policy.Attestation, error) {
	var out []policy.Attestation
	seen := map[uint64]bool{}
	for _, d := range ds {
		resp, err := s.Attest.ListAttestations(ctx, &trustv1.ListAttestationsRequest{Digest: d.String(), PredicateType: predicateType, PageSize: maxAttestations})
		if err != nil {
			return nil, fmt.Errorf("attestations of %s: %w", d, err)
		}
		for _, a := range resp.GetAttestations() {
			// A record of a type the table reserves counts only as its
			// path wrote it (a forged row of an old database does not).
			if seen[a.GetSeq()] || a.GetRevoked() || !recordtype.Genuine(a.GetPayloadType(), a.GetPredicateType()) {
				continue
			}
			seen[a.GetSeq()] = true
			seq := int64(a.GetSeq())
			ed, err := digest.Parse(a.GetEnvelopeDigest())
			if err != nil {
				return nil, fmt.Errorf("attestation %d: envelope_digest: %w", seq, err)
			}
			var index *policy.AttestationIndex
			if x := a.GetIndex(); x != nil {
				index = &policy.AttestationIndex{
					BuilderID: x.GetBuilderId(), BuildType: x.GetBuildType(), SourceRepository: x.GetSourceRepository(), SourceRef: x.GetSourceRef(),
					DocumentName: x.GetDocumentName(), DocumentVersion: x.GetDocumentVersion(),
					VerifierID: x.GetVerifierId(), VerificationResult: x.GetVerificationResult()}
			}
			out = append(out, policy.IndexedAttestation(seq, ed, a.GetSigners(), index))
		}
	}
	return out, nil
}
