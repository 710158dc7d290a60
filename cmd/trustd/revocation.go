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
	// SecurityThreshold is --security-authority-threshold; check resolves
	// its default (0: unset).
	SecurityThreshold int
	SecurityScopes    []string
	TokenIssuers      []string
	// AttestationPublishers are the signers whose attestations make them
	// publishers of the digests they name.
	AttestationPublishers []string
	// ListKeys are the list key files: the first signs lists, the others
	// are accepted beside it during a rotation.
	ListKeys     []string
	ListValidity time.Duration

	scopes []revocation.Scope // SecurityScopes, parsed by check
}

func (r *revocationConfig) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&r.SecurityAuthority, "security-authority", nil, "key id of a security authority key; --security-authority-threshold of these keys, signing one revocation together, may revoke (and reinstate) any key, digest and token within --security-authority-scope; repeatable or comma-separated (default none) (env TRUSTD_SECURITY_AUTHORITY)")
	fs.IntVar(&r.SecurityThreshold, "security-authority-threshold", 0, "how many distinct --security-authority keys must sign one revocation or reinstatement that relies on the security authority (default 1 when trustd listens on loopback only; beyond loopback it must be set) (env TRUSTD_SECURITY_AUTHORITY_THRESHOLD)")
	fs.StringSliceVar(&r.SecurityScopes, "security-authority-scope", nil, "limit the security authority to: digests starting with a prefix (sha256:ab12), digests a TUF repository published (repo:acme/images, repo:acme/*, repo:*), a key (key:ID); repeatable; never tokens or statements when set (default none: unscoped) (env TRUSTD_SECURITY_AUTHORITY_SCOPE)")
	fs.StringSliceVar(&r.TokenIssuers, "token-issuer", nil, "key id of a token issuer, which may revoke tokens by id (the security authority may too); repeatable (env TRUSTD_TOKEN_ISSUER)")
	fs.StringSliceVar(&r.AttestationPublishers, "attestation-publisher", nil, "key id (or Sigstore signer id) whose attestations make it a publisher of the digests they name, so it may respond to votes on them and revoke them, as TUF target signers and OpenPGP manifest signers may; repeatable (default none) (env TRUSTD_ATTESTATION_PUBLISHER)")
	fs.StringSliceVar(&r.ListKeys, "revocation-list-key", nil, "file holding the key that signs offline revocation lists; created (0600) if missing; published in the trustd/keys TUF repository at start; replicas must share it. Several files (repeatable or comma-separated) rotate it: the first signs lists, every one is published, and clients accept lists signed by any (see Rotating trustd's keys, above) (default DATA_DIR/revocation-list.key) (env TRUSTD_REVOCATION_LIST_KEY)")
	fs.DurationVar(&r.ListValidity, "revocation-list-validity", revocation.DefaultListValidity, "how long a signed revocation list is valid (env TRUSTD_REVOCATION_LIST_VALIDITY)")
}

// check checks the revocation flags and resolves the default of
// --security-authority-threshold: 1 when trustd listens on loopback only
// (loopback), where only local users can reach it; beyond loopback the
// operator must say how many keys it takes, so a deployment never gives
// one key the power to fail every verdict by accident.
func (r *revocationConfig) check(loopback bool, listen string) error {
	var errs []error
	for _, id := range append(append([]string(nil), r.SecurityAuthority...), r.TokenIssuers...) {
		if _, err := revocation.CanonicalID(revocation.KindKey, id); err != nil {
			errs = append(errs, fmt.Errorf("--security-authority / --token-issuer: %q: %w", id, err))
		}
	}
	seen := map[string]bool{}
	for _, id := range r.SecurityAuthority {
		if seen[id] {
			errs = append(errs, fmt.Errorf("--security-authority: key %s is listed twice; the threshold counts distinct keys", id))
		}
		seen[id] = true
	}
	n := len(r.SecurityAuthority)
	switch {
	case r.SecurityThreshold < 0:
		errs = append(errs, fmt.Errorf("--security-authority-threshold: %d is negative", r.SecurityThreshold))
	case r.SecurityThreshold > 0 && n == 0:
		errs = append(errs, errors.New("--security-authority-threshold: set without any --security-authority key"))
	case r.SecurityThreshold > n:
		errs = append(errs, fmt.Errorf("--security-authority-threshold: %d exceeds the %d --security-authority keys", r.SecurityThreshold, n))
	case r.SecurityThreshold == 0 && n > 0 && !loopback:
		errs = append(errs, fmt.Errorf("--security-authority-threshold: required when trustd listens beyond loopback (%s): say how many of the %d --security-authority keys must sign one revocation together (a majority is %d)", listen, n, n/2+1))
	case r.SecurityThreshold == 0 && n > 0:
		r.SecurityThreshold = 1
	}
	r.scopes = nil
	for _, s := range r.SecurityScopes {
		sc, err := revocation.ParseScope(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--security-authority-scope: %w", err))
			continue
		}
		r.scopes = append(r.scopes, sc)
	}
	if len(r.SecurityScopes) > 0 && n == 0 {
		errs = append(errs, errors.New("--security-authority-scope: set without any --security-authority key"))
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

// newRevocation builds the revocation service (its validator judges
// revocations through OpenPGP delegation chains read from the store).
func newRevocation(c *config, st store.Store) *revocation.Service {
	return revocation.New(st, revocation.Config{SecurityAuthority: c.Rev.SecurityAuthority, SecurityThreshold: c.Rev.SecurityThreshold,
		SecurityScopes: c.Rev.scopes, TokenIssuers: c.Rev.TokenIssuers, AttestationPublishers: c.Rev.AttestationPublishers, PGP: pgplog.New(st, nil)})
}

// loopbackOnly reports whether every listener of trustd is on a loopback
// address, and names the listeners for messages.
func (c *config) loopbackOnly() (bool, string) {
	listen := "--grpc-addr " + c.GRPCAddr
	ok := isLoopback(c.GRPCAddr)
	if c.HTTPAddr != "" {
		listen += ", --http-addr " + c.HTTPAddr
		ok = ok && isLoopback(c.HTTPAddr)
	}
	return ok, listen
}

// revocationLists loads (or creates) the list keys and the keys of the
// trustd/keys TUF repository (kept in TUF_KEYS_DIR/keys-repo; replicas must
// share them). The repository's publisher is returned too: serve creates
// the repository and publishes the list and token keys through it at start.
// The first list key signs; the others are published beside it.
func revocationLists(c *config, st store.Store, svc *tuf.Service, state tuf.State, online *tuf.OnlineKeys, tufDir string) (*revocation.Lists, *revocation.KeyPublisher, error) {
	paths, err := c.keyFiles("--revocation-list-key", c.Rev.ListKeys, "revocation-list.key")
	if err != nil {
		return nil, nil, err
	}
	var (
		signer   envelope.Signer
		pub      envelope.PublicKey
		accepted []envelope.PublicKey
	)
	for i, path := range paths {
		s, p, err := revocation.LoadListKey(path)
		if err != nil {
			return nil, nil, fmt.Errorf("--revocation-list-key: %w", err)
		}
		if i == 0 {
			signer, pub = s, p
		} else {
			accepted = append(accepted, p)
		}
	}
	kp, err := revocation.NewKeyPublisher(svc, state, online, filepath.Join(tufDir, "keys-repo"))
	if err != nil {
		return nil, nil, err
	}
	return revocation.NewLists(revocation.NewPublisher(st, signer, c.Rev.ListValidity), kp, pub, accepted...), kp, nil
}
