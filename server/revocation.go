package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
)

const (
	defaultRevocationPage = 100
	maxRevocationPage     = 1000
	// listChunkBytes is the body size of one FetchRevocationList message.
	listChunkBytes = 1 << 20
)

// revocationService implements trustv1.RevocationServiceServer.
type revocationService struct {
	trustv1.UnimplementedRevocationServiceServer
	log    *statement.Log
	svc    *revocation.Service
	lists  *revocation.Lists
	logger *slog.Logger
}

func revocationToProto(r *revocation.Record) *trustv1.Revocation {
	if r == nil {
		return nil
	}
	return &trustv1.Revocation{
		Kind: string(r.Target.Kind), Id: r.Target.ID, Action: string(r.Action), Reason: string(r.Reason),
		Effective: timestamppb.New(r.Effective), Revokers: r.Revokers, Seq: uint64(r.Seq), RecordedAt: optTime(r.RecordedAt),
	}
}

func (s *revocationService) SubmitRevocation(ctx context.Context, req *trustv1.SubmitRevocationRequest) (*trustv1.SubmitRevocationResponse, error) {
	if len(req.GetEnvelope()) == 0 {
		return nil, invalidField("envelope", errors.New("is required"))
	}
	// Refuse anything but a revocation before it reaches the log.
	if err := revocation.CheckEnvelope(req.GetEnvelope()); err != nil {
		return nil, invalidField("envelope", err)
	}
	st, created, err := s.log.Submit(ctx, req.GetEnvelope())
	if err != nil {
		return nil, err
	}
	p, err := revocation.ParseEntry(st)
	if err != nil {
		return nil, err
	}
	state, err := s.svc.Lookup(ctx, p.Target)
	if err != nil {
		return nil, err
	}
	return &trustv1.SubmitRevocationResponse{Entry: entryToProto(st), Created: created, State: revocationToProto(state)}, nil
}

func (s *revocationService) LookupRevocation(ctx context.Context, req *trustv1.LookupRevocationRequest) (*trustv1.LookupRevocationResponse, error) {
	r, err := s.svc.Lookup(ctx, revocation.Target{Kind: revocation.Kind(req.GetKind()), ID: req.GetId()})
	if err != nil {
		return nil, err
	}
	return &trustv1.LookupRevocationResponse{Revocation: revocationToProto(r), InForce: r != nil && r.InForce(time.Now())}, nil
}

func (s *revocationService) ListRevocations(ctx context.Context, req *trustv1.ListRevocationsRequest) (*trustv1.ListRevocationsResponse, error) {
	size, err := pageSize(req.GetPageSize(), defaultRevocationPage, maxRevocationPage)
	if err != nil {
		return nil, err
	}
	recs, err := s.svc.History(ctx, int64(req.GetSinceSeq()), size+1)
	if err != nil {
		return nil, err
	}
	resp := &trustv1.ListRevocationsResponse{}
	if len(recs) > size {
		recs = recs[:size]
		resp.NextSinceSeq = uint64(recs[len(recs)-1].Seq)
	}
	for i := range recs {
		resp.Revocations = append(resp.Revocations, revocationToProto(&recs[i]))
	}
	return resp, nil
}

func (s *revocationService) FetchRevocationList(req *trustv1.FetchRevocationListRequest, stream trustv1.RevocationService_FetchRevocationListServer) error {
	l, err := s.lists.Fetch(stream.Context(), int64(req.GetSince()))
	if err != nil {
		return err
	}
	body := l.Body
	first := true
	for first || len(body) > 0 {
		n := min(len(body), listChunkBytes)
		msg := &trustv1.FetchRevocationListResponse{Body: body[:n]}
		if first {
			msg.Envelope = l.Envelope
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		body, first = body[n:], false
	}
	return nil
}

func (s *revocationService) GetRevocationListKey(ctx context.Context, _ *trustv1.GetRevocationListKeyRequest) (*trustv1.GetRevocationListKeyResponse, error) {
	k, err := s.lists.Key(ctx)
	if err != nil {
		return nil, err
	}
	return &trustv1.GetRevocationListKeyResponse{KeyId: k.ID, TufRepo: revocation.KeysRepo, TufTarget: revocation.ListKeyTarget}, nil
}
