package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestSecurityAuthorityFlags: the security authority's threshold defaults
// to 1 only when trustd listens on loopback only, must be set beyond it,
// and every bad value is refused at start naming its flag.
func TestSecurityAuthorityFlags(t *testing.T) {
	// Plaintext and open key registration beyond loopback are asked for
	// here so the cases judge only the flags under test (see TestConfigAuth).
	t.Setenv("TRUSTD_INSECURE_PLAINTEXT", "true")
	t.Setenv("TRUSTD_KEY_REGISTRATION", "open")
	const a, b, c = "aaaa1111", "bbbb2222", "cccc3333"
	for _, tc := range []struct {
		name          string
		args          []string
		env           map[string]string
		wantErr       string // "" = accepted
		wantThreshold int
		wantScopes    int
	}{
		{"no authority", nil, nil, "", 0, 0},
		{"one key on loopback defaults to 1", []string{"--security-authority", a}, nil, "", 1, 0},
		{"three keys on loopback default to 1", []string{"--security-authority", a + "," + b + "," + c}, nil, "", 1, 0},
		{"beyond loopback the threshold is required",
			[]string{"--grpc-addr", "0.0.0.0:7400", "--security-authority", a, "--security-authority", b, "--security-authority", c},
			nil, "--security-authority-threshold: required when trustd listens beyond loopback (--grpc-addr 0.0.0.0:7400, --http-addr 127.0.0.1:7401): say how many of the 3 --security-authority keys must sign one revocation together (a majority is 2)", 0, 0},
		{"an HTTP listener beyond loopback counts too",
			[]string{"--http-addr", ":7401", "--security-authority", a}, nil, "--security-authority-threshold: required", 0, 0},
		{"beyond loopback with a threshold",
			[]string{"--grpc-addr", "0.0.0.0:7400", "--security-authority", a + "," + b + "," + c, "--security-authority-threshold", "2"}, nil, "", 2, 0},
		{"threshold from the environment", []string{"--grpc-addr", "[::]:7400", "--security-authority", a + "," + b},
			map[string]string{"TRUSTD_SECURITY_AUTHORITY_THRESHOLD": "2"}, "", 2, 0},
		{"threshold above the keys", []string{"--security-authority", a + "," + b, "--security-authority-threshold", "3"}, nil,
			"--security-authority-threshold: 3 exceeds the 2 --security-authority keys", 0, 0},
		{"negative threshold", []string{"--security-authority", a, "--security-authority-threshold", "-1"}, nil, "--security-authority-threshold: -1 is negative", 0, 0},
		{"threshold without keys", []string{"--security-authority-threshold", "1"}, nil, "--security-authority-threshold: set without any --security-authority key", 0, 0},
		{"a key listed twice", []string{"--security-authority", a + "," + a, "--security-authority-threshold", "2"}, nil, "--security-authority: key aaaa1111 is listed twice", 0, 0},
		{"scopes", []string{"--security-authority", a, "--security-authority-scope", "sha256:ab,repo:acme/*", "--security-authority-scope", "key:" + b}, nil, "", 1, 3},
		{"bad scope", []string{"--security-authority", a, "--security-authority-scope", "acme/*"}, nil, `--security-authority-scope: revocation: scope: "acme/*": want ALGORITHM:HEXPREFIX`, 0, 0},
		{"scope without keys", []string{"--security-authority-scope", "repo:*"}, nil, "--security-authority-scope: set without any --security-authority key", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var cfg config
			fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
			cfg.storeFlags(fs)
			cfg.serveFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.complete(fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("complete = %v; want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			if cfg.Rev.SecurityThreshold != tc.wantThreshold || len(cfg.Rev.scopes) != tc.wantScopes {
				t.Fatalf("threshold %d, %d scopes; want %d, %d", cfg.Rev.SecurityThreshold, len(cfg.Rev.scopes), tc.wantThreshold, tc.wantScopes)
			}
		})
	}
}
