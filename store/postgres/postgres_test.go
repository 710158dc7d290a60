package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/migrations"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/storetest"
)

func open(t *testing.T) store.Store {
	s, err := postgres.Open(context.Background(), testpg.URL(t))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, url string
		want      error
	}{
		{"malformed", "postgres://%zz", store.ErrInvalid},
		{"nothing listening", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", store.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(ctx, tc.url)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%q) = %v, want %v", tc.url, err, tc.want)
			}
		})
	}
}

func TestMigrateTwiceKeepsData(t *testing.T) {
	url := testpg.URL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, s)
	s.Close()
	s2, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	storetest.CheckSeeded(t, s2)
}

// TestMigrations runs storetest's migration cases, each on a new database.
func TestMigrations(t *testing.T) {
	for name, check := range storetest.MigrationCases {
		t.Run(name, func(t *testing.T) {
			url := testpg.URL(t)
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			check(t, db, goose.DialectPostgres, migrations.Postgres(), func() store.Store {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
