package main

import (
	"context"
	"errors"
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
			_, vkey, err := sharedLogKey(ctx, st, first, "trustd-log")
			if err != nil {
				t.Fatalf("first start: %v", err)
			}
			if got, err := st.LogVerifierKey(ctx); err != nil || got != vkey {
				t.Fatalf("recorded %q, %v; want the first replica's %q", got, err, vkey)
			}
			if _, again, err := sharedLogKey(ctx, st, first, "trustd-log"); err != nil || again != vkey {
				t.Errorf("restart with the shared key: %q, %v", again, err)
			}
			// A second replica with the shared key file serves.
			shared := filepath.Join(dir, "copy.key")
			data, _ := os.ReadFile(first)
			if err := os.WriteFile(shared, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, got, err := sharedLogKey(ctx, st, shared, "trustd-log"); err != nil || got != vkey {
				t.Errorf("replica with a copy of the key: %q, %v", got, err)
			}

			// A replica started without the key file: refused, and no key
			// is created.
			missing := filepath.Join(dir, "missing.key")
			_, _, err = sharedLogKey(ctx, st, missing, "trustd-log")
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
			_, _, err = sharedLogKey(ctx, st, other, "trustd-log")
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
	if _, got, err := sharedLogKey(ctx, st, path, "trustd-log"); err != nil || got != vkey {
		t.Fatalf("first start with an existing key file: %q, %v", got, err)
	}
	if got, _ := st.LogVerifierKey(ctx); got != vkey {
		t.Errorf("recorded %q, want %q", got, vkey)
	}
}
