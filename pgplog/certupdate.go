package pgplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// The log types of an accepted certificate update.
const (
	CertUpdatePayloadType   = recordtype.PGPCertUpdatePayloadType
	CertUpdatePredicateType = recordtype.PGPCertUpdate
)

// CertificateUpdateRecord is what the log stores for an accepted
// certificate update (see pgp.CertificateUpdateRecord).
type CertificateUpdateRecord = pgp.CertificateUpdateRecord

// Updated is the outcome of UpdateCertificate.
type Updated struct {
	// Certificate is the registered certificate after the update.
	Certificate *pgp.Certificate
	// Entry is the update's log entry; zero when nothing changed.
	Entry store.Statement
	// Revocations are the log entries of the key and subkey revocations
	// the update brought (pgp revoke's records), in the same transaction.
	Revocations []store.Statement
	// Changes are the packets accepted; none when the registered
	// certificate already held everything the update holds.
	Changes []pgp.Change
	// Ignored are the packets of the update not accepted, and why.
	Ignored []pgp.Ignored
}

// UpdateCertificate merges data, a re-export of a registered OpenPGP
// certificate (gpg --export after gpg --edit-key: a new subkey or user id,
// a new expiry, a certification, a revocation), into the registered
// certificate the way keyservers do (pgp.Merge: the union of packets by
// their bytes, every new signature verified first, nothing dropped). In
// one transaction it replaces the registered bytes with the merged
// certificate, indexes new subkeys, and appends a certificate-update
// record (CertificateUpdateRecord) signed by the certificate, plus one
// revocation record (as Revoke logs them) for each key or subkey
// revocation the update brought, so the revocation index, key status and
// chain decisions see it. A third-party certification counts only when its
// issuer is a registered certificate. Updating with an export that adds
// nothing changes nothing and appends nothing.
// Errors: ErrUnknownSigner (not registered), the pgp sentinels.
func (s *Service) UpdateCertificate(ctx context.Context, data []byte) (Updated, error) {
	if len(data) == 0 {
		return Updated{}, fmt.Errorf("pgplog: certificate update: public_key: %w: required", pgp.ErrMalformed)
	}
	upd, err := pgp.ParseCertificate(data)
	if err != nil {
		return Updated{}, fmt.Errorf("pgplog: certificate update: public_key: %w", err)
	}
	st, ok := s.store.(store.Store)
	if !ok || s.log == nil {
		return Updated{}, errors.New("pgplog: certificate update: this service only reads")
	}
	var out Updated
	err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		out = Updated{}
		k, err := w.Key(ctx, upd.Fingerprint)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: certificate %s is not registered (register it first: trustctl key add)", ErrUnknownSigner, upd.Fingerprint)
		}
		if err != nil {
			return err
		}
		if k.Type != pgp.KeyType {
			return fmt.Errorf("%w: key %s is of type %s, not an OpenPGP certificate", ErrUnknownSigner, k.ID, k.Type)
		}
		cur, err := pgp.ParseCertificate(k.PublicKey)
		if err != nil {
			return fmt.Errorf("stored certificate %s: %w", k.ID, err)
		}
		var lookupErr error
		certify := func(fpr string, keyID uint64) *pgp.Certificate {
			c, err := registeredIssuer(ctx, w, fpr, keyID)
			if err != nil && lookupErr == nil {
				lookupErr = err
			}
			return c
		}
		m, err := pgp.Merge(cur, data, certify)
		if lookupErr != nil {
			return lookupErr
		}
		if err != nil {
			return err
		}
		out.Certificate, out.Changes, out.Ignored = m.Certificate, m.Changes, m.Ignored
		if len(m.Changes) == 0 {
			return nil
		}
		merged := m.Certificate
		if err := w.ReplaceKeyMaterial(ctx, k.ID, k.PublicKey, merged.Encode()); err != nil {
			return err
		}
		if err := w.PutPGPKeys(ctx, indexEntries(merged)); err != nil {
			return err
		}
		var added []byte
		var revs [][]byte
		for _, c := range m.Changes {
			added = append(added, c.Packet...)
			if c.Kind == pgp.ChangeKeyRevocation || c.Kind == pgp.ChangeSubkeyRevocation {
				revs = append(revs, c.Packet)
			}
		}
		rec, err := json.Marshal(CertificateUpdateRecord{Certificate: merged.Fingerprint, Update: data, Added: added})
		if err != nil {
			return fmt.Errorf("encode certificate update record: %w", err)
		}
		subject := KeySubject(merged)
		recs := []store.Statement{{
			PayloadType:   CertUpdatePayloadType,
			PredicateType: CertUpdatePredicateType,
			Envelope:      rec,
			Payload:       merged.Encode(),
			SignerKeyIDs:  []string{merged.Fingerprint},
			Subjects:      []store.StatementSubject{subject},
		}}
		for _, r := range revs {
			rr, err := revocationStatement(merged, r)
			if err != nil {
				return err
			}
			recs = append(recs, rr)
		}
		entries, _, err := s.log.AppendVerifiedIn(ctx, w, recs)
		if err != nil {
			return err
		}
		out.Entry, out.Revocations = entries[0], entries[1:]
		return nil
	})
	if err != nil {
		return Updated{}, fmt.Errorf("pgplog: update certificate %s: %w", upd.Fingerprint, err)
	}
	return out, nil
}

// registeredIssuer returns the registered certificate holding the key a
// certification names, or nil.
func registeredIssuer(ctx context.Context, r store.Reader, fpr string, keyID uint64) (*pgp.Certificate, error) {
	var primary string
	switch {
	case fpr != "":
		k, err := r.PGPKey(ctx, fpr)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		primary = k.Primary
	case keyID != 0:
		ks, err := r.PGPKeysByKeyID(ctx, fmt.Sprintf("%016x", keyID))
		if err != nil {
			return nil, err
		}
		if len(ks) != 1 {
			return nil, nil // none, or an ambiguous 64-bit key id: nobody
		}
		primary = ks[0].Primary
	default:
		return nil, nil
	}
	k, err := r.Key(ctx, primary)
	if err != nil {
		return nil, err
	}
	c, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("stored certificate %s: %w", primary, err)
	}
	return c, nil
}

// indexEntries are the subkey index entries of a certificate: the primary
// key and every subkey, each under the primary fingerprint.
func indexEntries(c *pgp.Certificate) []store.PGPKey {
	out := []store.PGPKey{{Fingerprint: c.Fingerprint, KeyID: fmt.Sprintf("%016x", c.KeyID), Primary: c.Fingerprint}}
	for _, sk := range c.Subkeys {
		out = append(out, store.PGPKey{Fingerprint: sk.Fingerprint, KeyID: fmt.Sprintf("%016x", sk.KeyID), Primary: c.Fingerprint})
	}
	return out
}

// revocationStatement is the log record of revocation signature data
// (as given), verified against cert, as Revoke appends it.
func revocationStatement(cert *pgp.Certificate, data []byte) (store.Statement, error) {
	rev, err := pgp.VerifyRevocation(cert, data)
	if err != nil {
		return store.Statement{}, err
	}
	rec, err := json.Marshal(RevocationRecord{Revocation: data})
	if err != nil {
		return store.Statement{}, fmt.Errorf("encode revocation record: %w", err)
	}
	return store.Statement{
		PayloadType:   RevocationPayloadType,
		PredicateType: RevocationPredicateType,
		Envelope:      rec,
		Payload:       rev.Encode(),
		SignerKeyIDs:  []string{cert.Fingerprint},
		Subjects:      []store.StatementSubject{KeySubject(cert)},
	}, nil
}
