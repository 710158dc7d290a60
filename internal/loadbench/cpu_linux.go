package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// take reads the CPU times now. Failures give a snapshot that reports
// nothing.
func (m cpuMeter) take() cpuSnapshot {
	var s cpuSnapshot
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest times are already in user and nice
			break
		}
		s.all += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
		if i == 5 || i == 6 { // irq, softirq
			s.irq += n
		}
	}
	self, ok := readProcStat("self")
	if !ok {
		return s
	}
	s.self, s.children = self.utime+self.stime, self.cutime+self.cstime
	if m.trustdPID > 0 {
		if p, ok := readProcStat(strconv.Itoa(m.trustdPID)); ok {
			s.trustd = p.utime + p.stime
		}
	}
	s.postgres = postgresCPU(m.pgPort)
	s.ok = true
	return s
}

type procStat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime uint64
}

func readProcStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, false
	}
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}
	p := procStat{comm: string(b[open+1 : closing])}
	p.ppid, _ = strconv.Atoi(f[1])
	p.utime, _ = strconv.ParseUint(f[11], 10, 64)
	p.stime, _ = strconv.ParseUint(f[12], 10, 64)
	p.cutime, _ = strconv.ParseUint(f[13], 10, 64)
	p.cstime, _ = strconv.ParseUint(f[14], 10, 64)
	return p, true
}

// postgresCPU sums the CPU time of the PostgreSQL cluster on port (every
// cluster when port is empty or no postmaster's command line names it): its
// postmaster with the children it has reaped, so that backends which exit
// between two snapshots still count, and its live children.
func postgresCPU(port string) uint64 {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	procs := map[int]procStat{}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProcStat(e.Name()); ok && p.comm == "postgres" {
			procs[pid] = p
		}
	}
	var all, ours []int
	for pid, p := range procs {
		if _, parentIsPG := procs[p.ppid]; parentIsPG {
			continue
		}
		all = append(all, pid)
		if port != "" && listensOn(pid, port) {
			ours = append(ours, pid)
		}
	}
	if len(ours) == 0 {
		ours = all
	}
	var sum uint64
	for _, pm := range ours {
		p := procs[pm]
		sum += p.utime + p.stime + p.cutime + p.cstime
		for _, c := range procs {
			if c.ppid == pm {
				sum += c.utime + c.stime
			}
		}
	}
	return sum
}

// listensOn reports whether the postmaster pid was started with -p port.
func listensOn(pid int, port string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if (a == "-p" && i+1 < len(args) && args[i+1] == port) || a == "-p"+port || a == "--port="+port {
			return true
		}
	}
	return false
}
