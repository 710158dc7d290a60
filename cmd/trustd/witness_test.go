package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/testwitness"
)

// TestWitnessFlags: --witness takes VKEY=URL, repeatable on the command
// line and ';'-separated in the environment; bad keys, URLs, duplicates
// and a too short --witness-interval are refused naming the flag.
func TestWitnessFlags(t *testing.T) {
	key := func(name string, seed byte) string {
		w, err := testwitness.New(name, bytes.Repeat([]byte{seed}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return w.VerifierKey()
	}
	a, b := key("witness.example/a", 1), key("witness.example/b", 2)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string // witness names
		problem string
	}{
		{"none", nil, nil, nil, ""},
		{"two flags", []string{"--witness", a + "=http://127.0.0.1:1/", "--witness", b + "=https://w.example/b"}, nil, []string{"witness.example/a", "witness.example/b"}, ""},
		{"environment", nil, map[string]string{"TRUSTD_WITNESS": a + "=http://127.0.0.1:1;" + b + "=http://127.0.0.1:2"}, []string{"witness.example/a", "witness.example/b"}, ""},
		{"no URL", []string{"--witness", a}, nil, nil, "--witness: witness"},
		{"not a witness key", []string{"--witness", "w+01020304+AAAA=http://x"}, nil, nil, "--witness"},
		{"log key, not cosignature/v1", []string{"--witness", "test+3b0e0b25+AXZrWD/FiuLmOyxqp8QmyzaqHXGqGaGNe4e04xHMF6ek=http://x"}, nil, nil, "--witness"},
		{"ftp URL", []string{"--witness", a + "=ftp://w.example"}, nil, nil, "not an absolute http or https URL"},
		{"relative URL", []string{"--witness", a + "=/add"}, nil, nil, "not an absolute http or https URL"},
		{"twice", []string{"--witness", a + "=http://x", "--witness", a + "=http://y"}, nil, nil, "named twice"},
		{"interval", []string{"--witness-interval", "1ms"}, nil, nil, "--witness-interval"},
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
			var names []string
			for _, w := range c.witnesses {
				names = append(names, w.Name())
			}
			if strings.Join(names, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("witnesses = %v, want %v", names, tc.want)
			}
		})
	}
}
