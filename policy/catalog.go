package policy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

// ErrNoCatalog means no policies are configured where some are needed:
// trustd issues tokens only for policies its operator gave it.
var ErrNoCatalog = errors.New("no token policies configured")

// CatalogExtensions are the file name endings a catalog directory is
// searched for. JSON is YAML, so a .json policy file parses alike.
var CatalogExtensions = []string{".yaml", ".yml", ".json"}

// maxListedNames bounds how many policy names an error message lists.
const maxListedNames = 20

// CatalogSources says where a Catalog reads its policy files.
type CatalogSources struct {
	// Dirs are directories whose policy files (every regular file directly
	// in them ending in one of CatalogExtensions, hidden files skipped)
	// are read; each must hold at least one.
	Dirs []string
	// Files are single policy files.
	Files []string
}

// Empty reports whether s names no directory and no file.
func (s CatalogSources) Empty() bool { return len(s.Dirs) == 0 && len(s.Files) == 0 }

// CatalogEntry is one policy of a Catalog and the file it came from.
type CatalogEntry struct {
	Name   string
	File   string
	Policy *Policy
}

// Catalog is the set of policies trustd holds for token issuance, read
// from operator-written policy files and looked up by policy name. A
// token may only be signed for a policy of the catalog, so a caller can
// never choose what a token asserts (its policy, digest and levels); a
// verifier enforcing the same policy file checks the same digest. Every
// policy of every file is held under its own name, and a name may appear
// in only one file. A Catalog is safe for concurrent use; Reload swaps in
// a fresh reading of the same sources as a whole or not at all.
type Catalog struct {
	src CatalogSources
	cur atomic.Pointer[catalogState]
}

type catalogState struct {
	byName map[string]CatalogEntry
	names  []string // sorted
}

// LoadCatalog reads and checks every policy file of src. An error names
// the file and what is wrong with it.
func LoadCatalog(src CatalogSources) (*Catalog, error) {
	c := &Catalog{src: src}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the catalog's sources. On error the policies held so
// far stay in use and the error says why the new reading was refused.
func (c *Catalog) Reload() error {
	st, err := readCatalog(c.src)
	if err != nil {
		return err
	}
	c.cur.Store(st)
	return nil
}

func readCatalog(src CatalogSources) (*catalogState, error) {
	files := slices.Clone(src.Files)
	for _, dir := range src.Dirs {
		found, err := catalogFiles(dir)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	st := &catalogState{byName: map[string]CatalogEntry{}}
	for _, file := range files {
		data, err := readPolicyFile(file)
		if err != nil {
			return nil, err
		}
		f, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("policy: token policy file %s: %w", file, err)
		}
		for i := range f.Policies {
			p := &f.Policies[i]
			if prev, dup := st.byName[p.Name]; dup {
				if prev.File == file {
					return nil, fmt.Errorf("policy: token policy file %s is given twice", file)
				}
				return nil, fmt.Errorf("policy: token policy file %s: policy %q is also defined in %s; policy names must be unique across the files", file, p.Name, prev.File)
			}
			st.byName[p.Name] = CatalogEntry{Name: p.Name, File: file, Policy: p}
			st.names = append(st.names, p.Name)
		}
	}
	slices.Sort(st.names)
	return st, nil
}

// catalogFiles lists dir's policy files, sorted.
func catalogFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy: token policy directory: %w", err)
	}
	var files []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !slices.ContainsFunc(CatalogExtensions, func(ext string) bool { return strings.HasSuffix(name, ext) }) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows symlinks, as a mounted ConfigMap has them
		if err != nil {
			return nil, fmt.Errorf("policy: token policy file %s: %w", p, err)
		}
		if fi.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("policy: token policy directory %s holds no policy file (*%s)", dir, strings.Join(CatalogExtensions, ", *"))
	}
	return files, nil
}

// readPolicyFile reads file, refusing one larger than MaxFileBytes.
func readPolicyFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("policy: token policy file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy: token policy file %s: %w", file, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("policy: token policy file %s: larger than %d bytes", file, MaxFileBytes)
	}
	return data, nil
}

// Lookup returns the policy named name. An unknown name is an error
// matching ErrNoPolicy that lists the names held; a nil or empty catalog
// answers ErrNoCatalog.
func (c *Catalog) Lookup(name string) (*Policy, error) {
	st := c.state()
	if st == nil || len(st.names) == 0 {
		return nil, ErrNoCatalog
	}
	if e, ok := st.byName[name]; ok {
		return e.Policy, nil
	}
	names := st.names
	more := ""
	if len(names) > maxListedNames {
		more = fmt.Sprintf(" and %d more", len(names)-maxListedNames)
		names = names[:maxListedNames]
	}
	return nil, fmt.Errorf("policy: %q: %w; this trustd holds %s%s", name, ErrNoPolicy, strings.Join(names, ", "), more)
}

// Entries returns the policies held, sorted by name.
func (c *Catalog) Entries() []CatalogEntry {
	st := c.state()
	if st == nil {
		return nil
	}
	out := make([]CatalogEntry, 0, len(st.names))
	for _, n := range st.names {
		out = append(out, st.byName[n])
	}
	return out
}

func (c *Catalog) state() *catalogState {
	if c == nil {
		return nil
	}
	return c.cur.Load()
}
