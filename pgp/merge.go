package pgp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// MaxCertificatePackets bounds the number of OpenPGP packets in a
// certificate, given or merged, so a flooded certificate (thousands of
// third-party certifications) cannot make every verification slow.
const MaxCertificatePackets = 4096

// MaxCertifications bounds the third-party certifications Merge keeps in
// one certificate, and Merge takes at most one per issuer and user id:
// whoever registers a key may certify anyone's user ids, and without a
// bound they could flood a certificate up to MaxCertificatePackets so that
// its holder's own updates no longer fit.
const MaxCertifications = 64

const opMerge = "pgp: merge certificate"

var errNotRevocation = errors.New("not a revocation")

// OpenPGP packet tags a certificate is made of (RFC 9580, section 5).
const (
	tagSignature     = 2
	tagPublicKey     = 6
	tagTrust         = 12
	tagUserID        = 13
	tagPublicSubkey  = 14
	tagUserAttribute = 17
)

// rawPacket is one OpenPGP packet: its tag and its bytes, header included.
type rawPacket struct {
	tag   uint8
	bytes []byte
}

// certPackets cuts binary OpenPGP data into its packets without
// interpreting them (splitPackets), so the bytes of each can be compared
// and kept verbatim; more than MaxCertificatePackets packets is refused.
func certPackets(op string, data []byte) ([]rawPacket, error) {
	bs, err := splitPackets(data, MaxCertificatePackets)
	if errors.Is(err, ErrTooLarge) {
		return nil, inputerr.New(op, "", ErrTooLarge, fmt.Sprintf("more than %d packets", MaxCertificatePackets))
	}
	if err != nil {
		return nil, inputerr.Wrap(op, "", ErrMalformed, "cannot be cut into packets", err)
	}
	out := make([]rawPacket, len(bs))
	for i, b := range bs {
		tag := (b[0] >> 2) & 0x0f // old format
		if b[0]&0x40 != 0 {
			tag = b[0] & 0x3f
		}
		out[i] = rawPacket{tag: tag, bytes: b}
	}
	return out, nil
}

// component is one part of a certificate: the primary key with its direct
// signatures, a user id (or user attribute), or a subkey, each with the
// packets that follow it.
type component struct {
	head rawPacket
	sigs []rawPacket // signatures, and (in stored certificates) trust or other packets kept as they were
}

// certParts is a certificate cut into its components, in order.
type certParts struct {
	primary component
	ids     []component // user ids and user attributes
	subkeys []component
}

func partsOf(op string, raw []byte) (*certParts, error) {
	ps, err := certPackets(op, raw)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 || ps[0].tag != tagPublicKey {
		return nil, inputerr.New(op, "packet 0", ErrMalformed, "a certificate starts with a public key packet")
	}
	c := &certParts{primary: component{head: ps[0]}}
	cur := &c.primary
	for _, p := range ps[1:] {
		switch p.tag {
		case tagUserID, tagUserAttribute:
			c.ids = append(c.ids, component{head: p})
			cur = &c.ids[len(c.ids)-1]
		case tagPublicSubkey:
			c.subkeys = append(c.subkeys, component{head: p})
			cur = &c.subkeys[len(c.subkeys)-1]
		case tagPublicKey:
			return nil, inputerr.New(op, "", ErrMalformed, "more than one certificate; give exactly one")
		default:
			cur.sigs = append(cur.sigs, p)
		}
	}
	return c, nil
}

func (c *certParts) encode() []byte {
	var b bytes.Buffer
	put := func(co component) {
		b.Write(co.head.bytes)
		for _, s := range co.sigs {
			b.Write(s.bytes)
		}
	}
	put(c.primary)
	for _, co := range c.ids {
		put(co)
	}
	for _, co := range c.subkeys {
		put(co)
	}
	return b.Bytes()
}

// ChangeKind names what a merged packet adds to a certificate.
type ChangeKind string

// The kinds of change Merge accepts.
const (
	ChangeSubkey           ChangeKind = "subkey"             // a new subkey with its binding signature
	ChangeUserID           ChangeKind = "user-id"            // a new user id with its self-certification
	ChangeSelfSignature    ChangeKind = "self-signature"     // a new self-certification, binding or direct key signature (new expiry, flags, preferences)
	ChangeCertification    ChangeKind = "certification"      // a third-party certification of a user id, by a registered certificate
	ChangeUserIDRevoked    ChangeKind = "user-id-revocation" // a certification revocation of a user id by the primary key
	ChangeKeyRevocation    ChangeKind = "key-revocation"     // a revocation of the primary key
	ChangeSubkeyRevocation ChangeKind = "subkey-revocation"  // a revocation of a subkey
)

// Change is one packet Merge accepted: a signature (or, for ChangeSubkey
// and ChangeUserID, the key or user id packet followed by its verified
// signatures), verified before it was accepted.
type Change struct {
	Kind   ChangeKind
	Target string // the primary or subkey fingerprint, or the user id
	Issuer string // the signing certificate's primary fingerprint
	Packet []byte // the binary packets added
}

// Ignored is a packet of an update that Merge did not accept, and why.
type Ignored struct {
	Field  string // "user id \"…\" signature 2", "subkey … signature 0", …
	Reason string
}

// Merged is the outcome of Merge.
type Merged struct {
	Certificate *Certificate // the merged certificate (the old one when nothing changed)
	Changes     []Change     // what was added, in certificate order
	Ignored     []Ignored    // packets of the update not accepted
}

// Certifier finds the registered certificate of a third-party certification
// issuer by the issuer's fingerprint or (when the signature names none)
// its 64-bit key id; nil when none is registered.
type Certifier func(fingerprint string, keyID uint64) *Certificate

// Merge merges update, an export of the same certificate (armored or
// binary), into old the way OpenPGP keyservers do: the result is the union
// of both certificates' packets, compared by their bytes. Every packet old
// holds is kept as it is; a packet only update holds is added after it is
// verified: self-signatures, subkey bindings (with the cross-signature of
// signing subkeys), new user ids and subkeys, and key, subkey and user id
// revocations must verify against old's primary key with a strong hash;
// a third-party certification must verify against the certificate certify
// returns for its issuer (nil certify: none are accepted). Anything else
// (an unverifiable or forged signature, a third-party revocation, a user
// attribute, a trust packet) is not added and is reported in Ignored.
// Merging the same update again changes nothing.
// Errors: the ParseCertificate errors for update, ErrWrongKey when update
// is another certificate, ErrTooLarge when the merged certificate is over
// MaxCertificateBytes or MaxCertificatePackets.
func Merge(old *Certificate, update []byte, certify Certifier) (Merged, error) {
	if old == nil {
		return Merged{}, inputerr.New(opMerge, "", ErrMalformed, "no certificate to merge into")
	}
	upd, err := ParseCertificate(update)
	if err != nil {
		return Merged{}, err
	}
	if upd.Fingerprint != old.Fingerprint {
		return Merged{}, inputerr.New(opMerge, "certificate", ErrWrongKey,
			fmt.Sprintf("the update is certificate %s, not %s", upd.Fingerprint, old.Fingerprint))
	}
	base, err := partsOf(opMerge, old.raw)
	if err != nil {
		return Merged{}, err
	}
	in, err := partsOf(opMerge, upd.raw)
	if err != nil {
		return Merged{}, err
	}
	m := &merger{pk: old.entity.PrimaryKey, fpr: old.Fingerprint, certify: certify, certified: map[string]bool{}}
	for _, co := range base.ids {
		uid, err := parseUserID(co.head.bytes)
		if err != nil {
			continue
		}
		for _, p := range co.sigs {
			pp, err := packet.Read(bytes.NewReader(p.bytes))
			if sig, ok := pp.(*packet.Signature); err == nil && ok && isCertification(sig) && !m.self(sig) {
				m.certifications++
				m.certified[certKey(uid, issuerKeyID(sig))] = true
			}
		}
	}
	out := Merged{Certificate: old}

	// Primary key: direct key signatures and key revocations.
	base.primary.sigs = m.mergeSigs(base.primary.sigs, in.primary.sigs, "primary key", func(sig *packet.Signature) (ChangeKind, string, error) {
		if !m.self(sig) {
			return "", "", fmt.Errorf("issued by %s, not by the certificate itself (third-party and designated revocations are not accepted)", issuerString(sig))
		}
		switch sig.SigType {
		case packet.SigTypeDirectSignature:
			return ChangeSelfSignature, m.fpr, m.pk.VerifyDirectKeySignature(sig)
		case packet.SigTypeKeyRevocation:
			return ChangeKeyRevocation, m.fpr, m.pk.VerifyRevocationSignature(sig)
		}
		return "", "", fmt.Errorf("signature type 0x%02x does not belong on a primary key", uint8(sig.SigType))
	})

	// User ids.
	for _, co := range in.ids {
		i := slices.IndexFunc(base.ids, func(b component) bool { return bytes.Equal(b.head.bytes, co.head.bytes) })
		if co.head.tag != tagUserID {
			if i < 0 {
				m.ignore("user attribute", "user attributes (photo ids) are not merged")
			}
			continue
		}
		uid, err := parseUserID(co.head.bytes)
		if err != nil {
			m.ignore("user id", err.Error())
			continue
		}
		field := fmt.Sprintf("user id %q", uid)
		check := func(sig *packet.Signature) (ChangeKind, string, error) { return m.checkUserIDSig(uid, sig) }
		if i >= 0 {
			base.ids[i].sigs = m.mergeSigs(base.ids[i].sigs, co.sigs, field, check)
			continue
		}
		if sigs, ok := m.addComponent(co, ChangeUserID, uid, field, check, "a new user id needs a valid self-certification"); ok {
			base.ids = append(base.ids, component{head: co.head, sigs: sigs})
		}
	}

	// Subkeys.
	for _, co := range in.subkeys {
		i := slices.IndexFunc(base.subkeys, func(b component) bool { return bytes.Equal(b.head.bytes, co.head.bytes) })
		spk, err := parseSubkey(co.head.bytes)
		if err != nil {
			m.ignore("subkey", err.Error())
			continue
		}
		sfpr := fpr(spk.Fingerprint)
		field := "subkey " + sfpr
		check := func(sig *packet.Signature) (ChangeKind, string, error) {
			if !m.self(sig) {
				return "", "", fmt.Errorf("issued by %s, not by the certificate's primary key", issuerString(sig))
			}
			switch sig.SigType {
			case packet.SigTypeSubkeyBinding:
				return ChangeSelfSignature, sfpr, m.pk.VerifyKeySignature(spk, sig)
			case packet.SigTypeSubkeyRevocation:
				return ChangeSubkeyRevocation, sfpr, m.pk.VerifySubkeyRevocationSignature(sig, spk)
			}
			return "", "", fmt.Errorf("signature type 0x%02x does not belong on a subkey", uint8(sig.SigType))
		}
		if i >= 0 {
			base.subkeys[i].sigs = m.mergeSigs(base.subkeys[i].sigs, co.sigs, field, check)
			continue
		}
		if _, err := algorithmName(spk); err != nil {
			m.ignore(field, err.Error())
			continue
		}
		if sigs, ok := m.addComponent(co, ChangeSubkey, sfpr, field, check, "a new subkey needs a valid binding signature"); ok {
			base.subkeys = append(base.subkeys, component{head: co.head, sigs: sigs})
		}
	}

	out.Ignored = m.ignored
	if len(m.changes) == 0 {
		return out, nil
	}
	raw := base.encode()
	if len(raw) > MaxCertificateBytes {
		return Merged{}, inputerr.New(opMerge, "", ErrTooLarge, fmt.Sprintf("the merged certificate is %d bytes, over the limit of %d", len(raw), MaxCertificateBytes))
	}
	merged, err := ParseCertificate(raw)
	if err != nil {
		return Merged{}, fmt.Errorf("%s: the merged certificate: %w", opMerge, err)
	}
	out.Certificate, out.Changes = merged, m.changes
	return out, nil
}

// merger holds the state of one Merge.
type merger struct {
	pk      *packet.PublicKey
	fpr     string
	certify Certifier
	// certifications counts the third-party certifications kept;
	// certified holds each (user id, issuer key id) that has one.
	certifications int
	certified      map[string]bool
	changes        []Change
	ignored        []Ignored
}

func (m *merger) ignore(field, reason string) {
	m.ignored = append(m.ignored, Ignored{Field: field, Reason: reason})
}

// self reports whether sig claims to be issued by the primary key.
func (m *merger) self(sig *packet.Signature) bool {
	if sig.IssuerFingerprint == nil && sig.IssuerKeyId == nil {
		return false
	}
	return sig.CheckKeyIdOrFingerprint(m.pk)
}

// addComponent merges the signatures of a component (user id or subkey)
// the stored certificate lacks. The component is added only with a valid
// self-signature among them, and then its own Change (kind, target) goes
// before its signatures'; otherwise none of its changes are kept and it
// is ignored for reason.
func (m *merger) addComponent(co component, kind ChangeKind, target, field string, check func(*packet.Signature) (ChangeKind, string, error), reason string) ([]rawPacket, bool) {
	n := len(m.changes)
	sigs := m.mergeSigs(nil, co.sigs, field, check)
	if !slices.ContainsFunc(m.changes[n:], func(c Change) bool { return c.Kind == ChangeSelfSignature }) {
		m.changes = m.changes[:n]
		m.ignore(field, reason)
		return nil, false
	}
	m.changes = slices.Insert(m.changes, n, Change{Kind: kind, Target: target, Issuer: m.fpr, Packet: slices.Clone(co.head.bytes)})
	return sigs, true
}

// mergeSigs returns have with every signature of got that it lacks (by
// bytes) and that check accepts appended, recording each as a change.
func (m *merger) mergeSigs(have, got []rawPacket, field string, check func(*packet.Signature) (ChangeKind, string, error)) []rawPacket {
	out := slices.Clone(have)
	for j, p := range got {
		if slices.ContainsFunc(out, func(h rawPacket) bool { return bytes.Equal(h.bytes, p.bytes) }) {
			continue
		}
		f := fmt.Sprintf("%s signature %d", field, j)
		if p.tag != tagSignature {
			m.ignore(f, fmt.Sprintf("packet tag %d is not a signature", p.tag))
			continue
		}
		pp, err := packet.Read(bytes.NewReader(p.bytes))
		sig, ok := pp.(*packet.Signature)
		if err != nil || !ok {
			m.ignore(f, "not a readable signature packet")
			continue
		}
		if !sigOK(sig) {
			m.ignore(f, fmt.Sprintf("hash %s is weak or a critical notation is unknown", hashName(sig.Hash)))
			continue
		}
		kind, target, err := check(sig)
		if err != nil {
			m.ignore(f, "does not verify: "+err.Error())
			continue
		}
		issuer := m.fpr
		if kind == ChangeCertification {
			issuer = issuerString(sig)
		}
		out = append(out, p)
		m.changes = append(m.changes, Change{Kind: kind, Target: target, Issuer: issuer, Packet: slices.Clone(p.bytes)})
	}
	return out
}

// checkUserIDSig verifies a signature over user id uid: a
// self-certification or certification revocation by the primary key, or a
// third-party certification by a registered certificate.
func (m *merger) checkUserIDSig(uid string, sig *packet.Signature) (ChangeKind, string, error) {
	certification := isCertification(sig)
	if m.self(sig) {
		switch {
		case certification:
			return ChangeSelfSignature, uid, m.pk.VerifyUserIdSignature(uid, m.pk, sig)
		case sig.SigType == packet.SigTypeCertificationRevocation:
			return ChangeUserIDRevoked, uid, m.pk.VerifyUserIdSignature(uid, m.pk, sig)
		}
		return "", "", fmt.Errorf("signature type 0x%02x does not belong on a user id", uint8(sig.SigType))
	}
	if !certification {
		return "", "", fmt.Errorf("a third-party signature of type 0x%02x by %s (only certifications are accepted from others)", uint8(sig.SigType), issuerString(sig))
	}
	var c *Certificate
	if m.certify != nil {
		var id uint64
		if sig.IssuerKeyId != nil {
			id = *sig.IssuerKeyId
		}
		f := ""
		if sig.IssuerFingerprint != nil {
			f = fpr(sig.IssuerFingerprint)
		}
		c = m.certify(f, id)
	}
	if c == nil {
		return "", "", fmt.Errorf("a certification by %s, which is not a registered certificate", issuerString(sig))
	}
	if !sig.CheckKeyIdOrFingerprint(c.entity.PrimaryKey) {
		return "", "", fmt.Errorf("a certification by %s, not by the primary key of certificate %s", issuerString(sig), c.Fingerprint)
	}
	if err := c.entity.PrimaryKey.VerifyUserIdSignature(uid, m.pk, sig); err != nil {
		return "", "", err
	}
	key := certKey(uid, c.KeyID)
	switch {
	case m.certified[key]:
		return "", "", fmt.Errorf("certificate %s already certified this user id (one certification per issuer is kept)", c.Fingerprint)
	case m.certifications >= MaxCertifications:
		return "", "", fmt.Errorf("the certificate already holds %d third-party certifications, the limit", MaxCertifications)
	}
	m.certified[key] = true
	m.certifications++
	return ChangeCertification, uid, nil
}

func isCertification(sig *packet.Signature) bool {
	return sig.SigType == packet.SigTypeGenericCert || sig.SigType == packet.SigTypePersonaCert ||
		sig.SigType == packet.SigTypeCasualCert || sig.SigType == packet.SigTypePositiveCert
}

// issuerKeyID is the 64-bit key id of a signature's issuer: the issuer
// subpacket, else derived from the issuer fingerprint (v4: its last 8
// bytes, v6: its first 8); 0 if it names none.
func issuerKeyID(sig *packet.Signature) uint64 {
	switch f := sig.IssuerFingerprint; {
	case sig.IssuerKeyId != nil:
		return *sig.IssuerKeyId
	case len(f) == 20:
		return binary.BigEndian.Uint64(f[12:])
	case len(f) == 32:
		return binary.BigEndian.Uint64(f[:8])
	}
	return 0
}

func certKey(uid string, keyID uint64) string { return fmt.Sprintf("%016x %s", keyID, uid) }

func parseUserID(b []byte) (string, error) {
	p, err := packet.Read(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("not a readable user id packet: %w", err)
	}
	u, ok := p.(*packet.UserId)
	if !ok {
		return "", fmt.Errorf("not a user id packet")
	}
	return u.Id, nil
}

func parseSubkey(b []byte) (*packet.PublicKey, error) {
	p, err := packet.Read(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a readable public subkey packet: %w", err)
	}
	pk, ok := p.(*packet.PublicKey)
	if !ok || !pk.IsSubkey {
		return nil, fmt.Errorf("not a public subkey packet")
	}
	return pk, nil
}

// RevocationSignatures returns the revocation signatures that data holds
// for pgp revoke: data itself when it is a standalone revocation
// certificate (gpg --gen-revoke output), or, when data is a certificate
// export (gpg --export of a revoked certificate), the binary packets of its
// key revocation signatures (of its subkey revocations if it has none),
// each verified against the certificate given. Verify them against the
// registered certificate with VerifyRevocation before acting on them.
// Errors: the ParseRevocation and ParseCertificate errors, ErrMalformed
// when a certificate carries no revocation.
func RevocationSignatures(data []byte) ([][]byte, error) {
	_, err := readRevocation(data)
	if err == nil {
		return [][]byte{data}, nil
	}
	if len(data) > MaxCertificateBytes {
		return nil, err
	}
	raw, typ, derr := dearmor(opRevocation, data, "PGP PUBLIC KEY BLOCK", "PGP SIGNATURE")
	if derr != nil || typ == "PGP SIGNATURE" {
		return nil, err
	}
	ps, perr := certPackets(opRevocation, raw)
	if perr != nil || len(ps) < 2 || ps[0].tag != tagPublicKey {
		return nil, err // not a certificate either: the revocation error says why
	}
	cert, cerr := ParseCertificate(data)
	if cerr != nil {
		return nil, fmt.Errorf("%s: a certificate export: %w", opRevocation, cerr)
	}
	parts, perr := partsOf(opRevocation, cert.raw)
	if perr != nil {
		return nil, perr
	}
	pk := cert.entity.PrimaryKey
	// The packets as given, not re-encoded, so the signed bytes are kept.
	pick := func(co component, verify func(*packet.Signature) error) (out [][]byte) {
		for _, p := range co.sigs {
			pp, err := packet.Read(bytes.NewReader(p.bytes))
			if sig, ok := pp.(*packet.Signature); err == nil && ok && verify(sig) == nil {
				out = append(out, slices.Clone(p.bytes))
			}
		}
		return out
	}
	out := pick(parts.primary, func(sig *packet.Signature) error {
		if sig.SigType != packet.SigTypeKeyRevocation {
			return errNotRevocation
		}
		return pk.VerifyRevocationSignature(sig)
	})
	if len(out) == 0 {
		for _, co := range parts.subkeys {
			spk, err := parseSubkey(co.head.bytes)
			if err != nil {
				continue
			}
			out = append(out, pick(co, func(sig *packet.Signature) error {
				if sig.SigType != packet.SigTypeSubkeyRevocation {
					return errNotRevocation
				}
				return pk.VerifySubkeyRevocationSignature(sig, spk)
			})...)
		}
	}
	if len(out) == 0 {
		return nil, inputerr.New(opRevocation, "", ErrMalformed, fmt.Sprintf("certificate %s carries no revocation signature; revoke it with gpg first (gpg --edit-key %s revkey, or gpg --gen-revoke)", cert.Fingerprint, cert.Fingerprint))
	}
	return out, nil
}
