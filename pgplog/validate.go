package pgplog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// KeySubject is the in-toto subject of an OpenPGP authority statement about
// a key: the key material the statement is about, i.e. the sha256 of the
// registered certificate's bytes (Certificate.Encode, as the registry keeps
// them), named by the primary fingerprint. A delegation's subject is its
// delegate's certificate, a rotation's the new key's, a revocation's the
// revoked certificate, so `trustctl subject` on a certificate's digest
// lists every statement about it.
func KeySubject(c *pgp.Certificate) store.StatementSubject {
	sum := sha256.Sum256(c.Encode())
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic("pgplog: sha256 digest of 32 bytes: " + err.Error()) // cannot happen
	}
	return store.StatementSubject{Name: c.Fingerprint, Digests: []digest.Digest{d}}
}

// KeyReader is the part of the store the validators read.
type KeyReader interface {
	Key(ctx context.Context, id string) (store.Key, error)
}

// Validators returns the statement validators of the OpenPGP predicate
// types, for statement.Options: a delegation must be well-formed, signed by
// its delegator, and about its delegate's registered certificate
// (KeySubject); a rotation must be well-formed, signed by both the old and
// the new key, and about the new key's registered certificate.
func Validators(r KeyReader) map[string]statement.Validator {
	return map[string]statement.Validator{
		pgp.DelegationPredicateType: func(ctx context.Context, st envelope.Statement, signers []string) error {
			d, err := pgp.ParseDelegation(st.Predicate)
			if err != nil {
				return err
			}
			if err := d.CheckSigners(signers); err != nil {
				return err
			}
			return checkKeySubject(ctx, r, st, "delegate", d.Delegate)
		},
		pgp.RotationPredicateType: func(ctx context.Context, st envelope.Statement, signers []string) error {
			rot, err := pgp.ParseRotation(st.Predicate)
			if err != nil {
				return err
			}
			if err := rot.CheckSigners(signers); err != nil {
				return err
			}
			return checkKeySubject(ctx, r, st, "new", rot.New)
		},
	}
}

// checkKeySubject checks that st's one subject is KeySubject of the
// registered certificate fpr.
func checkKeySubject(ctx context.Context, r KeyReader, st envelope.Statement, role, fpr string) error {
	k, err := r.Key(ctx, fpr)
	if err != nil {
		return fmt.Errorf("pgplog: %s key %s: %w (register its certificate first)", role, fpr, err)
	}
	if k.Type != pgp.KeyType {
		return fmt.Errorf("pgplog: %s key %s: %w: registered as %s, not an OpenPGP certificate", role, fpr, pgp.ErrInvalidPredicate, k.Type)
	}
	c, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return fmt.Errorf("pgplog: %s key %s: stored certificate: %w", role, fpr, err)
	}
	want := KeySubject(c)
	if len(st.Subjects) != 1 || !slices.Contains(st.Subjects[0].Digests, want.Digests[0]) {
		return fmt.Errorf("pgplog: subject: %w: must be the %s key's certificate, one subject with digest %s", pgp.ErrInvalidPredicate, role, want.Digests[0])
	}
	return nil
}
