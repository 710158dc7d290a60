package main

import (
	"strings"
	"testing"
	"time"
)

// TestLookupFigures: each lookup row is summed into machine CPU per lookup
// (trustd + PostgreSQL + client + irq, not other workloads) and judged
// against the ceilings, beside the echo and pgbench -S rates.
func TestLookupFigures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cpu      cpuUsage
		p99Ms    float64
		wantCPU  float64
		cpuPass  bool
		p99Pass  bool
		inReport string
	}{
		{"within", cpuUsage{TrustdUs: 50, PostgresUs: 60, LoadbenchUs: 30, IRQUs: 10, OtherUs: 900}, 9.5, 150, true, true, "< 160 PASS"},
		{"over", cpuUsage{TrustdUs: 100, PostgresUs: 60, LoadbenchUs: 30, IRQUs: 10}, 12, 200, false, false, "< 160 MISS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReport(options{concurrency: 16, duration: 10 * time.Second})
			u := tc.cpu
			r.Rows = []row{
				{Target: rowEcho, Rate: 10000},
				{Target: rowPGBenchSelectOnly, Rate: 20000},
				{Target: rowEvidence, Rate: 1000, P99Ms: tc.p99Ms, CPU: &u},
			}
			r.summarise()
			if len(r.Summary.Lookups) != 1 {
				t.Fatalf("lookups = %+v", r.Summary.Lookups)
			}
			f := r.Summary.Lookups[0]
			if f.MachineCPUUs != tc.wantCPU || f.CPUPass != tc.cpuPass || f.P99Pass != tc.p99Pass || f.OverEcho != 0.1 || f.OverPGBenchS != 0.05 {
				t.Errorf("figures = %+v; want machine CPU %v, cpu pass %v, p99 pass %v, 10 %% of echo, 5 %% of pgbench -S", f, tc.wantCPU, tc.cpuPass, tc.p99Pass)
			}
			var b strings.Builder
			if err := r.writeText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.inReport) || !strings.Contains(b.String(), rowEvidence) {
				t.Errorf("report lacks %q:\n%s", tc.inReport, b.String())
			}
		})
	}
}
