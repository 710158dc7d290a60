package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// intotoKeyPair makes an ed25519 key with Go's crypto and loads it with
// in-toto-golang: the private key to sign with, the public half for a
// layout, and the PEM of the public key.
func intotoKeyPair(t *testing.T) (priv, pub intoto.Key, pubPEM []byte) {
	t.Helper()
	privPEM, pk, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := priv.LoadKeyReaderDefaults(bytes.NewReader(privPEM)); err != nil {
		t.Fatal(err)
	}
	pub = priv
	pub.KeyVal.Private = ""
	return priv, pub, pk.Encode()
}

// supplyChain is a project with a two-step layout (write-code by alice,
// package by bob) and an inspection of the final product, its owner's key
// registered with trustd.
type supplyChain struct {
	owner, alice, bob intoto.Key
	ownerID           string
	dir               string
	product           digest.Digest
}

func newSupplyChain(t *testing.T, e *env) *supplyChain {
	t.Helper()
	sc := &supplyChain{dir: t.TempDir()}
	var ownerPEM []byte
	sc.owner, _, ownerPEM = intotoKeyPair(t)
	k, _, err := e.keys.Add(context.Background(), ownerPEM, "project owner")
	if err != nil {
		t.Fatal(err)
	}
	sc.ownerID = k.ID
	sc.alice, _, _ = intotoKeyPair(t)
	sc.bob, _, _ = intotoKeyPair(t)
	writeFile(t, filepath.Join(sc.dir, "foo.py"), []byte("print('hello')\n"))
	tarball := []byte("foo.tar.gz: the packaged foo.py")
	writeFile(t, filepath.Join(sc.dir, "foo.tar.gz"), tarball)
	sc.product = sha256Of(string(tarball))
	return sc
}

func public(k intoto.Key) intoto.Key {
	k.KeyVal.Private = ""
	return k
}

// layout is the signed layout (a v0.9 metablock, JSON); readme makes
// layouts of separate tests distinct.
func (sc *supplyChain) layout(t *testing.T, readme string) []byte {
	t.Helper()
	l := intoto.Layout{
		Type:    "layout",
		Expires: time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
		Readme:  readme,
		Keys:    map[string]intoto.Key{sc.alice.KeyID: public(sc.alice), sc.bob.KeyID: public(sc.bob)},
		Steps: []intoto.Step{
			{Type: "step", PubKeys: []string{sc.alice.KeyID}, Threshold: 1, ExpectedCommand: []string{},
				SupplyChainItem: intoto.SupplyChainItem{Name: "write-code",
					ExpectedMaterials: [][]string{{"DISALLOW", "*"}},
					ExpectedProducts:  [][]string{{"CREATE", "foo.py"}, {"DISALLOW", "*"}}}},
			{Type: "step", PubKeys: []string{sc.bob.KeyID}, Threshold: 1, ExpectedCommand: []string{"tar", "czf", "foo.tar.gz", "foo.py"},
				SupplyChainItem: intoto.SupplyChainItem{Name: "package",
					ExpectedMaterials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
					ExpectedProducts:  [][]string{{"CREATE", "foo.tar.gz"}, {"ALLOW", "foo.py"}, {"DISALLOW", "*"}}}},
		},
		Inspect: []intoto.Inspection{
			{Type: "inspection", Run: []string{"tar", "xzf", "foo.tar.gz"},
				SupplyChainItem: intoto.SupplyChainItem{Name: "untar",
					ExpectedMaterials: [][]string{{"MATCH", "foo.tar.gz", "WITH", "PRODUCTS", "FROM", "package"}, {"DISALLOW", "*"}},
					ExpectedProducts:  [][]string{{"ALLOW", "foo.tar.gz"}, {"DISALLOW", "*"}}}},
		},
	}
	mb := intoto.Metablock{Signed: l}
	if err := mb.Sign(sc.owner); err != nil {
		t.Fatal(err)
	}
	return marshal(t, &mb)
}

// link records a step with in-toto-golang's InTotoRun, signed by key.
func (sc *supplyChain) link(t *testing.T, step string, materials, products []string, key intoto.Key) []byte {
	t.Helper()
	abs := func(names []string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(sc.dir, n))
		}
		return out
	}
	md, err := intoto.InTotoRun(step, sc.dir, abs(materials), abs(products), nil, key, []string{"sha256"}, nil,
		[]string{sc.dir + string(os.PathSeparator)}, false, false, false)
	if err != nil {
		t.Fatalf("InTotoRun %s: %v", step, err)
	}
	return marshal(t, md)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (sc *supplyChain) put(t *testing.T, e *env, layout []byte, links ...[]byte) int64 {
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
			writeCode := sc.link(t, "write-code", nil, []string{"foo.py"}, sc.alice)
			pack := sc.link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.bob)

			t.Run("verified", func(t *testing.T) {
				seq := sc.put(t, e, sc.layout(t, "verified"), writeCode, pack)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.product, "")
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
				seq := sc.put(t, e, sc.layout(t, "missing link"), writeCode)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.product, "foo.tar.gz")
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
				byAlice := sc.link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.alice)
				seq := sc.put(t, e, sc.layout(t, "unauthorised"), writeCode, byAlice)
				rep, err := e.svc.VerifyLayout(ctx, seq, sc.product, "foo.tar.gz")
				if err != nil {
					t.Fatal(err)
				}
				c := check(t, rep, "step", "package")
				if rep.Passed || c.Passed || !strings.Contains(c.Detail, "not an authorised functionary") || !strings.Contains(c.Detail, sc.alice.KeyID) {
					t.Errorf("package = %+v", c)
				}
			})

			t.Run("product does not match", func(t *testing.T) {
				seq := sc.put(t, e, sc.layout(t, "verified"), writeCode, pack)
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
				seq := sc.put(t, e, sc.layout(t, "verified"))
				stranger, _, _ := intotoKeyPair(t)
				otherOwner := newSupplyChain(t, e)
				tests := []struct {
					name  string
					req   attest.PutRequest
					kind  error
					words string
				}{
					{"link by a key the layout does not list", attest.PutRequest{Data: sc.link(t, "package", nil, []string{"foo.tar.gz"}, stranger), Layout: seq},
						attest.ErrLayoutSignature, "no valid signature by a key layout"},
					{"link for no step", attest.PutRequest{Data: sc.link(t, "deploy", nil, nil, sc.bob), Layout: seq},
						attest.ErrInvalidLayout, `has no step "deploy"`},
					{"link without its layout", attest.PutRequest{Data: writeCode}, attest.ErrInvalidLayout, "name the layout"},
					{"layout signed by someone else", attest.PutRequest{Data: sc.layout(t, "other"), LayoutKeyIDs: []string{otherOwner.ownerID}},
						attest.ErrLayoutSignature, "no valid signature by registered key " + otherOwner.ownerID},
					{"layout without owner keys", attest.PutRequest{Data: sc.layout(t, "other")}, attest.ErrInvalidLayout, "layout_key_ids"},
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
				if _, err := e.svc.VerifyLayout(ctx, notLayout.Seq, sc.product, ""); !errors.Is(err, attest.ErrNotLayout) {
					t.Errorf("VerifyLayout of a DSSE statement = %v, want ErrNotLayout", err)
				}
			})
		})
	}
}
