package attesttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
)

// KeyPair makes an ed25519 key with Go's crypto and loads it with
// in-toto-golang: the private key to sign with, the public half for a
// layout, and the PEM of the public key.
func KeyPair(t testing.TB) (priv, pub intoto.Key, pubPEM []byte) {
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

// SupplyChain is a project with a two-step in-toto layout (write-code by
// Alice, package by Bob) and an inspection (untar) of the final product
// foo.tar.gz, whose files lie in Dir.
type SupplyChain struct {
	Owner, Alice, Bob intoto.Key
	// OwnerPEM is the owner's public key, to register with trustd.
	OwnerPEM []byte
	Dir      string
	// Product is the sha256 digest of the final product.
	Product digest.Digest
	// DSSE makes Layout and Link write in-toto 1.0 DSSE envelopes (as
	// in-toto-golang does with useDSSE) instead of v0.9 metablocks.
	DSSE bool
}

// NewSupplyChain makes the keys and the files of a SupplyChain.
func NewSupplyChain(t testing.TB) *SupplyChain {
	t.Helper()
	sc := &SupplyChain{Dir: t.TempDir()}
	sc.Owner, _, sc.OwnerPEM = KeyPair(t)
	sc.Alice, _, _ = KeyPair(t)
	sc.Bob, _, _ = KeyPair(t)
	writeFile(t, filepath.Join(sc.Dir, "foo.py"), []byte("print('hello')\n"))
	tarball := []byte("foo.tar.gz: the packaged foo.py")
	writeFile(t, filepath.Join(sc.Dir, "foo.tar.gz"), tarball)
	sum := sha256.Sum256(tarball)
	sc.Product = digest.MustParse("sha256:" + hex.EncodeToString(sum[:]))
	return sc
}

func public(k intoto.Key) intoto.Key {
	k.KeyVal.Private = ""
	return k
}

// Layout is the signed layout, changed by edits, (a v0.9 metablock, JSON); readme makes
// layouts of separate tests distinct.
func (sc *SupplyChain) Layout(t testing.TB, readme string, edits ...func(*intoto.Layout)) []byte {
	t.Helper()
	l := intoto.Layout{
		Type:    "layout",
		Expires: time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
		Readme:  readme,
		Keys:    map[string]intoto.Key{sc.Alice.KeyID: public(sc.Alice), sc.Bob.KeyID: public(sc.Bob)},
		Steps: []intoto.Step{
			{Type: "step", PubKeys: []string{sc.Alice.KeyID}, Threshold: 1, ExpectedCommand: []string{},
				SupplyChainItem: intoto.SupplyChainItem{Name: "write-code",
					ExpectedMaterials: [][]string{{"DISALLOW", "*"}},
					ExpectedProducts:  [][]string{{"CREATE", "foo.py"}, {"DISALLOW", "*"}}}},
			{Type: "step", PubKeys: []string{sc.Bob.KeyID}, Threshold: 1, ExpectedCommand: []string{"tar", "czf", "foo.tar.gz", "foo.py"},
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
	for _, edit := range edits {
		edit(&l)
	}
	if sc.DSSE {
		return SignDSSE(t, l, sc.Owner)
	}
	mb := intoto.Metablock{Signed: l}
	if err := mb.Sign(sc.Owner); err != nil {
		t.Fatal(err)
	}
	return marshal(t, &mb)
}

// SignDSSE wraps an in-toto layout or link in a DSSE envelope signed by
// key, with in-toto-golang, and returns the envelope as it writes it.
func SignDSSE(t testing.TB, payload any, key intoto.Key) []byte {
	t.Helper()
	var env intoto.Envelope
	if err := env.SetPayload(payload); err != nil {
		t.Fatal(err)
	}
	if err := env.Sign(key); err != nil {
		t.Fatal(err)
	}
	return dump(t, &env)
}

// dump writes md as in-toto-golang does (the only way to read a DSSE
// envelope of its back).
func dump(t testing.TB, md intoto.Metadata) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metadata.json")
	if err := md.Dump(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Link records a step with in-toto-golang's InTotoRun, signed by key.
func (sc *SupplyChain) Link(t testing.TB, step string, materials, products []string, key intoto.Key) []byte {
	t.Helper()
	abs := func(names []string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(sc.Dir, n))
		}
		return out
	}
	md, err := intoto.InTotoRun(step, sc.Dir, abs(materials), abs(products), nil, key, []string{"sha256"}, nil,
		[]string{sc.Dir + string(os.PathSeparator)}, false, false, sc.DSSE)
	if err != nil {
		t.Fatalf("InTotoRun %s: %v", step, err)
	}
	if sc.DSSE {
		return dump(t, md)
	}
	return marshal(t, md)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
