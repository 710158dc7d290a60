package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/store/postgres"
)

// envAdminURL and envPGBin are set by scripts/with-postgres.sh.
const (
	envAdminURL = "TRUSTD_TEST_POSTGRES_URL"
	envPGBin    = "TRUSTD_TEST_PG_BIN"
)

// database is a throwaway database on the admin URL's cluster.
type database struct {
	admin string
	name  string
	url   string
}

// createDatabase makes an empty database named after prefix and a random
// suffix.
func createDatabase(ctx context.Context, admin, prefix string) (*database, error) {
	buf := make([]byte, 5)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("database name: %w", err)
	}
	name := prefix + "_" + hex.EncodeToString(buf)
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", envAdminURL, err)
	}
	u.Path = "/" + name
	if err := adminExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return &database{admin: admin, name: name, url: u.String()}, nil
}

// drop removes the database, closing any session still on it. It gets its
// own deadline so that it runs even after the main context is done.
func (d *database) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, d.admin, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", envAdminURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(sql)[0], err)
	}
	return nil
}

// seedSubjects fills subjects and digests with n subjects, ids 1..n, where
// subject i has the one digest sha256:<hex of sha256 of the decimal i>.
// Everything is computed in the server, one statement per table. Foreign
// key triggers are skipped for the session (session_replication_role =
// replica; the rows are consistent by construction), the identity
// sequences are moved past n so later inserts keep working, and the tables
// are analysed afterwards.
func seedSubjects(ctx context.Context, dbURL string, n int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close(context.Background())
	steps := []string{
		`SET session_replication_role = replica`,
		`SET maintenance_work_mem = '256MB'`,
		`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE
			SELECT i, now() FROM generate_series(1, $1::bigint) AS i`,
		`INSERT INTO digests (id, algorithm, value, subject_id) OVERRIDING SYSTEM VALUE
			SELECT i, 'sha256', encode(sha256(i::text::bytea), 'hex'), i FROM generate_series(1, $1::bigint) AS i`,
		`SELECT setval(pg_get_serial_sequence('subjects', 'id'), $1::bigint)`,
		`SELECT setval(pg_get_serial_sequence('digests', 'id'), $1::bigint)`,
		`SET session_replication_role = DEFAULT`,
		`VACUUM ANALYZE subjects`,
		`VACUUM ANALYZE digests`,
	}
	for _, sql := range steps {
		var args []any
		if strings.Contains(sql, "$1") {
			args = []any{int64(n)}
		}
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("seed: %s: %w", strings.Join(strings.Fields(sql), " "), err)
		}
	}
	return nil
}

// serverVersion returns PostgreSQL's version string.
func serverVersion(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	return v, nil
}

// pgbenchPath finds pgbench: in $TRUSTD_TEST_PG_BIN, else on PATH.
func pgbenchPath() (string, error) {
	if dir := os.Getenv(envPGBin); dir != "" {
		p := filepath.Join(dir, "pgbench")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		return "", fmt.Errorf("pgbench not found in $%s or on PATH: %w", envPGBin, err)
	}
	return p, nil
}

// pgbenchResult is what one pgbench run reported.
type pgbenchResult struct {
	TPS          float64
	Transactions int64
	Failed       int64
	LatencyAvg   time.Duration
}

// runPGBench runs pgbench with args against dbURL and parses its summary.
// A non-zero exit or any failed transaction is an error.
func runPGBench(ctx context.Context, bin, dbURL string, args ...string) (pgbenchResult, error) {
	cmd := exec.CommandContext(ctx, bin, append(args, dbURL)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), lastLines(stderr.String(), 20))
	}
	res, err := parsePGBench(stdout.String())
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, stdout.String())
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("pgbench %s: %d failed transactions\n%s", strings.Join(args, " "), res.Failed, lastLines(stderr.String(), 20))
	}
	return res, nil
}

// parsePGBench reads the summary pgbench prints after a run. It prefers
// the tps figure that leaves out connection setup.
func parsePGBench(out string) (pgbenchResult, error) {
	var res pgbenchResult
	var tpsAny, tpsExcl float64
	haveExcl := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "tps = "):
			f := strings.Fields(strings.TrimPrefix(line, "tps = "))
			if len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return res, fmt.Errorf("tps line %q: %w", line, err)
			}
			if strings.Contains(line, "without initial connection") || strings.Contains(line, "excluding connections") {
				tpsExcl, haveExcl = v, true
			} else if tpsAny == 0 {
				tpsAny = v
			}
		case strings.HasPrefix(line, "number of transactions actually processed:"):
			f := strings.Fields(strings.TrimPrefix(line, "number of transactions actually processed:"))
			if len(f) > 0 {
				n, err := strconv.ParseInt(strings.SplitN(f[0], "/", 2)[0], 10, 64)
				if err != nil {
					return res, fmt.Errorf("transactions line %q: %w", line, err)
				}
				res.Transactions = n
			}
		case strings.HasPrefix(line, "number of failed transactions:"):
			f := strings.Fields(strings.TrimPrefix(line, "number of failed transactions:"))
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return res, fmt.Errorf("failed transactions line %q: %w", line, err)
				}
				res.Failed = n
			}
		case strings.HasPrefix(line, "latency average = "):
			f := strings.Fields(strings.TrimPrefix(line, "latency average = "))
			if len(f) == 2 && f[1] == "ms" {
				ms, err := strconv.ParseFloat(f[0], 64)
				if err != nil {
					return res, fmt.Errorf("latency line %q: %w", line, err)
				}
				res.LatencyAvg = time.Duration(ms * float64(time.Millisecond))
			}
		}
	}
	switch {
	case haveExcl:
		res.TPS = tpsExcl
	case tpsAny > 0:
		res.TPS = tpsAny
	default:
		return res, errors.New("no tps line in the output")
	}
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pgbenchScripts are the custom pgbench scripts, by file name. %d is the
// number of seeded subjects.
var pgbenchScripts = map[string]string{
	// point.sql: one primary-key lookup in digests, the cheapest query
	// trustd's data model allows.
	"point.sql": `\set id random(1, %d)
SELECT d.subject_id FROM digests d WHERE d.id = :id;
`,
	// trustd-sql.sql: the one statement trustd's GetSubject issues
	// (postgres.SubjectViewSQL), with the digest value computed in the
	// server.
	"trustd-sql.sql": `\set id random(1, %d)
` + strings.NewReplacer("$1", "'sha256'", "$2", "encode(sha256(:id::text::bytea), 'hex')", "$3", "101", "$4", "0", "$5", "100", "\n", " ").
		Replace(postgres.SubjectViewSQL) + ";\n",
}

// writePGBenchScript writes the named script for n subjects into dir.
func writePGBenchScript(dir, name string, n int) (string, error) {
	body, ok := pgbenchScripts[name]
	if !ok {
		return "", fmt.Errorf("no pgbench script %q", name)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, fmt.Appendf(nil, body, n), 0o644); err != nil {
		return "", fmt.Errorf("write pgbench script: %w", err)
	}
	return p, nil
}

// execOutput runs a command and returns its combined output.
func execOutput(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return string(out), nil
}
