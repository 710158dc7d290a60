package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/trustd-dev/trustd/store"
)

// testKeyAliases checks that an alias resolves to its one key, that nobody
// takes another key's id or alias as an alias, and that a refused batch
// stores none of its aliases.
func testKeyAliases(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, id := range []string{"alice", "bob"} {
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, err := w.PutKey(ctx, store.Key{ID: id, Type: "ed25519", PublicKey: []byte(id)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(id string, aliases ...string) error {
		return s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutKeyAliases(ctx, id, aliases) })
	}
	tests := []struct {
		name    string
		key     string
		aliases []string
		want    error
	}{
		{"aliases of alice", "alice", []string{"alice-intoto", "alice-python", "alice"}, nil},
		{"again", "alice", []string{"alice-intoto"}, nil},
		{"alice's alias for bob", "bob", []string{"bob-intoto", "alice-intoto"}, store.ErrConflict},
		{"alice's id for bob", "bob", []string{"alice"}, store.ErrConflict},
		{"unregistered key", "carol", []string{"carol-intoto"}, store.ErrInvalid},
		{"empty alias", "bob", []string{""}, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := put(tc.key, tc.aliases...); !errors.Is(err, tc.want) {
				t.Fatalf("PutKeyAliases(%s, %q) = %v, want %v", tc.key, tc.aliases, err, tc.want)
			}
		})
	}
	for alias, want := range map[string]string{"alice-intoto": "alice", "alice-python": "alice"} {
		if k, err := s.KeyByAlias(ctx, alias); err != nil || k.ID != want || string(k.PublicKey) != want {
			t.Errorf("KeyByAlias(%s) = %+v, %v; want %s", alias, k, err, want)
		}
	}
	for _, alias := range []string{"bob-intoto", "carol-intoto", "alice"} {
		if k, err := s.KeyByAlias(ctx, alias); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeyByAlias(%s) = %+v, %v; want ErrNotFound", alias, k, err)
		}
	}
}
