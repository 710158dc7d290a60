package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// module is the import path prefix of trustd's packages.
const module = "github.com/trustd-dev/trustd/"

// Groups of packages, by module-relative path; "x/..." is x and every
// package below it.
var (
	// restricted are the packages the offline client runs or that every
	// package may use: they never reach the store, the log, a service
	// package or the server (DESIGN.md, rule 1).
	restricted = []string{"client", "policy", "token", "envelope", "digest", "tlog", "evidence", "refname", "timerule"}
	// pureDomain are domain packages that are pure rooms of their
	// capability: vocabulary, formats, parsing and verification.
	pureDomain = []string{"pgp", "tuf", "recordtype", "evidence"}
	// services are the service rooms (and the mixed packages whose pure
	// parts have not moved out yet, which count as services until they
	// do): they index into the store, append to the log, answer queries.
	services = []string{
		"store/...", "statement", "tufstore", "pgplog", "attest", "feedback", "revocation", "identity",
		"keys", "subject", "evidence/evidencesvc", "internal/teststore", "internal/loadbench",
	}
	// generatedAPI is the generated protobuf package.
	generatedAPI = []string{"proto/..."}
	// frontends are the server and the mains.
	frontends = []string{"server", "cmd/..."}
	// domain are the domain and core packages, pure and service rooms.
	domain = []string{
		"digest", "envelope", "tlog", "token", "recordtype", "policy", "evidence/...", "refname", "timerule",
		"tuf", "tufstore", "pgp", "pgplog", "attest", "feedback", "revocation", "identity", "keys", "subject", "statement",
	}
)

// rule says the packages From never reach (import directly or
// transitively) any package in Never.
type rule struct {
	name  string
	from  []string
	never []string
}

var rules = []rule{
	{"client, policy, token, envelope, digest, tlog, evidence, refname and timerule never reach the store, the log, a service package or the server",
		restricted, concat(services, frontends)},
	{"policy and the core packages never reach the generated API",
		[]string{"policy", "token", "envelope", "digest", "tlog", "evidence", "refname", "timerule"}, generatedAPI},
	{"pure domain packages never reach the store, a service package, the server or the generated API",
		pureDomain, concat(services, frontends, generatedAPI)},
	{"domain and core packages never import the server or a main",
		domain, frontends},
	{"store imports no domain package",
		[]string{"store/..."}, concat(remove(domain, "digest", "tlog"), []string{"client"})},
	{"the server never imports the client",
		[]string{"server"}, []string{"client"}},
}

// allowed are the violations that exist today, each with why it cannot be
// fixed yet. The list only shrinks: an entry no longer needed fails the
// test, so it is removed when its reason goes away.
var allowed = map[[2]string]string{
	// The revocation list cache, its TUF key reads and CheckTarget live in
	// package revocation beside its store-backed service; the client
	// reaches the store through them until those pure parts move to a
	// package of their own (issue 14, one revocation state).
	{"client", "revocation"}: "revocation cache and list key (pure parts of a mixed package)",
	{"client", "store"}:      "through revocation",
	{"client", "statement"}:  "through revocation",
	{"client", "pgplog"}:     "through revocation",
	{"client", "tufstore"}:   "through revocation",
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func remove(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
}

// matches reports whether the module-relative package p is in the group.
func matches(group []string, p string) bool {
	for _, g := range group {
		if base, ok := strings.CutSuffix(g, "/..."); ok {
			if p == base || strings.HasPrefix(p, base+"/") {
				return true
			}
		} else if p == g {
			return true
		}
	}
	return false
}

// pkg is what go list says about one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// load lists every package of the module with its dependencies, keyed by
// module-relative path, keeping only the module's own imports.
func load(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "../../...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		var imports []string
		for _, imp := range p.Imports {
			if r, ok := strings.CutPrefix(imp, module); ok {
				imports = append(imports, r)
			}
		}
		graph[rel] = imports
	}
	return graph
}

// path returns the shortest import chain from a to b, or nil.
func path(graph map[string][]string, a, b string) []string {
	prev := map[string]string{a: ""}
	queue := []string{a}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == b {
			var out []string
			for x := b; x != ""; x = prev[x] {
				out = append(out, x)
			}
			slices.Reverse(out)
			return out
		}
		for _, q := range graph[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// TestImportRules checks every rule of DESIGN.md's layout against the
// package graph, naming the import chain of each violation, and that the
// allow-list holds nothing that is no longer needed.
func TestImportRules(t *testing.T) {
	graph := load(t)
	if len(graph) < 20 {
		t.Fatalf("go list found %d packages of the module; is the test run from its directory?", len(graph))
	}
	var pkgs []string
	for p := range graph {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	used := map[[2]string]bool{}
	for _, r := range rules {
		for _, from := range pkgs {
			if !matches(r.from, from) {
				continue
			}
			for _, to := range pkgs {
				if to == from || !matches(r.never, to) {
					continue
				}
				chain := path(graph, from, to)
				if chain == nil {
					continue
				}
				key := [2]string{from, to}
				if _, ok := allowed[key]; ok {
					used[key] = true
					continue
				}
				t.Errorf("%s: %s reaches %s (%s)", r.name, from, to, strings.Join(chain, " → "))
			}
		}
	}
	for key, why := range allowed {
		if !used[key] {
			t.Errorf("allow-list entry %s → %s (%s) is no longer needed: remove it", key[0], key[1], why)
		}
	}
}
