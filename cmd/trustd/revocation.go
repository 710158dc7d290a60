package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
)

// revocationConfig is the revocation part of trustd's configuration.
type revocationConfig struct {
	SecurityAuthority []string
	TokenIssuers      []string
	// AttestationPublishers are the signers whose attestations make them
	// publishers of the digests they name.
	AttestationPublishers []string
	ListKey               string
	ListValidity          time.Duration
}

func (r *revocationConfig) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&r.SecurityAuthority, "security-authority", nil, "key id of the deployment's security authority, which may revoke any key and any digest; repeatable or comma-separated (env TRUSTD_SECURITY_AUTHORITY)")
	fs.StringSliceVar(&r.TokenIssuers, "token-issuer", nil, "key id of a token issuer, which may revoke tokens by id (the security authority may too); repeatable (env TRUSTD_TOKEN_ISSUER)")
	fs.StringSliceVar(&r.AttestationPublishers, "attestation-publisher", nil, "key id (or Sigstore signer id) whose attestations make it a publisher of the digests they name, so it may respond to votes on them and revoke them, as TUF target signers and OpenPGP manifest signers may; repeatable (default none) (env TRUSTD_ATTESTATION_PUBLISHER)")
	fs.StringVar(&r.ListKey, "revocation-list-key", "", "file holding the key that signs offline revocation lists; created (0600) if missing; published in the trustd/keys TUF repository when a client first asks (default DATA_DIR/revocation-list.key) (env TRUSTD_REVOCATION_LIST_KEY)")
	fs.DurationVar(&r.ListValidity, "revocation-list-validity", revocation.DefaultListValidity, "how long a signed revocation list is valid (env TRUSTD_REVOCATION_LIST_VALIDITY)")
}

func (r *revocationConfig) check() error {
	var errs []error
	for _, id := range append(append([]string(nil), r.SecurityAuthority...), r.TokenIssuers...) {
		if _, err := revocation.CanonicalID(revocation.KindKey, id); err != nil {
			errs = append(errs, fmt.Errorf("--security-authority / --token-issuer: %q: %w", id, err))
		}
	}
	for _, id := range r.AttestationPublishers {
		if _, err := revocation.CanonicalID(revocation.KindKey, id); err != nil {
			errs = append(errs, fmt.Errorf("--attestation-publisher: %q: %w", id, err))
		}
	}
	if r.ListValidity < time.Minute {
		errs = append(errs, fmt.Errorf("--revocation-list-validity: %s is below the minimum 1m", r.ListValidity))
	}
	return errors.Join(errs...)
}

// listKeyPath is --revocation-list-key, or revocation-list.key in the
// data directory.
func (c *config) listKeyPath() (string, error) {
	if c.Rev.ListKey != "" {
		return c.Rev.ListKey, nil
	}
	if err := ensureWritableDir(c.DataDir); err != nil {
		return "", fmt.Errorf("--data-dir (for the revocation list key): %w", err)
	}
	return filepath.Join(c.DataDir, "revocation-list.key"), nil
}

// newRevocation builds the revocation service (its validator judges
// revocations through OpenPGP delegation chains read from the store).
func newRevocation(c *config, st store.Store) *revocation.Service {
	return revocation.New(st, revocation.Config{SecurityAuthority: c.Rev.SecurityAuthority, TokenIssuers: c.Rev.TokenIssuers,
		AttestationPublishers: c.Rev.AttestationPublishers, PGP: pgplog.New(st, nil)})
}

// revocationLists loads (or creates) the list key and the keys of the
// trustd/keys TUF repository (kept in TUF_KEYS_DIR/keys-repo); the
// repository is created and the key published when a client first asks.
// The repository's publisher is returned too: the token key is published
// through it the same way.
func revocationLists(c *config, st store.Store, svc *tuf.Service, state tuf.State, online *tuf.OnlineKeys, tufDir string) (*revocation.Lists, *revocation.KeyPublisher, envelope.PublicKey, error) {
	path, err := c.listKeyPath()
	if err != nil {
		return nil, nil, envelope.PublicKey{}, err
	}
	signer, pub, err := revocation.LoadListKey(path)
	if err != nil {
		return nil, nil, envelope.PublicKey{}, fmt.Errorf("--revocation-list-key: %w", err)
	}
	kp, err := revocation.NewKeyPublisher(svc, state, online, filepath.Join(tufDir, "keys-repo"))
	if err != nil {
		return nil, nil, envelope.PublicKey{}, err
	}
	return revocation.NewLists(revocation.NewPublisher(st, signer, c.Rev.ListValidity), kp, pub), kp, pub, nil
}
