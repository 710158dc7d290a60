package postgres

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseLSN: parseLSN reads the x-trustd-min-lsn header of strangers;
// whatever it accepts is hex digits around one slash and prints back (PostgreSQL's own pg_lsn form, up to
// case and leading zeros) to the same value.
func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "1/", "/1", "x/y", "00000001/0000000a", "+1/1", "1_0/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLSN(s)
		if err != nil {
			return
		}
		if strings.Trim(s, "0123456789abcdefABCDEF/") != "" || strings.Count(s, "/") != 1 {
			t.Fatalf("parseLSN(%q) accepted more than hex digits around one slash", s)
		}
		back := fmt.Sprintf("%X/%X", v>>32, uint32(v))
		if w, err := parseLSN(back); err != nil || w != v {
			t.Fatalf("parseLSN(%q) = %d, printed %q reads %d, %v", s, v, back, w, err)
		}
	})
}
