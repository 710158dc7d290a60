// Package teststore hands tests a fresh store on every backend, so domain
// packages can run the same test on SQLite and PostgreSQL.
package teststore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
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
			s, _ := Postgres(t)
			return s
		}},
	}
}

// Postgres opens a store on a fresh database of the test cluster
// (testpg.URL) and returns it with the database's URL, for a test that
// also reaches the database directly.
func Postgres(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	url := testpg.URL(t)
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

// AppendUnchecked appends rec to s's log (with its Merkle tree nodes) the
// way a trustd without the record-type table did: no validator, no
// indexer, no check of its types. Tests use it to make the forged rows an
// old database may hold, which readers must ignore.
func AppendUnchecked(t testing.TB, s store.Store, rec store.Statement) store.Statement {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(rec.Envelope)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	rec.EnvelopeDigest = d
	var out store.Statement
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		got, created, err := w.AppendStatements(ctx, []store.Statement{rec})
		if err != nil {
			return err
		}
		if !created[0] {
			return fmt.Errorf("envelope already in the log as entry %d", got[0].Seq)
		}
		out = got[0]
		_, err = tlog.AppendBatch(ctx, statement.NodeWriter(w), uint64(out.Seq-1), [][]byte{tlog.LeafHash(rec.Envelope)})
		return err
	})
	if err != nil {
		t.Fatalf("teststore: append unchecked: %v", err)
	}
	return out
}

// OpenWriteBench opens a fresh store on be for a write benchmark, with the
// figures that put its rate beside the backend's own (nil on SQLite, whose
// store runs in WAL mode with synchronous=FULL, said in the log).
func OpenWriteBench(b *testing.B, be Backend) (store.Store, *testpg.WriteFigures) {
	b.Helper()
	if be.Name != "postgres" {
		b.Logf("%s: journal_mode=WAL synchronous=FULL (store/sqlite.Open)", be.Name)
		return be.Open(b), nil
	}
	url := testpg.URL(b)
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatalf("postgres.Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s, testpg.NewWriteFigures(url)
}
