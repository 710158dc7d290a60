package main

import (
	"fmt"
	"path/filepath"

	"github.com/trustd-dev/trustd/token"
)

// loadTokenIssuer reads the token key (--token-key, or token.key in the
// data directory), creating it at first start.
func loadTokenIssuer(c *config) (*token.Issuer, error) {
	path := c.TokenKey
	if path == "" {
		if err := ensureWritableDir(c.DataDir); err != nil {
			return nil, fmt.Errorf("--data-dir (for the token key): %w", err)
		}
		path = filepath.Join(c.DataDir, "token.key")
	}
	if c.TokenTTL <= 0 {
		return nil, fmt.Errorf("--token-ttl: %s: must be positive", c.TokenTTL)
	}
	s, pub, err := token.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("--token-key: %w", err)
	}
	return token.NewIssuer(s, pub), nil
}
