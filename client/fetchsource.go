package client

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/client/fetch"
	"github.com/trustd-dev/trustd/digest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// LocationSource returns the fetch.LocationSource that asks this trustd
// (GetLocations) where an artifact is stored, for fetch.Get.
func (c *Client) LocationSource() fetch.LocationSource { return locationSource{c} }

type locationSource struct{ c *Client }

// Locations turns trustd's answer into fetch locations: every concrete URL
// of every claim in force, authoritative ones first, each carrying the
// publisher's TUF target length and the digests the bytes must have: the
// claim's own and the aliases a publisher linked to the queried digest
// (one per algorithm; the queried digest is checked by Get whatever).
func (s locationSource) Locations(ctx context.Context, d digest.Digest) ([]fetch.Location, error) {
	resp, err := s.c.GetLocations(ctx, d.String())
	if err != nil {
		return nil, err
	}
	length := int64(resp.GetLength())
	if length < 0 {
		return nil, fmt.Errorf("client: locations of %s: length %d out of range", d, resp.GetLength())
	}
	var aliases []digest.Digest
	count := map[digest.Algorithm]int{}
	for _, s := range resp.GetDigests() {
		if a, err := digest.Parse(s); err == nil {
			aliases = append(aliases, a)
			count[a.Algorithm()]++
		}
	}
	var out []fetch.Location
	for _, l := range resp.GetLocations() {
		kind := fetch.Mirror
		if l.GetKind() == trustv1.LocationKind_LOCATION_KIND_AUTHORITATIVE {
			kind = fetch.Authoritative
		}
		claimer := l.GetKeyLabel()
		if claimer == "" {
			claimer = l.GetKeyId()
		}
		var ds []digest.Digest
		for _, a := range aliases {
			if count[a.Algorithm()] == 1 {
				ds = append(ds, a)
			}
		}
		for _, s := range l.GetDigests() {
			if cd, err := digest.Parse(s); err == nil && count[cd.Algorithm()] == 0 {
				ds = append(ds, cd)
			}
		}
		for _, u := range l.GetUrls() {
			out = append(out, fetch.Location{URL: u, Kind: kind, Claimer: claimer, Length: length, Digests: ds})
		}
	}
	return out, nil
}
