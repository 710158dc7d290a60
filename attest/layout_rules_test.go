package attest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"

	"github.com/trustd-dev/trustd/internal/teststore"
)

// withReview puts a review step by Alice between write-code and package:
// it reads foo.py and produces nothing.
func withReview(l *intoto.Layout) {
	review := intoto.Step{Type: "step", PubKeys: []string{l.Steps[0].PubKeys[0]}, Threshold: 1, ExpectedCommand: []string{},
		SupplyChainItem: intoto.SupplyChainItem{Name: "review",
			ExpectedMaterials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
			ExpectedProducts:  [][]string{{"DISALLOW", "*"}}}}
	l.Steps = []intoto.Step{l.Steps[0], review, l.Steps[1]}
}

// TestLayoutArtifactRulesEveryPosition breaks the artifact rules of one
// item at a time (first, middle and last step, and the inspection): the
// layout must fail at exactly that item, and every other step's report
// line must say that its artifact rules hold. A layout check that kept a
// pointer into its growing list of results once lost the failure of the
// first step and reported such a layout verified.
func TestLayoutArtifactRulesEveryPosition(t *testing.T) {
	for _, b := range teststore.Backends() {
		for _, dsse := range []bool{false, true} {
			name := b.Name + "/metablock"
			if dsse {
				name = b.Name + "/dsse"
			}
			t.Run(name, func(t *testing.T) { testArtifactRules(t, b, dsse) })
		}
	}
}

func testArtifactRules(t *testing.T, b teststore.Backend, dsse bool) {
	e := newEnv(t, b, 0)
	ctx := context.Background()
	sc := newSupplyChain(t, e)
	sc.DSSE = dsse
	writeCode := sc.Link(t, "write-code", nil, []string{"foo.py"}, sc.Alice)
	review := sc.Link(t, "review", []string{"foo.py"}, nil, sc.Alice)
	pack := sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob)
	other := sha256Of("a different tarball")
	tests := []struct {
		name    string
		edits   []func(*intoto.Layout)
		links   func() [][]byte
		product func() string
		// failing is the kind/name of the one check that must fail ("" none).
		failing string
		words   string
	}{
		{name: "two steps verified", links: func() [][]byte { return [][]byte{writeCode, pack} }},
		{name: "three steps verified", edits: []func(*intoto.Layout){withReview},
			links: func() [][]byte { return [][]byte{writeCode, review, pack} }},
		{name: "first step records a disallowed material",
			links: func() [][]byte {
				return [][]byte{sc.Link(t, "write-code", []string{"foo.py"}, []string{"foo.py"}, sc.Alice), pack}
			},
			failing: "step/write-code", words: "disallowed by rule [DISALLOW *]"},
		{name: "first of three steps records a disallowed material", edits: []func(*intoto.Layout){withReview},
			links: func() [][]byte {
				return [][]byte{sc.Link(t, "write-code", []string{"foo.py"}, []string{"foo.py"}, sc.Alice), review, pack}
			},
			failing: "step/write-code", words: "disallowed by rule [DISALLOW *]"},
		{name: "middle step records a disallowed product", edits: []func(*intoto.Layout){withReview},
			links: func() [][]byte {
				return [][]byte{writeCode, sc.Link(t, "review", []string{"foo.py"}, []string{"foo.py"}, sc.Alice), pack}
			},
			failing: "step/review", words: "disallowed by rule [DISALLOW *]"},
		{name: "last step records a disallowed material", edits: []func(*intoto.Layout){withReview},
			links: func() [][]byte {
				return [][]byte{writeCode, review, sc.Link(t, "package", []string{"foo.py", "foo.tar.gz"}, []string{"foo.tar.gz"}, sc.Bob)}
			},
			failing: "step/package", words: "disallowed by rule [DISALLOW *]"},
		{name: "inspection sees another product",
			links:   func() [][]byte { return [][]byte{writeCode, pack} },
			product: func() string { return other.String() }, failing: "inspection/untar", words: "artifact rules for foo.tar.gz"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq := sc.put(t, e, sc.Layout(t, "rules "+tc.name+string(rune('a'+i)), tc.edits...), tc.links()...)
			product := sc.Product
			if tc.product != nil {
				product = other
			}
			rep, err := e.svc.VerifyLayout(ctx, seq, product, "")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Passed != (tc.failing == "") {
				t.Errorf("Passed = %v, want %v; checks %+v", rep.Passed, tc.failing == "", rep.Checks)
			}
			for _, c := range rep.Checks {
				id := c.Kind + "/" + c.Name
				switch {
				case id == tc.failing:
					if c.Passed || !strings.Contains(c.Detail, tc.words) {
						t.Errorf("%s = %+v, want failed naming %q", id, c, tc.words)
					}
				case !c.Passed:
					t.Errorf("%s failed: %s", id, c.Detail)
				case c.Kind == "step" && !strings.Contains(c.Detail, "artifact rules hold"):
					t.Errorf("%s passed without saying its artifact rules hold: %s", id, c.Detail)
				}
			}
			if tc.failing != "" {
				kind, name, _ := strings.Cut(tc.failing, "/")
				check(t, rep, kind, name)
			}
		})
	}
}

// TestLayoutKeyByInTotoID puts a layout naming its owner's key by the id
// in-toto computes for it (which hashes keyid_hash_algorithms and so is
// not the TUF key id trustd registers it under): the layout is recorded
// under the registered (primary) id.
func TestLayoutKeyByInTotoID(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			sc := newSupplyChain(t, e)
			if sc.Owner.KeyID == sc.ownerID {
				t.Fatalf("the in-toto id %s is the TUF id", sc.Owner.KeyID)
			}
			for _, id := range []string{sc.Owner.KeyID, sc.ownerID} {
				l, _, err := e.svc.Put(context.Background(), attest.PutRequest{Data: sc.Layout(t, "by "+id), LayoutKeyIDs: []string{id, sc.ownerID}})
				if err != nil {
					t.Fatalf("Put(layout, --layout-key %s): %v", id, err)
				}
				if len(l.SignerIDs) != 1 || l.SignerIDs[0] != sc.ownerID {
					t.Errorf("signers = %q, want the primary id %s once", l.SignerIDs, sc.ownerID)
				}
			}
		})
	}
}

// TestLayoutSignedAsGiven puts a layout whose functionary keys carry an
// empty "private" (as Python securesystemslib writes RSA keys into
// layouts) and a link: signatures verify over the signed object as given,
// not over in-toto-golang's re-encoding, which drops the field.
func TestLayoutSignedAsGiven(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			sc := newSupplyChain(t, e)
			var mb struct {
				Signed map[string]any `json:"signed"`
			}
			if err := json.Unmarshal(sc.Layout(t, "private"), &mb); err != nil {
				t.Fatal(err)
			}
			for _, k := range mb.Signed["keys"].(map[string]any) {
				k.(map[string]any)["keyval"].(map[string]any)["private"] = ""
			}
			signed := intoto.Metablock{Signed: mb.Signed}
			if err := signed.Sign(sc.Owner); err != nil {
				t.Fatal(err)
			}
			layout, err := json.Marshal(&signed)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(layout), `"private":""`) {
				t.Fatalf("layout lost the empty private: %s", layout)
			}
			seq := sc.put(t, e, layout,
				sc.Link(t, "write-code", nil, []string{"foo.py"}, sc.Alice),
				sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob))
			rep, err := e.svc.VerifyLayout(context.Background(), seq, sc.Product, "")
			if err != nil || !rep.Passed {
				t.Fatalf("VerifyLayout = %+v, %v", rep, err)
			}
		})
	}
}

// TestInTotoDSSERejections refuses in-toto 1.0 DSSE layouts and links
// that a stranger could submit about someone else's supply chain, and
// stores nothing for them.
func TestInTotoDSSERejections(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			sc := newSupplyChain(t, e)
			sc.DSSE = true
			seq := sc.put(t, e, sc.Layout(t, "dsse"))
			stranger, _, _ := attesttest.KeyPair(t)
			strangerChain := *sc.SupplyChain
			strangerChain.Owner = stranger
			tampered := func(doc []byte) []byte {
				var env map[string]any
				if err := json.Unmarshal(doc, &env); err != nil {
					t.Fatal(err)
				}
				env["payload"] = base64.StdEncoding.EncodeToString([]byte(`{"_type":"layout","expires":"2099-01-01T00:00:00Z","readme":"","keys":{},"steps":[],"inspect":[]}`))
				out, _ := json.Marshal(env)
				return out
			}
			tests := []struct {
				name  string
				req   attest.PutRequest
				kind  error
				words string
			}{
				{"layout signed by a stranger", attest.PutRequest{Data: strangerChain.Layout(t, "stranger"), LayoutKeyIDs: []string{sc.ownerID}},
					attest.ErrLayoutSignature, "no valid signature by registered key " + sc.ownerID},
				{"layout with a swapped payload", attest.PutRequest{Data: tampered(sc.Layout(t, "swap")), LayoutKeyIDs: []string{sc.ownerID}},
					attest.ErrLayoutSignature, "no valid signature"},
				{"link by a key the layout does not list", attest.PutRequest{Data: sc.Link(t, "package", nil, []string{"foo.tar.gz"}, stranger), Layout: seq},
					attest.ErrLayoutSignature, "no valid signature by a key layout"},
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
		})
	}
}
