package main

import (
	"fmt"
	"time"
)

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on every
// architecture Linux runs Go on).
const userHZ = 100

// cpuMeter reads the CPU time of the processes a run involves.
type cpuMeter struct {
	// pgPort is the PostgreSQL cluster's port, to tell it from others.
	pgPort string
	// trustdPID is the trustd process, 0 when none runs.
	trustdPID int
}

// cpuSnapshot is the CPU time used so far by the machine and the processes
// a run involves, read from /proc.
type cpuSnapshot struct {
	ok bool
	// busy and all are machine-wide jiffies: busy excludes idle and iowait.
	busy, all uint64
	// irq is machine-wide interrupt and softirq time, which no process is
	// charged with (on loopback, mostly the network stack's receive side).
	irq uint64
	// self is this process (the load generator, and the echo or in-process
	// server); children is what this process's reaped children used
	// (pgbench).
	self, children uint64
	// trustd is the trustd process; postgres is every PostgreSQL process,
	// exited backends included (through the postmaster's children times).
	trustd, postgres uint64
}

// cpuUsage is the CPU time a phase used, per process group.
type cpuUsage struct {
	// BusyPct is how busy the whole machine was: 100 means every CPU.
	BusyPct float64 `json:"machine_busy_pct"`
	// Per-request (per-transaction for pgbench) CPU time in microseconds.
	LoadbenchUs float64 `json:"loadbench_us_per_req"`
	TrustdUs    float64 `json:"trustd_us_per_req,omitempty"`
	PostgresUs  float64 `json:"postgres_us_per_req"`
	PGBenchUs   float64 `json:"pgbench_us_per_req,omitempty"`
	// IRQUs is interrupt and softirq time (on loopback, mostly the
	// network stack), machine-wide.
	IRQUs float64 `json:"irq_us_per_req"`
	// OtherUs is the rest of the machine's busy time: kernel threads and
	// any other workload running at the same time.
	OtherUs float64 `json:"other_us_per_req"`
}

// usageSince returns the CPU used between b (before) and a, per request.
func (a cpuSnapshot) usageSince(b cpuSnapshot, requests uint64) *cpuUsage {
	if !a.ok || !b.ok || a.all <= b.all || requests == 0 {
		return nil
	}
	perReq := func(j uint64) float64 {
		return float64(j) * float64(time.Second/userHZ) / float64(time.Microsecond) / float64(requests)
	}
	d := func(x, y uint64) uint64 {
		if x < y {
			return 0
		}
		return x - y
	}
	busy := d(a.busy, b.busy)
	known := d(a.self, b.self) + d(a.children, b.children) + d(a.trustd, b.trustd) + d(a.postgres, b.postgres) + d(a.irq, b.irq)
	return &cpuUsage{
		BusyPct:     100 * float64(busy) / float64(a.all-b.all),
		LoadbenchUs: perReq(d(a.self, b.self)),
		TrustdUs:    perReq(d(a.trustd, b.trustd)),
		PostgresUs:  perReq(d(a.postgres, b.postgres)),
		PGBenchUs:   perReq(d(a.children, b.children)),
		IRQUs:       perReq(d(a.irq, b.irq)),
		OtherUs:     perReq(d(busy, known)),
	}
}

// String formats the usage for a log line.
func (u *cpuUsage) String() string {
	if u == nil {
		return "cpu: not measured"
	}
	return fmt.Sprintf("machine %.0f%% busy; CPU µs/req: loadbench %.0f, trustd %.0f, postgres %.0f, pgbench %.0f, irq %.0f, other %.0f",
		u.BusyPct, u.LoadbenchUs, u.TrustdUs, u.PostgresUs, u.PGBenchUs, u.IRQUs, u.OtherUs)
}
