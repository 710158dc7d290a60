// Package pgplog is the server side of OpenPGP: it verifies what is
// published (signed release manifests, revocation certificates,
// certificate updates) against the registered certificates, appends it
// verbatim to the verifiable log, and
// assembles the chain facts (certificates, delegations, rotations,
// revocations) from the registry and the log for pgp.Decide and key status.
//
// Manifests and revocations are not DSSE envelopes: each is stored as a
// deterministic JSON record holding the signed bytes exactly as given (see
// ManifestRecord and RevocationRecord), so the log keeps them verbatim,
// anyone can re-verify them with gpg, and publishing the same bytes again
// is idempotent. Delegations and rotations are DSSE statements signed with
// OpenPGP keys; they enter through statement.Log.Submit with the validators
// of this package (see Validators).
package pgplog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// ErrUnknownSigner means no registered certificate holds the key a
// signature or revocation names.
var ErrUnknownSigner = errors.New("signer not registered")

// Service publishes OpenPGP records to the log and answers from it.
type Service struct {
	store store.Reader
	log   *statement.Log

	mu    sync.Mutex
	graph *pgp.Graph
	// graphAt says what the cached graph was compiled from: the log size
	// and the number of registered OpenPGP keys. Both only grow, so equal
	// figures mean the facts are unchanged.
	graphAt [2]int64
}

// New returns a Service reading registered keys and log entries from r and
// appending to l.
func New(r store.Reader, l *statement.Log) *Service { return &Service{store: r, log: l} }

// certificate loads the registered certificate with primary fingerprint fpr.
func (s *Service) certificate(ctx context.Context, fpr string) (*pgp.Certificate, error) {
	k, err := s.store.Key(ctx, fpr)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("pgplog: %w: no certificate %s is registered (trustctl key add)", ErrUnknownSigner, fpr)
	}
	if err != nil {
		return nil, fmt.Errorf("pgplog: certificate %s: %w", fpr, err)
	}
	if k.Type != pgp.KeyType {
		return nil, fmt.Errorf("pgplog: %w: key %s is of type %s, not an OpenPGP certificate", ErrUnknownSigner, fpr, k.Type)
	}
	c, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("pgplog: stored certificate %s: %w", fpr, err)
	}
	return c, nil
}

// candidates resolves the issuers of a signature to the primary
// fingerprints of registered certificates: by full fingerprint (primary or
// subkey) when the signature names one, else every certificate holding a
// key with the signature's 64-bit key id, each to be tried on its own.
func (s *Service) candidates(ctx context.Context, issuers []pgp.Issuer) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, is := range issuers {
		if is.Fingerprint != "" {
			k, err := s.store.PGPKey(ctx, is.Fingerprint)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("pgplog: issuer %s: %w", is.Fingerprint, err)
			}
			add(k.Primary)
			continue
		}
		ks, err := s.store.PGPKeysByKeyID(ctx, fmt.Sprintf("%016x", is.KeyID))
		if err != nil {
			return nil, fmt.Errorf("pgplog: issuer key id %016x: %w", is.KeyID, err)
		}
		for _, k := range ks {
			add(k.Primary)
		}
	}
	return out, nil
}

// describeIssuers names a signature's issuers for an error message.
func describeIssuers(issuers []pgp.Issuer) string {
	s := ""
	for i, is := range issuers {
		if i > 0 {
			s += ", "
		}
		if is.Fingerprint != "" {
			s += is.Fingerprint
		} else {
			s += fmt.Sprintf("key id %016x", is.KeyID)
		}
	}
	if s == "" {
		return "no issuer"
	}
	return s
}
