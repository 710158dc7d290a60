package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
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
		{fmt.Errorf("v: %w", token.ErrNameMismatch), policy.ReasonNameMismatch},
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

// TestVerifyTokenName: offline, a token binds the name it was issued for
// (its resourceUri): the same bytes under another file name fail
// NAME_MISMATCH; a token issued for a bare digest passes unless the
// policy binds names.
func TestVerifyTokenName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := policy.Parse([]byte(`apiVersion: trustd.dev/policy/v1
policies:
  - name: plain
    require:
      any: [{token: {maxAge: 1h}}, {tuf: {repo: acme/releases, pattern: "*"}}]
  - name: named
    require:
      any: [{token: {maxAge: 1h}}, {name: {tuf: {repo: acme/releases}}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		policy, issuedFor, verified string
		reason                      policy.Reason // of the token requirement; empty: it passes
	}{
		{"plain", "file:///ci/dist/app-1.3.tar.gz", "app-1.3.tar.gz", ""},
		{"plain", "file:///ci/dist/app-1.3.tar.gz", "app-1.4.tar.gz", policy.ReasonNameMismatch},
		{"plain", "https://example.com/app-1.3.tar.gz", "app-1.3.tar.gz", ""},
		{"plain", "oci://registry.example/acme/app:1.3", "app-1.3.tar.gz", policy.ReasonNameMismatch},
		{"plain", "", "app-1.3.tar.gz", ""},
		{"named", "file:///ci/dist/app-1.3.tar.gz", "app-1.3.tar.gz", ""},
		{"named", "", "app-1.3.tar.gz", policy.ReasonNameMismatch},
	} {
		p, err := f.Policy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		artifact := filepath.Join(sub, tc.verified)
		if err := os.WriteFile(artifact, []byte("release bytes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		art, err := Resolve(ctx, artifact, ResolveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, _, err := token.NewIssuer(signer, pub).Issue(ctx, token.Claims{
			Subject: []digest.Digest{art.SHA256()}, ResourceURI: tc.issuedFor, TimeVerified: now, Expires: now.Add(time.Hour),
			PolicyName: p.Name, PolicyURI: p.URI(), PolicyDigest: p.Digest(), Result: token.ResultPassed,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(artifact+".trust.json", tok, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Verify(ctx, artifact, VerifyOptions{Policy: p, TokenKeys: token.Keys{pub}})
		if err != nil {
			t.Fatal(err)
		}
		got := res.Verdict.Result.Children[0]
		if got.Kind != "token" || got.Reason != tc.reason || (tc.reason == "") != (res.Verdict.Outcome == policy.Pass) {
			t.Errorf("%s: token for %q verifying %s: %s %s %s (verdict %s), want reason %q", tc.policy, tc.issuedFor, tc.verified,
				got.Kind, got.Outcome, got.Reason, res.Verdict.Outcome, tc.reason)
		}
		if tc.reason == policy.ReasonNameMismatch && !strings.Contains(got.Detail, "token is for another name") {
			t.Errorf("detail: %s", got.Detail)
		}
	}
}
