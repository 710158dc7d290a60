package sqlite

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// recording is a connection that keeps the last query it ran.
type recording struct {
	sqlstore.Conn
	sql  string
	args []any
}

func (r *recording) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	r.sql, r.args = sql, args
	return r.Conn.Query(ctx, sql, args...)
}

// TestEvidencePlansBoundedByFlood: SQLite keeps no statistics, so the
// query text fixes the plans. A read of one signer's entries naming a
// digest walks the signer's entries (a stranger's entries naming the
// digest cost it nothing), and a read of the newest entries walks the
// digest's index in order instead of sorting every entry naming it.
func TestEvidencePlansBoundedByFlood(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sum := sha256.Sum256([]byte("release"))
	d := digest.MustParse(fmt.Sprintf("sha256:%x", sum))
	entry := func(name, key string) store.Statement {
		env := []byte(fmt.Sprintf(`{"payload":%q}`, name))
		es := sha256.Sum256(env)
		return store.Statement{EnvelopeDigest: digest.MustParse(fmt.Sprintf("sha256:%x", es)), PayloadType: "application/vnd.in-toto+json",
			Envelope: env, Payload: []byte(name), SignerKeyIDs: []string{key}, Subjects: []store.StatementSubject{{Name: "x", Digests: []digest.Digest{d}}}}
	}
	batch := []store.Statement{entry("release", "publisher")}
	for i := range 300 {
		batch = append(batch, entry(fmt.Sprint("flood-", i), "stranger"))
	}
	if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, _, err := w.AppendStatements(ctx, batch)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec := &recording{Conn: s.Queries.C}
	q := &sqlstore.Queries{C: rec, D: s.Queries.D}
	for _, tc := range []struct {
		name  string
		query store.EvidenceQuery
		first string
		seqs  int
	}{
		{"the publisher's", store.EvidenceQuery{Digests: []digest.Digest{d}, SignerKeyID: "publisher", Limit: 16}, "sg", 1},
		{"the newest two", store.EvidenceQuery{Digests: []digest.Digest{d}, Limit: 2}, "ss", 2},
	} {
		ev, err := q.Evidence(ctx, tc.query)
		if err != nil || len(ev) != tc.seqs {
			t.Fatalf("%s entries: %d, %v; want %d", tc.name, len(ev), err, tc.seqs)
		}
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+rec.sql, rec.args...)
		if err != nil {
			t.Fatal(err)
		}
		var (
			plan   []string
			nested []bool // under another node: within a read of one digest
		)
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan, nested = append(plan, detail), append(nested, parent != 0)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var searches []string
		for _, p := range plan {
			if strings.HasPrefix(p, "SEARCH ") || strings.HasPrefix(p, "SCAN ") {
				searches = append(searches, p)
			}
		}
		if len(searches) == 0 || !strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(searches[0], "SEARCH "), "SCAN "), tc.first+" ") {
			t.Errorf("%s entries: the plan starts at %v, want at %s:\n%s", tc.name, searches, tc.first, strings.Join(plan, "\n"))
		}
		// A sort of the merged per-digest reads (co-routines) sorts at
		// most Limit rows a digest; any other sorts every entry naming
		// the digest.
		merged := slices.ContainsFunc(plan, func(p string) bool { return strings.HasPrefix(p, "CO-ROUTINE") })
		for i, p := range plan {
			if p == "USE TEMP B-TREE FOR ORDER BY" && (nested[i] || !merged) {
				t.Errorf("%s entries: the plan sorts every entry naming the digest:\n%s", tc.name, strings.Join(plan, "\n"))
			}
		}
	}
}
