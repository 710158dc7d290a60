package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store"
)

// TestSharedLogKey: the first replica records its log key in the database;
// a replica with another key, or with no key file (which would make a key
// of its own), is refused and told what to do; a replica with the shared
// key file serves.
func TestSharedLogKey(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			dir := t.TempDir()
			first := filepath.Join(dir, "first.key")
			_, vkey, err := sharedLogKey(t, st, first)
			if err != nil {
				t.Fatalf("first start: %v", err)
			}
			if got, err := st.LogVerifierKey(ctx); err != nil || got != vkey {
				t.Fatalf("recorded %q, %v; want the first replica's %q", got, err, vkey)
			}
			if _, again, err := sharedLogKey(t, st, first); err != nil || again != vkey {
				t.Errorf("restart with the shared key: %q, %v", again, err)
			}
			// A second replica with the shared key file serves.
			shared := filepath.Join(dir, "copy.key")
			data, _ := os.ReadFile(first)
			if err := os.WriteFile(shared, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, got, err := sharedLogKey(t, st, shared); err != nil || got != vkey {
				t.Errorf("replica with a copy of the key: %q, %v", got, err)
			}

			// A replica started without the key file: refused, and no key
			// is created.
			missing := filepath.Join(dir, "missing.key")
			_, _, err = sharedLogKey(t, st, missing)
			if err == nil || !strings.Contains(err.Error(), "--log-key") || !strings.Contains(err.Error(), "does not exist") ||
				!strings.Contains(err.Error(), vkey) {
				t.Errorf("replica without the key file = %v, want a refusal naming --log-key and the recorded key", err)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a key file was created for the refused replica: %v", err)
			}

			// A replica with a key of its own: refused, its file kept.
			other := filepath.Join(dir, "other.key")
			if _, _, err := createLogKey(other, "trustd-log"); err != nil {
				t.Fatal(err)
			}
			_, _, err = sharedLogKey(t, st, other)
			if err == nil || !strings.Contains(err.Error(), "every replica must use the same log key file") || !strings.Contains(err.Error(), vkey) {
				t.Errorf("replica with another key = %v, want a refusal naming the recorded key", err)
			}
			if _, err := os.Stat(other); err != nil {
				t.Errorf("the operator's key file was removed: %v", err)
			}
			if got, _ := st.LogVerifierKey(ctx); got != vkey {
				t.Errorf("a refused replica changed the recorded key to %q", got)
			}
		})
	}
}

// sharedLogKey is sharedLogKeys for one key file, as a replica without a
// rotation starts.
func sharedLogKey(t testing.TB, st store.Store, path string) (string, string, error) {
	k, err := sharedLogKeys(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), st, []string{path}, "trustd-log")
	return k.skey, k.vkey, err
}

// TestSharedLogKeyRotation: a planned rotation (--log-key NEW,OLD) is the
// one way to change the key the database records: the new key is recorded
// in place of the retiring one, compare-and-swap, so a second replica with
// the same rotation agrees and a restart with the new key alone serves; a
// rotation that does not retire the recorded key is refused, and creates
// no key file; an old replica with the retired key alone is refused after
// the rotation.
func TestSharedLogKeyRotation(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			dir := t.TempDir()
			var logged strings.Builder
			log := slog.New(slog.NewTextHandler(&logged, nil))
			start := func(paths ...string) (logKeys, error) {
				return sharedLogKeys(ctx, log, st, paths, "trustd-log")
			}
			cur, next := filepath.Join(dir, "cur.key"), filepath.Join(dir, "next.key")
			first, err := start(cur)
			if err != nil {
				t.Fatal(err)
			}

			// A rotation that does not name the recorded key: refused, and
			// the new key file is not left behind.
			stray, strayNext := filepath.Join(dir, "stray.key"), filepath.Join(dir, "stray-next.key")
			if _, _, err := createLogKey(stray, "trustd-log"); err != nil {
				t.Fatal(err)
			}
			if _, err := start(strayNext, stray); err == nil || !strings.Contains(err.Error(), "does not exist, but this database's log is signed by "+first.vkey) ||
				!strings.Contains(err.Error(), "name the file holding") {
				t.Errorf("a rotation retiring another key: %v", err)
			}
			if _, err := os.Stat(strayNext); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused rotation created %s: %v", strayNext, err)
			}
			// One whose new key exists but that retires another key: refused.
			if _, err := start(stray, strayNext); err == nil || !strings.Contains(err.Error(), "signed by "+first.vkey) {
				t.Errorf("a rotation from a key the database does not record: %v", err)
			}
			if got, _ := st.LogVerifierKey(ctx); got != first.vkey {
				t.Fatalf("refused rotations changed the recorded key to %s", got)
			}

			rot, err := start(next, cur)
			if err != nil {
				t.Fatalf("the rotation: %v", err)
			}
			if got, _ := st.LogVerifierKey(ctx); got != rot.vkey || rot.vkey == first.vkey || len(rot.retiringV) != 1 || rot.retiringV[0] != first.vkey {
				t.Fatalf("after the rotation the database records %s (new %s, retiring %v)", got, rot.vkey, rot.retiringV)
			}
			if !strings.Contains(logged.String(), "the database now records the new log key") {
				t.Errorf("the rotation was not logged: %s", logged.String())
			}
			// Another replica with the same rotation, a restart, and the
			// last step (the new key alone) all serve.
			for _, paths := range [][]string{{next, cur}, {next}} {
				if k, err := start(paths...); err != nil || k.vkey != rot.vkey {
					t.Errorf("start with %v after the rotation: %v", paths, err)
				}
			}
			// A replica left with the retired key alone is refused.
			if _, err := start(cur); err == nil || !strings.Contains(err.Error(), "signed by "+rot.vkey) {
				t.Errorf("the retired key alone after the rotation: %v", err)
			}
		})
	}
}

// TestSharedLogKeyUpgrade: a database from before keys were recorded
// records the key of the first replica that starts on it.
func TestSharedLogKeyUpgrade(t *testing.T) {
	st := teststore.Backends()[0].Open(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.key")
	_, vkey, err := createLogKey(path, "trustd-log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LogVerifierKey(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a new database records a key: %v", err)
	}
	if _, got, err := sharedLogKey(t, st, path); err != nil || got != vkey {
		t.Fatalf("first start with an existing key file: %q, %v", got, err)
	}
	if got, _ := st.LogVerifierKey(ctx); got != vkey {
		t.Errorf("recorded %q, want %q", got, vkey)
	}
}
