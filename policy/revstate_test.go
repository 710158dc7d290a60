package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
)

// TestRevocationStaleEvidence: a revocation source whose list is past its
// expiry fails the requirement as STALE_METADATA; other errors leave it
// undecided.
func TestRevocationStaleEvidence(t *testing.T) {
	p := mustPolicy(t, "      revocation: {maxAge: 1h}\n")
	for _, tc := range []struct {
		err  error
		want Outcome
		code Reason
	}{
		{fmt.Errorf("%w: list 4 expired", ErrStaleEvidence), Fail, ReasonStaleMetadata},
		{errors.New("no revocation list cached"), Undecided, ReasonEvidenceUnavailable},
	} {
		v := (&Evaluator{Sources: Sources{Revocations: revErr{tc.err}}, Now: func() time.Time { return now }}).Evaluate(context.Background(), p, "", []digest.Digest{artSHA})
		if v.Outcome != tc.want || !slices.Equal(v.Reasons(), []Reason{tc.code}) {
			t.Errorf("%v: %s %v, want %s %s", tc.err, v.Outcome, v.Reasons(), tc.want, tc.code)
		}
	}
}

type revErr struct{ err error }

func (r revErr) Revocations(context.Context, RevocationQuery) (RevocationStatus, error) {
	return RevocationStatus{}, r.err
}

// TestNoRevocationState: a source with no state at all (an offline cache
// never synced) checks nothing: a token still decides alone, and a
// revocation requirement is undecided.
func TestNoRevocationState(t *testing.T) {
	src := Sources{Revocations: revErr{fmt.Errorf("no list cached: %w", ErrNoRevocationState)}, Tokens: tokenData{ID: "t", IssuedAt: now.Add(-time.Minute), Expires: now.Add(time.Hour)}}
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }, Offline: true}
	if v := ev.Evaluate(context.Background(), mustPolicy(t, "      token: {maxAge: 1h}\n"), "", []digest.Digest{artSHA}); v.Outcome != Pass {
		t.Errorf("token with no revocation state: %s %v", v.Outcome, v.Reasons())
	}
	v := ev.Evaluate(context.Background(), mustPolicy(t, "      revocation: {}\n"), "", []digest.Digest{artSHA})
	if v.Outcome != Undecided || !slices.Equal(v.Reasons(), []Reason{ReasonEvidenceUnavailable}) {
		t.Errorf("revocation requirement with no revocation state: %s %v", v.Outcome, v.Reasons())
	}
}
