package attest_test

import (
	"testing"

	"github.com/trustd-dev/trustd/attest"
)

// TestMaxStatementWithin: the derived attestation bound is the largest
// statement whose signed document still fits in the request cap, so
// trustd's --max-request-bytes is never exceeded to make room for it.
func TestMaxStatementWithin(t *testing.T) {
	for _, req := range []int{4 << 20, 16 << 20, 1 << 20, 200 << 10, 69637, 69636, 69635, 1024} {
		m := attest.MaxStatementWithin(req)
		if m == 0 {
			if attest.EnvelopeBound(1)+attest.RequestOverhead <= req {
				t.Errorf("request %d: no statement fits, yet a 1-byte one does", req)
			}
			continue
		}
		if got := attest.EnvelopeBound(m) + attest.RequestOverhead; got > req {
			t.Errorf("request %d: statement %d signs to %d bytes, over the cap", req, m, got)
		}
		if got := attest.EnvelopeBound(m+1) + attest.RequestOverhead; got <= req {
			t.Errorf("request %d: statement %d is not the largest (%d fits too)", req, m, m+1)
		}
	}
	if m := attest.MaxStatementWithin(4 << 20); m < 3_000_000 {
		t.Errorf("under the default 4 MiB request cap statements get %d bytes, want at least 3 MB", m)
	}
}
