// Package keys is trustd's registry of public keys: it parses what callers
// register, gives each key its TUF/securesystemslib key id, and resolves key
// ids for signature verification. Registering is open; a key alone grants
// nothing.
package keys

import (
	"context"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/store"
)

// MaxLabelLength bounds a key's label, in characters.
const MaxLabelLength = 200

// ErrInvalidLabel means a label is too long or holds control characters.
var ErrInvalidLabel = errors.New("invalid label")

// Store is the part of the store the registry needs.
type Store interface {
	Key(ctx context.Context, id string) (store.Key, error)
	Keys(ctx context.Context, after string, limit int) ([]store.Key, error)
	Update(ctx context.Context, fn func(context.Context, store.Writer) error) error
}

// Registry registers and looks up keys.
type Registry struct {
	store Store
}

// NewRegistry returns a registry over s.
func NewRegistry(s Store) *Registry { return &Registry{store: s} }

// Key is a registered key with its parsed public half.
type Key struct {
	store.Key
	Public envelope.PublicKey
}

// Add parses data (PEM or securesystemslib JSON) and registers the key.
// It returns the stored key and whether it was new. Errors:
// envelope.ErrInvalidKey, ErrInvalidLabel, store.ErrConflict.
func (r *Registry) Add(ctx context.Context, data []byte, label string) (Key, bool, error) {
	if err := checkLabel(label); err != nil {
		return Key{}, false, fmt.Errorf("keys: label: %w", err)
	}
	pub, err := envelope.ParsePublicKey(data)
	if err != nil {
		return Key{}, false, fmt.Errorf("keys: public_key: %w", err)
	}
	want := store.Key{ID: pub.ID, Type: pub.Type, PublicKey: pub.Encode(), Label: label}
	var (
		got     store.Key
		created bool
	)
	err = r.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, err := w.Key(ctx, want.ID)
		created = errors.Is(err, store.ErrNotFound)
		if err != nil && !created {
			return err
		}
		got, err = w.PutKey(ctx, want)
		return err
	})
	if err != nil {
		return Key{}, false, fmt.Errorf("keys: register %s: %w", want.ID, err)
	}
	return Key{Key: got, Public: pub}, created, nil
}

// Get returns a registered key. Errors: store.ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (Key, error) {
	k, err := r.store.Key(ctx, id)
	if err != nil {
		return Key{}, fmt.Errorf("keys: key %q: %w", id, err)
	}
	return decode(k)
}

// List returns up to limit keys with ids after `after`.
func (r *Registry) List(ctx context.Context, after string, limit int) ([]Key, error) {
	ks, err := r.store.Keys(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	out := make([]Key, 0, len(ks))
	for _, k := range ks {
		dk, err := decode(k)
		if err != nil {
			return nil, err
		}
		out = append(out, dk)
	}
	return out, nil
}

func decode(k store.Key) (Key, error) {
	pub, err := envelope.DecodeStoredKey(k.Type, k.PublicKey)
	if err != nil {
		return Key{}, fmt.Errorf("keys: stored key %q: %w", k.ID, err)
	}
	return Key{Key: k, Public: pub}, nil
}

func checkLabel(label string) error {
	if !utf8.ValidString(label) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidLabel)
	}
	if n := utf8.RuneCountInString(label); n > MaxLabelLength {
		return fmt.Errorf("%w: %d characters, the maximum is %d", ErrInvalidLabel, n, MaxLabelLength)
	}
	for _, r := range label {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrInvalidLabel, r)
		}
	}
	return nil
}
