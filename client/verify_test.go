package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/token"
)

// TestTokenReason: every token refusal maps to its public reason code,
// and the most telling refusal among several tokens wins. (Revocations
// are the evaluator's to check, for every verdict alike.)
func TestTokenReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want policy.Reason
	}{
		{fmt.Errorf("v: %w", token.ErrExpired), policy.ReasonExpired},
		{fmt.Errorf("v: %w", token.ErrTooOld), policy.ReasonStaleMetadata},
		{fmt.Errorf("v: %w", token.ErrDigestMismatch), policy.ReasonDigestMismatch},
		{fmt.Errorf("v: %w", token.ErrPolicyMismatch), policy.ReasonPolicyMismatch},
		{fmt.Errorf("v: %w", token.ErrUntrustedKey), policy.ReasonTokenInvalid},
		{errors.New("anything else"), policy.ReasonTokenInvalid},
	} {
		if got := tokenReason(tc.err); got != tc.want {
			t.Errorf("tokenReason(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	order := []policy.Reason{policy.ReasonExpired, policy.ReasonPolicyMismatch, policy.ReasonDigestMismatch, policy.ReasonTokenInvalid}
	for i := 1; i < len(order); i++ {
		if rank(order[i-1]) <= rank(order[i]) {
			t.Errorf("rank(%s) = %d is not above rank(%s) = %d", order[i-1], rank(order[i-1]), order[i], rank(order[i]))
		}
	}
}
