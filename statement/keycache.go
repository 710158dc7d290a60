package statement

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/store"
)

// openPGPKeyType is pgp.KeyType (package pgp is not imported here).
const openPGPKeyType = "pgp"

// maxCachedKeys bounds the key cache; past it the cache starts over.
const maxCachedKeys = 10000

// keyCache remembers registered keys by id. A key id is a hash of the key
// itself, so a cached entry can never go stale; revocation is decided
// elsewhere, never by dropping a key from the registry. OpenPGP
// certificates are the exception: one grows under its fingerprint when an
// update is merged (new subkeys, new self-signatures), so they are read
// from the store each time, never cached.
type keyCache struct {
	store interface {
		Key(ctx context.Context, id string) (store.Key, error)
	}
	mu   sync.RWMutex
	keys map[string]store.Key
}

func newKeyCache(s store.Reader) *keyCache {
	return &keyCache{store: s, keys: map[string]store.Key{}}
}

// lookup is an envelope.KeyLookup.
func (c *keyCache) lookup(ctx context.Context, id string) (string, []byte, error) {
	c.mu.RLock()
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if !ok {
		var err error
		if k, err = c.store.Key(ctx, id); errors.Is(err, store.ErrNotFound) {
			return "", nil, fmt.Errorf("%w: %w", envelope.ErrUnknownKey, err)
		} else if err != nil {
			return "", nil, err
		}
		if k.Type == openPGPKeyType {
			return k.Type, k.PublicKey, nil
		}
		c.mu.Lock()
		if len(c.keys) >= maxCachedKeys {
			c.keys = map[string]store.Key{}
		}
		c.keys[id] = k
		c.mu.Unlock()
	}
	return k.Type, k.PublicKey, nil
}
