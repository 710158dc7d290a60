package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/location"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store"
)

const (
	defaultSharedPage = 100
	maxSharedPage     = 1000
)

// locationService implements trustv1.LocationServiceServer over
// location.Service.
type locationService struct {
	trustv1.UnimplementedLocationServiceServer
	svc   *location.Service
	store store.Reader
}

var locationKinds = map[location.Kind]trustv1.LocationKind{
	location.Authoritative: trustv1.LocationKind_LOCATION_KIND_AUTHORITATIVE,
	location.Mirror:        trustv1.LocationKind_LOCATION_KIND_MIRROR,
}

func (s *locationService) GetLocations(ctx context.Context, req *trustv1.GetLocationsRequest) (*trustv1.GetLocationsResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	res, err := s.svc.Lookup(ctx, d)
	if err != nil {
		return nil, err
	}
	out := &trustv1.GetLocationsResponse{Digest: d.String(), Length: uint64(max(res.Length, 0)), LengthSource: res.LengthFrom, Truncated: res.Truncated}
	for _, a := range res.Digests {
		out.Digests = append(out.Digests, a.String())
	}
	var ids []string
	for _, f := range res.Locations {
		pl := &trustv1.Location{Uri: f.URI, Urls: f.URLs, Kind: locationKinds[f.Kind], KeyId: f.KeyID, Seq: uint64(f.Seq),
			RecordedAt: timestamppb.New(f.RecordedAt), Name: f.Name}
		for _, fd := range f.Digests {
			pl.Digests = append(pl.Digests, fd.String())
		}
		if !f.ViaAlias.IsZero() {
			pl.ViaAlias = f.ViaAlias.String()
		}
		out.Locations = append(out.Locations, pl)
		if !slices.Contains(ids, f.KeyID) && len(ids) < maxLabelledKeys {
			ids = append(ids, f.KeyID)
		}
	}
	if len(ids) > 0 {
		keys, err := s.store.KeysByID(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("location: keys of %s: %w", d, err)
		}
		labels := map[string]string{}
		for _, k := range keys {
			labels[k.ID] = k.Label
		}
		for _, pl := range out.Locations {
			pl.KeyLabel = labels[pl.KeyId]
		}
	}
	return out, nil
}

func (s *locationService) ListSharedLocations(ctx context.Context, req *trustv1.ListSharedLocationsRequest) (*trustv1.ListSharedLocationsResponse, error) {
	a, err := s.keyField(ctx, "key_a", req.GetKeyA())
	if err != nil {
		return nil, err
	}
	b, err := s.keyField(ctx, "key_b", req.GetKeyB())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultSharedPage, maxSharedPage)
	if err != nil {
		return nil, err
	}
	var after digest.Digest
	if t := req.GetPageToken(); t != "" {
		if after, err = digest.Parse(t); err != nil || after.String() != t {
			return nil, invalidField("page_token", fmt.Errorf("%q is not a token this server issued", t))
		}
	}
	ds, err := s.svc.Shared(ctx, a, b, after, size)
	if err != nil {
		return nil, err
	}
	out := &trustv1.ListSharedLocationsResponse{}
	for _, d := range ds {
		out.Digests = append(out.Digests, d.String())
	}
	if len(ds) == size {
		out.NextPageToken = ds[len(ds)-1].String()
	}
	return out, nil
}

// keyField resolves a key named by id or label.
func (s *locationService) keyField(ctx context.Context, field, v string) (string, error) {
	if v == "" {
		return "", invalidField(field, errors.New("is required (a key id or label)"))
	}
	if _, err := s.store.Key(ctx, v); err == nil {
		return v, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	k, err := s.store.KeyByLabel(ctx, v)
	if errors.Is(err, store.ErrNotFound) {
		return "", invalidField(field, fmt.Errorf("%q is no registered key id or label", v))
	}
	if err != nil {
		return "", err
	}
	return k.ID, nil
}
