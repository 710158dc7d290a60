package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/tlog"
)

// TestLogStateAcrossRotation: after following a rotation, the state still
// opens the checkpoint it remembered under the old key, and --log-key may
// still name the old key (the state followed from it); any other key is
// refused.
func TestLogStateAcrossRotation(t *testing.T) {
	oldSKey, oldVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	_, newVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	_, otherVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	remembered, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: "test-log", Size: 0, Hash: tlog.EmptyRoot()}, oldSKey)
	if err != nil {
		t.Fatal(err)
	}
	st := logState{Server: "s", VerifierKey: newVKey, Checkpoint: string(remembered), RetiredKeys: []string{otherVKey, oldVKey}}
	if cp, err := openRemembered(&st); err != nil || cp.Size != 0 {
		t.Errorf("openRemembered: %+v, %v", cp, err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := saveState(path, st); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{oldVKey, otherVKey, newVKey, ""} {
		f := logFlags{state: path, key: key}
		got, _, err := f.load("s")
		if err != nil || got.VerifierKey != newVKey || f.changed {
			t.Errorf("--log-key %q: %+v, %v, changed %v; want the followed key kept", key, got, err, f.changed)
		}
	}
	_, strangerVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	f := logFlags{state: path, key: strangerVKey}
	if _, _, err := f.load("s"); err == nil || !strings.Contains(err.Error(), "differs from the key pinned") {
		t.Errorf("--log-key of a key never pinned: %v", err)
	}
	st.RetiredKeys = nil
	if _, err := openRemembered(&st); err == nil {
		t.Error("openRemembered without the key that signed the checkpoint succeeded")
	}
}
