package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestTUFCreationFlags: --tuf-repo-creation auto is open only when every
// listener is on loopback; operator keys and owners come from flags and the
// environment; bad values are refused naming the flag.
func TestTUFCreationFlags(t *testing.T) {
	id1, id2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		closed    bool
		operators int
		owners    []string // patterns
		problem   string   // part of the error, if refused
	}{
		{"default on loopback is open", nil, nil, false, 0, nil, ""},
		{"http disabled, grpc on loopback", []string{"--http-addr", ""}, nil, false, 0, nil, ""},
		{"localhost is loopback", []string{"--grpc-addr", "localhost:7400"}, nil, false, 0, nil, ""},
		{"grpc beyond loopback", []string{"--grpc-addr", "0.0.0.0:7400"}, nil, true, 0, nil, ""},
		{"http beyond loopback", []string{"--http-addr", "192.0.2.1:7401"}, nil, true, 0, nil, ""},
		{"empty host is every interface", []string{"--grpc-addr", ":7400"}, nil, true, 0, nil, ""},
		{"open beyond loopback when asked", []string{"--grpc-addr", "0.0.0.0:7400", "--tuf-repo-creation", "open"}, nil, false, 0, nil, ""},
		{"owners on loopback when asked", []string{"--tuf-repo-creation", "owners"}, nil, true, 0, nil, ""},
		{"operators and owners", []string{"--grpc-addr", "0.0.0.0:7400", "--tuf-operator-key", id1 + "," + strings.ToUpper(id2),
			"--tuf-repo-owner", "acme/*=" + id1, "--tuf-repo-owner", "beta/app=" + id1 + "," + id2}, nil, true, 2, []string{"acme/*", "beta/app"}, ""},
		{"owners from the environment", nil, map[string]string{"TRUSTD_TUF_REPO_OWNER": "acme/*=" + id1 + ";beta/*=" + id2, "TRUSTD_TUF_OPERATOR_KEY": id2},
			false, 1, []string{"acme/*", "beta/*"}, ""},
		{"bad mode", []string{"--tuf-repo-creation", "closed"}, nil, false, 0, nil, "--tuf-repo-creation"},
		{"bad operator key", []string{"--tuf-operator-key", "alice"}, nil, false, 0, nil, "--tuf-operator-key"},
		{"bad owner", []string{"--tuf-repo-owner", "acme/*"}, nil, false, 0, nil, "--tuf-repo-owner"},
		{"owner of trustd/", []string{"--tuf-repo-owner", "trustd/*=" + id1}, nil, false, 0, nil, "reserved"},
		{"owner twice", []string{"--tuf-repo-owner", "acme/*=" + id1, "--tuf-repo-owner", "acme/*=" + id2}, nil, false, 0, nil, "twice"},
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
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("complete = %v, want an error naming %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := c.tufCreation
			var patterns []string
			for _, o := range p.Owners {
				patterns = append(patterns, o.Pattern)
			}
			if p.Closed != tc.closed || len(p.Operators) != tc.operators || strings.Join(patterns, " ") != strings.Join(tc.owners, " ") {
				t.Fatalf("policy = %+v, want closed %v, %d operators, owners %v", p, tc.closed, tc.operators, tc.owners)
			}
		})
	}
}
