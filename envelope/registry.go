package envelope

import (
	"context"
	"slices"
	"sync"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// KeyLookup returns the registry row for a key id: its key type and encoded
// public key (store.Key's Type and PublicKey). An error wrapping
// ErrUnknownKey means the key id is not registered; a lookup backed by a
// store translates the store's not-found error into it, so this package
// needs no store.
type KeyLookup func(ctx context.Context, keyID string) (keyType string, encoded []byte, err error)

// newVerifierFunc turns the encoded public key of a registry row into a
// verifier.
type newVerifierFunc func(encoded []byte) (dsse.Verifier, error)

var registry = struct {
	sync.RWMutex
	factories map[string]newVerifierFunc
}{factories: make(map[string]newVerifierFunc)}

// RegisterKeyType adds a key type to the registry so that Verify can check
// signatures by keys of that type; the OpenPGP and Sigstore packages call it
// from init. newVerifier turns a registry row's encoded key into a verifier
// whose Verify wraps ErrWrongKeyType when a signature cannot be of its key
// type, and whose KeyID, if not empty, is the key id the row is registered
// under. It panics if keyType is empty or already registered, or if
// newVerifier is nil, since that is a programming error.
func RegisterKeyType(keyType string, newVerifier func(encoded []byte) (dsse.Verifier, error)) {
	if keyType == "" || newVerifier == nil {
		panic("envelope: RegisterKeyType needs a key type and a verifier constructor")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.factories[keyType]; dup {
		panic("envelope: key type " + keyType + " registered twice")
	}
	registry.factories[keyType] = newVerifier
}

// KeyTypes returns the registered key types, sorted.
func KeyTypes() []string {
	registry.RLock()
	defer registry.RUnlock()
	types := make([]string, 0, len(registry.factories))
	for t := range registry.factories {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

func verifierFactory(keyType string) (newVerifierFunc, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.factories[keyType]
	return f, ok
}

func init() {
	for _, t := range []string{KeyTypeED25519, KeyTypeECDSAP256, KeyTypeECDSAP384, KeyTypeRSA} {
		RegisterKeyType(t, func(encoded []byte) (dsse.Verifier, error) {
			k, err := DecodeStoredKey(t, encoded)
			if err != nil {
				return nil, err
			}
			return newVerifier(k), nil
		})
	}
}
