package server

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store"
)

const (
	defaultAttestationPage = 50
	maxAttestationPage     = 500
)

// attestService implements trustv1.AttestServiceServer.
type attestService struct {
	trustv1.UnimplementedAttestServiceServer
	svc *attest.Service
}

func (s *attestService) PutAttestation(ctx context.Context, req *trustv1.PutAttestationRequest) (*trustv1.PutAttestationResponse, error) {
	if len(req.GetData()) == 0 {
		return nil, invalidField("data", errors.New("is required"))
	}
	var want digest.Digest
	if req.GetDigest() != "" {
		d, err := parseDigestField("digest", req.GetDigest())
		if err != nil {
			return nil, err
		}
		want = d
	}
	id := req.GetIdentity()
	a, created, err := s.svc.Put(ctx, attest.PutRequest{
		Data: req.GetData(), Digest: want, LayoutKeyIDs: req.GetLayoutKeyIds(), Layout: int64(req.GetLayout()),
		Identity: attest.Identity{Issuer: id.GetIssuer(), IssuerRegexp: id.GetIssuerRegexp(), Subject: id.GetSubject(), SubjectRegexp: id.GetSubjectRegexp()},
	})
	if err != nil {
		return nil, err
	}
	return &trustv1.PutAttestationResponse{Attestation: attestationToProto(a), Created: created}, nil
}

func (s *attestService) ListAttestations(ctx context.Context, req *trustv1.ListAttestationsRequest) (*trustv1.ListAttestationsResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultAttestationPage, maxAttestationPage)
	if err != nil {
		return nil, err
	}
	list, next, err := s.svc.List(ctx, attest.Query{
		Digest: d, PredicateType: req.GetPredicateType(), SignerID: req.GetSigner(), PageToken: req.GetPageToken(), PageSize: size,
	})
	if err != nil {
		return nil, err
	}
	resp := &trustv1.ListAttestationsResponse{NextPageToken: next}
	for _, a := range list {
		resp.Attestations = append(resp.Attestations, attestationToProto(a))
	}
	return resp, nil
}

func (s *attestService) GetAttestation(ctx context.Context, req *trustv1.GetAttestationRequest) (*trustv1.GetAttestationResponse, error) {
	if req.GetSeq() == 0 {
		return nil, invalidField("seq", errors.New("is required (sequence numbers start at 1)"))
	}
	a, err := s.svc.Get(ctx, int64(req.GetSeq()))
	if err != nil {
		return nil, err
	}
	return &trustv1.GetAttestationResponse{Attestation: attestationToProto(a)}, nil
}

func (s *attestService) VerifyLayout(ctx context.Context, req *trustv1.VerifyLayoutRequest) (*trustv1.VerifyLayoutResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	if req.GetLayout() == 0 {
		return nil, invalidField("layout", errors.New("is required: the layout's sequence number"))
	}
	rep, err := s.svc.VerifyLayout(ctx, int64(req.GetLayout()), d, req.GetProductName())
	if err != nil {
		return nil, err
	}
	resp := &trustv1.VerifyLayoutResponse{Passed: rep.Passed, ProductName: rep.Product}
	for _, c := range rep.Checks {
		pc := &trustv1.LayoutCheck{Kind: c.Kind, Name: c.Name, Passed: c.Passed, Detail: c.Detail}
		for _, seq := range c.LinkSeqs {
			pc.LinkSeqs = append(pc.LinkSeqs, uint64(seq))
		}
		resp.Checks = append(resp.Checks, pc)
	}
	return resp, nil
}

func attestationToProto(a attest.Attestation) *trustv1.Attestation {
	p := &trustv1.Attestation{
		Seq: uint64(a.Seq), Kind: a.Kind, PayloadType: a.PayloadType, PredicateType: a.PredicateType,
		Signers: a.SignerIDs, RecordedAt: timestamppb.New(a.RecordedAt), Envelope: a.Envelope,
		Revoked: a.Revoked, RevokedReason: a.RevokedWhy,
	}
	if !a.EnvelopeDigest.IsZero() {
		p.EnvelopeDigest = a.EnvelopeDigest.String()
	}
	p.Subjects = entryToProto(store.Statement{Subjects: a.Subjects}).GetSubjects()
	if x := a.Index; x != nil {
		p.Index = &trustv1.AttestationIndex{
			BuilderId: x.BuilderID, BuildType: x.BuildType, SourceRepository: x.SourceRepository, SourceRef: x.SourceRef,
			DocumentName: x.DocumentName, DocumentVersion: x.DocumentVersion, VerifierId: x.VerifierID, VerificationResult: x.VerificationResult,
		}
	}
	return p
}
