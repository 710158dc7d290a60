package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/timerule"
)

// MaxSignatureBytes bounds a detached signature (armored or binary).
const MaxSignatureBytes = 64 << 10

// MaxSignaturePackets bounds the signatures in one detached signature file.
const MaxSignaturePackets = 16

// MaxClearsignedBytes bounds a clearsigned document (an InRelease-style
// manifest): the manifest limit plus room for the signature.
const MaxClearsignedBytes = MaxManifestBytes + MaxSignatureBytes

// SignatureInfo describes a verified signature.
type SignatureInfo struct {
	Primary    string      // the certificate's primary key fingerprint
	SigningKey string      // the fingerprint of the key that signed: the primary key or a subkey
	Created    time.Time   // the creation time the signer claims
	Hash       crypto.Hash // the hash algorithm of the signature
}

// Issuer is who a signature says made it: the signing key's full
// fingerprint (issuer fingerprint subpacket) if present, and its key id.
type Issuer struct {
	Fingerprint string // lowercase hex, or "" when the signature lacks the subpacket
	KeyID       uint64
}

// verifyConfig is go-crypto's configuration for every verification: weak
// hashes refused for self-signatures and message signatures alike.
func verifyConfig(now time.Time) *packet.Config {
	weak := map[crypto.Hash]bool{crypto.MD5: true, crypto.SHA1: true, crypto.RIPEMD160: true}
	return &packet.Config{
		RejectHashAlgorithms:        weak,
		RejectMessageHashAlgorithms: weak,
		MinRSABits:                  MinRSABits,
		Time:                        func() time.Time { return now },
	}
}

// singleKeyring is a go-crypto key ring holding one certificate, so a
// signature can only ever be checked against the certificate chosen by
// full fingerprint.
type singleKeyring struct{ e *openpgp.Entity }

func (k singleKeyring) ids() []uint64 {
	ids := []uint64{k.e.PrimaryKey.KeyId}
	for _, s := range k.e.Subkeys {
		ids = append(ids, s.PublicKey.KeyId)
	}
	return ids
}

// KeysById returns the keys of the certificate with that key id.
func (k singleKeyring) KeysById(id uint64) []openpgp.Key {
	var keys []openpgp.Key
	if k.e.PrimaryKey.KeyId == id {
		keys = append(keys, openpgp.Key{Entity: k.e, PublicKey: k.e.PrimaryKey})
	}
	for _, s := range k.e.Subkeys {
		if s.PublicKey.KeyId == id {
			keys = append(keys, openpgp.Key{Entity: k.e, PublicKey: s.PublicKey})
		}
	}
	return keys
}

// EntitiesById returns the certificate if it has a key with that key id.
func (k singleKeyring) EntitiesById(id uint64) []*openpgp.Entity {
	for _, x := range k.ids() {
		if x == id {
			return []*openpgp.Entity{k.e}
		}
	}
	return nil
}

// splitPackets splits binary OpenPGP data into its packets' bytes, reading
// only the packet headers (old and new format; partial lengths refused).
func splitPackets(data []byte, max int) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d packets", ErrTooLarge, max)
		}
		tag := data[0]
		if tag&0x80 == 0 {
			return nil, fmt.Errorf("byte 0x%02x does not start an OpenPGP packet", tag)
		}
		var hdr, n int
		if tag&0x40 != 0 { // new format
			if len(data) < 2 {
				return nil, errors.New("truncated packet header")
			}
			switch l := int(data[1]); {
			case l < 192:
				hdr, n = 2, l
			case l < 224:
				if len(data) < 3 {
					return nil, errors.New("truncated packet header")
				}
				hdr, n = 3, (l-192)<<8+int(data[2])+192
			case l == 255:
				if len(data) < 6 {
					return nil, errors.New("truncated packet header")
				}
				hdr = 6
				n64 := uint64(data[2])<<24 | uint64(data[3])<<16 | uint64(data[4])<<8 | uint64(data[5])
				if n64 > uint64(len(data)) {
					return nil, errors.New("truncated packet")
				}
				n = int(n64)
			default:
				return nil, errors.New("partial-length packets are not accepted in signatures")
			}
		} else { // old format
			switch tag & 3 {
			case 0:
				if len(data) < 2 {
					return nil, errors.New("truncated packet header")
				}
				hdr, n = 2, int(data[1])
			case 1:
				if len(data) < 3 {
					return nil, errors.New("truncated packet header")
				}
				hdr, n = 3, int(data[1])<<8|int(data[2])
			case 2:
				if len(data) < 5 {
					return nil, errors.New("truncated packet header")
				}
				n64 := uint64(data[1])<<24 | uint64(data[2])<<16 | uint64(data[3])<<8 | uint64(data[4])
				if n64 > uint64(len(data)) {
					return nil, errors.New("truncated packet")
				}
				hdr, n = 5, int(n64)
			default:
				return nil, errors.New("indeterminate-length packets are not accepted in signatures")
			}
		}
		if hdr+n > len(data) {
			return nil, errors.New("truncated packet")
		}
		out = append(out, data[:hdr+n])
		data = data[hdr+n:]
	}
	return out, nil
}

// sigPacket is one parsed signature with its packet bytes.
type sigPacket struct {
	raw []byte
	sig *packet.Signature
}

// readSignatures parses a detached signature file: armored ("PGP
// SIGNATURE") or binary, one to MaxSignaturePackets signature packets and
// nothing else.
func readSignatures(op string, data []byte) ([]sigPacket, error) {
	if len(data) > MaxSignatureBytes {
		return nil, inputerr.New(op, "signature", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxSignatureBytes))
	}
	raw, _, err := dearmor(op, data, openpgp.SignatureType)
	if err != nil {
		return nil, err
	}
	return parseSignaturePackets(op, raw)
}

func parseSignaturePackets(op string, raw []byte) ([]sigPacket, error) {
	pkts, err := splitPackets(raw, MaxSignaturePackets)
	if errors.Is(err, ErrTooLarge) {
		return nil, inputerr.Wrap(op, "signature", ErrTooLarge, "too many packets", err)
	}
	if err != nil {
		return nil, inputerr.Wrap(op, "signature", ErrMalformed, "not OpenPGP packets", err)
	}
	if len(pkts) == 0 {
		return nil, inputerr.New(op, "signature", ErrMalformed, "empty")
	}
	out := make([]sigPacket, 0, len(pkts))
	for i, b := range pkts {
		p, err := packet.Read(bytes.NewReader(b))
		if err != nil {
			return nil, inputerr.Wrap(op, fmt.Sprintf("signature packet %d", i), ErrMalformed, "cannot be read", err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			return nil, inputerr.New(op, fmt.Sprintf("signature packet %d", i), ErrMalformed, fmt.Sprintf("a detached signature holds only signature packets, not %T", p))
		}
		if sig.IssuerKeyId == nil && sig.IssuerFingerprint == nil {
			return nil, inputerr.New(op, fmt.Sprintf("signature packet %d", i), ErrMalformed, "the signature names no issuer")
		}
		out = append(out, sigPacket{raw: b, sig: sig})
	}
	return out, nil
}

// SignatureIssuers returns who the signatures in a detached signature
// (armored or binary) or a clearsigned document claim to be by, so that the
// caller can find each certificate by full fingerprint, falling back to key
// id candidates only when a signature lacks the fingerprint (and then trying
// each candidate on its own).
func SignatureIssuers(sig []byte) ([]Issuer, error) {
	var sigs []sigPacket
	var err error
	if bytes.Contains(sig, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		_, sigs, err = readCleartext(opIssuer, sig)
	} else {
		sigs, err = readSignatures(opIssuer, sig)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Issuer, 0, len(sigs))
	for _, s := range sigs {
		is := Issuer{}
		if s.sig.IssuerFingerprint != nil {
			is.Fingerprint = fpr(s.sig.IssuerFingerprint)
		}
		if s.sig.IssuerKeyId != nil {
			is.KeyID = *s.sig.IssuerKeyId
		}
		out = append(out, is)
	}
	return out, nil
}

// matchKey returns the key of cert that sig names as its issuer: by full
// fingerprint when the signature carries one, else by key id.
func (c *Certificate) matchKey(sig *packet.Signature) *keyState {
	if sig.IssuerFingerprint != nil {
		k := c.key(fpr(sig.IssuerFingerprint))
		if k != nil && sig.IssuerKeyId != nil && *sig.IssuerKeyId != k.info.KeyID {
			return nil // inconsistent issuer subpackets
		}
		return k
	}
	for _, k := range c.keys {
		if k.info.KeyID == *sig.IssuerKeyId {
			return k
		}
	}
	return nil
}

// VerifyDetached verifies a detached signature (armored or binary) over
// message against cert alone, at the current time, and returns what signed
// it. At least one signature in sig must be by cert and verify; the
// signing key must be bound and sign-capable, unrevoked and unexpired at the
// signature's creation time, and the hash strong.
func VerifyDetached(cert *Certificate, message, sig []byte) (SignatureInfo, error) {
	sigs, err := readSignatures(opVerify, sig)
	if err != nil {
		return SignatureInfo{}, err
	}
	return cert.verifySigs(message, sigs, time.Now())
}

// VerifyCleartext verifies a clearsigned document (gpg --clearsign, an
// InRelease-style manifest) against cert alone and returns the signed text
// (dash-escaping removed) and what signed it.
func VerifyCleartext(cert *Certificate, signed []byte) ([]byte, SignatureInfo, error) {
	block, sigs, err := readCleartext(opVerify, signed)
	if err != nil {
		return nil, SignatureInfo{}, err
	}
	info, err := cert.verifySigs(block.Bytes, sigs, time.Now())
	if err != nil {
		return nil, SignatureInfo{}, err
	}
	return block.Plaintext, info, nil
}

func readCleartext(op string, signed []byte) (*clearsign.Block, []sigPacket, error) {
	if len(signed) > MaxClearsignedBytes {
		return nil, nil, inputerr.New(op, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(signed), MaxClearsignedBytes))
	}
	block, rest := clearsign.Decode(signed)
	if block == nil {
		return nil, nil, inputerr.New(op, "", ErrMalformed, "not a clearsigned document (-----BEGIN PGP SIGNED MESSAGE-----)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, nil, inputerr.New(op, "", ErrMalformed, "data after the clearsigned document's signature")
	}
	if i := bytes.Index(signed, []byte("-----BEGIN PGP SIGNED MESSAGE-----")); len(bytes.TrimSpace(signed[:i])) != 0 {
		return nil, nil, inputerr.New(op, "", ErrMalformed, "data before the clearsigned document")
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(block.ArmoredSignature.Body); err != nil {
		return nil, nil, inputerr.Wrap(op, "signature", ErrMalformed, "bad ASCII armor", err)
	}
	sigs, err := parseSignaturePackets(op, body.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return block, sigs, nil
}

// verifySigs checks the signatures by this certificate over message and
// returns the first that verifies, or the most precise failure.
func (c *Certificate) verifySigs(message []byte, sigs []sigPacket, now time.Time) (SignatureInfo, error) {
	var firstErr error
	tried := 0
	for _, s := range sigs {
		k := c.matchKey(s.sig)
		if k == nil {
			continue
		}
		tried++
		info, err := c.verifyOne(message, s, k, now)
		if err == nil {
			return info, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if tried == 0 {
		names := make([]string, 0, len(sigs))
		for _, s := range sigs {
			names = append(names, issuerString(s.sig))
		}
		sort.Strings(names)
		return SignatureInfo{}, inputerr.New(opVerify, "signature", ErrWrongKey,
			fmt.Sprintf("made by %v, not by certificate %s or its subkeys", names, c.Fingerprint))
	}
	return SignatureInfo{}, firstErr
}

func (c *Certificate) verifyOne(message []byte, s sigPacket, k *keyState, now time.Time) (SignatureInfo, error) {
	sig := s.sig
	fld := "signature by " + k.info.Fingerprint
	if sig.SigType != packet.SigTypeBinary && sig.SigType != packet.SigTypeText {
		return SignatureInfo{}, inputerr.New(opVerify, fld, ErrMalformed, fmt.Sprintf("signature type 0x%02x is not a document signature", uint8(sig.SigType)))
	}
	if !strongHash(sig.Hash) {
		return SignatureInfo{}, inputerr.New(opVerify, fld, ErrWeakHash, fmt.Sprintf("made with %s; SHA-256 or better is required", hashName(sig.Hash)))
	}
	// Our own time line first, for a precise reason; go-crypto checks the
	// same again below.
	if rev := c.hardRevocation(k); rev != nil {
		return SignatureInfo{}, inputerr.New(opVerify, fld, ErrKeyRevoked, fmt.Sprintf("the key was revoked (%s) on %s, which invalidates all its signatures", rev.Reason, rev.Created.UTC().Format(time.RFC3339)))
	}
	if rev := c.softRevocationBefore(k, sig.CreationTime); rev != nil {
		return SignatureInfo{}, inputerr.New(opVerify, fld, ErrKeyRevoked, fmt.Sprintf("signed on %s, after the key was revoked (%s) on %s", sig.CreationTime.UTC().Format(time.RFC3339), rev.Reason, rev.Created.UTC().Format(time.RFC3339)))
	}
	if !k.primary {
		if reason, code := c.keys[0].keyProblem(sig.CreationTime, time.Time{}, false); code != "" {
			return SignatureInfo{}, inputerr.New(opVerify, fld, code.kind(), reason)
		}
	}
	if reason, code := k.keyProblem(sig.CreationTime, time.Time{}, true); code != "" {
		return SignatureInfo{}, inputerr.New(opVerify, fld, code.kind(), reason)
	}
	_, _, err := openpgp.VerifyDetachedSignature(singleKeyring{c.entity}, bytes.NewReader(message), bytes.NewReader(s.raw), verifyConfig(now))
	if err != nil {
		kind := ErrBadSignature
		switch {
		case errors.Is(err, pgperrors.ErrKeyRevoked):
			kind = ErrKeyRevoked
		case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired), errors.Is(err, pgperrors.ErrSignatureOlderThanKey):
			kind = ErrKeyExpired
		}
		return SignatureInfo{}, inputerr.Wrap(opVerify, fld, kind, "does not verify", err)
	}
	return SignatureInfo{Primary: c.Fingerprint, SigningKey: k.info.Fingerprint, Created: sig.CreationTime, Hash: sig.Hash}, nil
}

// hardRevocation returns a hard revocation of key k or of the primary key.
func (c *Certificate) hardRevocation(k *keyState) *Revocation {
	for _, ks := range []*keyState{c.keys[0], k} {
		for i := range ks.info.Revocations {
			if r := &ks.info.Revocations[i]; r.Hard {
				return r
			}
		}
	}
	return nil
}

// softRevocationBefore returns a soft revocation of key k or of the primary
// key that voids a signature claiming t (timerule.Voids; with no
// observation known here, the claimed time is judged: the log's chain
// decisions judge the observed time too).
func (c *Certificate) softRevocationBefore(k *keyState, t time.Time) *Revocation {
	for _, ks := range []*keyState{c.keys[0], k} {
		for i := range ks.info.Revocations {
			if r := &ks.info.Revocations[i]; !r.Hard && timerule.Voids(timerule.Revocation{Effective: r.Created}, t, time.Time{}) {
				return r
			}
		}
	}
	return nil
}

// Keyring holds certificates indexed by the full fingerprint of every key
// (primary and subkeys) and, for signatures that lack an issuer
// fingerprint, by 64-bit key id. It is not safe for concurrent Add.
type Keyring struct {
	byFpr map[string]*Certificate
	byID  map[uint64][]*Certificate
}

// NewKeyring returns a key ring holding certs.
func NewKeyring(certs ...*Certificate) *Keyring {
	r := &Keyring{byFpr: map[string]*Certificate{}, byID: map[uint64][]*Certificate{}}
	for _, c := range certs {
		r.Add(c)
	}
	return r
}

// Add adds a certificate under all its keys' fingerprints and key ids.
func (r *Keyring) Add(c *Certificate) {
	for _, k := range c.keys {
		r.byFpr[k.info.Fingerprint] = c
		r.byID[k.info.KeyID] = append(r.byID[k.info.KeyID], c)
	}
}

// Lookup returns the candidate certificates for an issuer: the one holding
// that exact fingerprint when the issuer names one (never a key id match),
// else every certificate with a key of that key id, in insertion order.
func (r *Keyring) Lookup(is Issuer) []*Certificate {
	if is.Fingerprint != "" {
		if c, ok := r.byFpr[is.Fingerprint]; ok {
			return []*Certificate{c}
		}
		return nil
	}
	return r.byID[is.KeyID]
}

// VerifyDetached verifies a detached signature over message against the
// certificates its issuers name, each candidate in a key ring of its own,
// and returns the certificate that verified it.
func (r *Keyring) VerifyDetached(message, sig []byte) (*Certificate, SignatureInfo, error) {
	issuers, err := SignatureIssuers(sig)
	if err != nil {
		return nil, SignatureInfo{}, err
	}
	var firstErr error
	for _, is := range issuers {
		for _, c := range r.Lookup(is) {
			info, err := VerifyDetached(c, message, sig)
			if err == nil {
				return c, info, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return nil, SignatureInfo{}, firstErr
	}
	return nil, SignatureInfo{}, inputerr.New(opVerify, "signature", ErrWrongKey, fmt.Sprintf("no registered certificate for issuer %v", issuers))
}
