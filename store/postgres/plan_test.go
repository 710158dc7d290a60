package postgres

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

// TestDigestListsProbe: the reads over a list of digests (the subjects of
// the digests an append or claim names, the vote indexer's votes) probe
// an index per digest whatever the plan: the custom plan of a long list,
// for which a join pulled up out of the lateral subquery hashed the whole
// digests table (0.76 ms a batch at 2,000 digests), and the generic plan
// PostgreSQL caches for a prepared statement. auto_explain sends each
// plan to the test as a notice.
func TestDigestListsProbe(t *testing.T) {
	ctx := context.Background()
	conn, n := noticedConn(t)
	const rows = 5000
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE SELECT i, now() FROM generate_series(1, %d) i`, rows),
		`SELECT setval(pg_get_serial_sequence('subjects', 'id'), (SELECT MAX(id) FROM subjects))`,
		fmt.Sprintf(`INSERT INTO digests (algorithm, value, subject_id) SELECT 'sha256', md5(i::text) || md5((-i)::text), i FROM generate_series(1, %d) i`, rows),
		fmt.Sprintf(`INSERT INTO votes (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at)
			SELECT 'sha256', md5(i::text) || md5((-i)::text), 'like', 'voter', 1, now(), 1, now() FROM generate_series(1, %d) i`, rows),
		`ANALYZE`,
		`LOAD 'auto_explain'`,
		`SET auto_explain.log_min_duration = 0`,
		`SET auto_explain.log_level = 'notice'`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	ds := make([]digest.Digest, 200)
	for i := range ds {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		ds[i] = digest.MustParse("sha256:" + hex.EncodeToString(sum[:])) // misses, as a batch's new digests are
	}
	for i := 1; i <= 20; i++ {
		var d string
		if err := conn.QueryRow(ctx, `SELECT value FROM digests WHERE subject_id = $1`, i*7).Scan(&d); err != nil {
			t.Fatal(err)
		}
		ds[i] = digest.MustParse("sha256:" + d)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode); err != nil {
			t.Fatal(err)
		}
		q := &sqlstore.Queries{C: &tx{c: conn}, D: dialect{}}
		for _, read := range []struct {
			name, table string
			run         func() error
		}{
			{"votes", "votes", func() error {
				vs, err := q.Votes(ctx, ds, []string{"voter", "other"})
				if err == nil && len(vs) != 20 {
					err = fmt.Errorf("%d votes, want 20", len(vs))
				}
				return err
			}},
			{"digest subjects", "digests", func() error {
				_, _, err := q.AddAliasClaim(ctx, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "plan-" + mode,
					SignerKeyIDs: []string{"k"}, Digests: ds, ClaimedAt: time.Now()})
				return err
			}},
		} {
			n.reset()
			if err := read.run(); err != nil {
				t.Fatalf("%s, %s: %v", read.name, mode, err)
			}
			// A portal's plan is logged when it is dropped: by the next.
			if _, err := conn.Exec(ctx, `SELECT 1`); err != nil {
				t.Fatal(err)
			}
			var plan string
			plans := n.all()
			for _, p := range plans {
				if strings.Contains(p, "unnest") && strings.Contains(p, "AS w (algorithm, value)") {
					plan = p
				}
			}
			switch {
			case plan == "":
				t.Errorf("%s, %s: no plan of the digest list read among %d notices", read.name, mode, len(plans))
			case strings.Contains(plan, "Seq Scan on "+read.table) || strings.Contains(plan, "Hash Join") || !strings.Contains(plan, "Index"):
				t.Errorf("%s, %s: not an index probe per digest:\n%s", read.name, mode, plan)
			}
		}
		if _, err := conn.Exec(ctx, `ROLLBACK`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatementClaimsReadAliasedRows: a digest's statement alias claims
// are found through the partial index on the rows of subjects with
// several digests, so a digest that thousands of one-digest statements
// name (the votes on a popular artifact) costs the claims read a few
// buffers, not a walk over every statement naming it. Reading every
// subject row of the digest took a --verified-only reputation at 10,000
// voters from 4 to 71 ms. And a stranger's flood of claims naming the
// digest costs the reads that filter or limit claims nothing: the index
// orders a digest's claims publications first, then oldest, so they read
// what they return (at 20,000 claims, reading them all took a lookup
// 420 ms).
func TestStatementClaimsReadAliasedRows(t *testing.T) {
	ctx := context.Background()
	conn, n := noticedConn(t)
	sum256, sum512 := sha256.Sum256([]byte("popular")), sha512.Sum512([]byte("popular"))
	d256 := digest.MustParse("sha256:" + hex.EncodeToString(sum256[:]))
	d512 := digest.MustParse("sha512:" + hex.EncodeToString(sum512[:]))
	const single, flood = 5000, 3000
	publication := single + flood + 1
	mustExec(t, conn, append([]string{
		`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE VALUES (1, now())`,
		fmt.Sprintf(`INSERT INTO digests (algorithm, value, subject_id) VALUES ('sha256', '%s', 1), ('sha512', '%s', 1)`, d256.Hex(), d512.Hex()),
		fmt.Sprintf(`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			SELECT i, 'sha256:' || md5(i::text) || md5((-i)::text), 'application/vnd.in-toto+json', '', 'e', '{}', '["voter-' || i || '"]', now()
			FROM generate_series(1, %d) i`, publication-1),
		fmt.Sprintf(`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			VALUES (%d, 'sha256:' || md5('tuf') || md5('tuf'), 'application/vnd.tuf+json', 'https://trustd.dev/tuf/metadata/v1', 'e', '{}', '["publisher"]', now())`,
			publication),
		fmt.Sprintf(`INSERT INTO statement_signers (seq, key_id) VALUES (%d, 'publisher')`, publication),
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased)
			SELECT i, 0, 'popular', 'sha256', '%s', false FROM generate_series(1, %d) i`, d256.Hex(), single),
		// The stranger's flood: d256 beside another sha512, many times.
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased)
			SELECT i, 0, 'x', a, v, true FROM generate_series(%d, %d) i,
			LATERAL (VALUES ('sha256', '%s'), ('sha512', md5(i::text) || md5(i::text) || md5(i::text) || md5(i::text))) AS d (a, v)`,
			single+1, single+flood, d256.Hex()),
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased, published)
			VALUES (%[1]d, 0, 'popular', 'sha256', '%[2]s', true, true), (%[1]d, 0, 'popular', 'sha512', '%[3]s', true, true)`, publication, d256.Hex(), d512.Hex()),
		`ANALYZE`,
	}, autoExplain...)...)
	q := &sqlstore.Queries{C: &tx{c: conn}, D: dialect{}}
	for _, tc := range []struct {
		name  string
		query store.ClaimQuery
		want  []int64
	}{
		{"the publications'", store.ClaimQuery{Digests: []digest.Digest{d256}, Publications: true}, []int64{int64(publication)}},
		{"the publisher's key's", store.ClaimQuery{Digests: []digest.Digest{d256}, SignedBy: []string{"publisher"}}, []int64{int64(publication)}},
		{"three, publications first", store.ClaimQuery{Digests: []digest.Digest{d256, d512}, Limit: 3},
			[]int64{single + 1, single + 2, int64(publication)}},
	} {
		plan := boundedRead(t, conn, n, tc.name+" claims", "FROM statement_subjects ss JOIN statements st", 100, tc.want, func() ([]int64, error) {
			var seqs []int64
			claims, err := q.AliasClaims(ctx, tc.query)
			for _, c := range claims {
				seqs = append(seqs, c.StatementSeq)
			}
			return seqs, err
		})
		if len(tc.query.SignedBy) == 0 && !strings.Contains(plan, "statement_subjects_aliased") {
			t.Errorf("%s claims are not read through the partial index:\n%s", tc.name, plan)
		}
	}
	plan := planOf(t, conn, n, "WITH q AS", func() error {
		var (
			id, created     any
			digests         []string
			claims, derived []byte
			count           int
			events          []byte
		)
		err := conn.QueryRow(ctx, SubjectViewSQL, string(d256.Algorithm()), d256.Hex(), 10, 0, 3).Scan(&id, &created, &digests, &claims, &derived, &count, &events)
		switch {
		case err != nil:
		case !strings.Contains(string(derived), fmt.Sprintf(`"seq":%d`, publication)) || strings.Count(string(derived), `"seq"`) != 3:
			err = fmt.Errorf("statements' claims %s, want three, the publication's among them", derived)
		case count != flood+1:
			err = fmt.Errorf("claim count %d, want %d", count, flood+1)
		}
		return err
	})
	if !strings.Contains(plan, "statement_subjects_aliased") {
		t.Errorf("SubjectViewSQL does not find the claims through the partial index:\n%s", plan)
	}
}

// planOf runs read on conn (auto_explain logging to n) and returns the
// plan of its statement whose text holds marker.
func planOf(t *testing.T, conn *pgx.Conn, n *notices, marker string, read func() error) string {
	t.Helper()
	n.reset()
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `SELECT 1`); err != nil { // logs the last portal's plan
		t.Fatal(err)
	}
	plans := n.all()
	for _, p := range plans {
		if strings.Contains(p, marker) {
			return p
		}
	}
	t.Fatalf("no plan with %q among %d notices", marker, len(plans))
	return ""
}

// boundedRead runs read (its statement's text holds marker), fails t
// unless it returns the log entries want within maxBuffers shared
// buffers, and returns its plan.
func boundedRead(t *testing.T, conn *pgx.Conn, n *notices, what, marker string, maxBuffers int, want []int64, read func() ([]int64, error)) string {
	t.Helper()
	var got []int64
	plan := planOf(t, conn, n, marker, func() error {
		var err error
		got, err = read()
		return err
	})
	if !slices.Equal(got, want) {
		t.Errorf("%s: log entries %v, want %v", what, got, want)
	}
	if b := buffers(plan); b < 0 || b > maxBuffers {
		t.Errorf("%s: %d buffers, want at most %d:\n%s", what, b, maxBuffers, plan)
	}
	return plan
}

// buffers returns the shared buffers a plan's top node hit, -1 when it
// says none.
func buffers(plan string) int {
	hits := regexp.MustCompile(`Buffers: shared hit=(\d+)`).FindStringSubmatch(plan)
	if hits == nil {
		return -1
	}
	n, _ := strconv.Atoi(hits[1])
	return n
}

// mustExec runs each of stmts on conn, failing t at the first error.
func mustExec(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
}

// autoExplain makes conn log every statement's plan, with its buffers, as
// a notice.
var autoExplain = []string{
	`LOAD 'auto_explain'`,
	`SET auto_explain.log_min_duration = 0`,
	`SET auto_explain.log_analyze = on`,
	`SET auto_explain.log_buffers = on`,
	`SET auto_explain.log_level = 'notice'`,
}

// TestEvidenceReadsBoundedByFlood: a stranger's entries naming a digest
// cost a read of one signer's entries nothing (it walks the signer's
// entries, whatever the statistics say: a freshly loaded database has
// none), and a read of the newest entries only what it returns.
func TestEvidenceReadsBoundedByFlood(t *testing.T) {
	ctx := context.Background()
	conn, n := noticedConn(t)
	sum := sha256.Sum256([]byte("release"))
	d := digest.MustParse("sha256:" + hex.EncodeToString(sum[:]))
	const flood = 3000
	mustExec(t, conn, append([]string{
		`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE VALUES (1, now())`,
		fmt.Sprintf(`INSERT INTO digests (algorithm, value, subject_id) VALUES ('sha256', '%s', 1)`, d.Hex()),
		fmt.Sprintf(`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			SELECT i, 'sha256:' || md5(i::text) || md5((-i)::text), 'application/vnd.in-toto+json', '', 'e', '{}',
				CASE WHEN i = 1 THEN '["publisher"]' ELSE '["stranger"]' END, now()
			FROM generate_series(1, %d) i`, flood+1),
		fmt.Sprintf(`INSERT INTO statement_signers (seq, key_id) SELECT i, CASE WHEN i = 1 THEN 'publisher' ELSE 'stranger' END FROM generate_series(1, %d) i`, flood+1),
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value) SELECT i, 0, 'x', 'sha256', '%s' FROM generate_series(1, %d) i`, d.Hex(), flood+1),
	}, autoExplain...)...)
	q := &sqlstore.Queries{C: &tx{c: conn}, D: dialect{}}
	for _, tc := range []struct {
		name  string
		query store.EvidenceQuery
		want  []int64
	}{
		{"the publisher's", store.EvidenceQuery{Digests: []digest.Digest{d}, SignerKeyID: "publisher", Limit: 16}, []int64{1}},
		{"the newest two", store.EvidenceQuery{Digests: []digest.Digest{d}, Limit: 2}, []int64{flood + 1, flood}},
	} {
		boundedRead(t, conn, n, tc.name+" entries", "statement_subjects", 50, tc.want, func() ([]int64, error) {
			var seqs []int64
			ev, err := q.Evidence(ctx, tc.query)
			for _, e := range ev {
				seqs = append(seqs, e.Seq)
			}
			return seqs, err
		})
	}
}

// notices collects the notices a connection receives: auto_explain's
// plans, with auto_explain.log_level = 'notice'.
type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = nil
}

func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// noticedConn migrates a new database and returns a connection to it
// whose notices it collects, closed when the test ends.
func noticedConn(t *testing.T) (*pgx.Conn, *notices) {
	t.Helper()
	ctx := context.Background()
	url := testpg.URL(t)
	s, err := Open(ctx, url) // migrates
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	n := &notices{}
	cfg.OnNotice = func(_ *pgconn.PgConn, msg *pgconn.Notice) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.msgs = append(n.msgs, msg.Message)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, n
}
