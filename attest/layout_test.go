package attest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// supplyChain is an attesttest.SupplyChain whose owner key is registered.
type supplyChain struct {
	*attesttest.SupplyChain
	ownerID string
}

func newSupplyChain(t testing.TB, e *env) *supplyChain {
	t.Helper()
	sc := attesttest.NewSupplyChain(t)
	k, _, err := e.keys.Add(context.Background(), sc.OwnerPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	return &supplyChain{SupplyChain: sc, ownerID: k.ID}
}

func (sc *supplyChain) put(t testing.TB, e *env, layout []byte, links ...[]byte) int64 {
	t.Helper()
	ctx := context.Background()
	l, _, err := e.svc.Put(ctx, attest.PutRequest{Data: layout, LayoutKeyIDs: []string{sc.ownerID}})
	if err != nil {
		t.Fatalf("Put(layout): %v", err)
	}
	if l.Kind != attest.KindLayout || l.SignerIDs[0] != sc.ownerID {
		t.Fatalf("layout entry = %+v", l)
	}
	for _, link := range links {
		a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: link, Layout: l.Seq})
		if err != nil {
			t.Fatalf("Put(link): %v", err)
		}
		if a.Kind != attest.KindLink {
			t.Fatalf("link entry = %+v", a)
		}
	}
	return l.Seq
}

func check(t *testing.T, rep attest.LayoutReport, kind, name string) attest.LayoutCheck {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Kind == kind && c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s %s in %+v", kind, name, rep.Checks)
	return attest.LayoutCheck{}
}

func TestInTotoLayout(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			sc := newSupplyChain(t, e)
			writeCode := sc.Link(t, "write-code", nil, []string{"foo.py"}, sc.Alice)
			pack := sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob)

			t.Run("verified", func(t *testing.T) {
				seq := sc.put(t, e, sc.Layout(t, "verified"), writeCode, pack)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.Product, "")
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Passed || rep.Product != "foo.tar.gz" || len(rep.Checks) != 4 {
					t.Fatalf("report = %+v", rep)
				}
				for _, c := range rep.Checks {
					if !c.Passed {
						t.Errorf("%s %s failed: %s", c.Kind, c.Name, c.Detail)
					}
				}
				if c := check(t, rep, "step", "package"); len(c.LinkSeqs) != 1 {
					t.Errorf("package check = %+v", c)
				}
				if c := check(t, rep, "inspection", "untar"); !strings.Contains(c.Detail, "not run") {
					t.Errorf("untar check = %+v", c)
				}
			})

			t.Run("missing link", func(t *testing.T) {
				seq := sc.put(t, e, sc.Layout(t, "missing link"), writeCode)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.Product, "foo.tar.gz")
				if err != nil {
					t.Fatal(err)
				}
				if rep.Passed || !check(t, rep, "step", "write-code").Passed {
					t.Fatalf("report = %+v", rep)
				}
				if c := check(t, rep, "step", "package"); c.Passed || !strings.Contains(c.Detail, "missing link") {
					t.Errorf("package = %+v", c)
				}
				if c := check(t, rep, "inspection", "untar"); c.Passed {
					t.Errorf("untar passed without the package link: %+v", c)
				}
			})

			t.Run("unauthorised functionary", func(t *testing.T) {
				byAlice := sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Alice)
				seq := sc.put(t, e, sc.Layout(t, "unauthorised"), writeCode, byAlice)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.Product, "foo.tar.gz")
				if err != nil {
					t.Fatal(err)
				}
				c := check(t, rep, "step", "package")
				if rep.Passed || c.Passed || !strings.Contains(c.Detail, "not an authorised functionary") || !strings.Contains(c.Detail, sc.Alice.KeyID) {
					t.Errorf("package = %+v", c)
				}
			})

			t.Run("links disagree", func(t *testing.T) {
				// Alice may package too, but her link saw another tarball.
				both := func(l *intoto.Layout) { l.Steps[1].PubKeys = []string{sc.Bob.KeyID, sc.Alice.KeyID} }
				tarball := filepath.Join(sc.Dir, "foo.tar.gz")
				orig, err := os.ReadFile(tarball)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(tarball, []byte("another tarball"), 0o644); err != nil {
					t.Fatal(err)
				}
				byAlice := sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Alice)
				if err := os.WriteFile(tarball, orig, 0o644); err != nil {
					t.Fatal(err)
				}
				seq := sc.put(t, e, sc.Layout(t, "disagree", both), writeCode, pack, byAlice)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.Product, "")
				if err != nil {
					t.Fatal(err)
				}
				if c := check(t, rep, "step", "package"); rep.Passed || c.Passed || !strings.Contains(c.Detail, "links disagree") || len(c.LinkSeqs) != 2 {
					t.Errorf("package = %+v", c)
				}
			})

			t.Run("product does not match", func(t *testing.T) {
				seq := sc.put(t, e, sc.Layout(t, "verified"), writeCode, pack)
				other := sha256Of("a different tarball")
				rep, err := e.svc.VerifyLayout(ctx, seq, other, "")
				if err != nil {
					t.Fatal(err)
				}
				if rep.Passed || !check(t, rep, "step", "package").Passed {
					t.Fatalf("report = %+v", rep)
				}
				if c := check(t, rep, "inspection", "untar"); c.Passed || !strings.Contains(c.Detail, other.String()) {
					t.Errorf("untar = %+v", c)
				}
			})

			t.Run("rejections", func(t *testing.T) {
				seq := sc.put(t, e, sc.Layout(t, "verified"))
				stranger, _, _ := attesttest.KeyPair(t)
				otherOwner := newSupplyChain(t, e)
				tests := []struct {
					name  string
					req   attest.PutRequest
					kind  error
					words string
				}{
					{"link by a key the layout does not list", attest.PutRequest{Data: sc.Link(t, "package", nil, []string{"foo.tar.gz"}, stranger), Layout: seq},
						attest.ErrLayoutSignature, "no valid signature by a key layout"},
					{"link for no step", attest.PutRequest{Data: sc.Link(t, "deploy", nil, nil, sc.Bob), Layout: seq},
						attest.ErrInvalidLayout, `has no step "deploy"`},
					{"link without its layout", attest.PutRequest{Data: writeCode}, attest.ErrInvalidLayout, "name the layout"},
					{"layout signed by someone else", attest.PutRequest{Data: sc.Layout(t, "other"), LayoutKeyIDs: []string{otherOwner.ownerID}},
						attest.ErrLayoutSignature, "no valid signature by registered key " + otherOwner.ownerID},
					{"layout without owner keys", attest.PutRequest{Data: sc.Layout(t, "other")}, attest.ErrInvalidLayout, "layout_key_ids"},
				}
				for _, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						before := logSize(t, e.store)
						_, _, err := e.svc.Put(ctx, tc.req)
						if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.words) {
							t.Fatalf("Put = %v; want %v mentioning %q", err, tc.kind, tc.words)
						}
						if after := logSize(t, e.store); after != before {
							t.Errorf("log grew from %d to %d on a rejection", before, after)
						}
					})
				}
				raw, _ := goSigner(envelope.KeyTypeED25519)(t, e, statementJSON(t, "https://example.com/x/v1", `{}`, envelope.Subject{Digests: sumsOf("x")}))
				notLayout, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.VerifyLayout(ctx, notLayout.Seq, sc.Product, ""); !errors.Is(err, attest.ErrNotLayout) {
					t.Errorf("VerifyLayout of a DSSE statement = %v, want ErrNotLayout", err)
				}
			})
		})
	}
}
