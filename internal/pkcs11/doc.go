// Package pkcs11 signs with private keys held in PKCS#11 tokens (HSMs,
// smart cards, YubiKeys, SoftHSM2), so that TUF root and targets keys and
// statement keys never need to exist as files. A key is named by an RFC 7512
// PKCS#11 URI (ParseURI, parsed with github.com/stefanberger/go-pkcs11uri);
// Open logs in to the token through github.com/miekg/pkcs11 and returns a
// crypto.Signer whose signatures are made on the token.
package pkcs11

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrBadURI: the key reference is not a usable PKCS#11 URI.
	ErrBadURI = errors.New("bad PKCS#11 URI")
	// ErrModule: the PKCS#11 module cannot be loaded or initialised.
	ErrModule = errors.New("PKCS#11 module unavailable")
	// ErrNoToken: no token, or more than one, matches the URI.
	ErrNoToken = errors.New("no matching PKCS#11 token")
	// ErrNoKey: no private key, or more than one, matches the URI.
	ErrNoKey = errors.New("no matching PKCS#11 key")
	// ErrLogin: the token refused the PIN.
	ErrLogin = errors.New("PKCS#11 login failed")
	// ErrUnsupportedKey: the key or the requested signature scheme is not
	// one trustd signs with.
	ErrUnsupportedKey = errors.New("unsupported PKCS#11 key")
)
