package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// MigrationCase checks, on a fresh database of one backend, that migrating
// data written under an older schema keeps it.
type MigrationCase func(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store)

// MigrationCases are the migration checks every backend runs, by name.
var MigrationCases = map[string]MigrationCase{
	"KeepsData":              MigrationKeepsData,
	"KeepsPendingProposals":  MigrationKeepsPendingProposals,
	"DedupsKeyLabels":        MigrationDedupsKeyLabels,
	"DerivesStatementClaims": MigrationDerivesStatementClaims,
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

// MigrationDerivesStatementClaims writes, at schema version 19, a
// statement (TUF metadata) whose subject lists two digests with the alias
// claim version 19 copied out of it, and a TUF target's claim; migrates
// up (the copy goes, the TUF claim stays), down (the copy comes back as
// it was), up to 21 (the entry's rows marked a publication's) and down to
// 20 (the marker gone), and up again through open; and checks that the
// store reads the statement's claim from its subject, once, as it was
// stored, and as a publication's.
func MigrationDerivesStatementClaims(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	p, err := goose.NewProvider(dialect, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 19); err != nil {
		t.Fatalf("migrate to version 19: %v", err)
	}
	a, b := Seeded.SHA256, Seeded.SHA512
	tufA, tufB := sha256Of("tuf target"), sha512Of("tuf target")
	now := time.Now().UTC().Truncate(time.Microsecond)
	exec := func(what string, stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{now}
			}
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %s: %v", what, q, err)
			}
		}
	}
	exec("write with schema version 19",
		`INSERT INTO subjects (created_at) VALUES ($1)`,
		`INSERT INTO subjects (created_at) VALUES ($1)`,
		`INSERT INTO digests (algorithm, value, subject_id) VALUES ('sha256', '`+a.Hex()+`', 1), ('sha512', '`+b.Hex()+`', 1),
			('sha256', '`+tufA.Hex()+`', 2), ('sha512', '`+tufB.Hex()+`', 2)`,
		`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			VALUES (1, '`+sha256Of("envelope").String()+`', 'application/vnd.tuf+json', 'https://trustd.dev/tuf/metadata/v1', 'envelope', '{}', '["publisher"]', $1)`,
		`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value) VALUES
			(1, 0, 'seeded.tar', 'sha256', '`+a.Hex()+`'), (1, 0, 'seeded.tar', 'sha512', '`+b.Hex()+`')`,
		`INSERT INTO alias_claims (source, reference, statement_seq, signer_key_ids, claimed_at)
			VALUES ('tuf-target', 'repo/targets/1/t', NULL, '["targets"]', $1),
			('statement', '1/0', 1, '["publisher"]', $1)`,
		`INSERT INTO alias_claim_digests (claim_id, position, algorithm, value) VALUES
			(1, 0, 'sha256', '`+tufA.Hex()+`'), (1, 1, 'sha512', '`+tufB.Hex()+`'),
			(2, 0, 'sha256', '`+a.Hex()+`'), (2, 1, 'sha512', '`+b.Hex()+`')`)
	stored := func() string {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT c.source, c.reference, COALESCE(c.statement_seq, 0), c.signer_key_ids, d.position, d.algorithm
			FROM alias_claims c JOIN alias_claim_digests d ON d.claim_id = c.id ORDER BY c.source, c.reference, d.position`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var (
				src, ref, signers, alg string
				seq, pos               int64
			)
			if err := rows.Scan(&src, &ref, &seq, &signers, &pos, &alg); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(src, " ", ref, " ", seq, " ", signers, " ", pos, " ", alg))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, "; ")
	}
	before := stored()
	if _, err := p.UpTo(ctx, 20); err != nil {
		t.Fatalf("migrate to version 20: %v", err)
	}
	const tufOnly = `tuf-target repo/targets/1/t 0 ["targets"] 0 sha256; tuf-target repo/targets/1/t 0 ["targets"] 1 sha512`
	if got := stored(); got != tufOnly {
		t.Errorf("stored claims at version 20 = %s, want the TUF target's only", got)
	}
	if _, err := p.DownTo(ctx, 19); err != nil {
		t.Fatalf("migrate down to version 19: %v", err)
	}
	if got := stored(); got != before {
		t.Errorf("stored claims back at version 19 = %s, want %s", got, before)
	}
	// Version 21 marks the TUF metadata entry's subject rows as a
	// publication's; its down migration takes the marker away.
	if _, err := p.UpTo(ctx, 21); err != nil {
		t.Fatalf("migrate to version 21: %v", err)
	}
	var marked int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM statement_subjects WHERE seq = 1 AND published`).Scan(&marked); err != nil || marked != 2 {
		t.Errorf("publication rows marked at version 21: %d, %v; want both of the TUF entry's", marked, err)
	}
	if _, err := p.DownTo(ctx, 20); err != nil {
		t.Fatalf("migrate down to version 20: %v", err)
	}
	if _, err := db.ExecContext(ctx, `SELECT published FROM statement_subjects`); err == nil {
		t.Errorf("the publication marker is still there at version 20")
	}

	s := open()
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{a}})
	if err != nil || len(claims) != 1 {
		t.Fatalf("AliasClaims(a) after migrating = %+v, %v; want the statement's claim once", claims, err)
	}
	if c := claims[0]; c.Source != store.ClaimStatement || c.Reference != "1/0" || c.StatementSeq != 1 || fmt.Sprint(c.SignerKeyIDs) != "[publisher]" ||
		fmt.Sprint(c.Digests) != fmt.Sprint([]digest.Digest{a, b}) || !c.ClaimedAt.Equal(now) {
		t.Errorf("statement claim after migrating = %+v", c)
	}
	// Version 21 marks the rows of publications' subjects: the TUF
	// metadata entry's claim is a publication's.
	if claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{a}, Publications: true}); err != nil || len(claims) != 1 || claims[0].StatementSeq != 1 {
		t.Errorf("AliasClaims(a, publications) after migrating = %+v, %v; want the TUF metadata entry's claim", claims, err)
	}
	if claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{tufB}}); err != nil || len(claims) != 1 || claims[0].Reference != "repo/targets/1/t" {
		t.Errorf("AliasClaims(TUF target) after migrating = %+v, %v; want the stored claim", claims, err)
	}
}
