// Package envelope signs and verifies DSSE envelopes carrying in-toto
// statements, and parses the keys that make and check the signatures.
//
// Every write to trustd is a signed statement: a DSSE envelope
// (github.com/secure-systems-lab/go-securesystemslib/dsse) whose payload is an
// in-toto Statement (v1, or v0.1). The server runs, in order:
//
//	lim := envelope.DefaultLimits()
//	env, err := envelope.Decode(body, lim)                            // size, depth, strict shape
//	signers, err := envelope.Verify(ctx, env, lookup)                 // every signature, registered keys
//	payload, err := env.DecodeB64Payload()
//	st, err := envelope.ParseStatement(env.PayloadType, payload, lim) // subjects and digests
//
// Keys. ParsePublicKey reads ed25519, ECDSA P-256/P-384 and RSA (at least
// 2048 bits) public keys, as PEM "PUBLIC KEY" (PKIX) or in the
// securesystemslib/TUF JSON form, and gives each its TUF key id: the hex
// SHA-256 of the canonical JSON {"keytype", "scheme", "keyval": {"public"}}
// that go-tuf computes, with the securesystemslib schemes ed25519,
// ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 and rsassa-pss-sha256. A key is
// stored as PublicKey.Encode (PEM PKIX) under its type, and DecodeStoredKey
// reads it back.
//
// Signing. LoadPrivateKey reads a local PEM private key (PKCS#8, encrypted or
// not, or the legacy SEC 1 and PKCS#1 forms) into a Signer, which Sign uses
// through dsse.EnvelopeSigner. GenerateKey and GenerateKeyEncrypted make new
// keys; WritePrivateKeyFile stores one with mode 0600. Private keys are never
// printed: a Signer formats as its key type and id.
//
// Verification. Verify looks each signature's key id up through a KeyLookup
// (the key registry) and requires every signature to verify, unlike
// dsse.EnvelopeVerifier, which accepts an envelope once a threshold of its
// signatures verify. The key type of the registry row picks the verifier;
// other packages add key types (OpenPGP, Sigstore) with RegisterKeyType.
//
// Errors. Bad input gives an *Error that names the operation, the JSON field
// and the reason ("envelope: decode: signatures[1].keyid: required: trustd
// looks signers up by key id") and matches one sentinel (ErrMalformed,
// ErrUnknownKey, ErrBadSignature, …) with errors.Is.
package envelope
