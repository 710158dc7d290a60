package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Policy is the policy to enforce (required).
	Policy *policy.Policy
	// Resolve configures how the bytes are read; its Algorithms are
	// replaced by the ones the policy needs.
	Resolve ResolveOptions
	// Client, when set, is asked for evidence (online verification), in
	// one call; nil verifies offline, from the tokens beside the bytes
	// alone.
	Client *Client
	// LogKey is the pinned note verifier key of trustd's log: online
	// evidence must be proven under a checkpoint it signs. Empty trusts
	// the key the server names (as far as the connection is trusted).
	LogKey string
	// TUFRoots pins TUF roots by repository name: online TUF evidence for
	// those repositories is verified by go-tuf's client workflow from the
	// pinned root instead of read as served.
	TUFRoots map[string][]byte
	// TokenKeys are the trusted token keys; nil leaves token requirements
	// undecided.
	TokenKeys token.KeySource
	// Revocations is the offline revocation cache (trustctl revocations
	// sync): once it holds a list, tokens are refused when it revokes
	// them, their key, their subject or an input statement; offline,
	// revocation requirements are answered from it (undecided while it
	// holds no list).
	Revocations *revocation.Cache
	// Extra are further evidence sources (attestations, revocations,
	// reputation); a set field replaces the built-in one.
	Extra policy.Sources
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is the outcome of Verify.
type Result struct {
	Artifact *Artifact
	Verdict  policy.Verdict
	// Evidence is the verified evidence an online verification fetched;
	// nil offline, or when the evidence call failed (the verdict says
	// why).
	Evidence *evidence.Set
}

// Verify resolves ref, reads the bytes once computing the digests the
// policy needs, gathers evidence (the tokens beside the bytes, and, when
// online, the server's evidence in one GetEvidence call, checked against
// the log key) and evaluates the policy with the same evaluator, over the
// same evidence model, that trustd's token issuance runs. An error means
// the verification could not start (bad reference, unreadable bytes);
// otherwise the verdict says pass, fail or undecided, and why. Bytes that
// do not match their digests (a tampered registry manifest or layer) fail
// with DIGEST_MISMATCH. Without a Client the verification is offline:
// requirements needing server evidence fail with OFFLINE, so only a token
// can pass.
func Verify(ctx context.Context, ref string, opts VerifyOptions) (*Result, error) {
	if opts.Policy == nil {
		return nil, errors.New("client: verify: no policy")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ro := opts.Resolve
	ro.Algorithms = opts.Policy.Algorithms()
	art, err := Resolve(ctx, ref, ro)
	if errors.Is(err, ErrDigestMismatch) {
		return &Result{Verdict: integrityFailure(opts.Policy, ref, err, now())}, nil
	}
	if err != nil {
		return nil, err
	}
	var (
		src  policy.Sources
		toks [][]byte
		res  = &Result{Artifact: art}
	)
	if opts.TokenKeys != nil || needsTokens(&opts.Policy.Require) {
		if toks, err = FindTokens(ctx, art, ro); err != nil {
			return nil, err
		}
		tc := &TokenChecker{Keys: opts.TokenKeys, Tokens: toks, Now: now}
		if opts.Revocations != nil {
			if _, has := opts.Revocations.Number(); has {
				tc.Revocations = opts.Revocations
			}
		}
		src.Tokens = tc
	}
	if opts.Client != nil {
		req := evidence.RequestFor(opts.Policy, art.Digests)
		// The tokens' revocation state comes in the same answer.
		for _, t := range toks {
			if len(req.Tokens) < evidence.MaxExtraTargets {
				req.Tokens = append(req.Tokens, token.ID(t))
			}
		}
		set, err := opts.Client.FetchEvidence(ctx, req, opts.LogKey)
		if err != nil {
			src = src.With(unavailableSources(err))
		} else {
			res.Evidence = set
			src = src.With(set.Sources(evidence.SourceOptions{TUFRoots: opts.TUFRoots, Now: opts.Now}))
		}
	}
	if opts.Client == nil && opts.Revocations != nil {
		src.Revocations = opts.Revocations.PolicySource()
	}
	ev := &policy.Evaluator{Sources: src.With(opts.Extra), Now: now, Offline: opts.Client == nil}
	res.Verdict = ev.Evaluate(ctx, opts.Policy, art.ResourceURI, art.Digests)
	return res, nil
}

// integrityFailure is the verdict for bytes that do not match their own
// digests (a tampered registry blob): a definite no, whatever the policy.
func integrityFailure(p *policy.Policy, ref string, err error, now time.Time) policy.Verdict {
	return policy.Verdict{
		Policy: p.Name, PolicyDigest: p.Digest().String(), Resource: ref, Digests: []string{}, Outcome: policy.Fail, EvaluatedAt: now.UTC(),
		Result: policy.Result{Kind: "integrity", Outcome: policy.Fail, Reason: policy.ReasonDigestMismatch, Detail: err.Error()},
	}
}

func needsTokens(r *policy.Requirement) bool {
	if r.Token != nil {
		return true
	}
	for _, l := range [][]policy.Requirement{r.All, r.Any} {
		for i := range l {
			if needsTokens(&l[i]) {
				return true
			}
		}
	}
	return false
}

// TokenChecker is the token evidence source: it verifies tokens found
// beside the bytes with the trusted keys and checks each against the
// digests and policy; the first that holds satisfies the requirement.
type TokenChecker struct {
	Keys   token.KeySource
	Tokens [][]byte
	// Revocations, when set, refuses a token it revokes (REVOKED), or
	// whose key, subject digest or input statement it revokes; a cache
	// too old to prove absence refuses every token (STALE_METADATA).
	Revocations *revocation.Cache
	Now         func() time.Time
}

// CheckToken implements policy.TokenSource.
func (tc *TokenChecker) CheckToken(ctx context.Context, ds []digest.Digest, p *policy.Policy, maxAge time.Duration) (policy.TokenCheck, error) {
	if len(tc.Tokens) == 0 {
		return policy.TokenCheck{Reason: policy.ReasonNoToken, Detail: "no token was found beside the bytes"}, nil
	}
	if tc.Keys == nil {
		return policy.TokenCheck{}, errors.New("no trusted token key given (--token-key)")
	}
	v, err := token.NewVerifier(ctx, tc.Keys)
	if err != nil {
		return policy.TokenCheck{}, err
	}
	now := time.Now
	if tc.Now != nil {
		now = tc.Now
	}
	var worst policy.TokenCheck
	for _, data := range tc.Tokens {
		c := policy.TokenCheck{ID: token.ID(data)}
		tok, err := v.Verify(ctx, data)
		if err == nil {
			c.IssuedAt, c.Expires = tok.Claims.TimeVerified, tok.Claims.Expires
			err = tok.Check(token.Expect{Digests: ds, PolicyURI: p.URI(), PolicyDigest: p.Digest(), MaxAge: maxAge}, now())
		}
		if err == nil && tc.Revocations != nil {
			err = revokedToken(tc.Revocations, tok)
		}
		if err == nil {
			return c, nil
		}
		c.Reason, c.Detail = tokenReason(err), err.Error()
		if worst.Reason == "" || rank(c.Reason) > rank(worst.Reason) {
			worst = c
		}
	}
	return worst, nil
}

// errTokenRevoked: the revocation cache voids the token or what it names.
var errTokenRevoked = errors.New("revoked")

// revokedToken checks the token's id, the key that signed it, the signer
// keys it names, its subject digests and the log entries it names as
// inputs against the cache.
func revokedToken(c *revocation.Cache, tok *token.Token) error {
	targets := []revocation.CheckTarget{{Kind: revocation.KindToken, ID: tok.ID}, {Kind: revocation.KindKey, ID: tok.KeyID}}
	for _, k := range tok.Claims.Signers {
		targets = append(targets, revocation.CheckTarget{Kind: revocation.KindKey, ID: k})
	}
	for _, d := range tok.Claims.Subject {
		targets = append(targets, revocation.CheckTarget{Kind: revocation.KindDigest, ID: d.String()})
	}
	for _, in := range tok.Claims.Inputs {
		if strings.HasPrefix(in.URI, "trustd:log/") && in.Digest.Algorithm() == digest.SHA256 {
			targets = append(targets, revocation.CheckTarget{Kind: revocation.KindStatement, ID: in.Digest.String()})
		}
	}
	what, err := c.FirstRevoked(targets)
	if err != nil {
		return fmt.Errorf("token %s: revocation list: %w", tok.ID, err)
	}
	if what != "" {
		return fmt.Errorf("token %s: %w: %s", tok.ID, errTokenRevoked, what)
	}
	return nil
}

// tokenReason maps a token refusal to its verdict reason code.
func tokenReason(err error) policy.Reason {
	switch {
	case errors.Is(err, errTokenRevoked):
		return policy.ReasonRevoked
	case errors.Is(err, revocation.ErrStale):
		return policy.ReasonStaleMetadata
	case errors.Is(err, token.ErrExpired):
		return policy.ReasonExpired
	case errors.Is(err, token.ErrTooOld):
		return policy.ReasonStaleMetadata
	case errors.Is(err, token.ErrDigestMismatch):
		return policy.ReasonDigestMismatch
	case errors.Is(err, token.ErrPolicyMismatch):
		return policy.ReasonPolicyMismatch
	}
	return policy.ReasonTokenInvalid
}

// rank orders refusals by how much they say about this artifact: a token
// for these bytes and this policy that merely expired explains more than
// one for other bytes or from an unknown key.
func rank(r policy.Reason) int {
	switch r {
	case policy.ReasonRevoked:
		return 4
	case policy.ReasonExpired, policy.ReasonStaleMetadata:
		return 3
	case policy.ReasonPolicyMismatch:
		return 2
	case policy.ReasonDigestMismatch:
		return 1
	}
	return 0
}
