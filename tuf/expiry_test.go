package tuf

import (
	"testing"
	"time"
)

// TestExpiresAtRoundsUp: TUF expiries count whole seconds, and a lifetime
// is rounded up to them, never down to a moment already past.
func TestExpiresAtRoundsUp(t *testing.T) {
	whole := time.Date(2026, 12, 7, 15, 39, 45, 0, time.UTC)
	for _, c := range []struct {
		in, want time.Time
	}{
		{whole, whole},
		{whole.Add(time.Nanosecond), whole.Add(time.Second)},
		{whole.Add(999 * time.Millisecond), whole.Add(time.Second)},
		{whole.In(time.FixedZone("CET", 3600)).Add(time.Millisecond), whole.Add(time.Second)},
	} {
		md, err := NextTargets(nil, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := md.Signed.Expires; !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("expiry of %s = %s, want %s", c.in, got, c.want)
		}
	}
}
