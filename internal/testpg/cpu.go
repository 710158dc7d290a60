package testpg

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes is the CPU time this process and the machine's PostgreSQL
// processes have used so far, so a write benchmark can say what one entry
// cost each side.
type cpuTimes struct {
	self, postgres time.Duration
	ok             bool
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// readCPU reads this process's rusage and sums the user, system and
// waited-for children's times of every process named postgres (the
// postmaster's children's times hold its exited backends'). ok is false
// where there is no /proc.
func readCPU() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	t := cpuTimes{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return t
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone since the glob
		}
		t.postgres += postgresTicks(string(b)) * clockTick
	}
	t.ok = true
	return t
}

// postgresTicks returns utime+stime+cutime+cstime of one /proc/PID/stat
// line when its command is postgres, else 0.
func postgresTicks(stat string) time.Duration {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open || stat[open+1:end] != "postgres" {
		return 0
	}
	// After "(comm) ": state is field 3; utime, stime, cutime, cstime are
	// fields 14-17.
	f := strings.Fields(stat[end+1:])
	if len(f) < 15 {
		return 0
	}
	var sum time.Duration
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<40 { // past 348 years of ticks: not a time
			return 0
		}
		sum += time.Duration(n)
	}
	return sum
}
