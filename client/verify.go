package client

import (
	"context"
	"errors"
	"slices"
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
	// sync): offline, once it holds a list, it is the revocation state the
	// evaluator checks every verdict against (deny-overrides: a token, its
	// key, the signers it names, its subject or an input statement revoked
	// fails the verdict REVOKED whatever the policy), and revocation
	// requirements are answered from it (undecided while it holds no
	// list, when no verdict is checked against it either). Online the
	// server's live state is checked instead.
	Revocations *revocation.Cache
	// Witnesses, offline, are the cosignature/v1 verifier keys of the
	// witnesses a token must show vouch for its log inputs: a token is
	// accepted only when its checkpoint verifies under LogKey (required
	// then), carries valid cosignatures of at least WitnessThreshold of
	// them, and proves each log input in it (token.Claims.VerifyLog);
	// otherwise it fails TOKEN_INVALID naming the missing witnesses or
	// the failing input. Empty requires none (tokens without a
	// checkpoint verify as before). Online the evidence's checkpoint is
	// the caller's to check (trustctl verify --witness does).
	Witnesses []string
	// WitnessThreshold is how many of Witnesses must have cosigned; 0
	// means all of them.
	WitnessThreshold int
	// Extra are further evidence sources (attestations, revocations,
	// reputation); a set field replaces the built-in one.
	Extra policy.Sources
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ResourceURI, when set, is the name the bytes are verified as
	// instead of the reference's (trustctl get verifies a file it fetched
	// as the location it came from).
	ResourceURI string
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
	if opts.Client == nil && len(opts.Witnesses) > 0 && opts.LogKey == "" {
		return nil, errors.New("client: verify: offline witnesses need the log's verifier key (LogKey) to open the token's checkpoint")
	}
	if opts.Client != nil {
		// Connect while the bytes are read and hashed and the tokens
		// verified: the one evidence call then finds the connection up.
		opts.Client.conn.Connect()
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
	if opts.ResourceURI != "" {
		art.ResourceURI = opts.ResourceURI
	}
	var (
		src  policy.Sources
		toks [][]byte
		tc   *TokenChecker
		res  = &Result{Artifact: art}
	)
	if opts.TokenKeys != nil || needsTokens(&opts.Policy.Require) {
		if toks, err = FindTokens(ctx, art, ro); err != nil {
			return nil, err
		}
		tc = &TokenChecker{Keys: opts.TokenKeys, Tokens: toks, Name: art.ResourceURI, Now: now}
		if opts.Client == nil {
			tc.LogKey, tc.Witnesses, tc.WitnessThreshold = opts.LogKey, opts.Witnesses, opts.WitnessThreshold
		}
		src.Tokens = tc
	}
	if opts.Client != nil {
		req := evidence.RequestFor(opts.Policy, art.Digests)
		// The tokens' revocation state comes in the same answer: each
		// token, and what a token the evaluator accepts relies on (its
		// key, the signers it names, its input statements), which the
		// deny-overrides check queries. Targets beyond the request's
		// bound stay uncovered, which leaves a pass undecided, never
		// unchecked.
		addTokenTargets(ctx, &req, tc, toks)
		set, err := opts.Client.FetchEvidence(ctx, req, opts.LogKey)
		if err != nil {
			src = src.With(unavailableSources(err))
		} else {
			res.Evidence = set
			src = src.With(set.Sources(evidence.SourceOptions{TUFRoots: opts.TUFRoots, Now: opts.Now}))
		}
	}
	if opts.Client == nil && opts.Revocations != nil {
		// A cache that holds no list yet answers ErrNoRevocationState:
		// nothing to check verdicts against, revocation requirements
		// undecided.
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
// digests and policy; the first that holds satisfies the requirement. It
// reports what that token relies on (its key, the signers and input log
// entries it names), which the evaluator checks against the revocation
// state with everything else the verdict relies on.
type TokenChecker struct {
	Keys   token.KeySource
	Tokens [][]byte
	// Name is the reference being verified (Artifact.ResourceURI): a
	// token issued for another name fails NAME_MISMATCH, and when the
	// policy binds names (Policy.BindsNames) a token that names nothing
	// does too (token.Expect.Name).
	Name string
	Now  func() time.Time
	// Witnesses, when set, must vouch for each token's log inputs: at
	// least WitnessThreshold of them (0: all) must have cosigned its
	// checkpoint, which must verify under LogKey, and every log input
	// must be proven in it (token.Claims.VerifyLog); a token that fails
	// is TOKEN_INVALID, saying why.
	Witnesses        []string
	WitnessThreshold int
	LogKey           string

	// verifier, once made, verifies (and remembers) the tokens for every
	// check, so the trusted keys are read and each token verified once.
	verifier *token.Verifier
}

// tokenVerifier returns tc's verifier, making it on first use.
func (tc *TokenChecker) tokenVerifier(ctx context.Context) (*token.Verifier, error) {
	if tc.verifier != nil {
		return tc.verifier, nil
	}
	v, err := token.NewVerifier(ctx, tc.Keys)
	if err != nil {
		return nil, err
	}
	tc.verifier = v
	return v, nil
}

// CheckToken implements policy.TokenSource.
func (tc *TokenChecker) CheckToken(ctx context.Context, ds []digest.Digest, p *policy.Policy, maxAge time.Duration) (policy.TokenCheck, error) {
	if len(tc.Tokens) == 0 {
		return policy.TokenCheck{Reason: policy.ReasonNoToken, Detail: "no token was found beside the bytes"}, nil
	}
	if tc.Keys == nil {
		return policy.TokenCheck{}, errors.New("no trusted token key given (--token-key)")
	}
	v, err := tc.tokenVerifier(ctx)
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
			err = tok.Check(token.Expect{Digests: ds, PolicyURI: p.URI(), PolicyDigest: p.Digest(), MaxAge: maxAge,
				Name: tc.Name, NameRequired: p.BindsNames()}, now())
		}
		if err == nil && len(tc.Witnesses) > 0 {
			k := tc.WitnessThreshold
			if k == 0 {
				k = len(tc.Witnesses)
			}
			_, err = tok.Claims.VerifyLog(tc.LogKey, tc.Witnesses, k)
		}
		if err == nil {
			c.KeyID, c.Signers, c.SignerTimes = tok.KeyID, tok.Claims.Signers, tok.Claims.SignerTimes
			for _, in := range tok.Claims.Inputs {
				c.Inputs = append(c.Inputs, policy.Input{URI: in.URI, Digest: in.Digest})
			}
			return c, nil
		}
		c.Reason, c.Detail = tokenReason(err), err.Error()
		if worst.Reason == "" || rank(c.Reason) > rank(worst.Reason) {
			worst = c
		}
	}
	return worst, nil
}

// tokenReason maps a token refusal to its verdict reason code.
func tokenReason(err error) policy.Reason {
	switch {
	case errors.Is(err, token.ErrExpired):
		return policy.ReasonExpired
	case errors.Is(err, token.ErrTooOld):
		return policy.ReasonStaleMetadata
	case errors.Is(err, token.ErrDigestMismatch):
		return policy.ReasonDigestMismatch
	case errors.Is(err, token.ErrPolicyMismatch):
		return policy.ReasonPolicyMismatch
	case errors.Is(err, token.ErrNameMismatch):
		return policy.ReasonNameMismatch
	}
	return policy.ReasonTokenInvalid
}

// rank orders refusals by how much they say about this artifact: a token
// for these bytes and this policy that merely expired explains more than
// one for other bytes or from an unknown key.
func rank(r policy.Reason) int {
	switch r {
	case policy.ReasonExpired, policy.ReasonStaleMetadata:
		return 3
	case policy.ReasonPolicyMismatch, policy.ReasonNameMismatch:
		return 2
	case policy.ReasonDigestMismatch:
		return 1
	}
	return 0
}

// addTokenTargets adds to req the revocation targets of the tokens beside
// the bytes: every token's id, and for each token the trusted keys verify,
// its key, the signers it names and its input log entries (by envelope
// digest), up to evidence.MaxExtraTargets in all. The tokens are verified
// with tc's verifier, which then answers the evaluator's checks without
// verifying them again.
func addTokenTargets(ctx context.Context, req *evidence.Request, tc *TokenChecker, toks [][]byte) {
	room := func() bool { return len(req.Tokens)+len(req.Keys)+len(req.Statements) < evidence.MaxExtraTargets }
	for _, t := range toks {
		if id := token.ID(t); room() && !slices.Contains(req.Tokens, id) {
			req.Tokens = append(req.Tokens, id)
		}
	}
	if tc == nil || tc.Keys == nil || len(toks) == 0 {
		return
	}
	v, err := tc.tokenVerifier(ctx)
	if err != nil {
		return // token requirements are undecided anyway (CheckToken says why)
	}
	for _, t := range toks {
		tok, err := v.Verify(ctx, t)
		if err != nil {
			continue // a token that does not verify is never accepted
		}
		for _, k := range append([]string{tok.KeyID}, tok.Claims.Signers...) {
			if k != "" && room() && !slices.Contains(req.Keys, k) {
				req.Keys = append(req.Keys, k)
			}
		}
		for _, in := range tok.Claims.Inputs {
			d, ok := policy.Input{URI: in.URI, Digest: in.Digest}.Statement()
			if ok && room() && !slices.Contains(req.Statements, d) {
				req.Statements = append(req.Statements, d)
			}
		}
	}
}
