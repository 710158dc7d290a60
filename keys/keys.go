// Package keys is trustd's registry of public keys: it parses what callers
// register, gives each key its TUF/securesystemslib key id, and resolves key
// ids for signature verification. Whether registering is open is trustd's
// configuration; a key alone grants nothing. Labels are short lowercase
// ASCII names, unique ignoring case, so nobody labels their key with
// another holder's name.
package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/store"
)

// MaxLabelLength bounds a key's label, in characters.
const MaxLabelLength = 64

// Label errors.
var (
	// ErrInvalidLabel means a label is too long or holds characters
	// outside [a-z0-9._-] (upper case is folded to lower case first).
	ErrInvalidLabel = errors.New("invalid label")
	// ErrLabelTaken means another key holds the label, ignoring case.
	ErrLabelTaken = errors.New("label is taken")
)

// Store is the part of the store the registry needs.
type Store interface {
	Key(ctx context.Context, id string) (store.Key, error)
	KeyByAlias(ctx context.Context, alias string) (store.Key, error)
	Keys(ctx context.Context, after string, limit int) ([]store.Key, error)
	Update(ctx context.Context, fn func(context.Context, store.Writer) error) error
}

// MaxKeyBytes bounds what Add accepts: an OpenPGP certificate (whose
// subkeys and certifications make it the largest kind) up to
// pgp.MaxCertificateBytes; the other kinds have their own, smaller limit.
const MaxKeyBytes = pgp.MaxCertificateBytes

// Registry registers and looks up keys.
type Registry struct {
	store  Store
	update CertificateUpdater
}

// NewRegistry returns a registry over s.
func NewRegistry(s Store) *Registry { return &Registry{store: s} }

// CertificateUpdater merges a re-export of a registered OpenPGP
// certificate into it and logs every change (pgplog's UpdateCertificate),
// returning the certificate as registered after it.
type CertificateUpdater func(ctx context.Context, data []byte) (*pgp.Certificate, Update, error)

// Update is what a certificate update changed: the packets accepted (none
// when the registered certificate already held them all) and those not.
type Update struct {
	Changes []pgp.Change
	Ignored []pgp.Ignored
	// Entry is the log sequence number of the update's record; 0 when
	// nothing changed.
	Entry int64
}

// WithCertificateUpdater makes Add update a registered OpenPGP
// certificate with u when it is given again with other packets, instead of
// refusing it as a conflict. It returns r.
func (r *Registry) WithCertificateUpdater(u CertificateUpdater) *Registry {
	r.update = u
	return r
}

// Key is a registered key with its parsed public half: Public for the
// envelope key types, PGP for OpenPGP certificates (type pgp.KeyType).
type Key struct {
	store.Key
	Public envelope.PublicKey
	PGP    *pgp.Certificate
	// Aliases are the other ids the key is found by (its in-toto key ids,
	// see InTotoKeyIDs); set by Add.
	Aliases []string
	// Update is set when Add merged a re-export into a registered
	// OpenPGP certificate.
	Update *Update
}

// IsOpenPGP reports whether data looks like an OpenPGP certificate or key
// rather than a PEM or JSON key: an armor header ("-----BEGIN PGP …") or a
// binary packet (the first byte has the packet tag bit set).
func IsOpenPGP(data []byte) bool {
	t := bytes.TrimSpace(data)
	return bytes.HasPrefix(t, []byte("-----BEGIN PGP ")) || (len(t) > 0 && t[0]&0x80 != 0)
}

// Parse reads a public key in any form Add registers (PEM,
// securesystemslib JSON, an OpenPGP certificate armored or binary) and
// returns it under the id Add would register it by, with its in-toto
// aliases, without storing anything: trustctl key id shows a key's id
// before (or instead of) registering it. Errors: envelope.ErrInvalidKey
// and the pgp sentinels, prefixed "keys: public_key".
func Parse(data []byte) (Key, error) {
	if IsOpenPGP(data) {
		cert, err := pgp.ParseCertificate(data)
		if err != nil {
			return Key{}, fmt.Errorf("keys: public_key: %w", err)
		}
		return Key{Key: store.Key{ID: cert.Fingerprint, Type: pgp.KeyType, PublicKey: cert.Encode()}, PGP: cert}, nil
	}
	pub, err := envelope.ParsePublicKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("keys: public_key: %w", err)
	}
	key := Key{Key: store.Key{ID: pub.ID, Type: pub.Type, PublicKey: pub.Encode()}, Public: pub}
	if key.Aliases, err = InTotoKeyIDs(data, pub); err != nil {
		return Key{}, fmt.Errorf("keys: public_key: %w", err)
	}
	return key, nil
}

// Add parses data (PEM, securesystemslib JSON, or an OpenPGP certificate,
// armored or binary, as gpg --export writes it) and registers the key. An
// OpenPGP certificate is registered under its primary fingerprint with type
// pgp.KeyType, kept as given (every packet), and its primary key and
// subkeys are indexed so signatures by any of them resolve to it, in the
// same transaction. It returns the stored key and whether it was new.
// The label is stored in lower case (see NormalizeLabel); registering the
// same key again keeps its first label. An OpenPGP certificate given again
// with packets the registered one lacks (a re-export after gpg
// --edit-key) is merged into it by the CertificateUpdater, when one is set
// (WithCertificateUpdater); Key.Update says what changed.
// Errors: envelope.ErrInvalidKey, the pgp sentinels (pgp.ErrMalformed,
// pgp.ErrUntrusted, …), ErrInvalidLabel, ErrLabelTaken, store.ErrConflict.
func (r *Registry) Add(ctx context.Context, data []byte, label string) (Key, bool, error) {
	label, err := NormalizeLabel(label)
	if err != nil {
		return Key{}, false, fmt.Errorf("keys: label: %w", err)
	}
	key, err := Parse(data)
	if err != nil {
		return Key{}, false, err
	}
	key.Label = label
	var subkeys []store.PGPKey
	if key.PGP != nil {
		subkeys = PGPIndex(key.PGP)
	}
	var created bool
	id := key.ID
	err = r.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, err := w.Key(ctx, key.ID)
		created = errors.Is(err, store.ErrNotFound)
		if err != nil && !created {
			return err
		}
		if created && label != "" {
			// The store refuses a taken label too (a unique index); asking
			// first names the holder.
			holder, err := w.KeyByLabel(ctx, label)
			switch {
			case err == nil:
				return fmt.Errorf("%w: label %q is the label of key %s", ErrLabelTaken, label, holder.ID)
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		if key.Key, err = w.PutKey(ctx, key.Key); err != nil {
			return err
		}
		if len(subkeys) > 0 {
			return w.PutPGPKeys(ctx, subkeys)
		}
		// Registering a key again records the aliases it lacks (a key
		// registered before trustd knew aliases gains them).
		return w.PutKeyAliases(ctx, key.ID, key.Aliases)
	})
	if err != nil && key.PGP != nil && r.update != nil && errors.Is(err, store.ErrConflict) && !errors.Is(err, ErrLabelTaken) {
		// The certificate is registered with other packets: a re-export
		// after gpg --edit-key, merged and logged change by change.
		cert, u, uerr := r.update(ctx, data)
		if uerr != nil {
			return Key{}, false, fmt.Errorf("keys: update %s: %w", id, uerr)
		}
		got, gerr := r.Get(ctx, id)
		if gerr != nil {
			return Key{}, false, gerr
		}
		got.PGP, got.Update = cert, &u
		return got, false, nil
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("keys: register %s: %w", id, err)
	}
	return key, created, nil
}

// PGPIndex returns the index entries of a certificate's keys: the primary
// key and every subkey, each under the primary fingerprint.
func PGPIndex(cert *pgp.Certificate) []store.PGPKey {
	out := []store.PGPKey{{Fingerprint: cert.Fingerprint, KeyID: fmt.Sprintf("%016x", cert.KeyID), Primary: cert.Fingerprint}}
	for _, sk := range cert.Subkeys {
		out = append(out, store.PGPKey{Fingerprint: sk.Fingerprint, KeyID: fmt.Sprintf("%016x", sk.KeyID), Primary: cert.Fingerprint})
	}
	return out
}

// Get returns a registered key by its id or an alias (an in-toto key id);
// the key returned carries its primary id. Errors: store.ErrNotFound.
func (r *Registry) Get(ctx context.Context, id string) (Key, error) {
	k, err := Resolve(ctx, r.store, id)
	if err != nil {
		return Key{}, fmt.Errorf("keys: key %q: %w", id, err)
	}
	return decode(k)
}

// Resolver is the part of the store Resolve reads.
type Resolver interface {
	Key(ctx context.Context, id string) (store.Key, error)
	KeyByAlias(ctx context.Context, alias string) (store.Key, error)
}

// Resolve finds the registered key with id as its id or, failing that, as
// an alias. Errors: store.ErrNotFound.
func Resolve(ctx context.Context, s Resolver, id string) (store.Key, error) {
	k, err := s.Key(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return k, err
	}
	k, aerr := s.KeyByAlias(ctx, id)
	if errors.Is(aerr, store.ErrNotFound) {
		return store.Key{}, err
	}
	return k, aerr
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
	if k.Type == pgp.KeyType {
		cert, err := pgp.ParseCertificate(k.PublicKey)
		if err != nil {
			return Key{}, fmt.Errorf("keys: stored key %q: %w", k.ID, err)
		}
		return Key{Key: k, PGP: cert}, nil
	}
	pub, err := envelope.DecodeStoredKey(k.Type, k.PublicKey)
	if err != nil {
		return Key{}, fmt.Errorf("keys: stored key %q: %w", k.ID, err)
	}
	return Key{Key: k, Public: pub}, nil
}

// NormalizeLabel checks a key label and returns it in lower case: empty
// (no label), or 1 to MaxLabelLength ASCII letters, digits, '.', '_' and
// '-', starting with a letter or digit. Labels compare ignoring case, so
// "Alice-Release" is the label "alice-release".
func NormalizeLabel(label string) (string, error) {
	if label == "" {
		return "", nil
	}
	if len(label) > MaxLabelLength {
		return "", fmt.Errorf("%w: %d bytes, the maximum is %d", ErrInvalidLabel, len(label), MaxLabelLength)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return "", fmt.Errorf("%w: %q: character %q at %d; a label is letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalidLabel, label, c, i)
		}
	}
	return strings.ToLower(label), nil
}
