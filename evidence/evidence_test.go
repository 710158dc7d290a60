package evidence_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"

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
			{Attestation: &policy.AttestationRequirement{PredicateType: "t1", Min: 2}},
			{Reputation: &policy.ReputationRequirement{TrustSet: []string{"k"}}},
			{Threshold: &policy.ThresholdRequirement{K: 1, Signers: []policy.SignerRef{{Key: "k"}}}},
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
