package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// probeRoot is trustctl's root with a probe command that prints the
// values of the flags the config file may set.
func probeRoot(out *bytes.Buffer) *cobra.Command {
	root := newRootCmd()
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, _ []string) error {
		for _, n := range []string{"server", "tls-ca", "output", "timeout"} {
			out.WriteString(n + "=" + cmd.Flags().Lookup(n).Value.String() + "\n")
		}
		return nil
	}})
	root.SetOut(out)
	root.SetErr(out)
	return root
}

// TestUserConfig: trustctl's config file fills what the command line and
// TRUSTCTL_* leave alone, from --config, TRUSTCTL_CONFIG or the default
// path; relative file names are the config file's directory's.
func TestUserConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trustctl.yaml")
	if err := os.WriteFile(file, []byte("server: file.example:7400\ntls-ca: ca.pem\noutput: json\ntimeout: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "trustctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "trustctl", "config.yaml"), []byte("server: default.example:7400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
		err  string
	}{
		{"file", []string{"--config", file}, nil,
			[]string{"server=file.example:7400", "tls-ca=" + filepath.Join(dir, "ca.pem"), "output=json", "timeout=5s"}, ""},
		{"env beats file", []string{"--config", file}, map[string]string{"TRUSTCTL_SERVER": "env.example:7400"},
			[]string{"server=env.example:7400", "output=json"}, ""},
		{"flag beats env and file", []string{"--config", file, "--server", "flag.example:7400", "-o", "text"}, map[string]string{"TRUSTCTL_SERVER": "env.example:7400"},
			[]string{"server=flag.example:7400", "output=text", "timeout=5s"}, ""},
		{"TRUSTCTL_CONFIG", nil, map[string]string{"TRUSTCTL_CONFIG": file},
			[]string{"server=file.example:7400"}, ""},
		{"default path", nil, map[string]string{"XDG_CONFIG_HOME": xdg},
			[]string{"server=default.example:7400", "output=text", "timeout=30s"}, ""},
		{"no default file", nil, map[string]string{"XDG_CONFIG_HOME": t.TempDir()},
			[]string{"server=" + defaultServer}, ""},
		{"explicit file missing", []string{"--config", filepath.Join(dir, "missing.yaml")}, nil, nil, "missing.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			for _, k := range []string{"TRUSTCTL_SERVER", "TRUSTCTL_CONFIG"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			root := probeRoot(&out)
			root.SetArgs(append([]string{"probe"}, tc.args...))
			err := root.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "--config: ") {
					t.Fatalf("err = %v, want --config naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w+"\n") {
					t.Errorf("got\n%s want %s", out.String(), w)
				}
			}
		})
	}
}

// TestUserConfigErrorsAndPolicy: unknown keys and bad values are refused
// naming the line; policy fills verify's --policy file, never token
// issue's policy name.
func TestUserConfigErrorsAndPolicy(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ content, want string }{
		{"server: a:1\nsever: b:1\n", `c.yaml:2: unknown key "sever"`},
		{"timeout: soon\n", "c.yaml:1: timeout"},
		{"digest-alg: sha512\n", `unknown key "digest-alg"`},
		{"output: yaml\n", `--output: "yaml" is not text or json`},
	} {
		var out bytes.Buffer
		root := probeRoot(&out)
		root.SetArgs([]string{"probe", "--config", write(tc.content)})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.content, err, tc.want)
		}
	}
	cfg := write("policy: production.yaml\nserver: 127.0.0.1:1\ntimeout: 1s\n")
	var out bytes.Buffer
	root := probeRoot(&out)
	root.SetArgs([]string{"verify", "--config", cfg, filepath.Join(dir, "artifact")})
	if err := root.Execute(); err == nil || strings.Contains(err.Error(), "required flag") {
		t.Errorf("verify with policy from the config: err = %v; want past the required --policy", err)
	}
	root = probeRoot(&out)
	root.SetArgs([]string{"token", "issue", "--config", cfg, "sha256:" + strings.Repeat("0", 64)})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `required flag(s) "policy" not set`) {
		t.Errorf("token issue with policy in the config: err = %v; want --policy still required (a name, not a file)", err)
	}
}
