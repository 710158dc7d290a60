package pgplog

import (
	"context"
	"encoding/json"
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
}

// Revoke verifies a standalone revocation certificate (gpg --gen-revoke
// output) against the registered certificate it names and appends it to
// the log, signed by that certificate's primary fingerprint; from then on
// it counts in key status, chain decisions and publishing. Revoking with
// the same bytes again returns the original entry. Its subject is the
// certificate (KeySubject), so a lookup of the key's digest finds it.
// Errors: ErrUnknownSigner, the pgp sentinels.
func (s *Service) Revoke(ctx context.Context, data []byte) (Revoked, error) {
	if len(data) == 0 {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: required", pgp.ErrMalformed)
	}
	if len(data) > pgp.MaxRevocationBytes {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w: %d bytes, the limit is %d", pgp.ErrTooLarge, len(data), pgp.MaxRevocationBytes)
	}
	parsed, err := pgp.ParseRevocation(data)
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
	rev, err := pgp.VerifyRevocation(cert, data)
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revocation: %w", err)
	}
	rec, err := json.Marshal(RevocationRecord{Revocation: data})
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: encode revocation record: %w", err)
	}
	entry, created, err := s.log.AppendVerified(ctx, store.Statement{
		PayloadType:   RevocationPayloadType,
		PredicateType: RevocationPredicateType,
		Envelope:      rec,
		Payload:       rev.Encode(),
		SignerKeyIDs:  []string{cert.Fingerprint},
		Subjects:      []store.StatementSubject{KeySubject(cert)},
	})
	if err != nil {
		return Revoked{}, fmt.Errorf("pgplog: revoke %s: %w", rev.Fingerprint, err)
	}
	return Revoked{Entry: entry, Created: created, Revocation: rev}, nil
}
