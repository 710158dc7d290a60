package attesttest

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// InTotoTools are the commands of the Python in-toto reference
// implementation (Debian package in-toto) that RefChain drives.
var InTotoTools = []string{"in-toto-keygen", "in-toto-run", "in-toto-sign", "in-toto-verify"}

// RequireInTotoTools skips the test when the in-toto tools are not
// installed, unless CI is set: there they must be (scripts/test-deps.sh
// installs them), and their absence fails the test.
func RequireInTotoTools(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range InTotoTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the Python in-toto reference tools are not installed (missing " + strings.Join(missing, ", ") +
		"; Debian package in-toto, which scripts/test-deps.sh installs)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI must run this test")
	}
	t.Skip(msg)
}

// RefKey is a key made by in-toto-keygen.
type RefKey struct {
	// Priv and Pub are its files; Type is its type for the tools' -t.
	Priv, Pub, Type string
	// ID is its key id as securesystemslib computes it: what layouts and
	// signatures name it by.
	ID     string
	public map[string]any
}

// RefCase is one supply chain of the differential table: a layout of its
// own (signed with in-toto-sign), the links made by in-toto-run, the key
// the verifier trusts for the layout, and the final product.
type RefCase struct {
	Name    string
	Layout  []byte
	Owner   *RefKey
	Links   [][]byte
	Product []byte
	// Want is the verdict the case is built for: the reference and trustd
	// must both reach it.
	Want bool
}

// RefChain is the table of supply chains the Python tools make in a temp
// dir: good ones, and broken ones with a rule violation in every step
// (with and without an inspection), a missing link, an unauthorised
// functionary, another final product, the wrong layout key, an expired
// layout, and a threshold not met. Keys are of every type (ed25519, ECDSA,
// RSA).
type RefChain struct {
	Dir string
	// Keys are every key made, by name; the layouts' owner is "owner".
	Keys  map[string]*RefKey
	Cases []RefCase

	python string
}

func (rc *RefChain) run(dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (rc *RefChain) mustRun(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	if out, err := rc.run(dir, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// interpreter is the Python that runs the in-toto tools (their #! line),
// which has securesystemslib.
func interpreter(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("in-toto-sign")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	py, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok || len(strings.Fields(py)) == 0 {
		t.Fatalf("%s has no #! line", path)
	}
	return strings.Fields(py)[0]
}

func (rc *RefChain) keygen(t testing.TB, name, typ string) *RefKey {
	t.Helper()
	kd := filepath.Join(rc.Dir, "keys")
	if err := os.MkdirAll(kd, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-t", typ, name}
	if typ == "rsa" {
		args = append([]string{"-b", "3072"}, args...)
	}
	rc.mustRun(t, kd, "in-toto-keygen", args...)
	k := &RefKey{Priv: filepath.Join(kd, name), Pub: filepath.Join(kd, name+".pub"), Type: typ}
	out, err := exec.Command(rc.python, "-c", `import json, sys
from securesystemslib.interface import import_publickeys_from_file
print(json.dumps(import_publickeys_from_file([sys.argv[1]], [sys.argv[2]])))`, k.Pub, typ).Output()
	if err != nil {
		t.Fatalf("securesystemslib import of %s: %v", k.Pub, err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(out, &m); err != nil || len(m) != 1 {
		t.Fatalf("securesystemslib import of %s = %s, %v", k.Pub, out, err)
	}
	for id, pub := range m {
		k.ID, k.public = id, pub
	}
	rc.Keys[name] = k
	return k
}

// workspace makes a directory holding files (name: content).
func (rc *RefChain) workspace(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(rc.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, content := range files {
		writeFile(t, filepath.Join(dir, n), []byte(content))
	}
	return dir
}

// link runs in-toto-run in dir and returns the signed link it wrote.
func (rc *RefChain) link(t testing.TB, dir, step string, key *RefKey, materials, products []string, command ...string) []byte {
	t.Helper()
	out := filepath.Join(rc.Dir, "out-"+step+"-"+filepath.Base(dir)+"-"+key.ID[:8])
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", step, "-k", key.Priv, "-t", key.Type, "-d", out}
	if len(materials) > 0 {
		args = append(append(args, "-m"), materials...)
	}
	if len(products) > 0 {
		args = append(append(args, "-p"), products...)
	}
	if len(command) == 0 {
		args = append(args, "-x")
	} else {
		args = append(append(args, "--"), command...)
	}
	rc.mustRun(t, dir, "in-toto-run", args...)
	return readFile(t, filepath.Join(out, step+"."+key.ID[:8]+".link"))
}

// refStep is one step of a reference layout.
type refStep struct {
	name       string
	keys       []*RefKey
	threshold  int
	materials  [][]string
	products   [][]string
	expCommand []string
}

// layout writes a layout (JSON) and signs it with in-toto-sign by owner.
func (rc *RefChain) layout(t testing.TB, name string, owner *RefKey, expires time.Time, steps []refStep, inspect bool) []byte {
	t.Helper()
	keys := map[string]any{}
	var st []any
	for _, s := range steps {
		var ids []string
		for _, k := range s.keys {
			keys[k.ID] = k.public
			ids = append(ids, k.ID)
		}
		st = append(st, map[string]any{
			"_type": "step", "name": s.name, "pubkeys": ids, "threshold": s.threshold,
			"expected_materials": s.materials, "expected_products": s.products, "expected_command": s.expCommand,
		})
	}
	insp := []any{}
	if inspect {
		insp = append(insp, map[string]any{
			"_type": "inspection", "name": "checksum", "run": []string{"sha256sum", "foo.tar.gz"},
			"expected_materials": [][]string{{"MATCH", "foo.tar.gz", "WITH", "PRODUCTS", "FROM", "package"}, {"DISALLOW", "*"}},
			"expected_products":  [][]string{{"MATCH", "foo.tar.gz", "WITH", "PRODUCTS", "FROM", "package"}, {"DISALLOW", "*"}},
		})
	}
	l := map[string]any{"signed": map[string]any{
		"_type": "layout", "expires": expires.UTC().Format("2006-01-02T15:04:05Z"), "readme": name,
		"keys": keys, "steps": st, "inspect": insp,
	}, "signatures": []any{}}
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(rc.Dir, "layouts", strconv.Itoa(len(rc.Cases))+".layout")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
	rc.mustRun(t, rc.Dir, "in-toto-sign", "-f", path, "-k", owner.Priv, "-t", owner.Type)
	return readFile(t, path)
}

// NewRefChain makes the keys, links and layouts of the differential table
// with the Python tools (see RequireInTotoTools) in a temp dir.
func NewRefChain(t testing.TB) *RefChain {
	t.Helper()
	rc := &RefChain{Dir: t.TempDir(), python: interpreter(t), Keys: map[string]*RefKey{}}
	owner := rc.keygen(t, "owner", "ed25519")
	stranger := rc.keygen(t, "stranger", "ed25519")
	alice := rc.keygen(t, "alice", "ed25519")
	carol := rc.keygen(t, "carol", "ecdsa")
	bob := rc.keygen(t, "bob", "rsa")

	const source, tarball = "print('hello')\n", "foo.tar.gz: the packaged foo.py\n"
	// The work of each step, in its own directory; tarball stands in for
	// the archive so that the product is the same bytes on every run.
	src := rc.workspace(t, "src", map[string]string{"foo.py": source})
	srcNotes := rc.workspace(t, "src-notes", map[string]string{"foo.py": source, "notes.txt": "todo\n"})
	pkg := rc.workspace(t, "pkg", map[string]string{"foo.py": source, "foo.tar.gz": tarball})
	pkgNotes := rc.workspace(t, "pkg-notes", map[string]string{"foo.py": source, "foo.tar.gz": tarball, "notes.txt": "todo\n"})

	writeCode := rc.link(t, src, "write-code", alice, nil, []string{"foo.py"})
	writeCodeExtra := rc.link(t, srcNotes, "write-code", alice, []string{"notes.txt"}, []string{"foo.py"})
	writeCodeByBob := rc.link(t, src, "write-code", bob, nil, []string{"foo.py"})
	review := rc.link(t, src, "review", carol, []string{"foo.py"}, nil, "cat", "foo.py")
	reviewByAlice := rc.link(t, src, "review", alice, []string{"foo.py"}, nil, "cat", "foo.py")
	reviewProduct := rc.link(t, src, "review", carol, []string{"foo.py"}, []string{"foo.py"}, "cat", "foo.py")
	pack := rc.link(t, pkg, "package", bob, []string{"foo.py"}, []string{"foo.tar.gz"}, "true")
	packExtra := rc.link(t, pkgNotes, "package", bob, []string{"foo.py", "notes.txt"}, []string{"foo.tar.gz"}, "true")

	steps := func(reviewKeys []*RefKey, reviewThreshold int) []refStep {
		return []refStep{
			{name: "write-code", keys: []*RefKey{alice}, threshold: 1,
				materials: [][]string{{"DISALLOW", "*"}},
				products:  [][]string{{"CREATE", "foo.py"}, {"DISALLOW", "*"}}, expCommand: []string{}},
			{name: "review", keys: reviewKeys, threshold: reviewThreshold,
				materials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
				products:  [][]string{{"DISALLOW", "*"}}, expCommand: []string{"cat", "foo.py"}},
			{name: "package", keys: []*RefKey{bob}, threshold: 1,
				materials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
				products:  [][]string{{"CREATE", "foo.tar.gz"}, {"DISALLOW", "*"}}, expCommand: []string{"true"}},
		}
	}
	later := time.Now().Add(24 * time.Hour)
	three := steps([]*RefKey{carol}, 1)
	// add adds a case with a layout of its own (trustd keeps every link
	// ever submitted for a layout, so cases must not share one).
	add := func(name string, inspect bool, expires time.Time, st []refStep, trusted *RefKey, product string, want bool, links ...[]byte) {
		l := rc.layout(t, name, owner, expires, st, inspect)
		rc.Cases = append(rc.Cases, RefCase{Name: name, Layout: l, Owner: trusted, Links: links, Product: []byte(product), Want: want})
	}
	for _, v := range []struct {
		variant string
		inspect bool
	}{{"inspected", true}, {"no inspection", false}} {
		c := func(name string, want bool, links ...[]byte) {
			add(v.variant+": "+name, v.inspect, later, three, owner, tarball, want, links...)
		}
		c("good", true, writeCode, review, pack)
		c("first step records a disallowed material", false, writeCodeExtra, review, pack)
		c("middle step records a disallowed product", false, writeCode, reviewProduct, pack)
		c("last step records a disallowed material", false, writeCode, review, packExtra)
		c("missing link of the middle step", false, writeCode, pack)
		c("missing link of the first step", false, review, pack)
		c("first step signed by an unauthorised functionary", false, writeCodeByBob, review, pack)
	}
	good := [][]byte{writeCode, review, pack}
	add("inspected: the inspection sees another product", true, later, three, owner, "another tarball\n", false, good...)
	add("no inspection: another product is not checked", false, later, three, owner, "another tarball\n", true, good...)
	add("layout verified with the wrong key", false, later, three, stranger, tarball, false, good...)
	add("expired layout", false, time.Now().Add(-time.Hour), three, owner, tarball, false, good...)
	two := steps([]*RefKey{carol, alice}, 2)
	add("threshold 2 met", false, later, two, owner, tarball, true, writeCode, review, reviewByAlice, pack)
	add("threshold 2 not met", false, later, two, owner, tarball, false, writeCode, review, pack)
	return rc
}

// Verify runs in-toto-verify on case i, in a directory holding only the
// final product (the inspection runs there), with the case's links in
// another: true when it verifies, else false and its last line of output.
func (rc *RefChain) Verify(t testing.TB, i int) (bool, string) {
	t.Helper()
	tc := rc.Cases[i]
	dir := filepath.Join(rc.Dir, "verify", strconv.Itoa(i))
	links := filepath.Join(dir, "links")
	work := filepath.Join(dir, "work")
	for _, d := range []string{links, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range tc.Links {
		var mb struct {
			Signed struct {
				Name string `json:"name"`
			} `json:"signed"`
			Signatures []struct {
				KeyID string `json:"keyid"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(l, &mb); err != nil || len(mb.Signatures) != 1 || len(mb.Signatures[0].KeyID) < 8 {
			t.Fatalf("link of case %q: %v", tc.Name, err)
		}
		writeFile(t, filepath.Join(links, mb.Signed.Name+"."+mb.Signatures[0].KeyID[:8]+".link"), l)
	}
	layout := filepath.Join(dir, "root.layout")
	writeFile(t, layout, tc.Layout)
	writeFile(t, filepath.Join(work, "foo.tar.gz"), tc.Product)
	out, err := rc.run(work, "in-toto-verify", "-l", layout, "-k", tc.Owner.Pub, "-t", tc.Owner.Type, "--link-dir", links)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("in-toto-verify: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return false, lines[len(lines)-1]
	}
	return true, ""
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
