package attest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// TestInTotoReference is a differential test against the Python in-toto
// reference implementation: the Python tools make keys, layouts (signed
// with in-toto-sign) and links (in-toto-run) of good and broken supply
// chains (attesttest.RefChain), and for each trustd's verdict (Put of the
// layout, naming its owner by the securesystemslib key id, and of the
// links, then VerifyLayout) must equal in-toto-verify's exit status.
// integration.TestInTotoReferenceCLI runs the same table through trustctl
// and trustd.
func TestInTotoReference(t *testing.T) {
	attesttest.RequireInTotoTools(t)
	rc := attesttest.NewRefChain(t)
	ref := make([]bool, len(rc.Cases))
	for i, tc := range rc.Cases {
		var why string
		ref[i], why = rc.Verify(t, i)
		if ref[i] != tc.Want {
			t.Errorf("%s: in-toto-verify says %v (%s), but the case is built to be %v", tc.Name, ref[i], why, tc.Want)
		}
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			for _, k := range rc.Keys {
				if _, _, err := e.keys.Add(context.Background(), readFile(t, k.Pub), ""); err != nil {
					t.Fatalf("register %s: %v", k.Pub, err)
				}
			}
			for i, tc := range rc.Cases {
				t.Run(tc.Name, func(t *testing.T) {
					got, why := trustdVerdict(t, e, tc)
					if got != ref[i] {
						t.Errorf("trustd says %v (%s), in-toto-verify says %v", got, why, ref[i])
					}
				})
			}
		})
	}
}

// trustdVerdict submits the case's layout and links and verifies the
// product: true when every submission is accepted and the report passes.
func trustdVerdict(t *testing.T, e *env, tc attesttest.RefCase) (bool, string) {
	t.Helper()
	ctx := context.Background()
	l, _, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.Layout, LayoutKeyIDs: []string{tc.Owner.ID}})
	if err != nil {
		return false, "layout refused: " + err.Error()
	}
	for _, link := range tc.Links {
		if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: link, Layout: l.Seq}); err != nil {
			return false, "link refused: " + err.Error()
		}
	}
	sum := sha256.Sum256(tc.Product)
	rep, err := e.svc.VerifyLayout(ctx, l.Seq, digest.MustParse("sha256:"+hex.EncodeToString(sum[:])), "")
	if err != nil {
		t.Fatalf("VerifyLayout: %v", err)
	}
	var why bytes.Buffer
	for _, c := range rep.Checks {
		if !c.Passed {
			why.WriteString(c.Kind + " " + c.Name + ": " + c.Detail + "; ")
		}
	}
	return rep.Passed, why.String()
}
