package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/attest/attesttest"
)

// TestNotationFlags: --notation-trust-store and --notation-trust-policy go
// together, from flags or the environment, and a policy that would let
// any certificate sign (skip, audit) or names a trust store that is not
// there stops the start, naming the flags.
func TestNotationFlags(t *testing.T) {
	t.Setenv("TRUSTD_INSECURE_PLAINTEXT", "true")
	dir := t.TempDir()
	store := attesttest.NewNotationCA(t, "acme").WriteTrustStore(t, filepath.Join(dir, "truststore"), "acme")
	good := attesttest.WriteTrustPolicy(t, filepath.Join(dir, "good.json"), attesttest.NotationPolicy{Name: "acme", Scopes: []string{"*"}, Stores: []string{"ca:acme"}})
	audit := attesttest.WriteTrustPolicy(t, filepath.Join(dir, "audit.json"), attesttest.NotationPolicy{Name: "acme", Level: "audit", Scopes: []string{"*"}, Stores: []string{"ca:acme"}})
	absent := attesttest.WriteTrustPolicy(t, filepath.Join(dir, "absent.json"), attesttest.NotationPolicy{Name: "acme", Scopes: []string{"*"}, Stores: []string{"ca:beta"}})
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		loaded  bool
		problem string
	}{
		{"neither", nil, nil, false, ""},
		{"both", []string{"--notation-trust-store", store, "--notation-trust-policy", good}, nil, true, ""},
		{"from the environment", nil, map[string]string{"TRUSTD_NOTATION_TRUST_STORE": store, "TRUSTD_NOTATION_TRUST_POLICY": good}, true, ""},
		{"store alone", []string{"--notation-trust-store", store}, nil, false, "give both or neither"},
		{"policy alone", []string{"--notation-trust-policy", good}, nil, false, "give both or neither"},
		{"audit level", []string{"--notation-trust-store", store, "--notation-trust-policy", audit}, nil, false, "authenticity check is not enforced"},
		{"missing named store", []string{"--notation-trust-store", store, "--notation-trust-policy", absent}, nil, false, `"ca:beta"`},
		{"missing policy file", []string{"--notation-trust-store", store, "--notation-trust-policy", filepath.Join(dir, "none.json")}, nil, false, "--notation-trust-policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var c config
			fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
			c.storeFlags(fs)
			c.serveFlags(fs)
			if err := fs.Parse(append([]string{"--data-dir", t.TempDir()}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			err := c.complete(fs)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) || !strings.Contains(err.Error(), "--notation-trust-") {
					t.Fatalf("err = %v, want one naming the flags and %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.notationTrust != nil) != tc.loaded {
				t.Fatalf("trust loaded = %v, want %v", c.notationTrust != nil, tc.loaded)
			}
		})
	}
}
