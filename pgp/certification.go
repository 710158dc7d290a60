package pgp

import (
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Certification is a verified third-party certification in a certificate:
// another key's signature over one of its user ids (gpg --sign-key), the
// OpenPGP statement "I checked that this key belongs to this person".
type Certification struct {
	// Certifier is the certifying certificate's primary fingerprint.
	Certifier string
	// UserID is the certified user id.
	UserID string
	// Created is the certification's creation time.
	Created time.Time
}

// CertifiedBy returns the certifications of c's user ids that certifier's
// primary key made and that are in force at time at: a generic, casual or
// positive certification (a persona certification says the certifier
// checked nothing) with a strong hash, verified over a user id that has a
// valid self-certification, made while certifier's primary key was bound,
// unexpired, certify-capable and not revoked by its own certificate (a
// hard revocation voids every certification), not itself expired at at,
// and not withdrawn by a later certification revocation from the same
// certifier. Revocations of the certifier's key logged elsewhere are the
// caller's to judge. The certifications travel inside c as registered (gpg
// --export after gpg --sign-key).
func (c *Certificate) CertifiedBy(certifier *Certificate, at time.Time) []Certification {
	ck := certifier.keys[0]
	issuer := certifier.entity.PrimaryKey
	var out []Certification
	for name, id := range c.entity.Identities {
		if _, ok := slices.BinarySearch(c.UserIDs, name); !ok {
			continue
		}
		var revoked []time.Time
		for _, vs := range id.OtherCertifications {
			s := vs.Packet
			if s.SigType == packet.SigTypeCertificationRevocation && s.CheckKeyIdOrFingerprint(issuer) &&
				!s.CreationTime.After(at) && issuer.VerifyUserIdSignature(name, c.entity.PrimaryKey, s) == nil {
				revoked = append(revoked, s.CreationTime)
			}
		}
		for _, vs := range id.OtherCertifications {
			s := vs.Packet
			switch s.SigType {
			case packet.SigTypeGenericCert, packet.SigTypeCasualCert, packet.SigTypePositiveCert:
			default:
				continue
			}
			if !s.CheckKeyIdOrFingerprint(issuer) || !sigOK(s) || s.CreationTime.After(at) || s.SigExpired(at) {
				continue
			}
			if _, code := ck.keyProblem(s.CreationTime, time.Time{}, false); code != "" {
				continue
			}
			if b, _ := ck.bindingAt(s.CreationTime); !b.caps.Certify {
				continue
			}
			if certifier.Status(s.CreationTime).State != StateValid {
				continue
			}
			if slices.ContainsFunc(revoked, func(r time.Time) bool { return !r.Before(s.CreationTime) }) {
				continue
			}
			if issuer.VerifyUserIdSignature(name, c.entity.PrimaryKey, s) != nil {
				continue
			}
			out = append(out, Certification{Certifier: certifier.Fingerprint, UserID: name, Created: s.CreationTime})
		}
	}
	slices.SortFunc(out, func(a, b Certification) int {
		if a.UserID != b.UserID {
			if a.UserID < b.UserID {
				return -1
			}
			return 1
		}
		return a.Created.Compare(b.Created)
	})
	return out
}
