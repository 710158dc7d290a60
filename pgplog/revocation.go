package pgplog

import (
	"context"
	"errors"
	"fmt"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// The log types of a published revocation certificate.
const (
	RevocationPayloadType   = recordtype.PGPRevocationPayloadType
	RevocationPredicateType = recordtype.PGPRevocation
)

// RevocationRecord is what the log stores for a revocation certificate
// (see pgp.RevocationRecord).
type RevocationRecord = pgp.RevocationRecord

// Revoked is the outcome of Revoke.
type Revoked struct {
	Entry      store.Statement
	Created    bool
	Revocation pgp.Revocation
	// Others are the further revocations a certificate export carried
	// (revoked twice, say), each logged as its own entry.
	Others []Revoked
}

// Revoke verifies a revocation against the registered certificate it
// names and appends it to the log, signed by that certificate's primary
// fingerprint; from then on it counts in key status, chain decisions and
// publishing. data is a standalone revocation certificate (gpg
// --gen-revoke output, armored or binary), logged as given, or a revoked
// certificate as gpg --export writes it, whose key revocation signatures
// (its subkey revocations if it has none) are logged, each its own entry,
// all in one transaction. Revoking with the same bytes again returns the
// original entry. Its subject is the certificate (KeySubject), so a lookup
// of the key's digest finds it.
// Errors: ErrUnknownSigner, the pgp sentinels.
func (s *Service) Revoke(ctx context.Context, data []byte) (Revoked, error) {
	if len(data) == 0 {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: required", pgp.ErrMalformed)
	}
	if len(data) > pgp.MaxCertificateBytes {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: %d bytes, the limit is %d", pgp.ErrTooLarge, len(data), pgp.MaxCertificateBytes)
	}
	sigs, err := pgp.RevocationSignatures(data)
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w", err)
	}
	parsed, err := pgp.ParseRevocation(sigs[0])
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w", err)
	}
	if parsed.Primary == "" {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: it names no issuer fingerprint, so its certificate cannot be found", pgp.ErrMalformed)
	}
	k, err := s.store.PGPKey(ctx, parsed.Primary)
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: issued by %s, which is not a registered certificate", ErrUnknownSigner, parsed.Primary)
	}
	cert, err := s.certificate(ctx, k.Primary)
	if err != nil {
		return Revoked{}, err
	}
	out := make([]Revoked, len(sigs))
	recs := make([]store.Statement, len(sigs))
	for i, sig := range sigs {
		if out[i].Revocation, err = pgp.VerifyRevocation(cert, sig); err != nil {
			return Revoked{}, fmt.Errorf("pgplog: revocation: %w", err)
		}
		if recs[i], err = revocationStatement(cert, sig); err != nil {
			return Revoked{}, fmt.Errorf("pgplog: revocation: %w", err)
		}
	}
	if len(recs) == 1 {
		entry, created, err := s.log.AppendVerified(ctx, recs[0])
		if err != nil {
			return Revoked{}, fmt.Errorf("pgplog: revoke %s: %w", out[0].Revocation.Fingerprint, err)
		}
		out[0].Entry, out[0].Created = entry, created
		return out[0], nil
	}
	st, ok := s.store.(store.Store)
	if !ok {
		return Revoked{}, errors.New("pgplog: revocation: this service only reads")
	}
	err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		entries, created, err := s.log.AppendVerifiedIn(ctx, w, recs)
		for i := range entries {
			out[i].Entry, out[i].Created = entries[i], created[i]
		}
		return err
	})
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revoke %s: %w", cert.Fingerprint, err)
	}
	first := out[0]
	first.Others = out[1:]
	return first, nil
}
