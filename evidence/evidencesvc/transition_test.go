package evidencesvc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/policy"
)

// TestTransitionChainVerifies: a manifest signed by a new key that an
// imported key transition statement (gpg-made, signed by both keys) links
// to the pinned old key is allowed through a rotation link citing the
// statement, and the client's verification of the bundle re-verifies the
// statement's two signatures from the log entry; the policy passes.
func TestTransitionChainVerifies(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b.Open(t))
			var fprs []string
			for _, name := range []string{"transition/old.asc", "transition/new.asc"} {
				k, _, err := e.keys.Add(ctx, fixture(t, name), "")
				if err != nil {
					t.Fatal(err)
				}
				fprs = append(fprs, k.PGP.Fingerprint)
			}
			imp, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: "transition.asc", Clearsigned: fixture(t, "transition/transition.asc")})
			if err != nil || imp.Transition == nil {
				t.Fatalf("import transition: %+v, %v", imp, err)
			}
			if _, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: fixture(t, "SHA256SUMS"), Signature: fixture(t, "transition/SHA256SUMS.new.gpg")}); err != nil {
				t.Fatalf("publish manifest signed by the new key: %v", err)
			}
			hello, err := digest.Parse("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
			if err != nil {
				t.Fatal(err)
			}
			p := &policy.Policy{Name: "hello", Require: policy.Requirement{All: []policy.Requirement{
				{PGP: &policy.PGPRequirement{Roots: []string{fprs[0]}, Name: "hello.bin"}},
			}}}
			ds := []digest.Digest{hello}
			bundle, err := e.builder.Build(ctx, evidence.RequestFor(p, ds), true)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, d := range bundle.Decisions {
				if d.Allowed && d.Root == fprs[0] && len(d.Links) == 1 && d.Links[0].Kind == "rotation" && d.Links[0].Seq == uint64(imp.Entry.Seq) {
					found = true
				}
			}
			if !found {
				t.Fatalf("decisions %+v; want allowed through the rotation #%d", bundle.Decisions, imp.Entry.Seq)
			}
			set, err := evidence.Verify(ctx, bundle, evidence.VerifyOptions{LogKey: e.vkey, Digests: ds})
			if err != nil {
				t.Fatalf("verify bundle: %v", err)
			}
			// The OpenPGP requirement passes through the rotation, and the
			// verdict with it: the supersession the rotation itself made
			// does not void the old key's signature on that rotation.
			v := evaluate(set, p, ds, nil)
			if v.Result.Outcome != policy.Pass {
				t.Errorf("verdict %s (%s); want pass through the rotation", v.Result.Outcome, v.Result.Detail)
			}
			var leaf *policy.Result
			var find func(r *policy.Result)
			find = func(r *policy.Result) {
				if r.Kind == "pgp" {
					leaf = r
				}
				for i := range r.Children {
					find(&r.Children[i])
				}
			}
			find(&v.Result)
			if leaf == nil || leaf.Outcome != policy.Pass || !strings.Contains(strings.Join(leaf.Evidence, " "), "rotation "+fprs[0]+" → "+fprs[1]) {
				t.Errorf("pgp requirement %+v; want passed through the rotation", leaf)
			}
		})
	}
}
