package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/trustd-dev/trustd/migrations"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/store/storetest"
)

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestOpenErrors(t *testing.T) {
	readOnly := t.TempDir()
	if err := os.Chmod(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
	}{
		{"empty path", "", store.ErrInvalid},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "trustd.db"), store.ErrUnavailable},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		tests = append(tests, struct {
			name, path string
			want       error
		}{"read-only directory", filepath.Join(readOnly, "trustd.db"), store.ErrUnavailable})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlite.Open(context.Background(), tc.path)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%q) = %v, want %v", tc.path, err, tc.want)
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trustd.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, s)
	s.Close()
	s2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	storetest.CheckSeeded(t, s2)
}

// TestMigrations runs storetest's migration cases, each on a new file.
func TestMigrations(t *testing.T) {
	for name, check := range storetest.MigrationCases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trustd.db")
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			check(t, db, goose.DialectSQLite3, migrations.SQLite(), func() store.Store {
				db.Close()
				s, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// TestDurablePragmas checks that every connection syncs the WAL on each
// commit (synchronous=FULL, 2): an acknowledged write survives power loss.
func TestDurablePragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trustd.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		pragma string
		want   string
	}{{"synchronous", "2"}, {"journal_mode", "wal"}, {"foreign_keys", "1"}} {
		got, err := sqlite.Pragma(context.Background(), s, tc.pragma)
		if err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}
