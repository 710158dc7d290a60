package server

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

const (
	defaultStatementPage = 50
	maxStatementPage     = 500
)

// statementService implements trustv1.StatementServiceServer.
type statementService struct {
	trustv1.UnimplementedStatementServiceServer
	log *statement.Log
}

func (s *statementService) Submit(ctx context.Context, req *trustv1.SubmitRequest) (*trustv1.SubmitResponse, error) {
	if len(req.GetEnvelope()) == 0 {
		return nil, invalidField("envelope", errors.New("is required"))
	}
	st, created, err := s.log.Submit(ctx, req.GetEnvelope())
	if err != nil {
		return nil, err
	}
	lsn, err := commitLSN(ctx)
	if err != nil {
		// The entry is in the log: answer without the position rather
		// than make the caller resubmit.
		lsn = ""
	}
	return &trustv1.SubmitResponse{Entry: entryToProto(st), Created: created, CommitLsn: lsn}, nil
}

func (s *statementService) GetStatement(ctx context.Context, req *trustv1.GetStatementRequest) (*trustv1.GetStatementResponse, error) {
	if req.GetSeq() == 0 {
		return nil, invalidField("seq", errors.New("is required (sequence numbers start at 1)"))
	}
	st, err := s.log.Get(ctx, int64(req.GetSeq()))
	if err != nil {
		return nil, err
	}
	return &trustv1.GetStatementResponse{Entry: entryToProto(st)}, nil
}

func (s *statementService) ListBySubject(ctx context.Context, req *trustv1.ListBySubjectRequest) (*trustv1.ListBySubjectResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultStatementPage, maxStatementPage)
	if err != nil {
		return nil, err
	}
	sts, next, err := s.log.List(ctx, statement.Query{
		Digest: d, PredicateType: req.GetPredicateType(), SignerKeyID: req.GetSignerKeyId(),
		PageToken: req.GetPageToken(), PageSize: size,
	})
	if err != nil {
		return nil, err
	}
	resp := &trustv1.ListBySubjectResponse{NextPageToken: next}
	for _, st := range sts {
		resp.Entries = append(resp.Entries, entryToProto(st))
	}
	return resp, nil
}

func entryToProto(st store.Statement) *trustv1.LogEntry {
	e := &trustv1.LogEntry{
		Seq:            uint64(st.Seq),
		Envelope:       st.Envelope,
		PayloadType:    st.PayloadType,
		PredicateType:  st.PredicateType,
		SignerKeyIds:   st.SignerKeyIDs,
		RecordedAt:     timestamppb.New(st.RecordedAt),
		EnvelopeDigest: st.EnvelopeDigest.String(),
	}
	for _, subj := range st.Subjects {
		ps := &trustv1.StatementSubject{Name: subj.Name}
		for _, d := range subj.Digests {
			ps.Digests = append(ps.Digests, d.String())
		}
		e.Subjects = append(e.Subjects, ps)
	}
	return e
}
