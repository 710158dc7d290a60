package digest

import (
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readCSV returns the rows of testdata/name after its header, skipping
// comment lines that start with '#'.
func readCSV(t testing.TB, name string, header string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != header {
		t.Fatalf("%s: want header %q and data rows, got %q", name, header, rows)
	}
	return rows[1:]
}

type knownDigest struct {
	alg   Algorithm
	input string
	hex   string
}

func knownDigests(t testing.TB) []knownDigest {
	t.Helper()
	var out []knownDigest
	for _, row := range readCSV(t, "known_digests.csv", "algorithm,input,hex") {
		alg, err := ParseAlgorithm(row[0])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, knownDigest{alg: alg, input: row[1], hex: row[2]})
	}
	return out
}

type multihashCase struct {
	name      string
	bits      int
	multihash []byte
}

func multihashCases(t testing.TB) []multihashCase {
	t.Helper()
	var out []multihashCase
	for _, row := range readCSV(t, "multihash_test_cases.csv", "algorithm,bits,input,multihash") {
		bits, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatal(err)
		}
		mh, err := hex.DecodeString(row[3])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, multihashCase{name: row[0] + "/" + row[1], bits: bits, multihash: mh})
	}
	return out
}

// checkNoGoroutineLeak fails the test if, shortly after it ends, more
// goroutines run than when it started.
func checkNoGoroutineLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for i := 0; i < 100; i++ {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutine leak: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}
