package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/refname"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// DefaultTokenTTL is how long an issued token stays valid unless
// Options.TokenTTL says otherwise.
const DefaultTokenTTL = 24 * time.Hour

// Bounds of an IssueToken request.
const (
	maxTokenDigests = 8
	maxTokenName    = 1024
	maxResourceURI  = 4096
)

// tokenService implements trustv1.TokenServiceServer over the server's own
// evidence: the evidence a GetEvidence call returns, built in process, and
// the same policy evaluator trustctl runs over it.
type tokenService struct {
	trustv1.UnimplementedTokenServiceServer
	issuer *token.Issuer
	// published keeps the token key published in trustd/keys, if set.
	published *revocation.PublishedKey
	ttl       time.Duration
	// policies are the policies tokens may be issued for.
	policies   *policy.Catalog
	verifierID string
	evidence   *evidencesvc.Builder
	version    string
	now        func() time.Time
	// log proves the tokens' log inputs (token.Claims.Log); nil fields
	// when the server has no log.
	log *tokenLog
}

// newTokenService builds the token service over the server's evidence
// builder.
func newTokenService(opts Options, ev *evidencesvc.Builder) *tokenService {
	ttl := opts.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	verifierID := opts.TokenVerifierID
	if verifierID == "" {
		verifierID = token.VerifierID
	}
	return &tokenService{issuer: opts.TokenIssuer, published: opts.TokenKey, ttl: ttl, version: opts.Version,
		policies: opts.TokenPolicies, verifierID: verifierID, evidence: ev,
		log: &tokenLog{log: opts.Log, store: opts.Store, witnesses: opts.Witnesses}}
}

func (s *tokenService) GetTokenKey(ctx context.Context, _ *trustv1.GetTokenKeyRequest) (*trustv1.GetTokenKeyResponse, error) {
	if s.published != nil {
		// Verifiers read the key through TUF; asking for it publishes it.
		if _, err := s.published.Publish(ctx); err != nil {
			return nil, err
		}
	}
	k := s.issuer.PublicKey()
	resp := &trustv1.GetTokenKeyResponse{KeyId: k.ID, KeyType: k.Type, PublicKey: k.Encode()}
	if s.published != nil {
		for _, a := range s.published.Accepted() {
			resp.AcceptedPublicKeys = append(resp.AcceptedPublicKeys, a.Encode())
		}
	}
	return resp, nil
}

func (s *tokenService) IssueToken(ctx context.Context, req *trustv1.IssueTokenRequest) (*trustv1.IssueTokenResponse, error) {
	// The policy first: a request carrying its own is refused before
	// anything else is looked at.
	p, err := s.heldPolicy(req)
	if err != nil {
		return nil, err
	}
	if len(req.GetDigests()) == 0 || len(req.GetDigests()) > maxTokenDigests {
		return nil, invalidField("digests", fmt.Errorf("want 1 to %d digests of the bytes, got %d", maxTokenDigests, len(req.GetDigests())))
	}
	var ds []digest.Digest
	hasSHA256 := false
	for i, v := range req.GetDigests() {
		d, err := parseDigestField(fmt.Sprintf("digests[%d]", i), v)
		if err != nil {
			return nil, err
		}
		hasSHA256 = hasSHA256 || d.Algorithm() == digest.SHA256
		ds = append(ds, d)
	}
	if !hasSHA256 {
		return nil, invalidField("digests", errors.New("a sha256 digest is required"))
	}
	if len(req.GetName()) > maxTokenName {
		return nil, invalidField("name", fmt.Errorf("longer than %d bytes", maxTokenName))
	}
	if len(req.GetResourceUri()) > maxResourceURI {
		return nil, invalidField("resource_uri", fmt.Errorf("longer than %d bytes", maxResourceURI))
	}
	// The token binds this name (verifiers compare it with the reference
	// they verify), so it must be one; empty or stdin: names nothing.
	if _, err := refname.Normalize(req.GetResourceUri()); errors.Is(err, refname.ErrInvalid) {
		return nil, invalidField("resource_uri", err)
	}
	if err := hasAlgorithms(p, ds); err != nil {
		return nil, err
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	evalAt := now().UTC()
	evReq := evidence.RequestFor(p, ds)
	evReq.At = evalAt
	bundle, err := s.evidence.Build(ctx, evReq, false)
	if err != nil {
		return nil, err
	}
	clock := func() time.Time { return evalAt }
	ev := &policy.Evaluator{Sources: evidence.NewSet(bundle).Sources(evidence.SourceOptions{Now: clock}), Now: clock}
	v := ev.Evaluate(ctx, p, req.GetResourceUri(), ds)
	var verdict bytes.Buffer
	if err := v.WriteJSON(&verdict); err != nil {
		return nil, err
	}
	resp := &trustv1.IssueTokenResponse{Verdict: verdict.Bytes()}
	if v.Outcome != policy.Pass {
		return resp, nil
	}
	// Tokens carry whole seconds (RFC 3339); the response says the same.
	at := v.EvaluatedAt.Truncate(time.Second)
	c := token.Claims{
		Subject: ds, Name: req.GetName(), ResourceURI: req.GetResourceUri(),
		VerifierID: s.verifierID, VerifierVersion: s.version, TimeVerified: at, Expires: at.Add(s.ttl),
		PolicyName: p.Name, PolicyURI: p.URI(), PolicyDigest: p.Digest(),
		Result: token.ResultPassed, Levels: p.Levels, RevocationListSeq: v.RevocationListSeq, Signers: v.Signers, SignerTimes: v.SignerTimes,
	}
	for _, in := range v.Inputs() {
		c.Inputs = append(c.Inputs, token.Input{URI: in.URI, Digest: in.Digest})
	}
	if c.Log, err = s.log.proof(ctx, bundle, c.Inputs); err != nil {
		return nil, err
	}
	env, id, err := s.issuer.Issue(ctx, c)
	if err != nil {
		return nil, err
	}
	resp.Issued, resp.Token, resp.TokenId, resp.Expires = true, env, id, timestamppb.New(c.Expires)
	return resp, nil
}

// policyDocumentField is the field number IssueTokenRequest.policy had: a
// policy file written by the caller. It is reserved, so a request that
// still carries it (an older client) arrives as an unknown field.
const policyDocumentField protowire.Number = 4

// heldPolicy returns the policy the request names, from the policies this
// server holds. A request carrying a policy document of its own is
// refused before anything is evaluated: evaluating it would let any
// caller choose what trustd's token key signs.
func (s *tokenService) heldPolicy(req *trustv1.IssueTokenRequest) (*policy.Policy, error) {
	if carriesField(req.ProtoReflect().GetUnknown(), policyDocumentField) {
		return nil, invalidField("policy", errors.New("trustd evaluates only the policies it holds; name one in policy_name and send no policy document"))
	}
	if req.GetPolicyName() == "" {
		if names := s.policyNames(); names != "" {
			return nil, invalidField("policy_name", fmt.Errorf("required: the name of a policy this trustd holds (one of %s)", names))
		}
	}
	p, err := s.policies.Lookup(req.GetPolicyName())
	if errors.Is(err, policy.ErrNoCatalog) {
		return nil, fmt.Errorf("token: %w: this trustd issues tokens only for policies its operator configured; start it with --token-policy-dir DIR or --token-policy FILE", err)
	}
	if err != nil {
		return nil, invalidField("policy_name", err)
	}
	return p, nil
}

// policyNames lists the held policies' names for an error message.
func (s *tokenService) policyNames() string {
	var names []string
	for _, e := range s.policies.Entries() {
		names = append(names, e.Name)
	}
	return strings.Join(names, ", ")
}

// hasAlgorithms checks that ds holds a digest of every algorithm p says a
// verifier computes, so the token names the bytes as the policy's
// verifiers know them.
func hasAlgorithms(p *policy.Policy, ds []digest.Digest) error {
	for _, alg := range p.Algorithms() {
		if !slices.ContainsFunc(ds, func(d digest.Digest) bool { return d.Algorithm() == alg }) {
			return invalidField("digests", fmt.Errorf("policy %s needs a %s digest of the bytes too (trustctl token issue --algorithm %s)", p.Name, alg, alg))
		}
	}
	return nil
}

// carriesField reports whether the wire-format bytes hold field num.
func carriesField(b []byte, num protowire.Number) bool {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false
		}
		if n == num {
			return true
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return false
		}
		b = b[l:]
	}
	return false
}
