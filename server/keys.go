package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

const (
	defaultKeyPage = 100
	maxKeyPage     = 1000
)

// keyService implements trustv1.KeyServiceServer.
type keyService struct {
	trustv1.UnimplementedKeyServiceServer
	keys *keys.Registry
	// pgpStatus is an OpenPGP key's state now, counting what the log holds.
	pgpStatus func(ctx context.Context, k keys.Key) (pgp.Status, error)
}

func (s *keyService) AddKey(ctx context.Context, req *trustv1.AddKeyRequest) (*trustv1.AddKeyResponse, error) {
	if len(req.GetPublicKey()) == 0 {
		return nil, invalidField("public_key", errors.New("is required"))
	}
	k, created, err := s.keys.Add(ctx, req.GetPublicKey(), req.GetLabel())
	if err != nil {
		return nil, err
	}
	pk, err := s.toProto(ctx, k)
	if err != nil {
		return nil, err
	}
	resp := &trustv1.AddKeyResponse{Key: pk, Created: created}
	if u := k.Update; u != nil {
		resp.UpdateSeq = u.Entry
		for _, c := range u.Changes {
			resp.Changes = append(resp.Changes, changeString(c))
		}
		for _, ig := range u.Ignored {
			resp.Ignored = append(resp.Ignored, ig.Field+": "+ig.Reason)
		}
	}
	return resp, nil
}

// changeString describes one accepted packet of a certificate update.
func changeString(c pgp.Change) string {
	s := fmt.Sprintf("%s %s", c.Kind, c.Target)
	if c.Issuer != "" && c.Kind == pgp.ChangeCertification {
		s += " by " + c.Issuer
	}
	return s
}

func (s *keyService) GetKey(ctx context.Context, req *trustv1.GetKeyRequest) (*trustv1.GetKeyResponse, error) {
	if req.GetKeyId() == "" {
		return nil, invalidField("key_id", errors.New("is required"))
	}
	k, err := s.keys.Get(ctx, req.GetKeyId())
	if err != nil {
		return nil, err
	}
	pk, err := s.toProto(ctx, k)
	if err != nil {
		return nil, err
	}
	return &trustv1.GetKeyResponse{Key: pk}, nil
}

func (s *keyService) ListKeys(ctx context.Context, req *trustv1.ListKeysRequest) (*trustv1.ListKeysResponse, error) {
	size, err := pageSize(req.GetPageSize(), defaultKeyPage, maxKeyPage)
	if err != nil {
		return nil, err
	}
	ks, err := s.keys.List(ctx, req.GetPageToken(), size+1)
	if err != nil {
		return nil, err
	}
	resp := &trustv1.ListKeysResponse{}
	if len(ks) > size {
		ks = ks[:size]
		resp.NextPageToken = ks[len(ks)-1].ID
	}
	for _, k := range ks {
		resp.Keys = append(resp.Keys, keyToProto(k))
	}
	return resp, nil
}

func pageSize(req uint32, def, max int) (int, error) {
	switch {
	case req == 0:
		return def, nil
	case int(req) > max:
		return 0, invalidField("page_size", fmt.Errorf("%d is above the maximum %d", req, max))
	}
	return int(req), nil
}

// toProto converts a key, with an OpenPGP key's current status.
func (s *keyService) toProto(ctx context.Context, k keys.Key) (*trustv1.Key, error) {
	pk := keyToProto(k)
	if k.PGP != nil {
		st, err := s.pgpStatus(ctx, k)
		if err != nil {
			return nil, err
		}
		pk.Pgp.Status = pgpStatusToProto(st)
	}
	return pk, nil
}

func keyToProto(k keys.Key) *trustv1.Key {
	pk := &trustv1.Key{
		Id:        k.ID,
		Type:      k.Type,
		Label:     k.Label,
		CreatedAt: timestamppb.New(k.CreatedAt),
	}
	if k.PGP != nil {
		pk.Pgp = certToProto(k.PGP)
		return pk
	}
	pk.Scheme, pk.PublicKeyPem = k.Public.Scheme, string(k.Public.Encode())
	return pk
}
