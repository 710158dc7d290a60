package timerule_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/timerule"
)

// TestVoids is the rule as a table: every reason, a signature observed
// before or after the effective time E, and signed (claimed) at the time
// it was observed or backdated to before E.
func TestVoids(t *testing.T) {
	e := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	before, after := e.Add(-time.Hour), e.Add(time.Hour)
	type sig struct {
		name             string
		signed, observed time.Time
	}
	sigs := []sig{
		{"observed before E", before, before},
		{"observed before E, signed earlier", before.Add(-time.Hour), before},
		{"observed at E", e, e},
		{"observed after E", after, after},
		{"observed after E, backdated before E", before, after},
		{"observed after E, backdated far before E", before.AddDate(-1, 0, 0), after},
		{"never observed, signed before E", before, time.Time{}},
		{"never observed, signed after E", after, time.Time{}},
	}
	// voidedBySoft is the soft rule: judged at the later of the claimed
	// and observed times, voided at or after E.
	voidedBySoft := map[string]bool{
		"observed before E": false, "observed before E, signed earlier": false,
		"observed at E": true, "observed after E": true,
		"observed after E, backdated before E": true, "observed after E, backdated far before E": true,
		"never observed, signed before E": false, "never observed, signed after E": true,
	}
	reasons := []struct {
		reason string
		hard   bool
	}{
		{"compromised", true}, {"malicious", true}, {"other", true}, {"", true}, {"no reason specified", true}, {"key compromised", true},
		{"superseded", false}, {"retired", false}, {"withdrawn", false},
	}
	for _, r := range reasons {
		if got := timerule.Hard(r.reason); got != r.hard {
			t.Errorf("Hard(%q) = %v, want %v", r.reason, got, r.hard)
		}
		rev := timerule.Revocation{Hard: timerule.Hard(r.reason), Effective: e}
		for _, s := range sigs {
			t.Run(fmt.Sprintf("%s/%s", r.reason, s.name), func(t *testing.T) {
				want := r.hard || voidedBySoft[s.name]
				if got := timerule.Voids(rev, s.signed, s.observed); got != want {
					t.Errorf("Voids(%s effective %s, signed %s, observed %s) = %v, want %v", r.reason, e, s.signed, s.observed, got, want)
				}
			})
		}
	}
}

func TestAt(t *testing.T) {
	a, b := time.Unix(100, 0), time.Unix(200, 0)
	for _, tc := range []struct{ signed, observed, want time.Time }{
		{a, b, b}, // backdated: the observation counts
		{b, a, b}, // claims a time after the observation (within skew): the claim counts
		{a, time.Time{}, a},
		{a, a, a},
	} {
		if got := timerule.At(tc.signed, tc.observed); !got.Equal(tc.want) {
			t.Errorf("At(%v, %v) = %v, want %v", tc.signed, tc.observed, got, tc.want)
		}
	}
}

func TestInForce(t *testing.T) {
	e := time.Unix(1000, 0)
	for _, tc := range []struct {
		hard bool
		now  time.Time
		want bool
	}{
		{true, e.Add(-time.Hour), true}, // hard: in force even before its effective time
		{true, e.Add(time.Hour), true},
		{false, e.Add(-time.Second), false},
		{false, e, true},
		{false, e.Add(time.Hour), true},
	} {
		if got := timerule.InForce(timerule.Revocation{Hard: tc.hard, Effective: e}, tc.now); got != tc.want {
			t.Errorf("InForce(hard=%v, now=%v) = %v, want %v", tc.hard, tc.now, got, tc.want)
		}
	}
}

func TestEnded(t *testing.T) {
	end := time.Unix(1000, 0)
	for _, tc := range []struct {
		name             string
		end              time.Time
		signed, observed time.Time
		want             bool
	}{
		{"no end", time.Time{}, end.Add(time.Hour), end.Add(time.Hour), false},
		{"before the end", end, end.Add(-time.Hour), end.Add(-time.Minute), false},
		{"at the end", end, end, end, true},
		{"backdated, observed after the end", end, end.Add(-time.Hour), end.Add(time.Hour), true},
		{"after the end", end, end.Add(time.Hour), end.Add(time.Hour), true},
	} {
		if got := timerule.Ended(tc.end, tc.signed, tc.observed); got != tc.want {
			t.Errorf("%s: Ended = %v, want %v", tc.name, got, tc.want)
		}
	}
}
