package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

func certToProto(c *pgp.Certificate) *trustv1.PGPCertificate {
	out := &trustv1.PGPCertificate{
		Version:     int32(c.Version),
		UserIds:     c.UserIDs,
		Primary:     keyInfoToProto(c.KeyInfo),
		Certificate: c.Encode(),
	}
	for _, sk := range c.Subkeys {
		out.Subkeys = append(out.Subkeys, keyInfoToProto(sk))
	}
	return out
}

func keyInfoToProto(k pgp.KeyInfo) *trustv1.PGPKeyInfo {
	return &trustv1.PGPKeyInfo{
		Fingerprint:  k.Fingerprint,
		KeyId:        fmt.Sprintf("%016x", k.KeyID),
		Algorithm:    k.Algorithm,
		Created:      optTime(k.Created),
		Expires:      optTime(k.Expires),
		Capabilities: k.Capabilities.String(),
		Revoked:      len(k.Revocations) > 0,
	}
}

func pgpStatusToProto(s pgp.Status) *trustv1.PGPKeyStatus {
	out := &trustv1.PGPKeyStatus{
		State:        string(s.State),
		Since:        optTime(s.Since),
		SupersededBy: s.SupersededBy,
		Summary:      s.String(),
	}
	if r := s.Revocation; r != nil {
		out.RevocationReason, out.RevocationText, out.Hard = r.Reason.String(), r.Text, r.Hard
	}
	return out
}

// optTime converts t, leaving the zero time unset.
func optTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// pgpService implements trustv1.PGPServiceServer.
type pgpService struct {
	trustv1.UnimplementedPGPServiceServer
	pgp *pgplog.Service
}

func (s *pgpService) PublishManifest(ctx context.Context, req *trustv1.PublishManifestRequest) (*trustv1.PublishManifestResponse, error) {
	p, err := s.pgp.PublishManifest(ctx, pgplog.Manifest{Name: req.GetName(), Data: req.GetManifest(), Signature: req.GetSignature(), Clearsigned: req.GetClearsigned()})
	if err != nil {
		return nil, err
	}
	resp := &trustv1.PublishManifestResponse{
		Entry: entryToProto(p.Entry), Created: p.Created, EntryCount: uint32(len(p.Entries)),
		Signer: p.Signature.Primary, SigningKey: p.Signature.SigningKey, SignedAt: optTime(p.Signature.Created),
	}
	for _, pr := range p.Problems {
		resp.Problems = append(resp.Problems, &trustv1.ManifestProblem{Line: uint32(pr.Line), Text: pr.Text, Reason: pr.Reason})
	}
	if t := p.Transition; t != nil {
		resp.Transition = &trustv1.KeyTransition{Old: t.Old, New: t.New, Effective: optTime(t.Effective)}
	}
	return resp, nil
}

func (s *pgpService) Revoke(ctx context.Context, req *trustv1.RevokeRequest) (*trustv1.RevokeResponse, error) {
	if len(req.GetRevocation()) == 0 {
		return nil, invalidField("revocation", errors.New("is required"))
	}
	r, err := s.pgp.Revoke(ctx, req.GetRevocation())
	if err != nil {
		return nil, err
	}
	rev := r.Revocation
	return &trustv1.RevokeResponse{
		Entry: entryToProto(r.Entry), Created: r.Created, Fingerprint: rev.Fingerprint, Primary: rev.Primary, Subkey: rev.Subkey,
		Reason: rev.Reason.String(), Text: rev.Text, Hard: rev.Hard, RevokedAt: optTime(rev.Created),
	}, nil
}

func (s *pgpService) Decide(ctx context.Context, req *trustv1.DecideRequest) (*trustv1.DecideResponse, error) {
	q := pgplog.Query{Name: req.GetName(), Signer: req.GetSigner(), Roots: req.GetRoots()}
	if req.GetSignedAt() != nil {
		q.SignedAt = req.GetSignedAt().AsTime()
	}
	if req.GetObservedAt() != nil {
		q.Observed = req.GetObservedAt().AsTime()
	}
	chain, err := s.pgp.Decide(ctx, q)
	var ref *pgp.Refusal
	if errors.As(err, &ref) {
		return &trustv1.DecideResponse{Refusal: &trustv1.PGPRefusal{Code: string(ref.Code), StatementSeq: seqOf(ref.Statement), Detail: ref.Detail}}, nil
	}
	if err != nil {
		return nil, err
	}
	pc := &trustv1.PGPChain{Root: chain.Root, Signer: chain.Signer}
	for _, l := range chain.Links {
		pc.Links = append(pc.Links, &trustv1.PGPLink{Kind: string(l.Kind), From: l.From, To: l.To, StatementSeq: seqOf(l.Statement)})
	}
	return &trustv1.DecideResponse{Allowed: true, Chain: pc}, nil
}

// seqOf turns a fact ID (pgplog.StatementID) back into a sequence number.
func seqOf(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}
