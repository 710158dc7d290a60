package pgp

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

func init() {
	envelope.RegisterKeyType(KeyType, func(encoded []byte) (dsse.Verifier, error) {
		c, err := ParseCertificate(encoded)
		if err != nil {
			return nil, err
		}
		return NewVerifier(c), nil
	})
}

// Verifier verifies DSSE signatures that are binary detached OpenPGP
// signatures over the PAE, against one certificate. It is what the
// envelope registry builds for registry rows of type KeyType.
type Verifier struct{ cert *Certificate }

// NewVerifier returns the DSSE verifier for cert.
func NewVerifier(cert *Certificate) *Verifier { return &Verifier{cert: cert} }

// KeyID returns the certificate's primary fingerprint.
func (v *Verifier) KeyID() (string, error) { return v.cert.Fingerprint, nil }

// Public returns the primary key's public key (an *rsa.PublicKey,
// ed25519.PublicKey, …) as go-crypto holds it.
func (v *Verifier) Public() crypto.PublicKey { return v.cert.entity.PrimaryKey.PublicKey }

// Verify checks sig (a binary OpenPGP signature) over data (the DSSE PAE).
// A signature that is not OpenPGP at all wraps envelope.ErrWrongKeyType;
// one that does not verify wraps envelope.ErrBadSignature and this
// package's precise sentinel (ErrKeyRevoked, ErrWeakHash, …).
func (v *Verifier) Verify(_ context.Context, data, sig []byte) error {
	_, err := v.VerifyInfo(data, sig)
	return err
}

// VerifyInfo is Verify that also returns what signed, for the chain facts.
func (v *Verifier) VerifyInfo(data, sig []byte) (SignatureInfo, error) {
	if len(sig) == 0 || sig[0]&0x80 == 0 {
		return SignatureInfo{}, fmt.Errorf("%w: not an OpenPGP signature packet (the first byte has no packet tag bit)", envelope.ErrWrongKeyType)
	}
	if bytes.HasPrefix(sig, []byte("-----BEGIN")) {
		return SignatureInfo{}, fmt.Errorf("%w: an armored signature; DSSE carries binary OpenPGP signatures", envelope.ErrBadSignature)
	}
	sigs, err := readSignatures(opVerify, sig)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return SignatureInfo{}, fmt.Errorf("%w: %w", envelope.ErrWrongKeyType, err)
		}
		return SignatureInfo{}, fmt.Errorf("%w: %w", envelope.ErrBadSignature, err)
	}
	info, err := v.cert.verifySigs(data, sigs, time.Now())
	if err != nil {
		return SignatureInfo{}, fmt.Errorf("%w: %w", envelope.ErrBadSignature, err)
	}
	return info, nil
}

// VerifyEnvelope verifies every signature of env whose key id is a
// certificate certs returns, over the envelope's PAE, and returns what
// signed; signatures by other key types are left to envelope.Verify.
func VerifyEnvelope(env *dsse.Envelope, certs func(fingerprint string) (*Certificate, bool)) ([]SignatureInfo, error) {
	if env == nil {
		return nil, inputerr.New(opVerify, "", ErrMalformed, "no envelope")
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		return nil, inputerr.Wrap(opVerify, "payload", ErrMalformed, "not valid base64", err)
	}
	pae := dsse.PAE(env.PayloadType, body)
	var out []SignatureInfo
	for i, s := range env.Signatures {
		c, ok := certs(s.KeyID)
		if !ok {
			continue
		}
		sig, err := decodeB64(s.Sig)
		if err != nil {
			return nil, inputerr.Wrap(opVerify, fmt.Sprintf("signatures[%d].sig", i), ErrMalformed, "not base64", err)
		}
		info, err := NewVerifier(c).VerifyInfo(pae, sig)
		if err != nil {
			return nil, &Error{Op: opVerify, Field: fmt.Sprintf("signatures[%d]", i), Reason: "by " + s.KeyID, Kind: ErrBadSignature, Err: err}
		}
		out = append(out, info)
	}
	return out, nil
}

// KeySigner signs DSSE PAEs with an OpenPGP secret key held in this
// process; it implements envelope.Signer. It never prints key material.
type KeySigner struct {
	entity *openpgp.Entity
	cert   *Certificate
}

// NewKeySigner loads an armored (or binary) OpenPGP secret key, as gpg
// --export-secret-keys --armor writes it, decrypting it with passphrase if
// it is protected.
func NewKeySigner(secretKey, passphrase []byte) (*KeySigner, error) {
	if len(secretKey) > MaxCertificateBytes {
		return nil, inputerr.New(opSign, "", ErrTooLarge, "secret key over the size limit")
	}
	raw, _, err := dearmor(opSign, secretKey, openpgp.PrivateKeyType)
	if err != nil {
		return nil, err
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(raw))
	if err != nil {
		return nil, inputerr.Wrap(opSign, "", ErrMalformed, "not an OpenPGP secret key", err)
	}
	if len(el) != 1 || el[0].PrivateKey == nil {
		return nil, inputerr.New(opSign, "", ErrMalformed, fmt.Sprintf("want exactly one secret key, got %d keys", len(el)))
	}
	e := el[0]
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		return nil, inputerr.Wrap(opSign, "", ErrBadSignature, "cannot decrypt the secret key (wrong passphrase?)", err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		return nil, inputerr.Wrap(opSign, "", ErrMalformed, "cannot serialize the public certificate", err)
	}
	cert, err := ParseCertificate(pub.Bytes())
	if err != nil {
		return nil, err
	}
	if _, ok := e.SigningKey(time.Now(), verifyConfig(time.Now())); !ok {
		return nil, inputerr.New(opSign, "", ErrNotSigningKey, "the key has no valid signing key or subkey now")
	}
	return &KeySigner{entity: e, cert: cert}, nil
}

// Certificate returns the signer's public certificate, for registration.
func (s *KeySigner) Certificate() *Certificate { return s.cert }

// KeyID returns the primary fingerprint.
func (s *KeySigner) KeyID() (string, error) { return s.cert.Fingerprint, nil }

// Public returns the primary public key.
func (s *KeySigner) Public() crypto.PublicKey { return s.cert.entity.PrimaryKey.PublicKey }

// Sign makes a binary detached OpenPGP signature over data (the PAE).
func (s *KeySigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA512}
	if err := openpgp.DetachSign(&buf, []*openpgp.Entity{s.entity}, bytes.NewReader(data), cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", opSign, err)
	}
	return buf.Bytes(), nil
}

// Verify checks a signature by this key, as Verifier does.
func (s *KeySigner) Verify(ctx context.Context, data, sig []byte) error {
	return NewVerifier(s.cert).Verify(ctx, data, sig)
}

// String describes the signer by fingerprint only.
func (s *KeySigner) String() string { return "pgp.KeySigner(" + s.cert.Fingerprint + ")" }

// Format prints String for every verb, so %#v cannot dump the secret key.
func (s *KeySigner) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// GPGTimeout bounds one run of the gpg program (a smartcard may wait for a
// PIN).
const GPGTimeout = 2 * time.Minute

// GPGSigner signs DSSE PAEs by running the local gpg program (like git's
// gpg.program), so keys in gpg-agent or on smartcards work without export.
// It implements envelope.Signer.
type GPGSigner struct {
	program string
	cert    *Certificate
	env     []string
}

// NewGPGSigner returns a signer that runs program (default "gpg") with
// --local-user fingerprint. It exports the public certificate once (gpg
// --export) to check the fingerprint and to verify every signature it
// makes. env, if not nil, is the program's environment (e.g. GNUPGHOME);
// nil inherits this process's.
func NewGPGSigner(ctx context.Context, program, fingerprint string, env []string) (*GPGSigner, error) {
	if program == "" {
		program = "gpg"
	}
	f, err := NormalizeFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, inputerr.Wrap(opSign, "program", ErrGPG, "not found", err)
	}
	s := &GPGSigner{program: path, env: env}
	out, err := s.run(ctx, nil, MaxCertificateBytes, "--export", f)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, inputerr.New(opSign, "fingerprint", ErrGPG, "gpg has no public key "+f)
	}
	cert, err := ParseCertificate(out)
	if err != nil {
		return nil, fmt.Errorf("%s: the certificate gpg exports for %s: %w", opSign, f, err)
	}
	if cert.Fingerprint != f {
		return nil, inputerr.New(opSign, "fingerprint", ErrWrongKey, fmt.Sprintf("gpg exported %s for %s; give the primary key fingerprint", cert.Fingerprint, f))
	}
	s.cert = cert
	return s, nil
}

// limitedBuffer keeps at most max bytes and records overflow.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

// run runs gpg in batch mode without a shell; stdout is bounded.
func (s *GPGSigner) run(ctx context.Context, stdin []byte, maxOut int, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, GPGTimeout)
	defer cancel()
	all := append([]string{"--batch", "--no-tty"}, args...)
	cmd := exec.CommandContext(ctx, s.program, all...)
	cmd.Env = s.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	stdout := &limitedBuffer{max: maxOut}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.buf.String())
		return nil, inputerr.Wrap(opSign, "", ErrGPG, fmt.Sprintf("%s %s: %s", s.program, strings.Join(args, " "), msg), err)
	}
	if stdout.overflow {
		return nil, inputerr.New(opSign, "", ErrTooLarge, fmt.Sprintf("gpg wrote more than %d bytes", maxOut))
	}
	return stdout.buf.Bytes(), nil
}

// Certificate returns the certificate gpg exported for the key.
func (s *GPGSigner) Certificate() *Certificate { return s.cert }

// KeyID returns the primary fingerprint.
func (s *GPGSigner) KeyID() (string, error) { return s.cert.Fingerprint, nil }

// Public returns the primary public key.
func (s *GPGSigner) Public() crypto.PublicKey { return s.cert.entity.PrimaryKey.PublicKey }

// Sign runs gpg --detach-sign over data (the PAE, on stdin) and checks the
// signature against the exported certificate before returning it.
func (s *GPGSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	sig, err := s.run(ctx, data, MaxSignatureBytes, "--detach-sign", "--local-user", s.cert.Fingerprint, "--output", "-")
	if err != nil {
		return nil, err
	}
	if _, err := NewVerifier(s.cert).VerifyInfo(data, sig); err != nil {
		return nil, fmt.Errorf("%s: the signature gpg made does not verify: %w", opSign, err)
	}
	return sig, nil
}

// Verify checks a signature by this key, as Verifier does.
func (s *GPGSigner) Verify(ctx context.Context, data, sig []byte) error {
	return NewVerifier(s.cert).Verify(ctx, data, sig)
}

// String describes the signer.
func (s *GPGSigner) String() string {
	return "pgp.GPGSigner(" + s.program + " " + s.cert.Fingerprint + ")"
}

// decodeB64 decodes DSSE's base64 (standard or URL-safe, padded or not).
func decodeB64(s string) ([]byte, error) {
	env := dsse.Envelope{Payload: s}
	return env.DecodeB64Payload()
}
