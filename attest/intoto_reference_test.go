package attest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// The Python in-toto reference implementation (Debian package in-toto),
// which TestInTotoReference drives.
var inTotoTools = []string{"in-toto-keygen", "in-toto-run", "in-toto-sign", "in-toto-verify"}

// requireInTotoTools skips the test when the in-toto tools are not
// installed, unless CI is set: there, they must be (scripts/test-deps.sh
// installs them).
func requireInTotoTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range inTotoTools {
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

// refKey is a key made by in-toto-keygen: its files, its type for the
// tools' -t, and its id and public key object as securesystemslib reads
// them (what a layout lists).
type refKey struct {
	priv, pub, typ string
	id             string
	public         map[string]any
}

// refChain is a supply chain made by the Python tools in a temp dir.
type refChain struct {
	dir    string
	python string // the interpreter of the in-toto tools, for securesystemslib
	keys   map[string]*refKey
}

func (rc *refChain) run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (rc *refChain) mustRun(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	if out, err := rc.run(t, dir, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// interpreter is the Python that runs the in-toto tools (their #! line).
func interpreter(t *testing.T) string {
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
	if !ok {
		t.Fatalf("%s has no #! line", path)
	}
	return strings.Fields(py)[0]
}

func (rc *refChain) keygen(t *testing.T, name, typ string) *refKey {
	t.Helper()
	kd := filepath.Join(rc.dir, "keys")
	if err := os.MkdirAll(kd, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-t", typ, name}
	if typ == "rsa" {
		args = append([]string{"-b", "3072"}, args...)
	}
	rc.mustRun(t, kd, "in-toto-keygen", args...)
	k := &refKey{priv: filepath.Join(kd, name), pub: filepath.Join(kd, name+".pub"), typ: typ}
	out, err := exec.Command(rc.python, "-c", `import json, sys
from securesystemslib.interface import import_publickeys_from_file
print(json.dumps(import_publickeys_from_file([sys.argv[1]], [sys.argv[2]])))`, k.pub, typ).Output()
	if err != nil {
		t.Fatalf("securesystemslib import of %s: %v", k.pub, err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(out, &m); err != nil || len(m) != 1 {
		t.Fatalf("securesystemslib import of %s = %s, %v", k.pub, out, err)
	}
	for id, pub := range m {
		k.id, k.public = id, pub
	}
	rc.keys[name] = k
	return k
}

// workspace makes a directory holding files (name: content).
func (rc *refChain) workspace(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(rc.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, content := range files {
		writeFile(t, filepath.Join(dir, n), []byte(content))
	}
	return dir
}

// link runs in-toto-run in dir and returns the signed link it wrote.
func (rc *refChain) link(t *testing.T, dir, step string, key *refKey, materials, products []string, command ...string) []byte {
	t.Helper()
	out := filepath.Join(rc.dir, "out-"+step+"-"+filepath.Base(dir))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", step, "-k", key.priv, "-t", key.typ, "-d", out}
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
	return readFile(t, filepath.Join(out, step+"."+key.id[:8]+".link"))
}

// refStep is one step of a reference layout.
type refStep struct {
	name       string
	keys       []*refKey
	threshold  int
	materials  [][]string
	products   [][]string
	expCommand []string
}

// layout writes the layout (as JSON) and signs it with in-toto-sign by
// owner; it returns the signed layout.
func (rc *refChain) layout(t *testing.T, name string, owner *refKey, expires time.Time, steps []refStep, inspect bool) []byte {
	t.Helper()
	keys := map[string]any{}
	var st []any
	for _, s := range steps {
		var ids []string
		for _, k := range s.keys {
			keys[k.id] = k.public
			ids = append(ids, k.id)
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
	path := filepath.Join(rc.dir, name+".layout")
	writeFile(t, path, data)
	rc.mustRun(t, rc.dir, "in-toto-sign", "-f", path, "-k", owner.priv, "-t", owner.typ)
	return readFile(t, path)
}

// refCase is one supply chain of the differential table.
type refCase struct {
	name   string
	layout []byte
	owner  *refKey // the key the verifier trusts for the layout
	links  [][]byte
	// product is the final product handed to the verifier.
	product string
	// want is the verdict the case is built for; both verifiers must
	// reach it (a harness that failed everything would fail here).
	want bool
}

// TestInTotoReference is a differential test against the Python in-toto
// reference implementation: the Python tools make keys, layouts (signed
// with in-toto-sign) and links (in-toto-run) of good and broken supply
// chains, and for each trustd's verdict (Put of the layout and links,
// then VerifyLayout) must equal in-toto-verify's exit status.
func TestInTotoReference(t *testing.T) {
	requireInTotoTools(t)
	rc := &refChain{dir: t.TempDir(), python: interpreter(t), keys: map[string]*refKey{}}
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

	steps := func(reviewKeys []*refKey, reviewThreshold int) []refStep {
		return []refStep{
			{name: "write-code", keys: []*refKey{alice}, threshold: 1,
				materials: [][]string{{"DISALLOW", "*"}},
				products:  [][]string{{"CREATE", "foo.py"}, {"DISALLOW", "*"}}, expCommand: []string{}},
			{name: "review", keys: reviewKeys, threshold: reviewThreshold,
				materials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
				products:  [][]string{{"DISALLOW", "*"}}, expCommand: []string{"cat", "foo.py"}},
			{name: "package", keys: []*refKey{bob}, threshold: 1,
				materials: [][]string{{"MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"}, {"DISALLOW", "*"}},
				products:  [][]string{{"CREATE", "foo.tar.gz"}, {"DISALLOW", "*"}}, expCommand: []string{"true"}},
		}
	}
	later := time.Now().Add(24 * time.Hour)
	three := steps([]*refKey{carol}, 1)
	withInspection := rc.layout(t, "inspected", owner, later, three, true)
	noInspection := rc.layout(t, "plain", owner, later, three, false)
	expired := rc.layout(t, "expired", owner, time.Now().Add(-time.Hour), three, false)
	twoReviewers := rc.layout(t, "two-reviewers", owner, later, steps([]*refKey{carol, alice}, 2), false)

	var cases []refCase
	for _, v := range []struct {
		variant string
		layout  []byte
	}{{"inspected", withInspection}, {"no inspection", noInspection}} {
		add := func(name string, want bool, links ...[]byte) {
			cases = append(cases, refCase{name: v.variant + ": " + name, layout: v.layout, owner: owner, links: links, product: tarball, want: want})
		}
		add("good", true, writeCode, review, pack)
		add("first step records a disallowed material", false, writeCodeExtra, review, pack)
		add("middle step records a disallowed product", false, writeCode, reviewProduct, pack)
		add("last step records a disallowed material", false, writeCode, review, packExtra)
		add("missing link of the middle step", false, writeCode, pack)
		add("missing link of the first step", false, review, pack)
		add("first step signed by an unauthorised functionary", false, writeCodeByBob, review, pack)
	}
	cases = append(cases,
		refCase{name: "inspected: the inspection sees another product", layout: withInspection, owner: owner,
			links: [][]byte{writeCode, review, pack}, product: "another tarball\n", want: false},
		refCase{name: "no inspection: another product is not checked", layout: noInspection, owner: owner,
			links: [][]byte{writeCode, review, pack}, product: "another tarball\n", want: true},
		refCase{name: "layout verified with the wrong key", layout: noInspection, owner: stranger,
			links: [][]byte{writeCode, review, pack}, product: tarball, want: false},
		refCase{name: "expired layout", layout: expired, owner: owner,
			links: [][]byte{writeCode, review, pack}, product: tarball, want: false},
		refCase{name: "threshold 2 met", layout: twoReviewers, owner: owner,
			links: [][]byte{writeCode, review, reviewByAlice, pack}, product: tarball, want: true},
		refCase{name: "threshold 2 not met", layout: twoReviewers, owner: owner,
			links: [][]byte{writeCode, review, pack}, product: tarball, want: false},
	)

	// The reference verdicts.
	ref := make([]bool, len(cases))
	for i, tc := range cases {
		ref[i] = rc.verify(t, i, tc)
		if ref[i] != tc.want {
			t.Errorf("%s: in-toto-verify says %v, but the case is built to be %v", tc.name, ref[i], tc.want)
		}
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// A store of its own: cases share layouts, and a layout's
					// links are all that were ever submitted for it.
					e := newEnv(t, b, 0)
					for _, k := range rc.keys {
						if _, _, err := e.keys.Add(context.Background(), readFile(t, k.pub), ""); err != nil {
							t.Fatalf("register %s: %v", k.pub, err)
						}
					}
					got, why := trustdVerdict(t, e, tc)
					if got != ref[i] {
						t.Errorf("trustd says %v (%s), in-toto-verify says %v", got, why, ref[i])
					}
				})
			}
		})
	}
}

// verify runs in-toto-verify on case i in a directory holding only the
// final product (inspections run there) and the case's links elsewhere.
func (rc *refChain) verify(t *testing.T, i int, tc refCase) bool {
	t.Helper()
	dir := filepath.Join(rc.dir, "verify", strconv.Itoa(i))
	links := filepath.Join(dir, "links")
	work := filepath.Join(dir, "work")
	for _, d := range []string{links, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range tc.links {
		var mb struct {
			Signed struct {
				Name string `json:"name"`
			} `json:"signed"`
			Signatures []struct {
				KeyID string `json:"keyid"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(l, &mb); err != nil || len(mb.Signatures) != 1 {
			t.Fatalf("link: %v", err)
		}
		writeFile(t, filepath.Join(links, mb.Signed.Name+"."+mb.Signatures[0].KeyID[:8]+".link"), l)
	}
	layout := filepath.Join(dir, "root.layout")
	writeFile(t, layout, tc.layout)
	writeFile(t, filepath.Join(work, "foo.tar.gz"), []byte(tc.product))
	out, err := rc.run(t, work, "in-toto-verify", "-l", layout, "-k", tc.owner.pub, "-t", tc.owner.typ, "--link-dir", links)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("in-toto-verify: %v\n%s", err, out)
		}
		t.Logf("%s: in-toto-verify refuses: %s", tc.name, lastLine(out))
		return false
	}
	return true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// trustdVerdict submits the case's layout (naming its owner by the
// securesystemslib key id, as in-toto users know it) and links, and
// verifies the product: true when every submission is accepted and the
// report passes.
func trustdVerdict(t *testing.T, e *env, tc refCase) (bool, string) {
	t.Helper()
	ctx := context.Background()
	l, _, err := e.svc.Put(ctx, attest.PutRequest{Data: tc.layout, LayoutKeyIDs: []string{tc.owner.id}})
	if err != nil {
		return false, "layout refused: " + err.Error()
	}
	for _, link := range tc.links {
		if _, _, err := e.svc.Put(ctx, attest.PutRequest{Data: link, Layout: l.Seq}); err != nil {
			return false, "link refused: " + err.Error()
		}
	}
	sum := sha256.Sum256([]byte(tc.product))
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
