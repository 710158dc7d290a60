package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/configfile"
)

// serveFlagSet is trustd serve's flag set over c, parsed from args.
func serveFlagSet(t *testing.T, c *config, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
	c.storeFlags(fs)
	c.serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigPrecedence: flag beats env beats file beats default, for
// scalars and repeatable flags, in YAML and TOML alike.
func TestConfigPrecedence(t *testing.T) {
	yamlFile := "log-level: warn\ngrpc-addr: 127.0.0.1:7500\nrequest-timeout: 45s\nlog-key: [f1.key, f2.key]\nwitness:\n  - a=b,c\n"
	tomlFile := "log-level = \"warn\"\ngrpc-addr = \"127.0.0.1:7500\"\nrequest-timeout = \"45s\"\nlog-key = [\"f1.key\", \"f2.key\"]\nwitness = [\"a=b,c\"]\n"
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		check  func(c *config) any
		want   any
		flag   string
		source string
	}{
		{"file over default", nil, nil, func(c *config) any { return c.LogLevel }, "warn", "log-level", configfile.SourceFile},
		{"env over file", nil, map[string]string{"TRUSTD_LOG_LEVEL": "error"}, func(c *config) any { return c.LogLevel }, "error", "log-level", configfile.SourceEnv},
		{"flag over env and file", []string{"--log-level", "debug"}, map[string]string{"TRUSTD_LOG_LEVEL": "error"}, func(c *config) any { return c.LogLevel }, "debug", "log-level", configfile.SourceFlag},
		{"default when nowhere", nil, nil, func(c *config) any { return c.LogFormat }, "text", "log-format", ""},
		{"duration from file", nil, nil, func(c *config) any { return c.RequestTimeout }, 45 * time.Second, "request-timeout", configfile.SourceFile},
		{"list from file", nil, nil, func(c *config) any { return c.LogKeys }, []string{"f1.key", "f2.key"}, "log-key", configfile.SourceFile},
		{"list items kept whole", nil, nil, func(c *config) any { return c.WitnessSpecs }, []string{"a=b,c"}, "witness", configfile.SourceFile},
		{"list flag beats file", []string{"--log-key", "x.key"}, nil, func(c *config) any { return c.LogKeys }, []string{"x.key"}, "log-key", configfile.SourceFlag},
		{"list env beats file", nil, map[string]string{"TRUSTD_LOG_KEY": "e1.key,e2.key"}, func(c *config) any { return c.LogKeys }, []string{"e1.key", "e2.key"}, "log-key", configfile.SourceEnv},
		{"config from env", nil, nil, func(c *config) any { return c.GRPCAddr }, "127.0.0.1:7500", "grpc-addr", configfile.SourceFile},
	}
	for _, format := range []struct{ ext, content string }{{".yaml", yamlFile}, {".toml", tomlFile}} {
		for _, tc := range tests {
			t.Run(format.ext+" "+tc.name, func(t *testing.T) {
				path := writeConfig(t, "trustd"+format.ext, format.content)
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				var c config
				args := append([]string{"--config", path}, tc.args...)
				if tc.name == "config from env" {
					t.Setenv("TRUSTD_CONFIG", path)
					args = tc.args
				}
				fs := serveFlagSet(t, &c, args...)
				if err := c.layer(fs); err != nil {
					t.Fatal(err)
				}
				if got := tc.check(&c); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("value %v, want %v", got, tc.want)
				}
				if got := c.sources[tc.flag]; got != tc.source {
					t.Errorf("source of %s = %q, want %q", tc.flag, got, tc.source)
				}
				r := c.report(fs)
				want := tc.source
				if want == "" {
					want = configfile.SourceDefault
				}
				for _, s := range r.Settings {
					if s.Name == tc.flag && s.Source != want {
						t.Errorf("config print: %s from %s, want %s", s.Name, s.Source, want)
					}
				}
			})
		}
	}
}

// TestConfigFileErrors: a bad file is refused naming the file, the line
// and the key.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"unknown key yaml", "c.yaml", "log-level: warn\ngrcp-addr: x\n", []string{"c.yaml:2", `unknown key "grcp-addr"`}},
		{"unknown key toml", "c.toml", "log-level = \"warn\"\n\ngrcp-addr = \"x\"\n", []string{"c.toml:3", `unknown key "grcp-addr"`}},
		{"bad value", "c.yaml", "request-timeout: soon\n", []string{"c.yaml:1", "request-timeout"}},
		{"list for a scalar", "c.yaml", "grpc-addr: [a, b]\n", []string{"c.yaml:1", "grpc-addr", "not a list"}},
		{"nested", "c.yaml", "limits:\n  max: 1\n", []string{"c.yaml:1", `"limits"`, "not nested"}},
		{"toml table", "c.toml", "[limits]\nmax = 1\n", []string{"c.toml", `"limits"`, "not tables"}},
		{"duplicate key", "c.yaml", "db: a\ndb: b\n", []string{"c.yaml:2", `"db" given twice`}},
		{"no value", "c.yaml", "db:\n", []string{"c.yaml:1", `"db" has no value`}},
		{"not a mapping", "c.yaml", "- a\n- b\n", []string{"c.yaml:1", "mapping"}},
		{"yaml syntax", "c.yaml", "db: [a\n", []string{"c.yaml"}},
		{"toml syntax", "c.toml", "db = \n", []string{"c.toml:1"}},
		{"config in config", "c.yaml", "config: other.yaml\n", []string{"c.yaml:1", `"config"`}},
		{"output is not a setting", "c.yaml", "output: json\n", []string{`unknown key "output"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			fs := serveFlagSet(t, &c, "--config", writeConfig(t, tc.file, tc.content))
			err := c.layer(fs)
			if !errors.Is(err, configfile.ErrInvalid) {
				t.Fatalf("layer = %v, want a config file error", err)
			}
			for _, w := range append(tc.want, "--config: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	var c config
	if err := c.layer(serveFlagSet(t, &c, "--config", filepath.Join(t.TempDir(), "missing.yaml"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigFileServeKeysInMigrate: migrate reads the same file as serve;
// keys only serve has are not unknown there.
func TestConfigFileServeKeysInMigrate(t *testing.T) {
	path := writeConfig(t, "c.yaml", "data-dir: "+t.TempDir()+"\ngrpc-addr: 127.0.0.1:7500\n")
	var c config
	fs := pflag.NewFlagSet("migrate", pflag.ContinueOnError)
	c.storeFlags(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if err := c.layer(fs); err != nil {
		t.Fatal(err)
	}
	if c.sources["data-dir"] != configfile.SourceFile {
		t.Errorf("data-dir from %q", c.sources["data-dir"])
	}
}

// TestConfigPrintRedacts: config print never shows a password, passphrase
// or token, and shows everything else.
func TestConfigPrintRedacts(t *testing.T) {
	tests := []struct{ flag, value, want string }{
		{"db", "postgres://trustd:hunter2@db:5432/trustd?sslmode=verify-full", "postgres://trustd:REDACTED@db:5432/trustd?sslmode=verify-full"},
		{"db", "postgresql://trustd@db/trustd?password=hunter2&sslmode=disable", "postgresql://trustd@db/trustd?password=REDACTED&sslmode=disable"},
		{"db", "postgres://trustd@db/trustd", "postgres://trustd@db/trustd"},
		{"db", "sqlite:/var/lib/trustd/x.db", "sqlite:/var/lib/trustd/x.db"},
		{"db", "host=db user=trustd password=hunter2", "host=db user=trustd password=REDACTED"},
		{"db", "", ""},
		{"db-replica", "postgres://r:hunter2@replica/trustd", "postgres://r:REDACTED@replica/trustd"},
		{"key-passphrase", "hunter2", "REDACTED"},
		{"db-password", "hunter2", "REDACTED"},
		{"admin-token", "hunter2", "REDACTED"},
		{"client-secret", "hunter2", "REDACTED"},
		{"token-key", "/etc/trustd/token.key", "/etc/trustd/token.key"},
		{"token-ttl", "24h0m0s", "24h0m0s"},
		{"tls-key", "/etc/trustd/tls.key", "/etc/trustd/tls.key"},
		{"grpc-addr", "0.0.0.0:7400", "0.0.0.0:7400"},
	}
	for _, tc := range tests {
		t.Run(tc.flag+" "+tc.value, func(t *testing.T) {
			got := redactValue(tc.flag, tc.value)
			if got != tc.want {
				t.Errorf("redactValue(%s, %q) = %q, want %q", tc.flag, tc.value, got, tc.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("secret shown: %q", got)
			}
		})
	}
	// Through the report: the db password from a file is not printed.
	var c config
	fs := serveFlagSet(t, &c, "--config", writeConfig(t, "c.yaml", "db: postgres://u:hunter2@h/d\n"))
	if err := c.layer(fs); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.report(fs).Settings {
		if strings.Contains(s.Name+s.Source+s.Env+toString(s.Value), "hunter2") {
			t.Errorf("config print shows a secret: %+v", s)
		}
	}
}

func toString(v any) string {
	if l, ok := v.([]string); ok {
		return strings.Join(l, ",")
	}
	s, _ := v.(string)
	return s
}
