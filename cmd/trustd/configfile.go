package main

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

	"github.com/trustd-dev/trustd/internal/cliutil"
)

// Where a setting's value came from, strongest first.
const (
	sourceFlag    = "flag"
	sourceEnv     = "env"
	sourceFile    = "file"
	sourceDefault = "default"
)

// errConfigFile marks a config file that cannot be used: unreadable,
// malformed, or naming a key trustd does not have.
var errConfigFile = errors.New("config file")

// fileSetting is one key of a config file: its values (one for a scalar,
// any number for a list) and the line it is on.
type fileSetting struct {
	values []string
	list   bool
	line   int
}

// configFile is a parsed config file: flag name to setting.
type configFile struct {
	path     string
	settings map[string]fileSetting
}

// maxConfigFileBytes bounds a config file; anything larger is not one.
const maxConfigFileBytes = 1 << 20

// readConfigFile reads and parses path: TOML when it ends in .toml, YAML
// otherwise.
func readConfigFile(path string) (*configFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfigFile, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errConfigFile, path, err)
	}
	if len(data) > maxConfigFileBytes {
		return nil, fmt.Errorf("%w %s: larger than %d bytes", errConfigFile, path, maxConfigFileBytes)
	}
	return parseConfigFile(path, data, strings.EqualFold(filepath.Ext(path), ".toml"))
}

// parseConfigFile parses a config file's bytes. Keys are trustd's flag
// names at the top level, values scalars or lists of scalars; anything
// else is an error naming the file, the line and the key.
func parseConfigFile(path string, data []byte, isTOML bool) (*configFile, error) {
	if isTOML {
		return parseTOML(path, data)
	}
	return parseYAML(path, data)
}

func parseYAML(path string, data []byte) (*configFile, error) {
	cf := &configFile{path: path, settings: map[string]fileSetting{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w %s: %w", errConfigFile, path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return cf, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w %s:%d: want a mapping of flag names to values", errConfigFile, path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("%w %s:%d: a key must be a flag name", errConfigFile, path, k.Line)
		}
		if prev, dup := cf.settings[k.Value]; dup {
			return nil, fmt.Errorf("%w %s:%d: key %q given twice (first on line %d)", errConfigFile, path, k.Line, k.Value, prev.line)
		}
		s := fileSetting{line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("%w %s:%d: key %q has no value", errConfigFile, path, k.Line, k.Value)
			}
			s.values = []string{v.Value}
		case yaml.SequenceNode:
			s.list = true
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
					return nil, fmt.Errorf("%w %s:%d: key %q: list items must be plain values", errConfigFile, path, e.Line, k.Value)
				}
				s.values = append(s.values, e.Value)
			}
		default:
			return nil, fmt.Errorf("%w %s:%d: key %q: want a value or a list of values (keys are trustd's flag names, not nested)", errConfigFile, path, k.Line, k.Value)
		}
		cf.settings[k.Value] = s
	}
	return cf, nil
}

func parseTOML(path string, data []byte) (*configFile, error) {
	cf := &configFile{path: path, settings: map[string]fileSetting{}}
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w %s:%d: %s", errConfigFile, path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w %s: %w", errConfigFile, path, err)
	}
	for k, v := range m {
		s := fileSetting{line: tomlKeyLine(data, k)}
		switch v := v.(type) {
		case []any:
			s.list = true
			for _, e := range v {
				str, ok := tomlScalar(e)
				if !ok {
					return nil, fmt.Errorf("%w %s:%d: key %q: list items must be plain values", errConfigFile, path, s.line, k)
				}
				s.values = append(s.values, str)
			}
		default:
			str, ok := tomlScalar(v)
			if !ok {
				return nil, fmt.Errorf("%w %s:%d: key %q: want a value or a list of values (keys are trustd's flag names, not tables)", errConfigFile, path, s.line, k)
			}
			s.values = []string{str}
		}
		cf.settings[k] = s
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
func (cf *configFile) where(s fileSetting) string {
	if s.line > 0 {
		return fmt.Sprintf("%s:%d", cf.path, s.line)
	}
	return cf.path
}

// apply sets every flag of fs that neither the command line nor the
// environment set (sources has them) from the file, and records the
// source. known are every key trustd accepts in a file: a key in it that
// fs lacks (a serve flag read by migrate) is ignored, any other is an
// error naming the key and where it is.
func (cf *configFile) apply(fs *pflag.FlagSet, known map[string]bool, sources map[string]string) error {
	keys := make([]string, 0, len(cf.settings))
	for k := range cf.settings {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cf.settings[a].line - cf.settings[b].line })
	var errs []error
	for _, k := range keys {
		s := cf.settings[k]
		if k == "config" {
			errs = append(errs, fmt.Errorf("%w %s: key \"config\": a config file cannot name another", errConfigFile, cf.where(s)))
			continue
		}
		f := fs.Lookup(k)
		if f == nil {
			if !known[k] {
				errs = append(errs, fmt.Errorf("%w %s: unknown key %q (keys are trustd's flag names without the dashes, e.g. grpc-addr)", errConfigFile, cf.where(s), k))
			}
			continue
		}
		if _, set := sources[k]; set {
			continue // the command line or the environment wins
		}
		if err := setFromFile(f, s); err != nil {
			errs = append(errs, fmt.Errorf("%w %s: %s: %w", errConfigFile, cf.where(s), k, err))
			continue
		}
		sources[k] = sourceFile
	}
	return errors.Join(errs...)
}

// setFromFile sets f to a file setting's values: a list replaces a
// repeatable flag's values (items are taken whole, never split at commas);
// a scalar is parsed as on the command line.
func setFromFile(f *pflag.Flag, s fileSetting) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if !s.list {
			return f.Value.Set(s.values[0])
		}
		if err := sv.Replace(s.values); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if s.list {
		return fmt.Errorf("takes one value, not a list")
	}
	if err := f.Value.Set(s.values[0]); err != nil {
		return err
	}
	f.Changed = true
	return nil
}

// layer fills fs's flags from the environment and the config file, the
// command line winning over both and the environment over the file, and
// records where each flag's value came from in c.sources.
func (c *config) layer(fs *pflag.FlagSet) error {
	c.sources = map[string]string{}
	fs.Visit(func(f *pflag.Flag) { c.sources[f.Name] = sourceFlag })
	if err := cliutil.BindEnv(fs, envPrefix); err != nil {
		return err
	}
	fs.Visit(func(f *pflag.Flag) {
		if _, ok := c.sources[f.Name]; !ok {
			c.sources[f.Name] = sourceEnv
		}
	})
	if c.ConfigFile == "" {
		return nil
	}
	cf, err := readConfigFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if err := cf.apply(fs, configKeys(), c.sources); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return nil
}

// configKeys are the keys a trustd config file may hold: every flag of
// trustd serve.
func configKeys() map[string]bool {
	var c config
	fs := pflag.NewFlagSet("keys", pflag.ContinueOnError)
	c.storeFlags(fs)
	c.serveFlags(fs)
	keys := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { keys[f.Name] = true })
	delete(keys, "config")
	return keys
}
