package server

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/apiconv/feedbackconv"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
)

// maxImportEntries bounds the entries of one ImportFeedback call; the
// request size limit bounds it too.
const maxImportEntries = feedback.MaxExportPage

// feedbackService implements trustv1.FeedbackServiceServer.
type feedbackService struct {
	trustv1.UnimplementedFeedbackServiceServer
	svc *feedback.Service
	log *statement.Log
}

func (s *feedbackService) GetReputation(ctx context.Context, req *trustv1.GetReputationRequest) (*trustv1.GetReputationResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	q := feedback.Query{
		Digest: d, AttestationSigners: req.GetAttestationSigners(), TrustRoots: req.GetTrustRoots(),
		Depth: int(min(req.GetDepth(), feedback.MaxDepth+1)), VerifiedOnly: req.GetVerifiedOnly(),
		MinPaths: int(min(req.GetMinPaths(), feedback.MaxMinPaths+1)), ResponseLimit: int(min(req.GetResponseLimit(), feedback.MaxResponseLimit+1)),
	}
	if hl := req.GetHalfLife(); hl != nil {
		if err := hl.CheckValid(); err != nil {
			return nil, invalidField("half_life", err)
		}
		q.HalfLife = hl.AsDuration()
	}
	rep, err := s.svc.Reputation(ctx, q)
	if err != nil {
		return nil, err
	}
	return reputationToProto(rep), nil
}

func axisToProto(a feedback.Axis) *trustv1.ReputationAxis {
	return &trustv1.ReputationAxis{
		Positive: uint64(a.Positive), Negative: uint64(a.Negative),
		PositiveWeight: a.PositiveWeight, NegativeWeight: a.NegativeWeight, Score: a.Score,
	}
}

func reputationToProto(rep feedback.Reputation) *trustv1.GetReputationResponse {
	out := &trustv1.GetReputationResponse{
		Digest: rep.Digest.String(), Quality: axisToProto(rep.Quality), Trust: axisToProto(rep.Trust),
		Voters: uint64(rep.Voters), WebOfTrust: rep.WebOfTrust, Reached: uint64(rep.Reached),
	}
	if !rep.LastVoteAt.IsZero() {
		out.LastVoteAt = timestamppb.New(rep.LastVoteAt)
	}
	for _, a := range rep.Aliases {
		out.Aliases = append(out.Aliases, &trustv1.ReputationAlias{
			Digest: a.Digest.String(), ClaimSource: string(a.Source), ClaimReference: a.Reference, SignerKeyIds: a.SignerKeyIDs,
		})
	}
	for _, r := range rep.Responses {
		out.Responses = append(out.Responses, &trustv1.FeedbackResponse{
			Seq: uint64(r.Seq), Digest: r.Digest.String(), PublisherKeyId: r.PublisherKeyID, InReplyTo: r.InReplyTo,
			Text: r.Body, RespondedAt: timestamppb.New(r.RespondedAt),
		})
	}
	return out
}

func (s *feedbackService) ExportFeedback(ctx context.Context, req *trustv1.ExportFeedbackRequest) (*trustv1.ExportFeedbackResponse, error) {
	size, err := pageSize(req.GetPageSize(), feedback.DefaultExportPage, feedback.MaxExportPage)
	if err != nil {
		return nil, err
	}
	doc, err := s.svc.Export(ctx, s.log, int64(min(req.GetSinceSeq(), 1<<62)), size, req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return feedbackconv.FeedbackExportToProto(doc), nil
}

func (s *feedbackService) ImportFeedback(ctx context.Context, req *trustv1.ImportFeedbackRequest) (*trustv1.ImportFeedbackResponse, error) {
	if len(req.GetEntries()) > maxImportEntries {
		return nil, invalidField("entries", errors.New("too many entries in one call; send at most 5000"))
	}
	res, err := s.svc.Import(ctx, s.log, feedbackconv.FeedbackExportFromProto(req.GetOrigin(), req.GetVerifierKey(), req.GetCheckpoint(), req.GetEntries()))
	if err != nil {
		return nil, err
	}
	return &trustv1.ImportFeedbackResponse{
		Imported: uint32(res.Imported), AlreadyPresent: uint32(res.Present), Skipped: uint32(res.Skipped), SkipReason: res.SkipReason,
	}, nil
}
