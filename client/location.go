package client

import (
	"context"
	"fmt"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// Locations returns the LocationService stub on c's connection.
func (c *Client) Locations() trustv1.LocationServiceClient {
	return trustv1.NewLocationServiceClient(c.conn)
}

// GetLocations asks trustd where the artifact with digest d (OCI form or a
// multibase multihash) can be fetched: authoritative locations first, then
// mirrors, with the publisher's TUF target length when one exists.
// Locations are not trust: check fetched bytes against d.
func (c *Client) GetLocations(ctx context.Context, d string) (*trustv1.GetLocationsResponse, error) {
	resp, err := c.Locations().GetLocations(ctx, &trustv1.GetLocationsRequest{Digest: d})
	if err != nil {
		return nil, fmt.Errorf("client: locations of %s: %w", d, err)
	}
	return resp, nil
}
