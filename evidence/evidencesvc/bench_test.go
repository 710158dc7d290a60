package evidencesvc_test

import (
	"context"
	"slices"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/policy"
)

// BenchmarkBuild measures GetEvidence's work for the README's deploy
// policy (a TUF target and no revocation) on each backend: the evidence of
// one artifact with its inclusion proofs under a fresh checkpoint.
func BenchmarkBuild(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			e := newEnvTB(b, be.Open(b))
			w := e.publish(b)
			p := &policy.Policy{Name: "deploy", Require: policy.Requirement{Any: []policy.Requirement{
				{Token: &policy.TokenRequirement{}},
				{All: []policy.Requirement{
					{TUF: &policy.TUFRequirement{Repo: w.repo, Role: "targets", Pattern: "*"}},
					{Revocation: &policy.RevocationRequirement{}},
				}},
			}}}
			req := evidence.RequestFor(p, []digest.Digest{w.app})
			for b.Loop() {
				if _, err := e.builder.Build(ctx, req, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildMany measures the evidence of an artifact named by 400 log
// entries signed by four keys, one of them revoked: what GetEvidence and
// GetSubject read for a popular artifact. Every entry's revocation state
// (as a statement, and of each signer) is part of the bundle.
func BenchmarkBuildMany(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			e := newEnvTB(b, be.Open(b))
			app, revoked := e.many(b, 400, 4)
			req := evidence.Request{Digests: []digest.Digest{app}, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindAttestations, evidence.KindRevocations}}
			for b.Loop() {
				bd, err := e.builder.Build(ctx, req, true)
				if err != nil {
					b.Fatal(err)
				}
				if len(bd.Entries) < 400 || !slices.ContainsFunc(bd.Revocations, func(r evidence.Revocation) bool { return r.ID == revoked && r.InForce }) {
					b.Fatalf("bundle of %d entries without the revoked key %s", len(bd.Entries), revoked)
				}
			}
		})
	}
}
