package server

import (
	"context"

	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/internal/apiconv"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// evidenceService implements trustv1.EvidenceServiceServer: the evidence
// the token service evaluates in process, with its signed bytes and
// inclusion proofs, for clients to check and evaluate themselves.
type evidenceService struct {
	trustv1.UnimplementedEvidenceServiceServer
	builder *evidencesvc.Builder
}

func (s *evidenceService) GetEvidence(ctx context.Context, req *trustv1.GetEvidenceRequest) (*trustv1.GetEvidenceResponse, error) {
	r, err := apiconv.EvidenceRequestFromProto(req)
	if err != nil {
		return nil, err
	}
	b, err := s.builder.Build(ctx, r, true)
	if err != nil {
		return nil, err
	}
	return apiconv.BundleToProto(b), nil
}
