package pgp

import (
	"errors"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Sentinel errors callers branch on with errors.Is. Every error this package
// returns for bad input is an [*Error] matching one of them.
var (
	// ErrMalformed reports input that is not well-formed OpenPGP data, JSON
	// or manifest text.
	ErrMalformed = errors.New("malformed input")
	// ErrTooLarge reports input over a size or count limit.
	ErrTooLarge = errors.New("too large")
	// ErrSecretKey reports a secret (private) key given where a public
	// certificate was expected.
	ErrSecretKey = errors.New("secret key given")
	// ErrUntrusted reports a certificate that parses but cannot be trusted:
	// no valid self-signature, SHA-1-only bindings, or an unusable subkey.
	ErrUntrusted = errors.New("untrusted certificate")
	// ErrUnsupportedAlgorithm reports a public key or hash algorithm trustd
	// does not accept.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongKey reports a signature whose issuer is not the given
	// certificate (by full fingerprint or key id).
	ErrWrongKey = errors.New("signature by another key")
	// ErrWeakHash reports a signature made with a hash algorithm trustd
	// refuses (MD5, SHA-1, RIPEMD-160).
	ErrWeakHash = errors.New("weak hash algorithm")
	// ErrKeyRevoked reports a signature by a key revoked at signing time (or
	// ever, for a hard revocation).
	ErrKeyRevoked = errors.New("key revoked")
	// ErrKeyExpired reports a signature made while its key was expired or
	// not yet valid.
	ErrKeyExpired = errors.New("key expired")
	// ErrNotSigningKey reports a signature by a key or subkey that is not
	// bound, or not bound as sign-capable, when it signed.
	ErrNotSigningKey = errors.New("not a signing key")
	// ErrInvalidPredicate reports a delegation or rotation predicate that is
	// malformed or breaks the rules.
	ErrInvalidPredicate = errors.New("invalid predicate")
	// ErrGPG reports a failure of the external gpg program.
	ErrGPG = errors.New("gpg failed")
)

// Error is the error type for rejected input (see inputerr.Error): Kind is
// one of the sentinel errors above and Field the element at fault, if any.
type Error = inputerr.Error

// The operations named at the start of error messages.
const (
	opCert       = "pgp: parse certificate"
	opVerify     = "pgp: verify signature"
	opIssuer     = "pgp: signature issuer"
	opManifest   = "pgp: parse manifest"
	opRevocation = "pgp: parse revocation"
	opPredicate  = "pgp: predicate"
	opSign       = "pgp: sign"
	opFacts      = "pgp: chain facts"
)
