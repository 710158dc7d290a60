package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseBenchLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want result
		ok   bool
	}{
		{"BenchmarkReputationWebOfTrust/fanout-20-2   100  253729130 ns/op  225.6 p50_ms  585.6 p99_ms", result{
			Name: "BenchmarkReputationWebOfTrust/fanout-20-2", N: 100, NsPerOp: 253729130,
			Metrics: map[string]float64{"ns/op": 253729130, "p50_ms": 225.6, "p99_ms": 585.6}}, true},
		{"BenchmarkSubmit/postgres-2  20000  650000 ns/op  1538 stmts/s", result{
			Name: "BenchmarkSubmit/postgres-2", N: 20000, NsPerOp: 650000,
			Metrics: map[string]float64{"ns/op": 650000, "stmts/s": 1538}}, true},
		{"BenchmarkVoteSubmit/postgres-2  20000  420127 ns/op  628.1 cpu_µs/entry  2380 votes/s", result{
			Name: "BenchmarkVoteSubmit/postgres-2", N: 20000, NsPerOp: 420127,
			Metrics: map[string]float64{"ns/op": 420127, "cpu_µs/entry": 628.1, "votes/s": 2380}}, true},
		{"--- BENCH: BenchmarkVerifiedOnly/sqlite/voters-100-2", result{}, false},
		{"BenchmarkX-2  ten  5 ns/op", result{}, false},
		{"BenchmarkX-2  10  5 allocs/op", result{}, false},
		{"ok  github.com/trustd-dev/trustd/feedback  46.965s", result{}, false},
	} {
		got, ok := parseBenchLine(tc.line)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseBenchLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLastResult: a benchmark that prints while it runs (the write
// benchmarks print their database figures) splits its result line.
func TestLastResult(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      result
		ok        bool
	}{
		{"whole line", "goos: linux\nBenchmarkSubmit/postgres-2  20000  650000 ns/op  1538 stmts/s\nPASS\n", result{
			Name: "BenchmarkSubmit/postgres-2", N: 20000, NsPerOp: 650000,
			Metrics: map[string]float64{"ns/op": 650000, "stmts/s": 1538}}, true},
		{"split by the benchmark's own output", "BenchmarkSubmit/postgres-2         \tBenchmarkSubmit/postgres: postgres durability: fsync=off\n" +
			"BenchmarkSubmit/postgres: pg_stat_statements: 2.56 statements\n     0.341 calls/entry     60.8 µs/entry\n" +
			"   20000\t    376690 ns/op\t        98.04 buffers/entry\t      2655 stmts/s\nPASS\n", result{
			Name: "BenchmarkSubmit/postgres-2", N: 20000, NsPerOp: 376690,
			Metrics: map[string]float64{"ns/op": 376690, "buffers/entry": 98.04, "stmts/s": 2655}}, true},
		{"figures without a name", "   20000\t    376690 ns/op\nPASS\n", result{}, false},
		{"no result", "PASS\nok  github.com/trustd-dev/trustd/statement  1.2s\n", result{}, false},
	} {
		got, ok := lastResult(strings.NewReader(tc.out))
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: lastResult = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzLastResult: whatever go test printed, reading it never panics, and
// a result it finds has a benchmark's name and its ns/op.
func FuzzLastResult(f *testing.F) {
	for _, seed := range []string{
		"BenchmarkSubmit/postgres-2  20000  650000 ns/op  1538 stmts/s\n",
		"BenchmarkSubmit/postgres-2         \tBenchmarkSubmit/postgres: figures\n   20000\t    376690 ns/op\t      2655 stmts/s\n",
		"   20000\t    376690 ns/op\n",
		"--- BENCH: BenchmarkVerifiedOnly/sqlite/voters-100-2\nPASS\n",
		"BenchmarkX-2\nBenchmarkY-3\n 1 2 ns/op\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, out string) {
		r, ok := lastResult(strings.NewReader(out))
		if !ok {
			return
		}
		if !strings.HasPrefix(r.Name, "Benchmark") {
			t.Errorf("result named %q", r.Name)
		}
		if _, has := r.Metrics["ns/op"]; !has || r.NsPerOp != r.Metrics["ns/op"] {
			t.Errorf("result %+v without its ns/op", r)
		}
	})
}
