// Package cosign reads what cosign makes with a key (not keyless): the
// legacy bundles of `cosign sign-blob --key --bundle`, the signatures it
// stores in an OCI registry (simple-signing payloads under sha256-HEX.sig
// tags) and the DSSE attestations it stores under sha256-HEX.att tags. It
// defines the Record trustd stores for a cosign message signature (the
// foreign bytes verbatim, plus the registered key that verified them) and
// verifies signatures against a registered public key. It is pure (no
// store, no network), so trustctl checks which key signed before sending
// and the server verifies again before storing.
package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Errors callers branch on with errors.Is; rejections are an
// [inputerr.Error] naming the field and the reason.
var (
	// ErrMalformed means input is not the cosign document it claims to be.
	ErrMalformed = errors.New("malformed cosign document")
	// ErrTooLarge means a cosign document is over its bound.
	ErrTooLarge = errors.New("cosign document too large")
	// ErrBadSignature means a signature does not verify with the key.
	ErrBadSignature = errors.New("cosign signature does not verify")
	// ErrUnsupportedKey means the key's type cannot verify this kind of
	// cosign signature (an ed25519 key over a digest only).
	ErrUnsupportedKey = errors.New("key cannot verify this cosign signature")
	// ErrKeyMismatch means the document names another key than the
	// registered key it is verified with, or a certificate (keyless).
	ErrKeyMismatch = errors.New("cosign document names another key")
)

// Bounds on what this package parses.
const (
	// MaxRecordBytes bounds a Record (and so each document it carries);
	// the server's attestation bound (trustd --max-attestation-bytes) is
	// usually the tighter one.
	MaxRecordBytes = 64 << 20
	// MaxBundleBytes bounds a legacy bundle: a signature, a public key
	// and a transparency log entry are a few KiB.
	MaxBundleBytes = 1 << 20
	// MaxPayloadBytes bounds a simple-signing payload; cosign's are a few
	// hundred bytes, annotations included.
	MaxPayloadBytes = 64 << 10
	// MaxSignatureBytes bounds a decoded signature (an RSA-16384 one is
	// 2 KiB).
	MaxSignatureBytes = 4 << 10
)

// Media types and annotations cosign uses in a registry.
const (
	// SimpleSigningMediaType is the layer media type of a .sig manifest.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a layer's base64 signature.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// DSSEMediaType is the layer media type of a .att manifest.
	DSSEMediaType = "application/vnd.dsse.envelope.v1+json"
	// SimpleSigningType is the critical.type of a cosign payload.
	SimpleSigningType = "cosign container image signature"
)

// Record kinds.
const (
	// KindBlobBundle is a legacy bundle of `cosign sign-blob --bundle`;
	// Record.Digest is the signed blob's digest.
	KindBlobBundle = "blob-bundle"
	// KindSimpleSigning is a simple-signing payload of a .sig tag with
	// its signature annotation.
	KindSimpleSigning = "simple-signing"
	// KindSigstoreBundle is a protobuf Sigstore bundle (cosign
	// --new-bundle-format) signed with a public key.
	KindSigstoreBundle = "sigstore-bundle"
	// KindDSSE is a DSSE envelope cosign stored as a .att layer.
	KindDSSE = "dsse"
)

// RecordVersion marks a Record.
const RecordVersion = "v1"

// PayloadType is the payload type trustd stores a cosign Record under.
const PayloadType = "application/vnd.trustd.cosign-signature+json"

// Record is a cosign signature as trustctl sends it and trustd stores it:
// the document cosign made, byte for byte, and the registered key that
// verifies it (cosign's documents name no key, or only a hint).
type Record struct {
	// Cosign is RecordVersion.
	Cosign string `json:"cosign"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// KeyID is the registered key that signed.
	KeyID string `json:"keyid"`
	// Digest is the signed blob's digest (KindBlobBundle only: a legacy
	// bundle does not say what it signs).
	Digest string `json:"digest,omitempty"`
	// Data is the document verbatim: the bundle, the simple-signing
	// payload or the DSSE envelope.
	Data []byte `json:"data"`
	// Signature is the signature annotation verbatim (KindSimpleSigning).
	Signature string `json:"signature,omitempty"`
}

const opRecord = "cosign: record"

// Encode returns r as the JSON trustd stores.
func (r Record) Encode() ([]byte, error) { return json.Marshal(r) }

// ParseRecord reads a Record within MaxRecordBytes: every field known,
// the required ones set for its kind.
func ParseRecord(data []byte) (Record, error) {
	var r Record
	if err := decodeStrict(opRecord, data, MaxRecordBytes, &r, "record", "cosign record (cosign, kind, keyid, data)"); err != nil {
		return Record{}, err
	}
	if r.Cosign != RecordVersion {
		return Record{}, inputerr.New(opRecord, "cosign", ErrMalformed, fmt.Sprintf("%q is not %q", r.Cosign, RecordVersion))
	}
	if r.KeyID == "" {
		return Record{}, inputerr.New(opRecord, "keyid", ErrMalformed, "required: the registered key that signed")
	}
	if len(r.Data) == 0 {
		return Record{}, inputerr.New(opRecord, "data", ErrMalformed, "required")
	}
	switch r.Kind {
	case KindBlobBundle:
		if r.Digest == "" {
			return Record{}, inputerr.New(opRecord, "digest", ErrMalformed, "required for a blob bundle: it does not say what it signs")
		}
	case KindSimpleSigning:
		if r.Signature == "" {
			return Record{}, inputerr.New(opRecord, "signature", ErrMalformed, "required for a simple-signing payload")
		}
	case KindSigstoreBundle, KindDSSE:
	default:
		return Record{}, inputerr.New(opRecord, "kind", ErrMalformed,
			fmt.Sprintf("%q is not %s, %s, %s or %s", r.Kind, KindBlobBundle, KindSimpleSigning, KindSigstoreBundle, KindDSSE))
	}
	if r.Kind != KindBlobBundle && r.Digest != "" {
		return Record{}, inputerr.New(opRecord, "digest", ErrMalformed, "only a blob bundle carries a digest; the others say what they sign")
	}
	if r.Kind != KindSimpleSigning && r.Signature != "" {
		return Record{}, inputerr.New(opRecord, "signature", ErrMalformed, "only a simple-signing payload carries a separate signature")
	}
	return r, nil
}

// LegacyBundle is what `cosign sign-blob --key K --bundle B` writes.
type LegacyBundle struct {
	// Signature is the decoded base64Signature.
	Signature []byte
	// PublicKey is the PEM public key in "cert" (base64), nil when absent.
	PublicKey []byte
	// RekorBundle is the transparency log entry, verbatim (nil with
	// --tlog-upload=false); trustd keeps it but does not rely on it.
	RekorBundle json.RawMessage
}

const opLegacy = "cosign: bundle"

// ParseLegacyBundle reads a legacy cosign bundle: base64Signature
// (required), cert (the base64 PEM public key; a certificate is refused
// with ErrKeyMismatch, it is a keyless bundle) and rekorBundle. Unknown
// fields are refused.
func ParseLegacyBundle(data []byte) (LegacyBundle, error) {
	var raw struct {
		Base64Signature *string         `json:"base64Signature"`
		Cert            *string         `json:"cert"`
		RekorBundle     json.RawMessage `json:"rekorBundle"`
	}
	if err := decodeStrict(opLegacy, data, MaxBundleBytes, &raw, "bundle", "cosign bundle (base64Signature, cert, rekorBundle)"); err != nil {
		return LegacyBundle{}, err
	}
	if raw.Base64Signature == nil {
		return LegacyBundle{}, inputerr.New(opLegacy, "base64Signature", ErrMalformed, "required")
	}
	sig, err := decodeSignature(opLegacy, "base64Signature", *raw.Base64Signature)
	if err != nil {
		return LegacyBundle{}, err
	}
	b := LegacyBundle{Signature: sig}
	if raw.Cert != nil && *raw.Cert != "" {
		pemBytes, err := base64.StdEncoding.DecodeString(*raw.Cert)
		if err != nil {
			return LegacyBundle{}, inputerr.Wrap(opLegacy, "cert", ErrMalformed, "not base64", err)
		}
		blk, _ := pem.Decode(pemBytes)
		switch {
		case blk == nil:
			return LegacyBundle{}, inputerr.New(opLegacy, "cert", ErrMalformed, "not a PEM block")
		case blk.Type == "CERTIFICATE":
			return LegacyBundle{}, inputerr.New(opLegacy, "cert", ErrKeyMismatch,
				"a certificate: this is a keyless bundle; submit the Sigstore bundle (--new-bundle-format) instead")
		case blk.Type != "PUBLIC KEY":
			return LegacyBundle{}, inputerr.New(opLegacy, "cert", ErrMalformed, fmt.Sprintf("a PEM %q block, not a PUBLIC KEY", blk.Type))
		}
		b.PublicKey = pemBytes
	}
	if len(raw.RekorBundle) > 0 && !bytes.Equal(raw.RekorBundle, []byte("null")) {
		if raw.RekorBundle[0] != '{' {
			return LegacyBundle{}, inputerr.New(opLegacy, "rekorBundle", ErrMalformed, "not an object")
		}
		b.RekorBundle = raw.RekorBundle
	}
	return b, nil
}

// SimpleSigning is a cosign simple-signing payload (containers/image's
// format): what image a .sig signature is about.
type SimpleSigning struct {
	// DockerReference is the repository the signer named (not checked:
	// trustd binds signatures to manifest digests).
	DockerReference string
	// ManifestDigest is the signed image manifest's digest.
	ManifestDigest digest.Digest
	// Optional holds the optional annotations verbatim (nil when null).
	Optional json.RawMessage
}

const opPayload = "cosign: simple-signing payload"

// ParseSimpleSigning reads a simple-signing payload within
// MaxPayloadBytes: critical.type must be SimpleSigningType,
// critical.image.docker-manifest-digest a digest trustd indexes, and
// critical holds nothing else (its fields must be understood); optional
// is an object or null.
func ParseSimpleSigning(data []byte) (SimpleSigning, error) {
	var raw struct {
		Critical *struct {
			Identity *struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image *struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
		Optional json.RawMessage `json:"optional"`
	}
	if err := decodeStrict(opPayload, data, MaxPayloadBytes, &raw, "payload", "simple-signing payload (critical, optional)"); err != nil {
		return SimpleSigning{}, err
	}
	c := raw.Critical
	switch {
	case c == nil:
		return SimpleSigning{}, inputerr.New(opPayload, "critical", ErrMalformed, "required")
	case c.Type != SimpleSigningType:
		return SimpleSigning{}, inputerr.New(opPayload, "critical.type", ErrMalformed, fmt.Sprintf("%q is not %q", truncate(c.Type), SimpleSigningType))
	case c.Image == nil || c.Image.DockerManifestDigest == "":
		return SimpleSigning{}, inputerr.New(opPayload, "critical.image.docker-manifest-digest", ErrMalformed, "required")
	case c.Identity == nil:
		return SimpleSigning{}, inputerr.New(opPayload, "critical.identity", ErrMalformed, "required")
	}
	d, err := digest.Parse(c.Image.DockerManifestDigest)
	if err != nil {
		return SimpleSigning{}, inputerr.Wrap(opPayload, "critical.image.docker-manifest-digest", ErrMalformed, "not a digest", err)
	}
	s := SimpleSigning{DockerReference: c.Identity.DockerReference, ManifestDigest: d}
	if len(raw.Optional) > 0 && !bytes.Equal(raw.Optional, []byte("null")) {
		if raw.Optional[0] != '{' {
			return SimpleSigning{}, inputerr.New(opPayload, "optional", ErrMalformed, "not an object or null")
		}
		s.Optional = raw.Optional
	}
	return s, nil
}

// DecodeSignature decodes a base64 signature (a .sig layer's annotation)
// within MaxSignatureBytes; fld names it in errors.
func DecodeSignature(fld, s string) ([]byte, error) { return decodeSignature(opRecord, fld, s) }

func decodeSignature(op, fld, s string) ([]byte, error) {
	if len(s) > MaxSignatureBytes*4/3+4 {
		return nil, inputerr.New(op, fld, ErrTooLarge, fmt.Sprintf("%d characters, over a %d-byte signature", len(s), MaxSignatureBytes))
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, inputerr.Wrap(op, fld, ErrMalformed, "not base64", err)
	}
	if len(sig) == 0 {
		return nil, inputerr.New(op, fld, ErrMalformed, "empty")
	}
	return sig, nil
}

const opVerify = "cosign: verify"

// hashOf is the hash cosign signs with for a key (sigstore's defaults:
// SHA-384 for P-384, SHA-256 otherwise).
func hashOf(pub envelope.PublicKey) digest.Algorithm {
	if pub.Type == envelope.KeyTypeECDSAP384 {
		return digest.SHA384
	}
	return digest.SHA256
}

// VerifyDigest checks sig over the message whose digest is d with pub, as
// cosign signs: ECDSA (ASN.1) or RSA PKCS #1 v1.5 over the digest. d's
// algorithm must be the key's hash (SHA-256, SHA-384 for P-384); an
// ed25519 key signs messages, not digests (ErrUnsupportedKey).
func VerifyDigest(pub envelope.PublicKey, d digest.Digest, sig []byte) error {
	if want := hashOf(pub); d.Algorithm() != want || pub.Type == envelope.KeyTypeED25519 {
		return inputerr.New(opVerify, "digest", ErrUnsupportedKey,
			fmt.Sprintf("key %s (%s) verifies cosign signatures over a %s digest of the message, not %s", pub.ID, pub.Type, want, d.Algorithm()))
	}
	switch k := pub.Public.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d.Bytes(), sig) {
			return inputerr.New(opVerify, "signature", ErrBadSignature, fmt.Sprintf("does not verify with key %s", pub.ID))
		}
		return nil
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, d.Bytes(), sig); err != nil {
			return inputerr.Wrap(opVerify, "signature", ErrBadSignature, fmt.Sprintf("does not verify with key %s", pub.ID), err)
		}
		return nil
	}
	return inputerr.New(opVerify, "key", ErrUnsupportedKey, fmt.Sprintf("key %s is %s", pub.ID, pub.Type))
}

// VerifyMessage checks sig over msg with pub as cosign signs a payload:
// over its hash (VerifyDigest), or the message itself for ed25519.
func VerifyMessage(pub envelope.PublicKey, msg, sig []byte) error {
	if k, ok := pub.Public.(ed25519.PublicKey); ok {
		if !ed25519.Verify(k, msg, sig) {
			return inputerr.New(opVerify, "signature", ErrBadSignature, fmt.Sprintf("does not verify with key %s", pub.ID))
		}
		return nil
	}
	var sum []byte
	if hashOf(pub) == digest.SHA384 {
		h := sha512.Sum384(msg)
		sum = h[:]
	} else {
		h := sha256.Sum256(msg)
		sum = h[:]
	}
	d, err := digest.New(hashOf(pub), sum)
	if err != nil {
		return err
	}
	return VerifyDigest(pub, d, sig)
}

// SameKey reports whether pemKey (a PEM public key a cosign document
// carries) is pub.
func SameKey(pub envelope.PublicKey, pemKey []byte) bool {
	blk, _ := pem.Decode(pemKey)
	if blk == nil {
		return false
	}
	got, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return false
	}
	want, err := x509.MarshalPKIXPublicKey(pub.Public)
	if err != nil {
		return false
	}
	der, err := x509.MarshalPKIXPublicKey(got)
	return err == nil && bytes.Equal(der, want)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// decodeStrict decodes untrusted JSON into v the one way cosign's parsers
// accept it: at most limit bytes, every field known, nothing after the
// value. Errors name what the document is ("record") and expect, its
// expected shape ("cosign record (cosign, kind, keyid, data)").
func decodeStrict(op string, data []byte, limit int, v any, what, expect string) error {
	if len(data) > limit {
		return inputerr.New(op, "", ErrTooLarge, fmt.Sprintf("%d bytes, the limit is %d", len(data), limit))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return inputerr.Wrap(op, "", ErrMalformed, "not a "+expect, err)
	}
	if dec.More() {
		return inputerr.New(op, "", ErrMalformed, "data after the "+what)
	}
	return nil
}
