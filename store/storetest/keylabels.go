package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/trustd-dev/trustd/store"
)

// testKeyLabels checks that a label belongs to one key, ignoring case: a
// stranger cannot register their key under a label someone else holds.
func testKeyLabels(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(k store.Key) (store.Key, error) {
		var got store.Key
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			var err error
			got, err = w.PutKey(ctx, k)
			return err
		})
		return got, err
	}
	alice := store.Key{ID: "alice", Type: "ed25519", PublicKey: []byte("alice"), Label: "alice-release"}
	if _, err := put(alice); err != nil {
		t.Fatalf("PutKey alice: %v", err)
	}
	tests := []struct {
		name string
		key  store.Key
		want error
	}{
		{"same label", store.Key{ID: "stranger1", Type: "ed25519", PublicKey: []byte("s1"), Label: "alice-release"}, store.ErrConflict},
		{"label in other case", store.Key{ID: "stranger2", Type: "ed25519", PublicKey: []byte("s2"), Label: "Alice-RELEASE"}, store.ErrConflict},
		{"other label", store.Key{ID: "bob", Type: "ed25519", PublicKey: []byte("bob"), Label: "bob-release"}, nil},
		{"no label", store.Key{ID: "anon1", Type: "ed25519", PublicKey: []byte("a1")}, nil},
		{"no label again", store.Key{ID: "anon2", Type: "ed25519", PublicKey: []byte("a2")}, nil},
		{"alice again", alice, nil},
		{"alice again with another label", store.Key{ID: "alice", Type: "ed25519", PublicKey: []byte("alice"), Label: "bob-release"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := put(tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutKey(%s, %q) = %v, want %v", tc.key.ID, tc.key.Label, err, tc.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), strconv.Quote(tc.key.Label)) {
					t.Errorf("error %q does not name the label %q", err, tc.key.Label)
				}
				if _, err := s.Key(ctx, tc.key.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("refused key %s was stored: %v", tc.key.ID, err)
				}
			}
			if tc.key.ID == "alice" && got.Label != "alice-release" {
				t.Errorf("alice registered again has label %q, want her first", got.Label)
			}
		})
	}

	// Racing registrations of one label: exactly one wins, whatever the
	// isolation level (the unique index decides when both checks pass).
	const racers = 8
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			label := "race"
			if i%2 == 1 {
				label = "RACE"
			}
			_, err := put(store.Key{ID: fmt.Sprintf("racer%d", i), Type: "ed25519", PublicKey: fmt.Appendf(nil, "racer%d", i), Label: label})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racing registration: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racing registrations of one label succeeded, want 1", won)
	}

	for _, label := range []string{"alice-release", "ALICE-release"} {
		if k, err := s.KeyByLabel(ctx, label); err != nil || k.ID != "alice" {
			t.Errorf("KeyByLabel(%q) = %+v, %v; want alice", label, k, err)
		}
	}
	for _, label := range []string{"", "carol"} {
		if _, err := s.KeyByLabel(ctx, label); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeyByLabel(%q) = %v, want ErrNotFound", label, err)
		}
	}
}

// MigrationDedupsKeyLabels migrates the empty database db to the version
// before key labels became unique, registers keys sharing labels (in
// different case) as that schema allowed, then has open migrate to head
// and checks that the first registered key of each label keeps it, the
// later ones lose it, and every key is still there.
func MigrationDedupsKeyLabels(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	names, err := fs.Glob(migrations, "*_key_labels.sql")
	if err != nil || len(names) != 1 {
		t.Fatalf("the key labels migration: %v %v", names, err)
	}
	version, err := strconv.ParseInt(strings.SplitN(names[0], "_", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version-1); err != nil {
		t.Fatalf("migrate to version %d: %v", version-1, err)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	rows := []struct {
		id, label string
		at        time.Time
	}{
		{"k1-later", "Alice-Release", t0.Add(time.Minute)},
		{"k2-first", "alice-release", t0},
		{"k3-same-time", "ALICE-RELEASE", t0}, // loses to k2-first by id
		{"k4", "bob", t0},
		{"k5", "", t0},
		{"k6", "", t0},
		{"k7", "Legacy Label", t0},
	}
	for _, r := range rows {
		if _, err := db.ExecContext(ctx, `INSERT INTO keys (id, type, public_key, label, created_at) VALUES ($1, 'ed25519', $2, $3, $4)`,
			r.id, []byte(r.id), r.label, r.at); err != nil {
			t.Fatalf("write with schema version %d: %v", version-1, err)
		}
	}

	s := open()
	want := map[string]string{"k1-later": "", "k2-first": "alice-release", "k3-same-time": "", "k4": "bob", "k5": "", "k6": "", "k7": "Legacy Label"}
	for id, label := range want {
		k, err := s.Key(ctx, id)
		if err != nil || k.Label != label {
			t.Errorf("key %s after migrating = %+v, %v; want label %q", id, k, err, label)
		}
	}
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, err := w.PutKey(ctx, store.Key{ID: "k8", Type: "ed25519", PublicKey: []byte("k8"), Label: "legacy label"})
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("a new key with a kept legacy label in other case: %v, want ErrConflict", err)
	}
	if k, err := s.KeyByLabel(ctx, "ALICE-release"); err != nil || k.ID != "k2-first" {
		t.Errorf("KeyByLabel after migrating = %+v, %v; want k2-first", k, err)
	}
}
