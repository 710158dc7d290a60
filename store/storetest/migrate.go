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
