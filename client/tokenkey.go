package client

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TUFTokenKey is the token keys as trustd publishes them: target
// token.KeyTarget of its trustd/keys TUF repository (the key that signs
// tokens now) and, during a rotation, the keys accepted beside it (the
// next key, or the previous one whose tokens have not expired yet), read
// with go-tuf's updater from a pinned root, so a verifier pins only that
// root and follows rotations. Online
// (RepoURL set) it refreshes the repository into MetadataDir; offline
// (RepoURL empty) it verifies the metadata cached there by an earlier
// online read (signatures, thresholds, versions, expiry) and contacts
// nothing. `trustctl revocations sync` fills the same cache.
type TUFTokenKey struct {
	// RepoURL is the repository's URL (http://HOST/tuf/trustd/keys);
	// empty reads the cache only.
	RepoURL string
	// Root is the pinned root metadata; a root stored in MetadataDir by
	// an earlier update (after rotations) is trusted instead.
	Root []byte
	// MetadataDir is go-tuf's local metadata cache.
	MetadataDir string
}

// TokenKeys implements token.KeySource: the key in use first.
func (k TUFTokenKey) TokenKeys(context.Context) ([]envelope.PublicKey, error) {
	var (
		keys []envelope.PublicKey
		err  error
	)
	if k.RepoURL == "" {
		keys, err = revocation.CachedKeys(k.Root, k.MetadataDir, token.KeyTarget)
	} else {
		keys, err = revocation.FetchKeys(k.RepoURL, k.Root, k.MetadataDir, token.KeyTarget)
	}
	if err != nil {
		return nil, fmt.Errorf("client: token keys from TUF: %w", err)
	}
	return keys, nil
}
