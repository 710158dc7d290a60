package feedback_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// TestQueryBounds: every list and number a caller sends with a reputation
// query is bounded, and a query over a bound is refused naming the field,
// before anything is read. The attestation signers go into the claims
// read as they are, so without a bound a caller could send tens of
// thousands (past SQLite's limit on a statement's parameters).
func TestQueryBounds(t *testing.T) {
	svc := feedback.New(teststore.Backends()[0].Open(t), feedback.Options{})
	d := artifact("bounded.tar").Digests[0]
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("key-", i)
		}
		return out
	}
	for _, tc := range []struct {
		field string
		q     feedback.Query
	}{
		{"digest", feedback.Query{}},
		{"attestation_signers", feedback.Query{Digest: d, AttestationSigners: keys(feedback.MaxAttestationSigners + 1)}},
		{"trust_roots", feedback.Query{Digest: d, TrustRoots: keys(feedback.MaxTrustRoots + 1)}},
		{"depth", feedback.Query{Digest: d, Depth: feedback.MaxDepth + 1}},
		{"min_paths", feedback.Query{Digest: d, TrustRoots: keys(1), MinPaths: feedback.MaxMinPaths + 1}},
		{"response_limit", feedback.Query{Digest: d, ResponseLimit: feedback.MaxResponseLimit + 1}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := svc.Reputation(context.Background(), tc.q)
			if !errors.Is(err, feedback.ErrInvalidQuery) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Reputation = %v; want ErrInvalidQuery naming %s", err, tc.field)
			}
		})
	}
	if _, err := svc.Reputation(context.Background(), feedback.Query{Digest: d, AttestationSigners: keys(feedback.MaxAttestationSigners)}); errors.Is(err, feedback.ErrInvalidQuery) {
		t.Errorf("Reputation with %d attestation signers = %v; want it taken", feedback.MaxAttestationSigners, err)
	}
}
