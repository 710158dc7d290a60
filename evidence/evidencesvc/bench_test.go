package evidencesvc_test

import (
	"context"
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
