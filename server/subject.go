package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/subject"
)

const defaultEvidenceLimit = 100

// DefaultMaxEvidencePerLookup is the most evidence entries one GetSubject
// returns unless Options.MaxEvidencePerLookup says otherwise; callers page
// through the rest.
const DefaultMaxEvidencePerLookup = 1000

// subjectService implements trustv1.SubjectServiceServer.
type subjectService struct {
	trustv1.UnimplementedSubjectServiceServer
	store subject.Reader
	// maxEvidence bounds the evidence of one response.
	maxEvidence int
	// revocations, when set, marks revoked aliases and evidence.
	revocations subject.RevocationChecker
}

func parseDigestField(field, s string) (digest.Digest, error) {
	if s == "" {
		return digest.Digest{}, invalidField(field, errors.New("is required"))
	}
	d, err := digest.Parse(s)
	if err != nil {
		return digest.Digest{}, invalidField(field, err)
	}
	return d, nil
}

func (s *subjectService) GetSubject(ctx context.Context, req *trustv1.GetSubjectRequest) (*trustv1.GetSubjectResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	page := subject.Page{Limit: min(int(req.GetEvidenceLimit()), s.maxEvidence)}
	if page.Limit == 0 {
		page.Limit = min(defaultEvidenceLimit, s.maxEvidence)
	}
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n <= 0 {
			return nil, invalidField("page_token", fmt.Errorf("%q is not a token this server issued", t))
		}
		page.BeforeSeq = n
	}
	v, err := subject.Lookup(ctx, s.store, d, page)
	if err != nil {
		return nil, notFound(d, err)
	}
	out := &trustv1.Subject{
		Id:                uint64(v.Subject.ID),
		Digest:            d.String(),
		FirstSeen:         timestamppb.New(v.Subject.CreatedAt),
		Aliases:           aliasesToProto(v.Aliases),
		EvidenceTruncated: v.Truncated,
	}
	for _, e := range v.Evidence {
		out.Evidence = append(out.Evidence, &trustv1.Evidence{
			StatementSeq:  uint64(e.Seq),
			PayloadType:   e.PayloadType,
			PredicateType: e.PredicateType,
			SignerKeyIds:  e.SignerKeyIDs,
			Digest:        e.Digest.String(),
			ViaAlias:      e.ViaAlias,
			RecordedAt:    timestamppb.New(e.RecordedAt),
		})
	}
	if s.revocations != nil {
		if err := markRevoked(ctx, s.revocations, v, out); err != nil {
			return nil, err
		}
	}
	resp := &trustv1.GetSubjectResponse{Subject: out}
	if v.Truncated {
		resp.NextPageToken = strconv.FormatInt(v.NextBefore, 10)
	}
	return resp, nil
}

// markRevoked sets the revocation of every revoked alias and evidence
// entry of out (built from v, in the same order).
func markRevoked(ctx context.Context, c subject.RevocationChecker, v subject.View, out *trustv1.Subject) error {
	rv, err := subject.MarkRevoked(ctx, v, c)
	if err != nil {
		return err
	}
	for i, a := range v.Aliases {
		out.Aliases[i].Revocation = revocationToProto(rv.Aliases[a.Digest])
	}
	for i, e := range v.Evidence {
		out.Evidence[i].Revoked = revocationToProto(rv.Evidence[e.Seq])
	}
	return nil
}

func (s *subjectService) ListAliases(ctx context.Context, req *trustv1.ListAliasesRequest) (*trustv1.ListAliasesResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	v, err := subject.Lookup(ctx, s.store, d, subject.Page{})
	if err != nil {
		return nil, notFound(d, err)
	}
	return &trustv1.ListAliasesResponse{SubjectId: uint64(v.Subject.ID), Digest: d.String(), Aliases: aliasesToProto(v.Aliases)}, nil
}

// notFound rewords a missing subject so the message names the digest
// rather than storage internals.
func notFound(d digest.Digest, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("digest %s: no subject known: %w", d, store.ErrNotFound)
	}
	return err
}

var claimSources = map[store.ClaimSource]trustv1.ClaimSource{
	store.ClaimStatement: trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT,
	store.ClaimTUFTarget: trustv1.ClaimSource_CLAIM_SOURCE_TUF_TARGET,
}

func aliasesToProto(as []subject.Alias) []*trustv1.Alias {
	out := make([]*trustv1.Alias, 0, len(as))
	for _, a := range as {
		pa := &trustv1.Alias{Digest: a.Digest.String(), Queried: a.Queried, SameSubject: a.SameSubject}
		for _, c := range a.Claims {
			pc := &trustv1.AliasClaim{
				Source:       claimSources[c.Source],
				Reference:    c.Reference,
				StatementSeq: uint64(c.StatementSeq),
				SignerKeyIds: c.SignerKeyIDs,
				ClaimedAt:    timestamppb.New(c.ClaimedAt),
			}
			for _, cd := range c.Digests {
				pc.Digests = append(pc.Digests, cd.String())
			}
			pa.Claims = append(pa.Claims, pc)
		}
		out = append(out, pa)
	}
	return out
}
