// Package configfile reads the config files of trustd and trustctl: YAML
// (or TOML, for names ending in .toml) whose top-level keys are the
// command's flag names, values scalars or lists for repeatable flags. It
// applies them beneath the command line and the environment and records
// where each value came from, so a command can show it.
package configfile

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// ConfigFlag is the flag naming the config file; a file may not set it.
const ConfigFlag = "config"

// Where a setting's value came from, strongest first.
const (
	SourceFlag    = "flag"
	SourceEnv     = "env"
	SourceFile    = "file"
	SourceDefault = "default"
)

// ErrInvalid marks a config file that cannot be used: unreadable,
// malformed, or naming a key trustd does not have.
var ErrInvalid = errors.New("config file")

// Setting is one key of a config file: its values (one for a scalar,
// any number for a list) and the line it is on.
type Setting struct {
	Values []string
	List   bool
	Line   int
}

// File is a parsed config file: flag name to setting.
type File struct {
	Path     string
	Settings map[string]Setting
}

// MaxBytes bounds a config file; anything larger is not one.
const MaxBytes = 1 << 20

// Read reads and parses path: TOML when it ends in .toml, YAML
// otherwise.
func Read(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w %s: larger than %d bytes", ErrInvalid, path, MaxBytes)
	}
	return Parse(path, data, strings.EqualFold(filepath.Ext(path), ".toml"))
}

// Parse parses a config file's bytes. Keys are the command's flag
// names at the top level, values scalars or lists of scalars; anything
// else is an error naming the file, the line and the key.
func Parse(path string, data []byte, isTOML bool) (*File, error) {
	if isTOML {
		return parseTOML(path, data)
	}
	return parseYAML(path, data)
}

func parseYAML(path string, data []byte) (*File, error) {
	cf := &File{Path: path, Settings: map[string]Setting{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return cf, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w %s:%d: want a mapping of flag names to values", ErrInvalid, path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("%w %s:%d: a key must be a flag name", ErrInvalid, path, k.Line)
		}
		if prev, dup := cf.Settings[k.Value]; dup {
			return nil, fmt.Errorf("%w %s:%d: key %q given twice (first on line %d)", ErrInvalid, path, k.Line, k.Value, prev.Line)
		}
		s := Setting{Line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("%w %s:%d: key %q has no value", ErrInvalid, path, k.Line, k.Value)
			}
			s.Values = []string{v.Value}
		case yaml.SequenceNode:
			s.List = true
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
					return nil, fmt.Errorf("%w %s:%d: key %q: list items must be plain values", ErrInvalid, path, e.Line, k.Value)
				}
				s.Values = append(s.Values, e.Value)
			}
		default:
			return nil, fmt.Errorf("%w %s:%d: key %q: want a value or a list of values (keys are trustd's flag names, not nested)", ErrInvalid, path, k.Line, k.Value)
		}
		cf.Settings[k.Value] = s
	}
	return cf, nil
}

func parseTOML(path string, data []byte) (*File, error) {
	cf := &File{Path: path, Settings: map[string]Setting{}}
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w %s:%d: %s", ErrInvalid, path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w %s: %w", ErrInvalid, path, err)
	}
	for k, v := range m {
		s := Setting{Line: tomlKeyLine(data, k)}
		switch v := v.(type) {
		case []any:
			s.List = true
			for _, e := range v {
				str, ok := tomlScalar(e)
				if !ok {
					return nil, fmt.Errorf("%w %s:%d: key %q: list items must be plain values", ErrInvalid, path, s.Line, k)
				}
				s.Values = append(s.Values, str)
			}
		default:
			str, ok := tomlScalar(v)
			if !ok {
				return nil, fmt.Errorf("%w %s:%d: key %q: want a value or a list of values (keys are trustd's flag names, not tables)", ErrInvalid, path, s.Line, k)
			}
			s.Values = []string{str}
		}
		cf.Settings[k] = s
	}
	return cf, nil
}

// tomlScalar is a TOML value as a flag would take it on the command line.
func tomlScalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "", false
		}
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// tomlKeyLine finds the line of a top-level key (the TOML decoder does
// not report it); 0 when not found.
func tomlKeyLine(data []byte, key string) int {
	re, err := regexp.Compile(`^\s*(` + regexp.QuoteMeta(key) + `|"` + regexp.QuoteMeta(key) + `"|'` + regexp.QuoteMeta(key) + `')\s*=`)
	if err != nil {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}

// where is "FILE:LINE" (or FILE when the line is unknown).
func (cf *File) where(s Setting) string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d", cf.Path, s.Line)
	}
	return cf.Path
}

// Apply sets every flag of fs that neither the command line nor the
// environment set (sources has them) from the file, and records the
// source in sources. known are every key the program accepts in a file: a
// known key fs lacks (a flag of another command) is ignored, an unknown
// one is an error naming the key and where it is.
func (cf *File) Apply(fs *pflag.FlagSet, known map[string]bool, sources map[string]string) error {
	keys := make([]string, 0, len(cf.Settings))
	for k := range cf.Settings {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cf.Settings[a].Line - cf.Settings[b].Line })
	var errs []error
	for _, k := range keys {
		s := cf.Settings[k]
		if k == ConfigFlag {
			errs = append(errs, fmt.Errorf("%w %s: key \"config\": a config file cannot name another", ErrInvalid, cf.where(s)))
			continue
		}
		if !known[k] {
			errs = append(errs, fmt.Errorf("%w %s: unknown key %q (keys are the flag names without the dashes)", ErrInvalid, cf.where(s), k))
			continue
		}
		f := fs.Lookup(k)
		if f == nil {
			continue // a key for another command
		}
		if _, set := sources[k]; set {
			continue // the command line or the environment wins
		}
		if err := setFromFile(f, s); err != nil {
			errs = append(errs, fmt.Errorf("%w %s: %s: %w", ErrInvalid, cf.where(s), k, err))
			continue
		}
		sources[k] = SourceFile
	}
	return errors.Join(errs...)
}

// setFromFile sets f to a file setting's values: a list replaces a
// repeatable flag's values (items are taken whole, never split at commas);
// a scalar is parsed as on the command line.
func setFromFile(f *pflag.Flag, s Setting) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if !s.List {
			return f.Value.Set(s.Values[0])
		}
		if err := sv.Replace(s.Values); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if s.List {
		return fmt.Errorf("takes one value, not a list")
	}
	if err := f.Value.Set(s.Values[0]); err != nil {
		return err
	}
	f.Changed = true
	return nil
}
