package sqlite

import (
	"context"
	"fmt"
)

// Pragma reads a pragma's value on one of s's pooled connections.
func Pragma(ctx context.Context, s *Store, name string) (string, error) {
	var v string
	if err := s.db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
		return "", fmt.Errorf("pragma %s: %w", name, err)
	}
	return v, nil
}
