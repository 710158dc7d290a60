package storetest

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/trustd-dev/trustd/store"
)

// MigrationCase checks, on a fresh database of one backend, that migrating
// data written under an older schema keeps it.
type MigrationCase func(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store)

// MigrationCases are the migration checks every backend runs, by name.
var MigrationCases = map[string]MigrationCase{
	"KeepsData":             MigrationKeepsData,
	"KeepsPendingProposals": MigrationKeepsPendingProposals,
	"DedupsKeyLabels":       MigrationDedupsKeyLabels,
}

// MigrationKeepsData migrates the empty database db to schema version 1
// only, writes a statement the way version 1 stored it, then has open
// migrate the same database to head, and checks the statement reads back
// whole.
func MigrationKeepsData(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	p, err := goose.NewProvider(dialect, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	d := Seeded.SHA256
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO subjects (created_at) VALUES ($1)`, []any{now}},
		{`INSERT INTO digests (algorithm, value, subject_id) VALUES ($1, $2, 1)`, []any{string(d.Algorithm()), d.Hex()}},
		{`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			VALUES (1, $1, 'application/vnd.in-toto+json', 'https://example.com/v1', $2, $3, '["old-key"]', $4)`,
			[]any{sha256Of("old envelope").String(), []byte("old envelope"), []byte("{}"), now}},
		{`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value) VALUES (1, 0, 'old.tar', $1, $2)`,
			[]any{string(d.Algorithm()), d.Hex()}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("write with schema version 1: %v", err)
		}
	}

	s := open()
	st, err := s.Statement(ctx, 1)
	if err != nil {
		t.Fatalf("statement written before migrating: %v", err)
	}
	if string(st.Envelope) != "old envelope" || st.SignerKeyIDs[0] != "old-key" || len(st.Subjects) != 1 || st.Subjects[0].Digests[0] != d {
		t.Errorf("statement after migrating = %+v", st)
	}
	if n, err := s.LogSize(ctx); err != nil || n != 1 {
		t.Errorf("LogSize after migrating = %d, %v; want 1", n, err)
	}
}

// MigrationKeepsPendingProposals migrates the empty database db to schema
// version 7 (before pending TUF proposals were keyed by digest in 00009), stores a
// proposal the way version 7 did, then has open migrate to head and checks
// that the proposal reads back with an empty digest and that replacing it
// under its bytes stores the digest the caller gives.
func MigrationKeepsPendingProposals(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	p, err := goose.NewProvider(dialect, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatalf("migrate to version 7: %v", err)
	}
	legacy := []byte("a proposal stored before digests")
	if _, err := db.ExecContext(ctx, `INSERT INTO tuf_pending (repo, role, version, data, sha256, updated_at) VALUES ($1, 'root', 2, $2, $3, $4)`,
		"acme/images", legacy, sha256Of(string(legacy)).Hex(), time.Now().UTC()); err != nil {
		t.Fatalf("write with schema version 7: %v", err)
	}
	s := open()
	got, err := s.TUFPending(ctx, "acme/images")
	if err != nil || len(got) != 1 || got[0].Digest != "" || string(got[0].Data) != string(legacy) {
		t.Fatalf("pending after migrating = %+v, %v; want the old row with no digest", got, err)
	}
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		return w.PutTUFPending(ctx, "acme/images", store.TUFPending{Role: "root", Version: 2, Digest: "d2", Data: []byte("one more signature")}, legacy)
	})
	if err != nil {
		t.Fatalf("replace the old row: %v", err)
	}
	if got, err = s.TUFPending(ctx, "acme/images"); err != nil || len(got) != 1 || got[0].Digest != "d2" || string(got[0].Data) != "one more signature" {
		t.Fatalf("pending after the replace = %+v, %v", got, err)
	}
}
