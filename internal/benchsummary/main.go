// Command benchsummary prints one table of trustd's main benchmarks
// (throughput and latency) beside the same run's ceilings on the same
// machine and PostgreSQL cluster: a gRPC echo round trip on loopback,
// pgbench point selects (pgbench -S), the COPY rate into an unlogged and a
// regular table, and the cluster's durability settings. It is what `make
// bench` runs, under scripts/with-postgres.sh (TRUSTD_TEST_POSTGRES_URL),
// so that anyone can rerun it on their own hardware:
//
//	scripts/with-postgres.sh go run ./internal/benchsummary [-quick]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// bench is one Go benchmark the table reports.
type bench struct {
	// Label is the row's name in the table.
	Label string
	// Pkg and Pattern select it (go test -bench Pattern Pkg); Benchtime is
	// -benchtime, and Quick the one -quick uses.
	Pkg, Pattern, Benchtime, Quick string
	// Rate is the metric that is its throughput ("" : 1e9/ns_per_op).
	Rate string
	// Ceiling names the ceiling row it is compared with.
	Ceiling string
}

// benches are the main benchmarks in the tree. The latency rows take a
// few hundred queries: their p99 is the query at 99% of the sorted times,
// so with fewer than 100 it is the slowest one, which a single stall of a
// shared machine sets.
var benches = []bench{
	{"submit (signed statements, c=16)", "./statement", "Submit/postgres$", "20000x", "2000x", "stmts/s", ""},
	{"votes (signed votes, c=16)", "./feedback", "VoteSubmit/postgres$", "20000x", "2000x", "votes/s", ""},
	{"reputation, trust root (10k ids x 20, depth 3)", "./feedback", "ReputationWebOfTrust/fanout-20$", "300x", "30x", "", ""},
	{"reputation --verified-only (10,000 voters)", "./identity", "VerifiedOnly/postgres/voters-10000/bulk$", "200x", "", "", ""},
	{"reputation --verified-only (100 voters)", "./identity", "VerifiedOnly/postgres/voters-100$/bulk$", "200x", "20x", "", ""},
	{"token verify (cold: signature checked)", "./token", "VerifyCold$", "2s", "1s", "", "ed25519 verify"},
	{"ed25519 verify (one core)", "./token", "Ed25519Baseline$", "2s", "1s", "", ""},
}

// result is what one benchmark line reported.
type result struct {
	Name    string
	N       int64
	NsPerOp float64
	Metrics map[string]float64
}

// parseBenchLine parses a `go test -bench` result line, e.g.
// "BenchmarkX/y-2  100  2537 ns/op  225.6 p50_ms"; ok is false for other
// lines.
func parseBenchLine(line string) (result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return result{}, false
	}
	r := result{Name: f[0], N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	ns, ok := r.Metrics["ns/op"]
	if !ok {
		return result{}, false
	}
	r.NsPerOp = ns
	return r, true
}

// rate is r's throughput per second by b's definition.
func (b bench) rate(r result) float64 {
	if b.Rate != "" {
		return r.Metrics[b.Rate]
	}
	if r.NsPerOp <= 0 {
		return 0
	}
	return 1e9 / r.NsPerOp
}

// runBench runs b and returns its last result line.
func runBench(ctx context.Context, b bench, quick bool, log io.Writer) (result, error) {
	bt := b.Benchtime
	if quick {
		if b.Quick == "" {
			return result{}, errSkipped
		}
		bt = b.Quick
	}
	args := []string{"test", "-run", "^$", "-bench", b.Pattern, "-benchtime", bt, "-timeout", "60m", b.Pkg}
	fmt.Fprintf(log, "benchsummary: go %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("go test -bench %s %s: %w", b.Pattern, b.Pkg, err)
	}
	last, found := lastResult(&out)
	if !found {
		return result{}, fmt.Errorf("go test -bench %s %s: no result line", b.Pattern, b.Pkg)
	}
	return last, nil
}

// benchName is a benchmark's name as go test prints it before its figures
// ("BenchmarkSubmit/postgres-2").
var benchName = regexp.MustCompile(`^Benchmark\S*-[0-9]+$`)

// lastResult returns the last result in go test's output. A benchmark
// that prints while it runs splits its result line: go test writes the
// name, then what the benchmark printed (on the name's line first), then
// the figures on a line of their own, which is read under that name.
func lastResult(out io.Reader) (result, bool) {
	var (
		last  result
		found bool
		name  string
	)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if r, ok := parseBenchLine(line); ok {
			last, found = r, true
			continue
		}
		if f := strings.Fields(line); len(f) > 0 && benchName.MatchString(f[0]) {
			name = f[0]
			continue
		}
		if r, ok := parseBenchLine(name + " " + line); ok && name != "" {
			last, found = r, true
		}
	}
	return last, found
}

var errSkipped = errors.New("skipped by -quick")

// loadbenchRow is the part of internal/loadbench's JSON rows read here.
type loadbenchRow struct {
	Target string  `json:"target"`
	Rate   float64 `json:"rate_per_s"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// runLoadbench runs internal/loadbench (echo, trustd GetSubject and
// pgbench -S at concurrency 16 on this cluster) and returns its rows.
func runLoadbench(ctx context.Context, subjects int, duration time.Duration, log io.Writer) ([]loadbenchRow, error) {
	args := []string{"run", "./internal/loadbench", "-targets", "echo,trustd,pgbench", "-conns", "shared",
		"-subjects", strconv.Itoa(subjects), "-duration", duration.String(), "-warmup", "1s", "-output", "json"}
	fmt.Fprintf(log, "benchsummary: go %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadbench: %w", err)
	}
	var rep struct {
		Rows []loadbenchRow `json:"rows"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("loadbench: output: %w", err)
	}
	return rep.Rows, nil
}

// durability reads the cluster's durability settings.
func durability(ctx context.Context, conn *pgx.Conn) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+s).Scan(&v); err != nil {
			return nil, fmt.Errorf("SHOW %s: %w", s, err)
		}
		out[s] = v
	}
	return out, nil
}

// copyRate COPYs rows rows into a fresh table (unlogged or not) and
// returns rows per second.
func copyRate(ctx context.Context, conn *pgx.Conn, unlogged bool, rows int) (float64, error) {
	kind, table := "", "benchsummary_copy"
	if unlogged {
		kind, table = "UNLOGGED", "benchsummary_copy_unlogged"
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE %s TABLE %s (id BIGINT PRIMARY KEY, digest TEXT NOT NULL, seq BIGINT NOT NULL)", table, kind, table)); err != nil {
		return 0, fmt.Errorf("copy table: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table) //nolint:errcheck // best effort
	src := make([][]any, rows)
	for i := range src {
		src[i] = []any{int64(i), fmt.Sprintf("sha256:%064x", i), int64(i)}
	}
	start := time.Now()
	n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "digest", "seq"}, pgx.CopyFromRows(src))
	if err != nil {
		return 0, fmt.Errorf("copy into %s: %w", table, err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func main() {
	quick := flag.Bool("quick", false, "shorter runs, and only the benchmarks that seed in seconds (default false)")
	subjects := flag.Int("subjects", 100_000, "subjects loadbench seeds for the lookup row (default 100000)")
	duration := flag.Duration("duration", 5*time.Second, "measured phase of each loadbench target (default 5s)")
	copyRows := flag.Int("copy-rows", 200_000, "rows per COPY measurement (default 200000)")
	flag.Parse()
	url := os.Getenv("TRUSTD_TEST_POSTGRES_URL")
	if url == "" {
		fmt.Fprintln(os.Stderr, "benchsummary: TRUSTD_TEST_POSTGRES_URL is not set; run it as scripts/with-postgres.sh go run ./internal/benchsummary")
		os.Exit(2)
	}
	if err := run(context.Background(), url, *quick, *subjects, *duration, *copyRows, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, quick bool, subjects int, duration time.Duration, copyRows int, out, log io.Writer) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	dur, err := durability(ctx, conn)
	if err != nil {
		return err
	}
	copyUnlogged, err := copyRate(ctx, conn, true, copyRows)
	if err != nil {
		return err
	}
	copyLogged, err := copyRate(ctx, conn, false, copyRows)
	if err != nil {
		return err
	}
	ceilings, err := runLoadbench(ctx, subjects, duration, log)
	if err != nil {
		return err
	}
	type line struct {
		label               string
		rate, p50, p99, cpu float64
		ceiling             string
		ceilingRate         float64
	}
	var lines []line
	byTarget := map[string]loadbenchRow{}
	for _, r := range ceilings {
		byTarget[r.Target] = r
	}
	echo := byTarget["echo (grpc health, no work)"]
	pgS := byTarget["pgbench -S (built-in select-only)"]
	if r, ok := byTarget["trustd GetSubject (binary)"]; ok {
		lines = append(lines, line{label: "lookup (GetSubject by digest, c=16)", rate: r.Rate, p50: r.P50Ms, p99: r.P99Ms, ceiling: "gRPC echo", ceilingRate: echo.Rate})
	}
	var ed25519 float64
	for _, b := range benches {
		r, err := runBench(ctx, b, quick, log)
		if errors.Is(err, errSkipped) {
			continue
		}
		if err != nil {
			return err
		}
		// cpu_µs/entry: what one write cost trustd and PostgreSQL together
		// (testpg.WriteFigures).
		l := line{label: b.Label, rate: b.rate(r), p50: r.Metrics["p50_ms"], p99: r.Metrics["p99_ms"], cpu: r.Metrics["cpu_µs/entry"]}
		switch {
		case b.Pattern == "Ed25519Baseline$":
			ed25519 = l.rate
		case b.Ceiling == "ed25519 verify":
			l.ceiling = b.Ceiling
		case strings.Contains(b.Label, "signed"):
			l.ceiling, l.ceilingRate = "COPY (regular table)", copyLogged
		}
		lines = append(lines, l)
	}
	for i := range lines {
		if lines[i].ceiling == "ed25519 verify" {
			lines[i].ceilingRate = ed25519
		}
	}

	fmt.Fprintf(out, "\ntrustd benchmark summary — %s, %d CPUs, GOMAXPROCS %d, %s, PostgreSQL %s\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), version)
	fmt.Fprintf(out, "durability: fsync=%s synchronous_commit=%s full_page_writes=%s\n\n", dur["fsync"], dur["synchronous_commit"], dur["full_page_writes"])
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "benchmark\tops/s\tp50 ms\tp99 ms\tCPU µs/op\tceiling\tceiling ops/s\tshare\t")
	num := func(v float64, prec int) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	for _, l := range lines {
		share := "-"
		if l.ceilingRate > 0 && l.rate > 0 {
			share = fmt.Sprintf("%.0f%%", 100*l.rate/l.ceilingRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.label, num(l.rate, 0), num(l.p50, 2), num(l.p99, 2), num(l.cpu, 0), l.ceiling, num(l.ceilingRate, 0), share)
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t")
	fmt.Fprintf(tw, "ceiling: gRPC echo round trip (loopback, c=16)\t%s\t%s\t%s\t\t\t\t\t\n", num(echo.Rate, 0), num(echo.P50Ms, 2), num(echo.P99Ms, 2))
	fmt.Fprintf(tw, "ceiling: pgbench -S point select (c=16)\t%s\t%s (mean)\t\t\t\t\t\t\n", num(pgS.Rate, 0), num(pgS.MeanMs, 2))
	fmt.Fprintf(tw, "ceiling: COPY rows/s, unlogged table\t%s\t\t\t\t\t\t\t\n", num(copyUnlogged, 0))
	fmt.Fprintf(tw, "ceiling: COPY rows/s, regular table\t%s\t\t\t\t\t\t\t\n", num(copyLogged, 0))
	return tw.Flush()
}
