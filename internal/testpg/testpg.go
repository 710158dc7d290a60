// Package testpg gives each test its own empty PostgreSQL database on the
// throwaway cluster that scripts/with-postgres.sh starts for `make test`,
// and drops it when the test ends.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the admin URL of the test cluster.
const EnvURL = "TRUSTD_TEST_POSTGRES_URL"

// URL creates a fresh database and returns its URL. Without a cluster the
// test is skipped, except under CI=true where a missing cluster is a failure.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL", EnvURL)
		}
		t.Skipf("%s is not set (postgres binaries are started by `make test`); skipping PostgreSQL test", EnvURL)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := "trustd_test_" + hex.EncodeToString(buf)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testpg: connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testpg: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testpg: connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testpg: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testpg: parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
