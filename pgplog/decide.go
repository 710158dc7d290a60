package pgplog

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/store"
)

// ErrInvalidQuery reports a malformed decision request.
var ErrInvalidQuery = errors.New("invalid decision query")

// MaxRoots bounds the pinned roots of one decision.
const MaxRoots = 64

// Query asks whether the key Signer (a primary key or subkey fingerprint)
// may sign for Name with a signature claiming SignedAt and first observed
// by the log at Observed, given the pinned Roots.
type Query struct {
	Name     string
	Signer   string
	SignedAt time.Time // the time the signature claims; zero: now
	// Observed is when the log first recorded the signature (a logged
	// manifest's recorded time). Zero means it is not in the log: it is
	// observed now, so a claimed time cannot reach back past a
	// revocation, rotation, expiry or delegation end (package timerule).
	Observed time.Time
	Roots    []string
}

// Decide assembles the facts from the registry and the log and runs
// pgp.Decide. The signature is taken as a valid SHA-256 signature by
// Signer claiming SignedAt and observed at Observed (now when zero); the
// key's own validity, revocations, rotations and every delegation on the
// way to a root are judged by the one time rule (package timerule). A
// refusal is a
// *pgp.Refusal (errors.Is(err, pgp.ErrRefused)); other errors are
// ErrInvalidQuery or store errors.
func (s *Service) Decide(ctx context.Context, q Query) (pgp.Chain, error) {
	if q.Name == "" {
		return pgp.Chain{}, fmt.Errorf("pgplog: name: %w: required", ErrInvalidQuery)
	}
	signer, err := pgp.NormalizeFingerprint(q.Signer)
	if err != nil {
		return pgp.Chain{}, fmt.Errorf("pgplog: signer: %w: %w", ErrInvalidQuery, err)
	}
	if len(q.Roots) == 0 {
		return pgp.Chain{}, fmt.Errorf("pgplog: roots: %w: at least one pinned root fingerprint is required", ErrInvalidQuery)
	}
	if len(q.Roots) > MaxRoots {
		return pgp.Chain{}, fmt.Errorf("pgplog: roots: %w: %d roots, the limit is %d", ErrInvalidQuery, len(q.Roots), MaxRoots)
	}
	roots := make([]string, len(q.Roots))
	for i, r := range q.Roots {
		if roots[i], err = pgp.NormalizeFingerprint(r); err != nil {
			return pgp.Chain{}, fmt.Errorf("pgplog: roots[%d]: %w: %w", i, ErrInvalidQuery, err)
		}
	}
	now := time.Now()
	at := q.SignedAt
	if at.IsZero() {
		at = now
	}
	observed := q.Observed
	if observed.IsZero() {
		observed = now
	}
	primary := signer
	switch k, err := s.store.PGPKey(ctx, signer); {
	case err == nil:
		primary = k.Primary
	case !errors.Is(err, store.ErrNotFound):
		return pgp.Chain{}, fmt.Errorf("pgplog: signer %s: %w", signer, err)
	}
	g, err := s.Graph(ctx)
	if err != nil {
		return pgp.Chain{}, err
	}
	return g.Decide(pgp.Query{
		Signature: pgp.SignatureInfo{Primary: primary, SigningKey: signer, Created: at, Hash: crypto.SHA256},
		Name:      q.Name,
		Observed:  observed,
		Roots:     roots,
	})
}
