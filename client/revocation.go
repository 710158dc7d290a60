package client

import trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"

// Revocations returns the RevocationService stub on c's connection.
func (c *Client) Revocations() trustv1.RevocationServiceClient {
	return trustv1.NewRevocationServiceClient(c.conn)
}
