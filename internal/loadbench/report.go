package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Row names, which the summary looks up.
const (
	rowEcho              = "echo (grpc health, no work)"
	rowTrustd            = "trustd GetSubject (binary)"
	rowTrustdInProcess   = "trustd GetSubject (in-process)"
	rowEvidence          = "trustd GetEvidence (binary)"
	rowEvidenceInProcess = "trustd GetEvidence (in-process)"
	rowPGBenchPoint      = "pgbench point select (digests pk)"
	rowPGBenchTrustdSQL  = "pgbench trustd's SQL"
	rowPGBenchSelectOnly = "pgbench -S (built-in select-only)"
)

// row is one measured target.
type row struct {
	Target string `json:"target"`
	// Kind is "grpc" (the load generator) or "pgbench".
	Kind string `json:"kind"`
	// Conns describes the client connections, e.g. "1 shared".
	Conns    string `json:"conns"`
	ConnMode string `json:"conn_mode,omitempty"`
	// Rate is requests (grpc) or transactions (pgbench) per second.
	Rate     float64 `json:"rate_per_s"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	// Latencies in milliseconds; pgbench reports only the mean.
	P50Ms  float64 `json:"p50_ms,omitempty"`
	P90Ms  float64 `json:"p90_ms,omitempty"`
	P99Ms  float64 `json:"p99_ms,omitempty"`
	MaxMs  float64 `json:"max_ms,omitempty"`
	MeanMs float64 `json:"mean_ms"`
	// CPU is the CPU time the measured phase used, per request; nil where
	// it could not be read.
	CPU *cpuUsage `json:"cpu,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func grpcRow(target, mode string, conns int, res loadResult) row {
	desc := "1 shared"
	if mode == connPerWorker {
		desc = strconv.Itoa(conns) + " (1/worker)"
	}
	h := res.Hist
	return row{
		Target: target, Kind: "grpc", Conns: desc, ConnMode: mode,
		Rate: res.Rate(), Requests: res.Requests, Errors: res.Errors,
		P50Ms: ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)),
		MaxMs: ms(h.Max()), MeanMs: ms(h.Mean()),
	}
}

func pgbenchRow(target string, clients, jobs int, res pgbenchResult) row {
	return row{
		Target: target, Kind: "pgbench", Conns: fmt.Sprintf("%d (-j %d)", clients, jobs),
		Rate: res.TPS, Requests: uint64(res.Transactions), Errors: uint64(res.Failed),
		MeanMs: ms(res.LatencyAvg),
	}
}

// summary compares the best trustd row with the ceilings.
type summary struct {
	// Trustd and Echo are the fastest rows of each (over connection modes).
	Trustd *row `json:"trustd,omitempty"`
	Echo   *row `json:"echo,omitempty"`
	// Ratios of trustd's rate to each ceiling; 0 when either is missing.
	TrustdOverEcho          float64 `json:"trustd_over_echo"`
	TrustdOverPGBenchPoint  float64 `json:"trustd_over_pgbench_point"`
	TrustdOverPGBenchSQL    float64 `json:"trustd_over_pgbench_trustd_sql"`
	TrustdOverPGBenchSelect float64 `json:"trustd_over_pgbench_select_only"`
	TargetEchoRatio         float64 `json:"target_echo_ratio"`
	TargetP99Ms             float64 `json:"target_p99_ms"`
	// RatePass and P99Pass are the two halves of the target; Pass is both.
	// Each is false when the rows it needs were not measured.
	RatePass bool `json:"rate_pass"`
	P99Pass  bool `json:"p99_pass"`
	Pass     bool `json:"pass"`
	// Lookups are the evidence lookups by digest measured (GetEvidence,
	// GetSubject), each against the lookup ceilings.
	Lookups []lookupFigures `json:"lookups,omitempty"`
}

// The evidence lookup targets (issue 14): machine CPU per lookup and p99.
const (
	targetLookupCPUUs = 160.0
	targetLookupP99   = 10 * time.Millisecond
)

// lookupFigures are one lookup row's figures: machine CPU per lookup is
// what trustd, PostgreSQL, the client (the load generator) and the
// network stack (irq) spent on it; other workloads on the machine are not
// counted.
type lookupFigures struct {
	Target       string  `json:"target"`
	Conns        string  `json:"conns"`
	Rate         float64 `json:"rate_per_s"`
	P99Ms        float64 `json:"p99_ms"`
	MachineCPUUs float64 `json:"machine_cpu_us_per_lookup"`
	TrustdUs     float64 `json:"trustd_us_per_lookup"`
	PostgresUs   float64 `json:"postgres_us_per_lookup"`
	ClientUs     float64 `json:"client_us_per_lookup"`
	IRQUs        float64 `json:"irq_us_per_lookup"`
	OverEcho     float64 `json:"rate_over_echo"`
	OverPGBenchS float64 `json:"rate_over_pgbench_select_only"`
	CPUPass      bool    `json:"cpu_pass"`
	P99Pass      bool    `json:"p99_pass"`
}

// report is everything one run printed.
type report struct {
	Command string `json:"command"`
	Config  struct {
		Subjects           int      `json:"subjects"`
		Concurrency        int      `json:"concurrency"`
		Duration           string   `json:"duration"`
		Warmup             string   `json:"warmup"`
		ConnModes          []string `json:"conn_modes"`
		InProcess          bool     `json:"inprocess"`
		TrustdPoolMaxConns int      `json:"trustd_pool_max_conns"`
		EvidenceLimit      int      `json:"evidence_limit"`
	} `json:"config"`
	Machine struct {
		CPUs       int    `json:"cpus"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		GoVersion  string `json:"go_version"`
		PostgreSQL string `json:"postgresql"`
	} `json:"machine"`
	SeedSeconds float64 `json:"seed_seconds"`
	// Evidence is what -evidence seeded, and in how long.
	Evidence            *evidenceSeed `json:"evidence,omitempty"`
	EvidenceSeedSeconds float64       `json:"evidence_seed_seconds,omitempty"`
	Rows                []row         `json:"rows"`
	Summary             summary       `json:"summary"`
}

func newReport(o options) *report {
	r := &report{Command: commandLine()}
	r.Config.Subjects = o.subjects
	r.Config.Concurrency = o.concurrency
	r.Config.Duration = o.duration.String()
	r.Config.Warmup = o.warmup.String()
	r.Config.ConnModes = o.connModes()
	r.Config.InProcess = o.inProcess
	r.Config.TrustdPoolMaxConns = o.poolMaxConns
	r.Machine.CPUs = runtime.NumCPU()
	r.Machine.GOMAXPROCS = runtime.GOMAXPROCS(0)
	r.Machine.GoVersion = runtime.Version()
	r.Summary.TargetEchoRatio = targetEchoRatio
	r.Summary.TargetP99Ms = ms(targetP99)
	return r
}

// commandLine is how this run was started: LOADBENCH_COMMAND when
// scripts/bench-load.sh set it, else the go run equivalent.
func commandLine() string {
	if c := os.Getenv("LOADBENCH_COMMAND"); c != "" {
		return c
	}
	parts := []string{"go run ./internal/loadbench"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// best returns the fastest row with one of the given targets.
func (r *report) best(targets ...string) *row {
	var b *row
	for i := range r.Rows {
		row := &r.Rows[i]
		for _, t := range targets {
			if row.Target == t && (b == nil || row.Rate > b.Rate) {
				b = row
			}
		}
	}
	return b
}

func ratio(a *row, b *row) float64 {
	if a == nil || b == nil || b.Rate == 0 {
		return 0
	}
	return a.Rate / b.Rate
}

func (r *report) summarise() {
	s := &r.Summary
	s.Trustd = r.best(rowTrustd, rowTrustdInProcess)
	s.Echo = r.best(rowEcho)
	s.TrustdOverEcho = ratio(s.Trustd, s.Echo)
	s.TrustdOverPGBenchPoint = ratio(s.Trustd, r.best(rowPGBenchPoint))
	s.TrustdOverPGBenchSQL = ratio(s.Trustd, r.best(rowPGBenchTrustdSQL))
	s.TrustdOverPGBenchSelect = ratio(s.Trustd, r.best(rowPGBenchSelectOnly))
	s.RatePass = s.Trustd != nil && s.Echo != nil && s.TrustdOverEcho >= targetEchoRatio
	s.P99Pass = s.Trustd != nil && s.Trustd.P99Ms < ms(targetP99)
	s.Pass = s.RatePass && s.P99Pass
	s.Lookups = nil
	for _, t := range [][]string{{rowEvidence, rowEvidenceInProcess}, {rowTrustd, rowTrustdInProcess}} {
		b := r.best(t...)
		if b == nil {
			continue
		}
		f := lookupFigures{Target: b.Target, Conns: b.Conns, Rate: b.Rate, P99Ms: b.P99Ms,
			OverEcho: ratio(b, s.Echo), OverPGBenchS: ratio(b, r.best(rowPGBenchSelectOnly))}
		if u := b.CPU; u != nil {
			f.TrustdUs, f.PostgresUs, f.ClientUs, f.IRQUs = u.TrustdUs, u.PostgresUs, u.LoadbenchUs, u.IRQUs
			f.MachineCPUUs = u.TrustdUs + u.PostgresUs + u.LoadbenchUs + u.IRQUs
			f.CPUPass = f.MachineCPUUs < targetLookupCPUUs
		}
		f.P99Pass = b.P99Ms < ms(targetLookupP99)
		s.Lookups = append(s.Lookups, f)
	}
}

func (r *report) write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	}
	return r.writeText(w)
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "\nGetSubject by digest, %d subjects, concurrency %d, %s measured after %s warm-up, loopback (evidence_limit 0 = server default)\n",
		c.Subjects, c.Concurrency, c.Duration, c.Warmup)
	fmt.Fprintf(&b, "machine: %d CPUs, GOMAXPROCS %d, %s, PostgreSQL %s; load generator, servers and PostgreSQL share the machine\n",
		r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.GoVersion, r.Machine.PostgreSQL)
	if r.SeedSeconds > 0 {
		fmt.Fprintf(&b, "seeding: %d subjects in %.1f s\n", c.Subjects, r.SeedSeconds)
	}
	if c.TrustdPoolMaxConns > 0 {
		fmt.Fprintf(&b, "trustd database URL carries pool_max_conns=%d\n", c.TrustdPoolMaxConns)
	}
	b.WriteString("\n")
	if len(r.Rows) == 0 {
		b.WriteString("nothing measured\n")
		fmt.Fprintf(&b, "command: %s\n", r.Command)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tconns\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tmean ms\terrors\t")
	dash := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%.3f\t%d\t\n",
			row.Target, row.Conns, row.Rate, dash(row.P50Ms), dash(row.P90Ms), dash(row.P99Ms), dash(row.MaxMs), row.MeanMs, row.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	b.WriteString("(pgbench rows: transactions/s and pgbench's average latency; its -c clients = concurrency)\n\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CPU µs per request\tconns\tmachine busy\tloadbench\ttrustd\tpostgres\tpgbench\tirq\tother\ttotal\t")
	anyCPU := false
	for _, row := range r.Rows {
		u := row.CPU
		if u == nil {
			continue
		}
		anyCPU = true
		total := u.LoadbenchUs + u.TrustdUs + u.PostgresUs + u.PGBenchUs + u.IRQUs + u.OtherUs
		fmt.Fprintf(tw, "%s\t%s\t%.0f %%\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t\n",
			row.Target, row.Conns, u.BusyPct, u.LoadbenchUs, u.TrustdUs, u.PostgresUs, u.PGBenchUs, u.IRQUs, u.OtherUs, total)
	}
	if anyCPU {
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
		b.WriteString("(loadbench: the load generator, plus the echo server or an -inprocess trustd; irq: interrupts and softirqs,\n on loopback mostly the network stack; other: kernel threads and any other workload on the machine)\n\n")
	}

	s := r.Summary
	if s.Trustd != nil {
		if s.Echo != nil {
			fmt.Fprintf(&b, "trustd / echo          %6.1f %%   (trustd %s %.0f req/s vs echo %s %.0f req/s)   target >= %.0f %%   %s\n",
				100*s.TrustdOverEcho, s.Trustd.Conns, s.Trustd.Rate, s.Echo.Conns, s.Echo.Rate, 100*targetEchoRatio, passMiss(s.RatePass))
		} else {
			fmt.Fprintf(&b, "trustd / echo          not measured                                      target >= %.0f %%   MISS\n", 100*targetEchoRatio)
		}
		fmt.Fprintf(&b, "trustd p99             %8.3f ms (trustd %s)   target < %.0f ms   %s\n",
			s.Trustd.P99Ms, s.Trustd.Conns, ms(targetP99), passMiss(s.P99Pass))
		for _, x := range []struct {
			name string
			v    float64
		}{
			{"trustd / pgbench point select", s.TrustdOverPGBenchPoint},
			{"trustd / pgbench trustd's SQL", s.TrustdOverPGBenchSQL},
			{"trustd / pgbench -S", s.TrustdOverPGBenchSelect},
		} {
			if x.v > 0 {
				fmt.Fprintf(&b, "%-40s %6.1f %%\n", x.name, 100*x.v)
			}
		}
		fmt.Fprintf(&b, "overall: %s\n", passMiss(s.Pass))
	}
	if len(s.Lookups) > 0 {
		if e := r.Evidence; e != nil {
			fmt.Fprintf(&b, "\nevidence seeded: %d log entries (%d per subject, releases of %d subjects), keys revoked: %v; in %.1f s\n",
				e.Statements, len(seedPredicates), releaseSize, e.RevokedKeys, r.EvidenceSeedSeconds)
		}
		b.WriteString("\nevidence lookup by digest (machine CPU = trustd + PostgreSQL + client + irq, per lookup)\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "lookup\tconns\treq/s\t/ echo\t/ pgbench -S\tp99 ms\t(ceiling)\tmachine CPU µs\t(ceiling)\ttrustd\tpostgres\tclient\tirq\t")
		for _, f := range s.Lookups {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.1f %%\t%.1f %%\t%.3f\t< %.0f %s\t%.0f\t< %.0f %s\t%.0f\t%.0f\t%.0f\t%.0f\t\n",
				f.Target, f.Conns, f.Rate, 100*f.OverEcho, 100*f.OverPGBenchS, f.P99Ms, ms(targetLookupP99), passMiss(f.P99Pass),
				f.MachineCPUUs, targetLookupCPUUs, passMiss(f.CPUPass), f.TrustdUs, f.PostgresUs, f.ClientUs, f.IRQUs)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
		if s.Echo != nil {
			fmt.Fprintf(&b, "echo: %.0f req/s", s.Echo.Rate)
			if pg := r.best(rowPGBenchSelectOnly); pg != nil {
				fmt.Fprintf(&b, "; pgbench -S: %.0f tps", pg.Rate)
			}
			b.WriteString(" (same run)\n")
		}
	}
	fmt.Fprintf(&b, "command: %s\n", r.Command)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
