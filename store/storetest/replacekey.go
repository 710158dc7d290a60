package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/trustd-dev/trustd/store"
)

// testReplaceKeyMaterial checks the compare-and-swap that grows a
// registered OpenPGP certificate: it replaces the stored bytes only when
// they are the ones the caller merged into, so a concurrent update is
// refused rather than lost, and a failed transaction leaves the key as it
// was.
func testReplaceKeyMaterial(t *testing.T, s store.Store) {
	ctx := context.Background()
	replace := func(id string, prev, next []byte) error {
		return s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			return w.ReplaceKeyMaterial(ctx, id, prev, next)
		})
	}
	if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, err := w.PutKey(ctx, store.Key{ID: "cert1", Type: "pgp", PublicKey: []byte("v1"), Label: "cert-one"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		id         string
		prev, next string
		want       error
		stored     string
	}{
		{"swap", "cert1", "v1", "v2", nil, "v2"},
		{"stale prev", "cert1", "v1", "v3", store.ErrConflict, "v2"},
		{"unknown key", "nope", "v1", "v2", store.ErrNotFound, "v2"},
		{"empty next", "cert1", "v2", "", store.ErrInvalid, "v2"},
		{"again", "cert1", "v2", "v3", nil, "v3"},
	} {
		err := replace(tc.id, []byte(tc.prev), []byte(tc.next))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		k, err := s.Key(ctx, "cert1")
		if err != nil || string(k.PublicKey) != tc.stored || k.Label != "cert-one" || k.Type != "pgp" {
			t.Errorf("%s: stored %+v, %v; want %s", tc.name, k, err, tc.stored)
		}
	}
	// Rolled back with its transaction.
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if err := w.ReplaceKeyMaterial(ctx, "cert1", []byte("v3"), []byte("v4")); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if k, _ := s.Key(ctx, "cert1"); err == nil || string(k.PublicKey) != "v3" {
		t.Errorf("aborted replace stored %q", k.PublicKey)
	}
}
