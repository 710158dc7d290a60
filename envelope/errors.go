package envelope

import (
	"errors"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Sentinel errors callers branch on with errors.Is. Every error this package
// returns for bad input is an [*Error] that matches exactly one of them and
// names the field and the reason in its message.
var (
	// ErrInvalidKey reports a public or private key that cannot be used: bad
	// encoding, unsupported algorithm or curve, too short, or a private key
	// given where a public key was expected.
	ErrInvalidKey = errors.New("invalid key")
	// ErrUnknownKey reports a signature whose key id is not registered.
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadSignature reports a signature that does not verify against the
	// key registered under its key id.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongKeyType reports a signature whose shape belongs to another key
	// type than the registered key (an ed25519 signature under an RSA key id).
	ErrWrongKeyType = errors.New("wrong key type for signature")
	// ErrTooLarge reports input over a size or count limit.
	ErrTooLarge = errors.New("too large")
	// ErrTooDeep reports JSON nested deeper than the depth limit.
	ErrTooDeep = errors.New("JSON nested too deep")
	// ErrMalformed reports an envelope that is not a well-formed DSSE JSON
	// envelope (syntax, missing or mistyped fields, bad base64, unknown fields).
	ErrMalformed = errors.New("malformed envelope")
	// ErrPayloadType reports an envelope payload type other than the one the
	// caller reads.
	ErrPayloadType = errors.New("unexpected payload type")
	// ErrInvalidStatement reports an in-toto statement that is malformed or
	// breaks trustd's rules (no subjects, bad or duplicate digests).
	ErrInvalidStatement = errors.New("invalid in-toto statement")
	// ErrBadPassword reports a password that does not decrypt an encrypted
	// private key, or a missing one (then ErrPasswordRequired matches too).
	ErrBadPassword = errors.New("bad password")
	// ErrPasswordRequired reports an encrypted private key loaded without a
	// password, so that a CLI knows to prompt for one. It comes with
	// ErrBadPassword.
	ErrPasswordRequired = errors.New("password required")
)

// Error is the error type for rejected input (see inputerr.Error): Kind is
// one of the sentinel errors above and Field the element at fault, if any.
type Error = inputerr.Error

// The operations named at the start of error messages.
const (
	opDecode       = "envelope: decode"
	opVerify       = "envelope: verify"
	opSign         = "envelope: sign"
	opStatement    = "envelope: statement"
	opNewStatement = "envelope: new statement"
	opPublicKey    = "envelope: public key"
	opStoredKey    = "envelope: stored key"
	opPrivateKey   = "envelope: private key"
	opGenerate     = "envelope: generate key"
)
