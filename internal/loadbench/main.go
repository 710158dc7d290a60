// Command loadbench measures trustd's GetSubject-by-digest throughput and
// latency against PostgreSQL, next to the ceilings of the same machine in
// the same run.
//
// It creates a fresh database on the cluster named by
// TRUSTD_TEST_POSTGRES_URL (scripts/with-postgres.sh starts one), applies
// trustd's migrations with store/postgres, seeds -subjects subjects (subject
// i has the one digest sha256(decimal i)), builds and starts the real
// trustd binary on loopback, and drives it with a closed-loop load
// generator: -concurrency workers, each sending GetSubject for a random
// seeded digest and waiting for the answer, for -duration after -warmup.
// For comparison it drives a bare gRPC server in this process (only the
// standard health service; Health/Check is the "echo": same framework, no
// work) the same way, and runs pgbench with as many clients: a primary-key
// point select on the seeded digests, the four statements trustd issues per
// GetSubject, and the built-in select-only (-S) script on its own
// pgbench-initialised database.
//
// It prints requests/s, p50/p90/p99/max latency and error counts per
// target, the ratios trustd/echo and trustd/pgbench, and PASS or MISS
// against the performance target (trustd at least 40 % of the echo rate,
// p99 under 10 ms). -output json prints the same as one JSON object. Any
// failed request fails the run (exit status 1); a MISS does so only with
// -strict.
//
// With -evidence the seed also gives the subjects realistic evidence (see
// seedEvidence: three signed statements per subject, written with COPY
// with their Merkle tree nodes and attestation index, two signing keys
// revoked through trustd's own log), and -targets evidence measures
// GetEvidence by digest (every entry naming it with its inclusion proof,
// the attestations among them, and the revocation states) after checking
// two bundles as trustctl verifies them. Each lookup is then reported
// with its machine CPU (trustd + PostgreSQL + client + irq) per lookup and
// p99 against the lookup ceilings, next to the echo rate and
// pgbench -S of the same run (make bench-lookup).
//
// With -inprocess the trustd target is server.New on the PostgreSQL store
// inside this process instead of the binary, so -cpuprofile, -memprofile
// and -blockprofile capture the handler and store path.
//
// Usage:
//
//	scripts/bench-load.sh [flags]
//	scripts/with-postgres.sh go run ./internal/loadbench [flags]
//
// Everything listens on 127.0.0.1 only; the trustd process is stopped and
// the databases are dropped on every exit path.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/trustd-dev/trustd/store/postgres"
)

// The performance target from the issue.
const (
	targetEchoRatio = 0.40
	targetP99       = 10 * time.Millisecond
)

// Connection modes of the load generator.
const (
	connShared    = "shared"
	connPerWorker = "per-worker"
	connBoth      = "both"
)

// Targets that -targets can pick.
const (
	targetEcho   = "echo"
	targetTrustd = "trustd"
	// targetEvidence is GetEvidence by digest on the trustd binary.
	targetEvidence = "evidence"
	targetPGBench  = "pgbench"
)

// options are the command-line flags.
type options struct {
	subjects     int
	concurrency  int
	duration     time.Duration
	warmup       time.Duration
	callTimeout  time.Duration
	timeout      time.Duration
	conns        string
	targets      []string
	inProcess    bool
	poolMaxConns int
	pgbenchScale int
	pgbenchJobs  int
	output       string
	strict       bool
	cpuProfile   string
	memProfile   string
	blockProfile string
	// evidence seeds log entries and revocations beside the subjects.
	evidence bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.subjects, "subjects", 1_000_000, "subjects to seed (one sha256 digest each)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "closed-loop workers (and pgbench clients)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured phase per target (pgbench: rounded up to whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measured phase")
	fs.DurationVar(&o.callTimeout, "call-timeout", 5*time.Second, "deadline of each request")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "upper bound on the whole run")
	fs.StringVar(&o.conns, "conns", connBoth, "gRPC connections: shared (one for all workers), per-worker, or both (each target measured both ways)")
	targets := fs.String("targets", "echo,trustd,pgbench", "comma-separated targets to run: echo, trustd (GetSubject), evidence (GetEvidence), pgbench")
	fs.BoolVar(&o.evidence, "evidence", false, "seed evidence too: per release of 8 subjects a signed SLSA provenance, SPDX SBOM and test result, two of 16 signing keys revoked (default false: subjects and digests only)")
	fs.BoolVar(&o.inProcess, "inprocess", false, "serve trustd in this process (server.New on store/postgres) instead of the built binary, for profiling")
	fs.IntVar(&o.poolMaxConns, "trustd-pool-max-conns", 0, "pass pool_max_conns=N in trustd's database URL (0: trustd's default)")
	fs.IntVar(&o.pgbenchScale, "pgbench-scale", 10, "scale of the database for pgbench -S")
	fs.IntVar(&o.pgbenchJobs, "pgbench-jobs", 2, "pgbench threads (-j)")
	fs.StringVar(&o.output, "output", "text", "text or json")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when the target is missed")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process over each trustd measured phase (with -inprocess: the server too)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write this process's allocation profile after the trustd runs")
	fs.StringVar(&o.blockProfile, "blockprofile", "", "write this process's blocking profile after the trustd runs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		switch t {
		case targetEcho, targetTrustd, targetEvidence, targetPGBench:
			if !slices.Contains(o.targets, t) {
				o.targets = append(o.targets, t)
			}
		case "":
		default:
			return o, fmt.Errorf("-targets: unknown target %q (want echo, trustd, evidence, pgbench)", t)
		}
	}
	switch {
	case len(o.targets) == 0:
		return o, errors.New("-targets: none given")
	case o.subjects < 1:
		return o, fmt.Errorf("-subjects: %d is below 1", o.subjects)
	case o.concurrency < 1:
		return o, fmt.Errorf("-concurrency: %d is below 1", o.concurrency)
	case o.duration < time.Second:
		return o, fmt.Errorf("-duration: %s is below 1s", o.duration)
	case o.warmup < 0 || o.callTimeout <= 0 || o.timeout <= 0:
		return o, errors.New("-warmup must not be negative; -call-timeout and -timeout must be positive")
	case o.conns != connShared && o.conns != connPerWorker && o.conns != connBoth:
		return o, fmt.Errorf("-conns: %q is not shared, per-worker or both", o.conns)
	case o.output != "text" && o.output != "json":
		return o, fmt.Errorf("-output: %q is not text or json", o.output)
	case o.poolMaxConns < 0 || o.pgbenchScale < 1 || o.pgbenchJobs < 1:
		return o, errors.New("-trustd-pool-max-conns must not be negative; -pgbench-scale and -pgbench-jobs must be at least 1")
	}
	return o, nil
}

func (o options) connModes() []string {
	if o.conns == connBoth {
		return []string{connShared, connPerWorker}
	}
	return []string{o.conns}
}

func (o options) has(target string) bool { return slices.Contains(o.targets, target) }

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	rep, err := run(ctx, opts)
	cancel()
	stop()
	if rep != nil {
		rep.summarise()
		if werr := rep.write(os.Stdout, opts.output); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: FAIL: %v\n", err)
		os.Exit(1)
	}
	if opts.strict && !rep.Summary.Pass {
		fmt.Fprintln(os.Stderr, "loadbench: target missed (-strict)")
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadbench: "+format+"\n", args...)
}

// run does the whole benchmark. It returns the report so far together with
// any error, so that figures measured before a failure are still shown.
func run(ctx context.Context, o options) (rep *report, err error) {
	admin := os.Getenv(envAdminURL)
	if admin == "" {
		return nil, fmt.Errorf("%s is not set: run through scripts/bench-load.sh (or scripts/with-postgres.sh)", envAdminURL)
	}
	rep = newReport(o)
	tmp, err := os.MkdirTemp("", "trustd-loadbench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	var trustdBin string
	if (o.has(targetTrustd) || o.has(targetEvidence)) && !o.inProcess {
		logf("building ./cmd/trustd")
		if trustdBin, err = buildTrustd(ctx, tmp); err != nil {
			return nil, err
		}
	}

	db, err := createDatabase(ctx, admin, "trustd_loadbench")
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := db.drop(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if rep.Machine.PostgreSQL, err = serverVersion(ctx, db.url); err != nil {
		return nil, err
	}
	st, err := postgres.Open(ctx, db.url)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	st.Close()

	if o.has(targetTrustd) || o.has(targetEvidence) || o.has(targetPGBench) {
		logf("seeding %d subjects into %s", o.subjects, db.name)
		t0 := time.Now()
		if err := seedSubjects(ctx, db.url, o.subjects); err != nil {
			return rep, err
		}
		rep.SeedSeconds = time.Since(t0).Seconds()
		logf("seeded %d subjects in %.1fs (insert + VACUUM ANALYZE)", o.subjects, rep.SeedSeconds)
		if o.evidence {
			t0 := time.Now()
			seed, err := seedEvidence(ctx, db.url, o.subjects)
			if err != nil {
				return rep, err
			}
			rep.Evidence = &seed
			rep.EvidenceSeedSeconds = time.Since(t0).Seconds()
			logf("seeded %d log entries (revoked keys %v) in %.1fs (sign + COPY + VACUUM ANALYZE)", seed.Statements, seed.RevokedKeys, rep.EvidenceSeedSeconds)
		}
	}

	lc := loadConfig{concurrency: o.concurrency, warmup: o.warmup, duration: o.duration, callTimeout: o.callTimeout}

	if o.has(targetEcho) {
		if err := runEcho(ctx, o, lc, rep); err != nil {
			return rep, err
		}
	}
	if o.has(targetTrustd) || o.has(targetEvidence) {
		if err := runTrustd(ctx, o, lc, rep, trustdBin, db.url); err != nil {
			return rep, err
		}
	}
	if o.has(targetPGBench) {
		if err := runAllPGBench(ctx, o, rep, db, tmp); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// connsFor opens the client connections for one mode: one shared by all
// workers, or one per worker.
func connsFor(mode, addr string, workers int) ([]*grpc.ClientConn, error) {
	n := 1
	if mode == connPerWorker {
		n = workers
	}
	var ccs []*grpc.ClientConn
	for range n {
		cc, err := dial(addr)
		if err != nil {
			closeAll(ccs)
			return nil, err
		}
		ccs = append(ccs, cc)
	}
	return ccs, nil
}

func closeAll(ccs []*grpc.ClientConn) {
	for _, cc := range ccs {
		cc.Close()
	}
}

// drive measures one gRPC target in every connection mode, with the CPU
// time that meter sees over each measured phase.
func drive(ctx context.Context, o options, lc loadConfig, rep *report, meter cpuMeter, target, addr string, mk func(*grpc.ClientConn) call, profile bool) error {
	for _, mode := range o.connModes() {
		ccs, err := connsFor(mode, addr, o.concurrency)
		if err != nil {
			return err
		}
		calls := make([]call, o.concurrency)
		for w := range calls {
			calls[w] = mk(ccs[w%len(ccs)])
		}
		cfg := lc
		var before, after cpuSnapshot
		var profiler func() func()
		if profile && o.cpuProfile != "" {
			profiler = cpuProfiler(profilePath(o.cpuProfile, mode, len(o.connModes()) > 1))
		}
		cfg.onMeasure = func() func() {
			stopProfile := func() {}
			if profiler != nil {
				stopProfile = profiler()
			}
			before = meter.take()
			return func() {
				after = meter.take()
				stopProfile()
			}
		}
		logf("%s, %s connections: %s warm-up + %s", target, mode, o.warmup, o.duration)
		res, err := runLoad(ctx, cfg, calls)
		closeAll(ccs)
		if err != nil {
			return fmt.Errorf("%s (%s connections): %w", target, mode, err)
		}
		r := grpcRow(target, mode, len(ccs), res)
		r.CPU = after.usageSince(before, res.Requests)
		rep.Rows = append(rep.Rows, r)
		logf("%s, %s: %.0f req/s, p50 %.3f ms, p99 %.3f ms, %d errors; %s", target, mode, r.Rate, r.P50Ms, r.P99Ms, r.Errors, r.CPU)
		if res.Errors > 0 {
			return fmt.Errorf("%s (%s connections): %d requests failed; first: %s", target, mode, res.Errors, strings.Join(res.FirstErrors, "; "))
		}
	}
	return nil
}

func runEcho(ctx context.Context, o options, lc loadConfig, rep *report) error {
	addr, stop, err := startEcho()
	if err != nil {
		return err
	}
	defer stop()
	return drive(ctx, o, lc, rep, cpuMeter{pgPort: pgPort()}, rowEcho, addr, echoCall, false)
}

func runTrustd(ctx context.Context, o options, lc loadConfig, rep *report, bin, dbURL string) error {
	if o.poolMaxConns > 0 {
		dbURL = withQueryParam(dbURL, "pool_max_conns", strconv.Itoa(o.poolMaxConns))
	}
	if o.blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	}
	meter := cpuMeter{pgPort: pgPort()}
	var addr, name string
	if o.inProcess {
		logf("starting trustd in process (server.New on store/postgres)")
		a, stop, err := startInProcess(ctx, dbURL)
		if err != nil {
			return err
		}
		defer stop()
		addr, name = a, rowTrustdInProcess
	} else {
		logf("starting the trustd binary")
		p, err := startTrustd(ctx, bin, dbURL, filepath.Join(filepath.Dir(bin), "trustd-data"))
		if err != nil {
			return err
		}
		defer p.stop()
		addr, name = p.addr, rowTrustd
		meter.trustdPID = p.cmd.Process.Pid
	}
	if o.has(targetEvidence) && o.evidence {
		revoked, err := checkEvidence(ctx, addr, o.subjects)
		if err != nil {
			return err
		}
		logf("evidence of subjects 1 and %d verified as trustctl verifies it (checkpoint, inclusion proofs, signatures); keys revoked in force there: %v", o.subjects, revoked)
	}
	if o.has(targetEvidence) {
		mk := func(cc *grpc.ClientConn) call { return getEvidenceCall(cc, o.subjects, o.evidence) }
		evName := rowEvidence
		if o.inProcess {
			evName = rowEvidenceInProcess
		}
		eo := o
		if eo.cpuProfile != "" {
			eo.cpuProfile = profilePath(eo.cpuProfile, "evidence", true)
		}
		if err := drive(ctx, eo, lc, rep, meter, evName, addr, mk, true); err != nil {
			return err
		}
	}
	if o.has(targetTrustd) {
		mk := func(cc *grpc.ClientConn) call { return getSubjectCall(cc, o.subjects) }
		if err := drive(ctx, o, lc, rep, meter, name, addr, mk, true); err != nil {
			return err
		}
	}
	if o.memProfile != "" {
		runtime.GC()
		if err := writeProfile("allocs", o.memProfile); err != nil {
			return err
		}
	}
	if o.blockProfile != "" {
		if err := writeProfile("block", o.blockProfile); err != nil {
			return err
		}
	}
	return nil
}

func runAllPGBench(ctx context.Context, o options, rep *report, db *database, tmp string) error {
	bin, err := pgbenchPath()
	if err != nil {
		return err
	}
	jobs := min(o.pgbenchJobs, o.concurrency)
	meter := cpuMeter{pgPort: pgPort()}
	common := func(d time.Duration) []string {
		secs := max(1, int((d+time.Second-1)/time.Second))
		return []string{"-n", "-M", "prepared", "-c", strconv.Itoa(o.concurrency), "-j", strconv.Itoa(jobs), "-T", strconv.Itoa(secs)}
	}
	bench := func(name, dbURL string, script ...string) error {
		if o.warmup > 0 {
			if _, err := runPGBench(ctx, bin, dbURL, append(common(o.warmup), script...)...); err != nil {
				return fmt.Errorf("%s warm-up: %w", name, err)
			}
		}
		args := append(common(o.duration), script...)
		logf("%s: pgbench %s", name, strings.Join(args, " "))
		before := meter.take()
		res, err := runPGBench(ctx, bin, dbURL, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r := pgbenchRow(name, o.concurrency, jobs, res)
		if res.Transactions > 0 {
			r.CPU = meter.take().usageSince(before, uint64(res.Transactions))
		}
		rep.Rows = append(rep.Rows, r)
		logf("%s: %.0f tps, average latency %.3f ms; %s", name, r.Rate, r.MeanMs, r.CPU)
		return nil
	}
	for _, s := range []struct {
		row, file string
		// optional scripts copy trustd's SQL, which may have moved on
		// since: a failure is reported but does not fail the run.
		optional bool
	}{
		{rowPGBenchPoint, "point.sql", false},
		{rowPGBenchTrustdSQL, "trustd-sql.sql", true},
	} {
		path, err := writePGBenchScript(tmp, s.file, o.subjects)
		if err != nil {
			return err
		}
		if err := bench(s.row, db.url, "-f", path); err != nil {
			if !s.optional || ctx.Err() != nil {
				return err
			}
			logf("skipping %q, whose SQL no longer matches the schema (update pgbenchScripts in pg.go): %v", s.row, err)
		}
	}

	pdb, err := createDatabase(ctx, db.admin, "trustd_loadbench_pgbench")
	if err != nil {
		return err
	}
	defer func() {
		if derr := pdb.drop(); derr != nil {
			logf("%v", derr)
		}
	}()
	logf("pgbench -i -s %d", o.pgbenchScale)
	if _, err := runPGBenchInit(ctx, bin, pdb.url, o.pgbenchScale); err != nil {
		return err
	}
	return bench(rowPGBenchSelectOnly, pdb.url, "-S")
}

// runPGBenchInit initialises pgbench's own tables at the given scale.
func runPGBenchInit(ctx context.Context, bin, dbURL string, scale int) (string, error) {
	out, err := execOutput(ctx, bin, "-i", "-q", "-s", strconv.Itoa(scale), dbURL)
	if err != nil {
		return out, fmt.Errorf("pgbench -i -s %d: %w\n%s", scale, err, lastLines(out, 20))
	}
	return out, nil
}

// pgPort is the port of the cluster at TRUSTD_TEST_POSTGRES_URL, or "" when
// the URL names none.
func pgPort() string {
	u, err := url.Parse(os.Getenv(envAdminURL))
	if err != nil {
		return ""
	}
	return u.Port()
}

// withQueryParam sets key=value in the query of a URL.
func withQueryParam(rawURL, key, value string) string {
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	return rawURL + sep + key + "=" + value
}

// profilePath names the profile file of one connection mode when several
// modes are measured: cpu.pprof becomes cpu-shared.pprof.
func profilePath(path, mode string, several bool) string {
	if !several {
		return path
	}
	if i := strings.LastIndex(path, "."); i > strings.LastIndex(path, "/") {
		return path[:i] + "-" + mode + path[i:]
	}
	return path + "-" + mode
}

// cpuProfiler returns an onMeasure hook that profiles this process's CPU
// into path over the measured phase.
func cpuProfiler(path string) func() func() {
	return func() func() {
		f, err := os.Create(path)
		if err != nil {
			logf("cpu profile: %v", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			logf("cpu profile: %v", err)
			f.Close()
			return func() {}
		}
		return func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				logf("cpu profile: %v", err)
			}
			logf("wrote CPU profile %s", path)
		}
	}
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	logf("wrote %s profile %s", name, path)
	return nil
}
