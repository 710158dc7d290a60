package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// MaxRevocationBytes bounds a standalone revocation certificate.
const MaxRevocationBytes = 64 << 10

// Reason is an OpenPGP reason-for-revocation code.
type Reason uint8

// The reason codes of RFC 9580, section 5.2.3.31.
const (
	ReasonNone          Reason = 0  // no reason specified: hard
	ReasonSuperseded    Reason = 1  // key is superseded: soft
	ReasonCompromised   Reason = 2  // key material has been compromised: hard
	ReasonRetired       Reason = 3  // key is retired and no longer used: soft
	ReasonUserIDInvalid Reason = 32 // user id no longer valid: hard for a key
)

// String names the reason as gpg does.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "no reason specified"
	case ReasonSuperseded:
		return "key superseded"
	case ReasonCompromised:
		return "key compromised"
	case ReasonRetired:
		return "key retired"
	case ReasonUserIDInvalid:
		return "user id no longer valid"
	}
	return fmt.Sprintf("unknown reason %d", uint8(r))
}

// Soft reports whether the reason is soft: only superseded (1) and retired
// (3) are. A soft revocation voids what the log first observed at or after
// its creation time; a hard one every signature (package timerule).
func (r Reason) Soft() bool { return r == ReasonSuperseded || r == ReasonRetired }

// Revocation is a verified or parsed key or subkey revocation signature.
type Revocation struct {
	Fingerprint string    // the revoked key: the primary key, or the subkey for a subkey revocation ("" if not yet known)
	Primary     string    // the certificate's primary fingerprint (the issuer)
	Subkey      bool      // a subkey revocation (signature type 0x28)
	Reason      Reason    // ReasonNone when the signature carries no reason
	HasReason   bool      // whether a reason-for-revocation subpacket is present
	Text        string    // the human-readable reason
	Created     time.Time // the revocation signature's creation time
	Hard        bool      // invalidates every signature the key ever made (timerule.Hard)
	Hash        string    // the signature's hash algorithm ("SHA512")
	Verified    bool      // checked against a certificate (VerifyRevocation)

	raw []byte // the signature packet
}

// Encode returns the binary revocation signature packet.
func (r Revocation) Encode() []byte { return slices.Clone(r.raw) }

func newRevocation(sig *packet.Signature, target, primary string, subkey bool) Revocation {
	r := Revocation{Fingerprint: target, Primary: primary, Subkey: subkey, Text: sig.RevocationReasonText,
		Created: sig.CreationTime, Hash: hashName(sig.Hash), Verified: true}
	if sig.RevocationReason != nil {
		r.HasReason = true
		r.Reason = Reason(*sig.RevocationReason)
		if *sig.RevocationReason == packet.Unknown {
			r.Reason = Reason(255)
		}
	}
	r.Hard = !r.HasReason || !r.Reason.Soft()
	var buf bytes.Buffer
	if err := sig.Serialize(&buf); err == nil {
		r.raw = buf.Bytes()
	}
	return r
}

// readRevocation parses a standalone revocation certificate: one key (0x20)
// or subkey (0x28) revocation signature, armored or binary.
func readRevocation(data []byte) (*packet.Signature, error) {
	if len(data) > MaxRevocationBytes {
		return nil, inputerr.New(opRevocation, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxRevocationBytes))
	}
	raw, _, err := dearmor(opRevocation, data, openpgp.PublicKeyType, openpgp.SignatureType)
	if err != nil {
		return nil, err
	}
	r := packet.NewReader(bytes.NewReader(raw))
	p, err := r.Next()
	if err != nil {
		return nil, inputerr.Wrap(opRevocation, "", ErrMalformed, "not an OpenPGP signature packet", err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, inputerr.New(opRevocation, "", ErrMalformed, fmt.Sprintf("want one revocation signature packet, got %T (is this a certificate? give the revocation certificate alone)", p))
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		return nil, inputerr.New(opRevocation, "", ErrMalformed, "more than one packet; a revocation certificate is one signature")
	}
	if sig.SigType != packet.SigTypeKeyRevocation && sig.SigType != packet.SigTypeSubkeyRevocation {
		return nil, inputerr.New(opRevocation, "", ErrMalformed, fmt.Sprintf("signature type 0x%02x is not a key (0x20) or subkey (0x28) revocation", uint8(sig.SigType)))
	}
	if sig.Hash == crypto.MD5 {
		return nil, inputerr.New(opRevocation, "", ErrWeakHash, "MD5 revocation signatures are not accepted")
	}
	return sig, nil
}

// ParseRevocation parses a standalone revocation certificate (gpg
// --gen-revoke output, or an $GNUPGHOME/openpgp-revocs.d file with the
// colon removed) without verifying it. Fingerprint and Primary are the
// issuer fingerprint the signature claims; use VerifyRevocation before
// acting on it.
func ParseRevocation(data []byte) (Revocation, error) {
	sig, err := readRevocation(data)
	if err != nil {
		return Revocation{}, err
	}
	issuer := ""
	if sig.IssuerFingerprint != nil {
		issuer = fpr(sig.IssuerFingerprint)
	}
	subkey := sig.SigType == packet.SigTypeSubkeyRevocation
	target := issuer
	if subkey {
		target = ""
	}
	r := newRevocation(sig, target, issuer, subkey)
	r.Verified = false
	return r, nil
}

// VerifyRevocation parses a standalone revocation certificate and verifies
// it against cert: a key revocation must be a valid signature by cert's
// primary key over itself, a subkey revocation one over a subkey of cert.
// Third-party (designated revoker) revocations are not accepted.
func VerifyRevocation(cert *Certificate, data []byte) (Revocation, error) {
	if cert == nil {
		return Revocation{}, inputerr.New(opRevocation, "", ErrMalformed, "no certificate given")
	}
	sig, err := readRevocation(data)
	if err != nil {
		return Revocation{}, err
	}
	pk := cert.entity.PrimaryKey
	if !sig.CheckKeyIdOrFingerprint(pk) {
		return Revocation{}, inputerr.New(opRevocation, "issuer", ErrWrongKey,
			fmt.Sprintf("the revocation was issued by %s, not by certificate %s (third-party revocations are not accepted)", issuerString(sig), cert.Fingerprint))
	}
	if sig.SigType == packet.SigTypeKeyRevocation {
		if err := pk.VerifyRevocationSignature(sig); err != nil {
			return Revocation{}, inputerr.Wrap(opRevocation, "", ErrBadSignature, "does not verify against certificate "+cert.Fingerprint, err)
		}
		return newRevocation(sig, cert.Fingerprint, cert.Fingerprint, false), nil
	}
	for _, sk := range cert.entity.Subkeys {
		if err := pk.VerifySubkeyRevocationSignature(sig, sk.PublicKey); err == nil {
			return newRevocation(sig, fpr(sk.PublicKey.Fingerprint), cert.Fingerprint, true), nil
		}
	}
	return Revocation{}, inputerr.New(opRevocation, "", ErrBadSignature, "the subkey revocation does not verify against any subkey of certificate "+cert.Fingerprint)
}

// issuerString describes a signature's issuer by fingerprint or key id.
func issuerString(sig *packet.Signature) string {
	if sig.IssuerFingerprint != nil {
		return fpr(sig.IssuerFingerprint)
	}
	if sig.IssuerKeyId != nil {
		return fmt.Sprintf("key id %016x", *sig.IssuerKeyId)
	}
	return "an unnamed issuer"
}
