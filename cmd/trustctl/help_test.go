package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/timerule"
)

// TestHelpStatesTheTimeRule: every command whose answer depends on when a
// signature was made, observed or revoked states trustd's one time rule in
// its help, word for word the same (timerule.Help), so no help text tells
// the user a rule of its own.
func TestHelpStatesTheTimeRule(t *testing.T) {
	for _, path := range [][]string{
		{"subject"},
		{"pgp", "verify"},
		{"pgp", "revoke"},
		{"pgp", "rotate"},
		{"revoke"},
		{"revocations"},
		{"token", "issue"},
		{"verify"},
		{"policy"},
	} {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append(path, "--help"))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), timerule.Help) {
				t.Errorf("trustctl %s --help does not state the one time rule:\n%s", strings.Join(path, " "), out.String())
			}
		})
	}
}
