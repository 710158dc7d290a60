package fetch

import (
	"fmt"
	"testing"
)

// FuzzParseContentRange: a mirror's Content-Range header is untrusted; the
// parser must never panic and must only accept what it can print back.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/10", "bytes */10", "bytes 1-2/*", "", "bytes -1--2/-3", "bytes 99999999999999999999-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if _, _, err := parseContentRange(fmt.Sprintf("bytes %d-x/%d", start, total)); err != nil {
			t.Errorf("%q parsed as %d/%d, which does not parse back: %v", s, start, total, err)
		}
	})
}
