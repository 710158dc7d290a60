package testpg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// WriteFigures puts a write benchmark's rate beside what the same cluster
// does without trustd: it reads the cluster's durability settings, counts
// the statements one entry cost (pg_stat_statements, when the server loads
// it), and measures pgbench single-row inserts at 16 clients on the same
// database in the same run. A nil *WriteFigures (another backend) does
// nothing.
type WriteFigures struct {
	url   string
	pgss  bool
	start cpuTimes
}

// NewWriteFigures returns the figures of the benchmark database at url.
func NewWriteFigures(url string) *WriteFigures { return &WriteFigures{url: url} }

// Start resets pg_stat_statements, so what Report counts is the timed
// part's. Call it just before the timer starts.
func (f *WriteFigures) Start(b *testing.B) {
	b.Helper()
	if f == nil {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		b.Fatalf("testpg: figures: %v", err)
	}
	defer conn.Close(ctx)
	var loaded string
	if err := conn.QueryRow(ctx, `SHOW shared_preload_libraries`).Scan(&loaded); err == nil && strings.Contains(loaded, "pg_stat_statements") {
		if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			b.Fatalf("testpg: figures: %v", err)
		}
		if _, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
			b.Fatalf("testpg: figures: %v", err)
		}
		f.pgss = true
	}
	f.start = readCPU()
}

// Report logs the durability settings, the statements per entry (the
// top ones by calls), runs pgbench and reports the ratio of rate (entries
// accepted per second) to pgbench's inserts per second as the metric
// "x_pgbench". entries is how many entries the benchmark appended.
func (f *WriteFigures) Report(b *testing.B, entries int, rate float64) {
	b.Helper()
	if f == nil || entries < minFigureEntries {
		return
	}
	f.cpu(b, readCPU(), entries)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		b.Fatalf("testpg: figures: %v", err)
	}
	defer conn.Close(ctx)
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := conn.QueryRow(ctx, `SHOW `+name).Scan(&v); err != nil {
			b.Fatalf("testpg: figures: SHOW %s: %v", name, err)
		}
		settings = append(settings, name+"="+v)
	}
	fmt.Printf("%s: postgres durability: %s\n", b.Name(), strings.Join(settings, " "))
	if f.pgss && entries > 0 {
		f.statements(b, conn, entries)
	}
	ins, err := pgbenchInserts(ctx, conn, f.url)
	if err != nil {
		b.Logf("pgbench: %v (no ratio)", err)
		return
	}
	fmt.Printf("%s: pgbench single-row inserts, 16 clients, same cluster: %.0f/s; accepted %.0f/s = %.3fx pgbench\n", b.Name(), ins, rate, rate/ins)
	b.ReportMetric(ins, "pgbench_ins/s")
	b.ReportMetric(rate/ins, "x_pgbench")
}

// statements logs the calls per entry of the statements the benchmark ran.
func (f *WriteFigures) statements(b *testing.B, conn *pgx.Conn, entries int) {
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT calls, total_exec_time, total_plan_time, shared_blks_hit + shared_blks_read, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND query NOT LIKE '%pg_stat_statements%' AND toplevel
		ORDER BY calls DESC`)
	if err != nil {
		b.Logf("pg_stat_statements: %v", err)
		return
	}
	defer rows.Close()
	var (
		total, totalBlks int64
		totalMS, planMS  float64
		lines            []string
	)
	for rows.Next() {
		var (
			calls, blks int64
			ms, plan    float64
			q           string
		)
		if err := rows.Scan(&calls, &ms, &plan, &blks, &q); err != nil {
			b.Logf("pg_stat_statements: %v", err)
			return
		}
		total, totalBlks, totalMS, planMS = total+calls, totalBlks+blks, totalMS+ms, planMS+plan
		if len(lines) < 16 {
			q = strings.Join(strings.Fields(q), " ")
			if len(q) > 90 {
				q = q[:90] + "…"
			}
			planning := ""
			if plan > 0 {
				planning = fmt.Sprintf(" %6.1f µs planning/entry", plan*1000/float64(entries))
			}
			lines = append(lines, fmt.Sprintf("  %8.3f calls/entry %8.1f µs/entry%s %7.1f buffers/entry  %s",
				float64(calls)/float64(entries), ms*1000/float64(entries), planning, float64(blks)/float64(entries), q))
		}
	}
	// Printed, not logged: the testing package cuts a benchmark's log.
	// Buffers touched (shared hits and reads) measure the database's work
	// whatever else loads the machine; execution times do not.
	planning := ""
	if planMS > 0 { // tracked (TRUSTD_PG_TRACK_PLANNING=1)
		planning = fmt.Sprintf(" and %.0f µs of planning", planMS*1000/float64(entries))
	}
	fmt.Printf("%s: pg_stat_statements: %.2f statements, %.1f buffers, %.0f µs of execution%s per entry (%d entries), top by calls:\n%s\n",
		b.Name(), float64(total)/float64(entries), float64(totalBlks)/float64(entries), totalMS*1000/float64(entries), planning, entries, strings.Join(lines, "\n"))
	b.ReportMetric(float64(totalBlks)/float64(entries), "buffers/entry")
	b.ReportMetric(float64(total)/float64(entries), "stmts/entry")
}

// cpu prints and reports the CPU time one entry cost this process (the
// store's client and everything above it: decoding, verification, the
// benchmark's own submitters) and the machine's PostgreSQL processes
// between Start and now.
func (f *WriteFigures) cpu(b *testing.B, now cpuTimes, entries int) {
	if !f.start.ok || !now.ok {
		return
	}
	self := float64((now.self - f.start.self).Microseconds()) / float64(entries)
	pg := float64((now.postgres - f.start.postgres).Microseconds()) / float64(entries)
	fmt.Printf("%s: CPU per entry: %.0f µs = %.0f µs this process + %.0f µs PostgreSQL\n", b.Name(), self+pg, self, pg)
	b.ReportMetric(self+pg, "cpu_µs/entry")
	b.ReportMetric(pg, "pg_cpu_µs/entry")
}

// minFigureEntries is the smallest run Report reports on: the testing
// package's first run of one op is not worth a 5 s pgbench.
const minFigureEntries = 100

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchInserts runs pgbench's 16 clients for 5 s of single-row inserts
// into a scratch table of the benchmark's database and returns inserts/s.
func pgbenchInserts(ctx context.Context, conn *pgx.Conn, url string) (float64, error) {
	bin := os.Getenv(EnvBin)
	if bin == "" {
		return 0, fmt.Errorf("%s is not set", EnvBin)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS pgbench_single_insert (v bigint)`); err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "trustd-pgbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte("\\set v random(1, 1000000000)\nINSERT INTO pgbench_single_insert (v) VALUES (:v);\n"), 0o644); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), "-n", "-c16", "-j2", "-T5", "-f", script, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out.String())
	}
	m := tpsLine.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out.String())
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
