package attest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// sublayout is Alice's layout for the write-code step: Bob writes foo.py.
func sublayout(sc *attesttest.SupplyChain, edits ...func(*intoto.Layout)) intoto.Layout {
	pub := sc.Bob
	pub.KeyVal.Private = ""
	l := intoto.Layout{
		Type: "layout", Expires: time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
		Keys: map[string]intoto.Key{pub.KeyID: pub},
		Steps: []intoto.Step{{Type: "step", PubKeys: []string{pub.KeyID}, Threshold: 1, ExpectedCommand: []string{},
			SupplyChainItem: intoto.SupplyChainItem{Name: "write",
				ExpectedMaterials: [][]string{{"DISALLOW", "*"}},
				ExpectedProducts:  [][]string{{"CREATE", "foo.py"}, {"DISALLOW", "*"}}}}},
		Inspect: []intoto.Inspection{},
	}
	for _, e := range edits {
		e(&l)
	}
	return l
}

// sign signs an in-toto layout or link with key, as a metablock or a DSSE
// envelope.
func sign(t *testing.T, payload any, key intoto.Key, dsse bool) []byte {
	t.Helper()
	if dsse {
		return attesttest.SignDSSE(t, payload, key)
	}
	mb := intoto.Metablock{Signed: payload}
	if err := mb.Sign(key); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(&mb)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSublayouts verifies a layout whose write-code step is a sublayout
// (signed by the step's functionary, Alice) with its own step and link,
// resolved as in-toto-golang's VerifySublayouts does, in both formats.
func TestSublayouts(t *testing.T) {
	for _, b := range teststore.Backends() {
		for _, dsse := range []bool{false, true} {
			name := b.Name + "/metablock"
			if dsse {
				name = b.Name + "/dsse"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, b, 0)
				ctx := context.Background()
				sc := newSupplyChain(t, e)
				sc.DSSE = dsse
				pack := sc.Link(t, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob)
				write := sc.Link(t, "write", nil, []string{"foo.py"}, sc.Bob)
				writeExtra := sc.Link(t, "write", []string{"foo.tar.gz"}, []string{"foo.py"}, sc.Bob)
				tests := []struct {
					name     string
					sub      []byte
					subLinks [][]byte
					// failing is the write-code check's failure ("" passes).
					failing string
				}{
					{name: "verified", sub: sign(t, sublayout(sc.SupplyChain), sc.Alice, dsse), subLinks: [][]byte{write}},
					{name: "the sublayout's step breaks its rules", sub: sign(t, sublayout(sc.SupplyChain, func(l *intoto.Layout) { l.Readme = "rules" }), sc.Alice, dsse),
						subLinks: [][]byte{writeExtra}, failing: "disallowed by rule [DISALLOW *]"},
					{name: "the sublayout's link is missing", sub: sign(t, sublayout(sc.SupplyChain, func(l *intoto.Layout) { l.Readme = "missing" }), sc.Alice, dsse),
						failing: "sublayout"},
					{name: "the sublayout expired", sub: sign(t, sublayout(sc.SupplyChain, func(l *intoto.Layout) {
						l.Expires = time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")
					}), sc.Alice, dsse), subLinks: [][]byte{write}, failing: "expired"},
				}
				for i, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						seq := sc.put(t, e, sc.Layout(t, "sublayout "+tc.name+string(rune('a'+i))), pack)
						sub, _, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.sub, Layout: seq})
						if err != nil {
							t.Fatalf("Put(sublayout): %v", err)
						}
						for _, l := range tc.subLinks {
							if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: l, Layout: sub.Seq}); err != nil {
								t.Fatalf("Put(link of the sublayout): %v", err)
							}
						}
						rep, err := e.svc.VerifyLayout(ctx, seq, sc.Product, "")
						if err != nil {
							t.Fatal(err)
						}
						c := check(t, rep, "step", "write-code")
						if tc.failing == "" {
							if !rep.Passed || !strings.Contains(c.Detail, "1 sublayout(s) verified") || !strings.Contains(c.Detail, "artifact rules hold") {
								t.Fatalf("report = %+v", rep.Checks)
							}
							return
						}
						if rep.Passed || c.Passed || !strings.Contains(c.Detail, tc.failing) {
							t.Fatalf("write-code = %+v, want failed naming %q", c, tc.failing)
						}
					})
				}

				t.Run("rejections", func(t *testing.T) {
					seq := sc.put(t, e, sc.Layout(t, "sublayout rejections"))
					withInspection := sublayout(sc.SupplyChain, func(l *intoto.Layout) {
						l.Inspect = []intoto.Inspection{{Type: "inspection", Run: []string{"touch", "/tmp/trustd-ran-a-command"},
							SupplyChainItem: intoto.SupplyChainItem{Name: "run"}}}
					})
					badName := sublayout(sc.SupplyChain, func(l *intoto.Layout) { l.Steps[0].Name = "../write" })
					stranger, _, _ := attesttest.KeyPair(t)
					for _, tc := range []struct {
						name  string
						data  []byte
						kind  error
						words string
					}{
						{"inspections", sign(t, withInspection, sc.Alice, dsse), attest.ErrInvalidLayout, "may not have inspections"},
						{"step name that is a path", sign(t, badName, sc.Alice, dsse), attest.ErrInvalidLayout, "signed.steps[0].name"},
						{"signed by a stranger", sign(t, sublayout(sc.SupplyChain), stranger, dsse), attest.ErrLayoutSignature, "no valid signature by a key layout"},
					} {
						t.Run(tc.name, func(t *testing.T) {
							before := logSize(t, e.store)
							_, _, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.data, Layout: seq})
							if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.words) {
								t.Fatalf("Put = %v; want %v mentioning %q", err, tc.kind, tc.words)
							}
							if after := logSize(t, e.store); after != before {
								t.Errorf("log grew from %d to %d on a rejection", before, after)
							}
						})
					}
				})
			})
		}
	}
}
