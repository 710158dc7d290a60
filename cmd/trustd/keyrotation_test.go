package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

// TestKeyFlags: the key flags take several files, from the command line or
// the environment; a file named twice is refused naming the flag.
func TestKeyFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		tokens  []string
		lists   []string
		logs    []string
		problem string
	}{
		{"defaults", nil, nil, nil, nil, nil, ""},
		{"a rotation", []string{"--token-key", "b.key,a.key", "--revocation-list-key", "l2.key", "--revocation-list-key", "l1.key", "--log-key", "n.key,o.key"}, nil,
			[]string{"b.key", "a.key"}, []string{"l2.key", "l1.key"}, []string{"n.key", "o.key"}, ""},
		{"from the environment", nil, map[string]string{"TRUSTD_TOKEN_KEY": "b.key,a.key", "TRUSTD_LOG_KEY": "n.key,o.key"},
			[]string{"b.key", "a.key"}, nil, []string{"n.key", "o.key"}, ""},
		{"a token key twice", []string{"--token-key", "a.key,./a.key"}, nil, nil, nil, nil, "--token-key: ./a.key is named twice"},
		{"a list key twice", []string{"--revocation-list-key", "l.key,l.key"}, nil, nil, nil, nil, "--revocation-list-key: l.key is named twice"},
		{"a log key twice", []string{"--log-key", "d/../n.key,n.key"}, nil, nil, nil, nil, "--log-key: n.key is named twice"},
		{"an empty name", []string{"--log-key", "n.key,"}, nil, nil, nil, nil, "--log-key: an empty file name"},
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
					t.Fatalf("complete = %v, want an error containing %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.TokenKeys, ",") != strings.Join(tc.tokens, ",") || strings.Join(c.Rev.ListKeys, ",") != strings.Join(tc.lists, ",") ||
				strings.Join(c.LogKeys, ",") != strings.Join(tc.logs, ",") {
				t.Errorf("keys: token %v, list %v, log %v; want %v, %v, %v", c.TokenKeys, c.Rev.ListKeys, c.LogKeys, tc.tokens, tc.lists, tc.logs)
			}
		})
	}
}

// TestLoadLogKeys: the first file signs, the others retire; a missing file
// is created with the name of the log's existing keys (not --log-origin),
// so the rotation keeps the origin; keys of two names are refused.
func TestLoadLogKeys(t *testing.T) {
	dir := t.TempDir()
	cur := filepath.Join(dir, "cur.key")
	first, err := loadLogKeys([]string{cur}, "acme-log")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.retiring) != 0 || !strings.HasPrefix(first.vkey, "acme-log+") {
		t.Fatalf("first start: %+v", first)
	}
	next := filepath.Join(dir, "next.key")
	rot, err := loadLogKeys([]string{next, cur}, "trustd-log") // another --log-origin
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rot.vkey, "acme-log+") || rot.vkey == first.vkey {
		t.Errorf("the new key %s: want a new key named acme-log", rot.vkey)
	}
	if len(rot.retiring) != 1 || rot.retiring[0] != first.skey || rot.retiringV[0] != first.vkey {
		t.Errorf("retiring %v, want the current key", rot.retiringV)
	}
	if fi, err := os.Stat(next); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the created key file: %v, %v", fi, err)
	}
	// The rotation's checkpoints are what a client pinned on cur follows.
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: "acme-log", Size: 0, Hash: tlog.EmptyRoot(), NewKey: rot.vkey}, rot.skey, rot.retiring...)
	if err != nil {
		t.Fatal(err)
	}
	if _, key, err := tlog.FollowCheckpoint(signed, first.vkey); err != nil || key != rot.vkey {
		t.Errorf("FollowCheckpoint = %s, %v", key, err)
	}
	// The next start with the new key alone reads the same key.
	after, err := loadLogKeys([]string{next}, "trustd-log")
	if err != nil || after.vkey != rot.vkey {
		t.Errorf("after the rotation: %+v, %v", after, err)
	}

	other := filepath.Join(dir, "other.key")
	if _, err := loadLogKeys([]string{other}, "other-log"); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLogKeys([]string{next, other}, "acme-log"); err == nil || !strings.Contains(err.Error(), `a key named "other-log"`) {
		t.Errorf("keys of two names: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLogKeys([]string{next, bad}, "acme-log"); err == nil || !strings.Contains(err.Error(), "--log-key: "+bad) {
		t.Errorf("a malformed key file: %v", err)
	}
	if _, err := note.NewSigner(rot.skey); err != nil {
		t.Errorf("the signer key: %v", err)
	}
}
