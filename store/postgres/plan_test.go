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
// voters from 4 to 71 ms.
func TestStatementClaimsReadAliasedRows(t *testing.T) {
	ctx := context.Background()
	conn, n := noticedConn(t)
	sum256, sum512 := sha256.Sum256([]byte("popular")), sha512.Sum512([]byte("popular"))
	d256 := digest.MustParse("sha256:" + hex.EncodeToString(sum256[:]))
	d512 := digest.MustParse("sha512:" + hex.EncodeToString(sum512[:]))
	const single = 5000
	for _, q := range []string{
		`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE VALUES (1, now())`,
		fmt.Sprintf(`INSERT INTO digests (algorithm, value, subject_id) VALUES ('sha256', '%s', 1), ('sha512', '%s', 1)`, d256.Hex(), d512.Hex()),
		fmt.Sprintf(`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			SELECT i, 'sha256:' || md5(i::text) || md5((-i)::text), 'application/vnd.in-toto+json', '', 'e', '{}', '["voter-' || i || '"]', now()
			FROM generate_series(1, %d) i`, single+1),
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased)
			SELECT i, 0, 'popular', 'sha256', '%s', false FROM generate_series(1, %d) i`, d256.Hex(), single),
		fmt.Sprintf(`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value, aliased)
			VALUES (%[1]d, 0, 'popular', 'sha256', '%[2]s', true), (%[1]d, 0, 'popular', 'sha512', '%[3]s', true)`, single+1, d256.Hex(), d512.Hex()),
		`ANALYZE`,
		`LOAD 'auto_explain'`,
		`SET auto_explain.log_min_duration = 0`,
		`SET auto_explain.log_analyze = on`,
		`SET auto_explain.log_buffers = on`,
		`SET auto_explain.log_level = 'notice'`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	// planOf runs read and returns the plan of its statement whose text
	// holds marker.
	planOf := func(marker string, read func() error) string {
		t.Helper()
		n.reset()
		if err := read(); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `SELECT 1`); err != nil { // logs the last portal's plan
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
	q := &sqlstore.Queries{C: &tx{c: conn}, D: dialect{}}
	plan := planOf("FROM statement_subjects ss JOIN statements st", func() error {
		claims, err := q.AliasClaims(ctx, []digest.Digest{d256})
		if err == nil && (len(claims) != 1 || claims[0].StatementSeq != single+1) {
			err = fmt.Errorf("claims %+v, want the one of log entry %d", claims, single+1)
		}
		return err
	})
	hits := regexp.MustCompile(`Buffers: shared hit=(\d+)`).FindStringSubmatch(plan)
	if !strings.Contains(plan, "statement_subjects_aliased") || hits == nil {
		t.Errorf("AliasClaims does not read through the partial index:\n%s", plan)
	} else if n, _ := strconv.Atoi(hits[1]); n > 200 {
		t.Errorf("AliasClaims read %d buffers for one claim among %d statements:\n%s", n, single, plan)
	}
	plan = planOf("WITH q AS", func() error {
		var (
			id, created     any
			digests         []string
			claims, derived []byte
			events          []byte
		)
		err := conn.QueryRow(ctx, SubjectViewSQL, string(d256.Algorithm()), d256.Hex(), 10, 0).Scan(&id, &created, &digests, &claims, &derived, &events)
		if err == nil && !strings.Contains(string(derived), fmt.Sprintf(`"seq":%d`, single+1)) {
			err = fmt.Errorf("statements' claims %s, want the one of log entry %d", derived, single+1)
		}
		return err
	})
	if !strings.Contains(plan, "statement_subjects_aliased") {
		t.Errorf("SubjectViewSQL does not find the claims through the partial index:\n%s", plan)
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
