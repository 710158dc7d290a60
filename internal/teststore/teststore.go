// Package teststore hands tests a fresh store on every backend, so domain
// packages can run the same test on SQLite and PostgreSQL.
package teststore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
)

// Backend names a store backend and opens a fresh, empty store on it,
// closed when the test ends.
type Backend struct {
	Name string
	Open func(t testing.TB) store.Store
}

// Backends returns SQLite and PostgreSQL. The PostgreSQL one skips (or
// fails under CI) without a test cluster; see testpg.URL.
func Backends() []Backend {
	return []Backend{
		{"sqlite", func(t testing.TB) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(t testing.TB) store.Store {
			s, err := postgres.Open(context.Background(), testpg.URL(t))
			if err != nil {
				t.Fatalf("postgres.Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}
