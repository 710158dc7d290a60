package integration_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/internal/testpg"
)

var commitLine = regexp.MustCompile(`commit position ([0-9A-F]+/[0-9A-F]+)`)

// TestReplicasReadYourWritesCLI runs two trustd processes on one
// PostgreSQL primary, each reading from its streaming standby
// (--db-read), sharing the log and token keys as the README's deployment
// does. With the standby's replay paused, a statement submitted through
// one is not yet seen by a lookup through the other, but is with the
// position the submit printed (--min-lsn); with the standby killed,
// lookups through both keep answering.
func TestReplicasReadYourWritesCLI(t *testing.T) {
	primary := testpg.NewCluster(t)
	standby := primary.NewStandby()
	shared := t.TempDir()
	start := func() *daemon {
		return startTrustd(t, "--data-dir", t.TempDir(), "--db", primary.URL, "--db-read", standby.URL, "--db-read-wait", "300ms",
			"--log-key", filepath.Join(shared, "log.key"), "--token-key", filepath.Join(shared, "token.key"),
			"--tuf-keys-dir", filepath.Join(shared, "tuf-keys"))
	}
	a := start()
	b := start()

	w := newWriter(t, a.grpcAddr)
	// The standby has the schema both replicas migrated before its replay
	// pauses: a standby without a table fails the lookup, which the
	// primary then answers.
	caughtUp(t, primary.URL, standby.URL)
	sqlOn(t, standby.URL, `SELECT pg_wal_replay_pause()`)
	env := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(env, w.statement("replicated.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustSucceed(t, trustctl(t, a.grpcAddr, "statement", "submit", env), "submit through replica a")
	m := commitLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("submit printed no commit position: %q", r.stdout)
	}
	d := sha256Digest("replicated.tgz").String()
	if r := trustctl(t, b.grpcAddr, "subject", d); r.code != 1 {
		t.Fatalf("lookup through replica b without --min-lsn while the standby lags = %d %q %q, want nothing known (exit 1)", r.code, r.stdout, r.stderr)
	}
	r = mustSucceed(t, trustctl(t, b.grpcAddr, "--min-lsn", m[1], "subject", d), "lookup through replica b with --min-lsn")
	if !strings.Contains(r.stdout, "https://example.com/outage/v1") {
		t.Errorf("lookup with --min-lsn does not show the statement: %q", r.stdout)
	}
	if r := trustctl(t, b.grpcAddr, "--min-lsn", "not-a-position", "subject", d); r.code != 2 || !strings.Contains(r.stderr, "--min-lsn") {
		t.Errorf("malformed --min-lsn = %d %q, want exit 2 naming the flag", r.code, r.stderr)
	}
	sqlOn(t, standby.URL, `SELECT pg_wal_replay_resume()`)

	standby.Kill()
	for _, dm := range []*daemon{a, b} {
		mustSucceed(t, trustctl(t, dm.grpcAddr, "subject", d), "lookup with the standby down")
	}
	if !strings.Contains(a.logs()+b.logs(), "postgres read standby unhealthy") {
		t.Errorf("no replica logged the standby going unhealthy:\n%s\n%s", a.logs(), b.logs())
	}
}

func sqlOn(t *testing.T, url, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// caughtUp waits until the standby at standbyURL has replayed what the
// primary at primaryURL has written so far.
func caughtUp(t *testing.T, primaryURL, standbyURL string) {
	t.Helper()
	ctx := context.Background()
	p, err := pgx.Connect(ctx, primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var lsn string
	if err := p.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	s, err := pgx.Connect(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var done bool
		if err := s.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn).Scan(&done); err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby did not replay to %s in 30s", lsn)
		}
	}
}
