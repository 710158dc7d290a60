package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func catalogNames(c *Catalog) []string {
	var names []string
	for _, e := range c.Entries() {
		names = append(names, e.Name)
	}
	return names
}

func TestLoadCatalog(t *testing.T) {
	good := filepath.Join("testdata", "catalog", "good")
	c, err := LoadCatalog(CatalogSources{Dirs: []string{good}, Files: []string{"testdata/token-or-tuf.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	// Every policy of every file, by its own name; hidden files and other
	// extensions are not policy files.
	f, err := Parse(mustRead(t, "testdata/token-or-tuf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"production", "staging", "strict"}
	for _, p := range f.Policies {
		want = append(want, p.Name)
	}
	slices.Sort(want)
	if got := catalogNames(c); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	// A held policy is the file's policy: same digest, levels and URI as a
	// verifier reading the same file computes.
	df, err := Parse(mustRead(t, filepath.Join(good, "deploy.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _ := df.Policy("production")
	held, err := c.Lookup("production")
	if err != nil {
		t.Fatal(err)
	}
	if held.Digest() != fromFile.Digest() || held.URI() != "trustd:policy/production" || !slices.Equal(held.Levels, []string{"SLSA_BUILD_LEVEL_3"}) {
		t.Errorf("held production: digest %s uri %s levels %v; file digest %s", held.Digest(), held.URI(), held.Levels, fromFile.Digest())
	}
	if e := c.Entries(); e[slices.IndexFunc(e, func(e CatalogEntry) bool { return e.Name == "staging" })].File != filepath.Join(good, "staging.json") {
		t.Errorf("staging comes from %+v", e)
	}

	_, err = c.Lookup("trivial")
	if !errors.Is(err, ErrNoPolicy) || !strings.Contains(err.Error(), `"trivial"`) || !strings.Contains(err.Error(), "production, staging, strict") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestLoadCatalogErrors(t *testing.T) {
	dir := filepath.Join("testdata", "catalog")
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  CatalogSources
		want []string // substrings of the error: the file and the problem
	}{
		{"bad file in a directory", CatalogSources{Dirs: []string{filepath.Join(dir, "bad")}},
			[]string{filepath.Join(dir, "bad", "wrong.yaml"), "policies[0].levels[0]", "level-three"}},
		{"bad file", CatalogSources{Files: []string{filepath.Join(dir, "bad", "wrong.yaml")}},
			[]string{"wrong.yaml", "SLSA_BUILD_LEVEL_3"}},
		{"name in two files", CatalogSources{Dirs: []string{filepath.Join(dir, "dup")}},
			[]string{filepath.Join(dir, "dup", "b.yaml"), `"production" is also defined in ` + filepath.Join(dir, "dup", "a.yaml")}},
		{"file given twice", CatalogSources{Files: []string{filepath.Join(dir, "dup", "a.yaml"), filepath.Join(dir, "dup", "a.yaml")}},
			[]string{"a.yaml is given twice"}},
		{"missing file", CatalogSources{Files: []string{filepath.Join(dir, "nope.yaml")}}, []string{"nope.yaml", "no such file"}},
		{"missing directory", CatalogSources{Dirs: []string{filepath.Join(dir, "nope")}}, []string{"nope", "no such file"}},
		{"directory without policy files", CatalogSources{Dirs: []string{empty}}, []string{empty, "holds no policy file (*.yaml, *.yml, *.json)"}},
		{"too large", CatalogSources{Files: []string{big}}, []string{big, "larger than"}},
		{"not a policy file", CatalogSources{Files: []string{filepath.Join(dir, "good", ".editor-swap.yaml")}}, []string{".editor-swap.yaml", "not a policy document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadCatalog(tc.src)
			if err == nil {
				t.Fatalf("loaded %v", catalogNames(c))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCatalogEmpty(t *testing.T) {
	var nilCat *Catalog
	empty, err := LoadCatalog(CatalogSources{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Catalog{nilCat, empty} {
		if _, err := c.Lookup("production"); !errors.Is(err, ErrNoCatalog) {
			t.Errorf("Lookup on an empty catalog: %v, want ErrNoCatalog", err)
		}
		if len(c.Entries()) != 0 {
			t.Errorf("entries of an empty catalog: %v", c.Entries())
		}
	}
}

// TestCatalogReload: a reload swaps in the files' new contents, and a bad
// edit keeps the policies held before it, while lookups run concurrently.
func TestCatalogReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deploy.yaml")
	write := func(levels string) {
		t.Helper()
		doc := "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: production\n    levels: [" + levels + "]\n    require:\n      revocation: {}\n"
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("SLSA_BUILD_LEVEL_2")
	c, err := LoadCatalog(CatalogSources{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	levels := func() string {
		p, err := c.Lookup("production")
		if err != nil {
			t.Error(err)
			return ""
		}
		return strings.Join(p.Levels, ",")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if l := levels(); l != "SLSA_BUILD_LEVEL_2" && l != "SLSA_BUILD_LEVEL_3" {
						t.Errorf("levels %q mid-reload", l)
						return
					}
				}
			}
		})
	}
	write("SLSA_BUILD_LEVEL_3")
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	write("three")
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("reload of a bad file: %v", err)
	}
	close(stop)
	wg.Wait()
	if l := levels(); l != "SLSA_BUILD_LEVEL_3" {
		t.Errorf("after a refused reload: levels %q, want the last good SLSA_BUILD_LEVEL_3", l)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
