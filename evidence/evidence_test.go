package evidence_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/policy"
)

func sha256Digest(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

// TestRequestFor: the request of a policy asks for exactly what its
// requirements can ask, each role, root set, type and trust set once, and
// revocations always.
func TestRequestFor(t *testing.T) {
	d := sha256Digest("app")
	p := &policy.Policy{Name: "p", Require: policy.Requirement{Any: []policy.Requirement{
		{Token: &policy.TokenRequirement{}},
		{All: []policy.Requirement{
			{TUF: &policy.TUFRequirement{Repo: "acme/app", Target: "app"}},
			{TUF: &policy.TUFRequirement{Repo: "acme/app", Role: "targets", Target: "app"}},
			{TUF: &policy.TUFRequirement{Repo: "acme/app", Role: "releases", Target: "app"}},
			{PGP: &policy.PGPRequirement{Roots: []string{"A", "B"}}},
			{PGP: &policy.PGPRequirement{Roots: []string{"A", "B"}, Name: "x"}},
			{Attestation: &policy.AttestationRequirement{PredicateType: "t1"}},
			{Attestation: &policy.AttestationRequirement{PredicateType: "t1", Min: 2, Signers: []string{"k", "a"}, Identities: []policy.Identity{
				{Issuer: "https://issuer.example", Subject: "release@example.com"},
				{Issuer: "https://issuer.example", Subject: "https://github.com/acme/.*"},
			}}},
			{Reputation: &policy.ReputationRequirement{TrustSet: []string{"k"}}},
			{Threshold: &policy.ThresholdRequirement{K: 1, Signers: []policy.SignerRef{{Key: "k"}, {PGP: "FPR"}, {Sigstore: &policy.Identity{Issuer: "https://issuer.example", Subject: "ci@example.com"}}}}},
		}},
	}}}
	r := evidence.RequestFor(p, []digest.Digest{d})
	for _, k := range []evidence.Kind{evidence.KindRevocations, evidence.KindTUF, evidence.KindPGP, evidence.KindAttestations, evidence.KindReputation, evidence.KindEntries} {
		if !r.Wants(k) {
			t.Errorf("does not ask for %s", k)
		}
	}
	if r.Wants(evidence.KindPublishers) {
		t.Error("asks for publishers, which no requirement reads")
	}
	if want := []evidence.RoleRef{{"acme/app", "targets"}, {"acme/app", "releases"}}; !slices.Equal(r.TUFRoles, want) {
		t.Errorf("roles %v, want %v", r.TUFRoles, want)
	}
	if len(r.PGPRoots) != 1 || len(r.PredicateTypes) != 1 || len(r.TrustSets) != 1 {
		t.Errorf("root sets %v, types %v, trust sets %v: want each once", r.PGPRoots, r.PredicateTypes, r.TrustSets)
	}
	// The signers named, each once, so their evidence is gathered however
	// much others logged; a subject pattern names no one signer.
	if want := []string{"k", "a", "sigstore:https://issuer.example#release@example.com", "FPR", "sigstore:https://issuer.example#ci@example.com"}; !slices.Equal(r.Signers, want) {
		t.Errorf("signers %v, want %v", r.Signers, want)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	tokenOnly := evidence.RequestFor(&policy.Policy{Require: policy.Requirement{Token: &policy.TokenRequirement{}}}, []digest.Digest{d})
	if !slices.Equal(tokenOnly.Kinds, []evidence.Kind{evidence.KindRevocations}) {
		t.Errorf("a token policy asks for %v", tokenOnly.Kinds)
	}
}

// TestRequestValidate: every bound and malformed field is refused, naming
// the field.
func TestRequestValidate(t *testing.T) {
	d := sha256Digest("app")
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "k"
		}
		return out
	}
	for _, tc := range []struct {
		name, field string
		r           evidence.Request
	}{
		{"no digest", "digests", evidence.Request{}},
		{"too many digests", "digests", evidence.Request{Digests: make([]digest.Digest, evidence.MaxDigests+1)}},
		{"unknown kind", "kinds[0]", evidence.Request{Digests: []digest.Digest{d}, Kinds: []evidence.Kind{"votes"}}},
		{"role without repository", "tuf_roles[0]", evidence.Request{Digests: []digest.Digest{d}, TUFRoles: []evidence.RoleRef{{Role: "targets"}}}},
		{"too many roles", "tuf_roles", evidence.Request{Digests: []digest.Digest{d}, TUFRoles: make([]evidence.RoleRef, evidence.MaxRoles+1)}},
		{"empty root set", "pgp_roots[0]", evidence.Request{Digests: []digest.Digest{d}, PGPRoots: [][]string{{}}}},
		{"too many roots", "pgp_roots[0]", evidence.Request{Digests: []digest.Digest{d}, PGPRoots: [][]string{many(evidence.MaxRoots + 1)}}},
		{"too many types", "predicate_types", evidence.Request{Digests: []digest.Digest{d}, PredicateTypes: many(evidence.MaxPredicateTypes + 1)}},
		{"too large a trust set", "trust_sets[0]", evidence.Request{Digests: []digest.Digest{d}, TrustSets: [][]string{many(evidence.MaxTrustSet + 1)}}},
		{"too many signers", "signers", evidence.Request{Digests: []digest.Digest{d}, Signers: many(evidence.MaxSigners + 1)}},
		{"empty signer", "signers[1]", evidence.Request{Digests: []digest.Digest{d}, Signers: []string{"k", ""}}},
		{"too many extra targets", "tokens", evidence.Request{Digests: []digest.Digest{d}, Tokens: many(evidence.MaxExtraTargets + 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if !errors.Is(err, evidence.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("Validate = %v, want ErrInvalidRequest naming %s", err, tc.field)
			}
		})
	}
}

// TestRequestForName: a name requirement asks for the TUF role or the
// OpenPGP root set that binds the name, so online verify of a policy that
// binds names has the evidence for it in the same call.
func TestRequestForName(t *testing.T) {
	d := sha256Digest("app")
	p := &policy.Policy{Name: "p", Require: policy.Requirement{All: []policy.Requirement{
		{Name: &policy.NameRequirement{TUF: &policy.NameTUF{Repo: "acme/app"}}},
		{Name: &policy.NameRequirement{PGP: &policy.NamePGP{Roots: []string{"A"}}}},
	}}}
	r := evidence.RequestFor(p, []digest.Digest{d})
	if !r.Wants(evidence.KindTUF) || !r.Wants(evidence.KindPGP) {
		t.Errorf("kinds %v: want tuf and pgp", r.Kinds)
	}
	if want := []evidence.RoleRef{{"acme/app", "targets"}}; !slices.Equal(r.TUFRoles, want) {
		t.Errorf("roles %v, want %v", r.TUFRoles, want)
	}
	if len(r.PGPRoots) != 1 || !slices.Equal(r.PGPRoots[0], []string{"A"}) {
		t.Errorf("root sets %v, want [[A]]", r.PGPRoots)
	}
}

// TestSetRevocations: the evidence's revocation source answers the
// evaluator's query as trustd's live index and the synced list do:
// every revocation of the queried targets with its reason and effective
// time, in force or not (the evaluator applies the one time rule), no
// reinstatement, and an error for a target the evidence did not check.
func TestSetRevocations(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	art, other, stmt := sha256Digest("app"), sha256Digest("other"), sha256Digest("statement")
	b := &evidence.Bundle{Digests: []digest.Digest{art}, At: now, RevocationHead: 42, Kinds: []evidence.Kind{evidence.KindRevocations},
		Revocations: []evidence.Revocation{
			{Kind: evidence.TargetDigest, ID: art.String()},
			{Kind: evidence.TargetDigest, ID: other.String(), State: &evidence.RevocationState{Action: evidence.ActionRevoke, Reason: "withdrawn", Effective: now.Add(time.Hour), Seq: 18}},
			{Kind: evidence.TargetKey, ID: "keyA", State: &evidence.RevocationState{Action: evidence.ActionReinstate, Reason: "other", Effective: now, Seq: 19}},
			{Kind: evidence.TargetKey, ID: "keyB", State: &evidence.RevocationState{Action: evidence.ActionRevoke, Reason: "compromised", Effective: now, Seq: 17}, InForce: true},
			{Kind: evidence.TargetStatement, ID: stmt.String()},
			{Kind: evidence.TargetToken, ID: "tok", State: &evidence.RevocationState{Action: evidence.ActionRevoke, Reason: "superseded", Effective: now.Add(-time.Hour), Seq: 20}, InForce: true},
		}}
	src := evidence.NewSet(b).Sources(evidence.SourceOptions{}).Revocations
	st, err := src.Revocations(ctx, policy.RevocationQuery{Digests: []digest.Digest{art, other}, Keys: []string{"keyA", "keyB"}, Statements: []digest.Digest{stmt}, Tokens: []string{"tok"}})
	want := []policy.Revoked{
		{Kind: "digest", ID: other.String(), Seq: 18, Reason: "withdrawn", Effective: now.Add(time.Hour)},
		{Kind: "key", ID: "keyB", Seq: 17, Reason: "compromised", Effective: now},
		{Kind: "token", ID: "tok", Seq: 20, Reason: "superseded", Effective: now.Add(-time.Hour)},
	}
	if err != nil || !slices.Equal(st.Revoked, want) || st.ListSeq != 42 || !st.ListTime.Equal(now) {
		t.Errorf("Revocations = %+v, %v; want %+v", st, err, want)
	}
	if _, err := src.Revocations(ctx, policy.RevocationQuery{Keys: []string{"unchecked"}}); err == nil || !strings.Contains(err.Error(), "key unchecked") {
		t.Errorf("an unchecked target: %v, want an error naming it", err)
	}

	// Through the evaluator: the revoked token fails the verdict (deny
	// overrides), the future withdrawal of another digest does not.
	p := &policy.Policy{Name: "p", Require: policy.Requirement{Revocation: &policy.RevocationRequirement{}}}
	v := (&policy.Evaluator{Sources: policy.Sources{Revocations: src}, Now: func() time.Time { return now }}).Evaluate(ctx, p, "", []digest.Digest{other})
	if v.Outcome != policy.Pass {
		t.Errorf("a withdrawal effective in an hour: %s %v, want pass", v.Outcome, v.Reasons())
	}
	v = (&policy.Evaluator{Sources: policy.Sources{Revocations: src}, Now: func() time.Time { return now.Add(2 * time.Hour) }}).Evaluate(ctx, p, "", []digest.Digest{other})
	if v.Outcome != policy.Fail || !slices.Contains(v.Reasons(), policy.ReasonRevoked) {
		t.Errorf("the withdrawal in force: %s %v, want REVOKED", v.Outcome, v.Reasons())
	}
}

// TestSetChainKeys: an allowed chain decision names, for the evaluator's
// revocation check, every key that signed one of its statements, at the
// time the log first observed the earliest statement it signed there.
func TestSetChainKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	root, mid, dev := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)
	b := &evidence.Bundle{At: now, Kinds: []evidence.Kind{evidence.KindPGP},
		Entries: []evidence.Entry{
			{Seq: 3, SignerKeyIDs: []string{root}, RecordedAt: now.Add(-3 * time.Hour)},
			{Seq: 5, SignerKeyIDs: []string{mid}, RecordedAt: now.Add(-2 * time.Hour)},
		},
		Decisions: []evidence.PGPDecision{{Roots: []string{root}, Name: "app.tar", Signer: dev, SignedAt: now.Add(-time.Hour), Allowed: true, Root: root,
			Links: []evidence.PGPLink{{Kind: "delegation", From: root, To: mid, Seq: 3}, {Kind: "delegation", From: mid, To: dev, Seq: 5}}}},
	}
	d, err := evidence.NewSet(b).Sources(evidence.SourceOptions{}).PGP.PGPDecide(ctx, "app.tar", dev, now.Add(-time.Hour), time.Time{}, []string{root})
	want := map[string]time.Time{root: now.Add(-3 * time.Hour), mid: now.Add(-2 * time.Hour)}
	if err != nil || !d.Allowed || !maps.Equal(d.ChainKeys, want) {
		t.Errorf("PGPDecide = %+v, %v; want chain keys %v", d, err, want)
	}
}
