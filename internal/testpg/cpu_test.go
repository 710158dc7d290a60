package testpg

import (
	"strings"
	"testing"
	"time"
)

func TestPostgresTicks(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
	}{
		{"backend", "4242 (postgres) S 4200 4200 4200 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 5 0 0", 100},
		{"postmaster with exited children", "4200 (postgres) S 1 4200 4200 0 -1 4194560 100 0 0 0 5 5 900 100 20 0 1 0 5 0 0", 1010},
		{"another command", "17 (pgbench) S 1 17 17 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 5 0 0", 0},
		{"a command with a parenthesis", "18 (post) (gres) S 1 17 17 0 -1 0 0 0 0 0 70 30 0 0 20 0 1 0 5 0 0", 0},
		{"truncated", "4242 (postgres) S 4200 4200", 0},
		{"not a number", "4242 (postgres) S 4200 4200 4200 0 -1 4194560 100 0 0 0 x 30 0 0 20", 0},
	} {
		if got := postgresTicks(tc.stat); got != tc.want {
			t.Errorf("%s: postgresTicks = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzPostgresTicks: any line, however cut, gives a time that is never
// negative, and nothing for a command other than postgres.
func FuzzPostgresTicks(f *testing.F) {
	f.Add("4242 (postgres) S 4200 4200 4200 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 5 0 0")
	f.Add("17 (pgbench) S 1 17 17 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 5 0 0")
	f.Add("4242 (postgres")
	f.Add(")(")
	f.Fuzz(func(t *testing.T, stat string) {
		got := postgresTicks(stat)
		if got < 0 {
			t.Fatalf("postgresTicks(%q) = %d", stat, got)
		}
		if got > 0 && !strings.Contains(stat, "(postgres)") {
			t.Fatalf("postgresTicks(%q) = %d for another command", stat, got)
		}
	})
}
