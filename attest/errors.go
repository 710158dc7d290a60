package attest

import (
	"errors"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Sentinel errors callers branch on with errors.Is. Rejections of input are
// an [*Error] naming the field and the reason.
var (
	// ErrMalformed reports input that is not an attestation trustd reads:
	// not JSON, not a DSSE envelope, Sigstore bundle or in-toto metablock.
	ErrMalformed = errors.New("malformed attestation")
	// ErrTooLarge reports an attestation or predicate over the configured
	// bound.
	ErrTooLarge = errors.New("too large")
	// ErrInvalidPredicate reports a predicate of an indexed type whose
	// fields are missing or mistyped.
	ErrInvalidPredicate = errors.New("invalid predicate")
	// ErrInvalidBundle reports a Sigstore bundle that does not parse or is
	// not a bundle trustd accepts (a public-key bundle, a payload that is
	// not an in-toto statement).
	ErrInvalidBundle = errors.New("invalid bundle")
	// ErrBundleVerification reports a Sigstore bundle whose signature,
	// certificate chain, transparency log entry or timestamp does not
	// verify against the trusted root.
	ErrBundleVerification = errors.New("bundle verification failed")
	// ErrNoTimestamp reports a keyless bundle with neither a transparency
	// log entry nor a signed timestamp: nothing proves that its short-lived
	// certificate was valid when it signed.
	ErrNoTimestamp = errors.New("no trusted timestamp")
	// ErrIdentity reports a bundle signed by another identity (OIDC issuer
	// or subject) than the caller required.
	ErrIdentity = errors.New("certificate identity does not match")
	// ErrDigestMismatch reports an attestation that is not about the digest
	// the caller expected.
	ErrDigestMismatch = errors.New("attestation is about another digest")
	// ErrNoTrustedRoot reports a Sigstore bundle submitted to a server that
	// has no Sigstore trusted root configured.
	ErrNoTrustedRoot = errors.New("no Sigstore trusted root configured")
	// ErrInvalidLayout reports an in-toto layout or link that does not
	// parse, is expired, or does not fit its layout.
	ErrInvalidLayout = errors.New("invalid in-toto layout or link")
	// ErrLayoutSignature reports an in-toto layout or link whose signature
	// does not verify with the keys that must sign it.
	ErrLayoutSignature = errors.New("in-toto signature does not verify")
	// ErrNotLayout reports a layout id that names a log entry that is not an
	// in-toto layout.
	ErrNotLayout = errors.New("not an in-toto layout")
	// ErrInvalidNotation reports a Notation signature that does not parse:
	// an unknown envelope media type, an envelope that is not COSE or JWS,
	// a payload that is not a Notation payload, a reference without a
	// digest.
	ErrInvalidNotation = errors.New("invalid Notation signature")
	// ErrNotationVerification reports a Notation signature that does not
	// verify against the server's trust store and trust policy: a
	// certificate outside the trust store or not a trusted identity, a
	// tampered envelope, an expired or revoked certificate, a reference no
	// trust policy covers.
	ErrNotationVerification = errors.New("notation signature verification failed")
	// ErrNoNotationTrust reports a Notation signature submitted to a server
	// with no Notation trust store and trust policy configured.
	ErrNoNotationTrust = errors.New("no Notation trust store and trust policy configured")
)

// Error is the error type for rejected input (see inputerr.Error).
type Error = inputerr.Error

// The operations named at the start of error messages.
const (
	opPut       = "attest: put"
	opPredicate = "attest: predicate"
	opBundle    = "attest: bundle"
	opLayout    = "attest: layout"
	opLink      = "attest: link"
	opVerify    = "attest: verify layout"
	opNotation  = "attest: notation"
)
