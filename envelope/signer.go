package envelope

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"math/big"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Signer signs DSSE pre-authentication encodings (PAE) with a private key
// held in this process; it works with dsse.NewEnvelopeSigner and with Sign.
// KeyID returns the key's trustd key id.
type Signer interface {
	dsse.SignerVerifier
}

// keySigner is the Signer for the built-in key types. It never prints its
// private key: every fmt verb renders the key type and id only.
type keySigner struct {
	verifier
	private crypto.Signer // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey or a token key
}

// Sign signs data (the DSSE PAE) with the key's scheme: ed25519, ECDSA with
// SHA-256 (P-256) or SHA-384 (P-384) in ASN.1 DER, or RSASSA-PSS SHA-256
// with a 32-byte salt, as securesystemslib does. The private key may be any
// crypto.Signer (a key in memory or one on a PKCS#11 token).
func (s *keySigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	switch s.pub.Type {
	case KeyTypeED25519:
		return s.private.Sign(rand.Reader, data, crypto.Hash(0))
	case KeyTypeECDSAP256, KeyTypeECDSAP384:
		h := crypto.SHA256
		if s.pub.Type == KeyTypeECDSAP384 {
			h = crypto.SHA384
		}
		return s.private.Sign(rand.Reader, ecdsaHash(s.pub.Type, data), h)
	case KeyTypeRSA:
		h := sha256.Sum256(data)
		return s.private.Sign(rand.Reader, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	return nil, fmt.Errorf("%s: key type %q cannot sign", opSign, s.pub.Type)
}

// String describes the signer by key type and id, never by key material.
func (s *keySigner) String() string {
	return fmt.Sprintf("envelope.Signer(%s %s)", s.pub.Type, s.pub.ID)
}

// Format prints String for every verb, so that %#v or %x cannot dump the
// private key into a log.
func (s *keySigner) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, s.String())
}

// verifier verifies signatures by one built-in public key. It tells a
// signature of the wrong shape for the key type (ErrWrongKeyType) from one
// that simply does not verify (ErrBadSignature).
type verifier struct {
	pub PublicKey
}

func newVerifier(pub PublicKey) *verifier { return &verifier{pub: pub} }

// KeyID returns the key's trustd key id.
func (v *verifier) KeyID() (string, error) { return v.pub.ID, nil }

// Public returns the public key.
func (v *verifier) Public() crypto.PublicKey { return v.pub.Public }

// Verify checks sig over data (the DSSE PAE) with the key's scheme.
func (v *verifier) Verify(_ context.Context, data, sig []byte) error {
	switch v.pub.Type {
	case KeyTypeED25519:
		if len(sig) != ed25519.SignatureSize {
			return shapeError(v.pub.Type, sig, fmt.Sprintf("ed25519 signatures are %d bytes, got %d", ed25519.SignatureSize, len(sig)))
		}
		if !ed25519.Verify(v.pub.Public.(ed25519.PublicKey), data, sig) {
			return fmt.Errorf("%w: ed25519 verification failed", ErrBadSignature)
		}
		return nil
	case KeyTypeECDSAP256, KeyTypeECDSAP384:
		pub := v.pub.Public.(*ecdsa.PublicKey)
		r, s, ok := parseECDSASignature(sig)
		if !ok {
			return shapeError(v.pub.Type, sig, fmt.Sprintf("a %d-byte signature that is not ASN.1 DER ECDSA", len(sig)))
		}
		n := pub.Curve.Params().N
		if r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
			if v.pub.Type == KeyTypeECDSAP256 && r.Cmp(elliptic.P384().Params().N) < 0 && s.Cmp(elliptic.P384().Params().N) < 0 {
				return fmt.Errorf("%w: signature values are too large for P-256; the signature looks like one by a P-384 key", ErrWrongKeyType)
			}
			return fmt.Errorf("%w: signature values are out of range for %s", ErrBadSignature, pub.Curve.Params().Name)
		}
		if !ecdsa.VerifyASN1(pub, ecdsaHash(v.pub.Type, data), sig) {
			return fmt.Errorf("%w: %s verification failed", ErrBadSignature, v.pub.Scheme)
		}
		return nil
	case KeyTypeRSA:
		pub := v.pub.Public.(*rsa.PublicKey)
		if len(sig) != pub.Size() {
			return shapeError(v.pub.Type, sig, fmt.Sprintf("signatures by this %d-bit rsa key are %d bytes, got %d", pub.N.BitLen(), pub.Size(), len(sig)))
		}
		h := sha256.Sum256(data)
		// PSSSaltLengthAuto: securesystemslib signs with a 32-byte salt, other
		// PSS signers with the maximum; the salt length does not weaken PSS.
		if err := rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}); err != nil {
			return fmt.Errorf("%w: %s verification failed", ErrBadSignature, v.pub.Scheme)
		}
		return nil
	}
	return fmt.Errorf("%w: key type %q has no built-in verifier", ErrWrongKeyType, v.pub.Type)
}

func ecdsaHash(keyType string, data []byte) []byte {
	if keyType == KeyTypeECDSAP384 {
		h := sha512.Sum384(data)
		return h[:]
	}
	h := sha256.Sum256(data)
	return h[:]
}

// parseECDSASignature parses an ASN.1 DER ECDSA-Sig-Value with positive r
// and s and nothing after it.
func parseECDSASignature(sig []byte) (r, s *big.Int, ok bool) {
	in := cryptobyte.String(sig)
	var inner cryptobyte.String
	r, s = new(big.Int), new(big.Int)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 {
		return nil, nil, false
	}
	return r, s, true
}

// sigShape guesses which key type made sig from its form alone: 64 raw bytes
// for ed25519, ASN.1 DER for ECDSA, the modulus size for RSA.
func sigShape(sig []byte) string {
	if _, _, ok := parseECDSASignature(sig); ok {
		return "ecdsa"
	}
	if len(sig) == ed25519.SignatureSize {
		return KeyTypeED25519
	}
	if len(sig) >= MinRSABits/8 && len(sig) <= MaxRSABits/8 && len(sig)%128 == 0 {
		return KeyTypeRSA
	}
	return ""
}

// shapeError reports a signature whose form does not fit keyType: if it has
// the form of another key type's signatures the key type is wrong, otherwise
// the signature is simply bad.
func shapeError(keyType string, sig []byte, detail string) error {
	shape := sigShape(sig)
	if shape != "" && !(shape == "ecdsa" && (keyType == KeyTypeECDSAP256 || keyType == KeyTypeECDSAP384)) && shape != keyType {
		return fmt.Errorf("%w: it has the form of an %s signature (%s)", ErrWrongKeyType, shape, detail)
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, detail)
}
