package pgp

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/timerule"
)

// KeyType is the trustd registry key type of OpenPGP certificates; the
// registry row's key id is the primary key's fingerprint and its public key
// is [Certificate.Encode].
const KeyType = "pgp"

// MaxCertificateBytes bounds a certificate, armored or binary.
const MaxCertificateBytes = 1 << 20

// MinRSABits and MaxRSABits bound the RSA modulus, for primary keys and
// subkeys alike; the maximum keeps a hostile certificate from making
// verification arbitrarily slow.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// Capabilities are the uses a key is bound for by its self-signature.
type Capabilities struct {
	Certify, Sign, Encrypt, Authenticate bool
}

// String lists the capabilities as gpg's letters would, spelled out:
// "certify,sign", or "none".
func (c Capabilities) String() string {
	var s []string
	for _, f := range []struct {
		on   bool
		name string
	}{{c.Certify, "certify"}, {c.Sign, "sign"}, {c.Encrypt, "encrypt"}, {c.Authenticate, "authenticate"}} {
		if f.on {
			s = append(s, f.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// KeyInfo describes the primary key or one subkey of a certificate as of its
// latest valid self-signature (binding signature for subkeys).
type KeyInfo struct {
	Fingerprint  string       // lowercase hex: 40 characters (v4) or 64 (v6)
	KeyID        uint64       // the 64-bit key id, for display only
	Algorithm    string       // "ed25519", "rsa3072", "cv25519", "ecdsa-p256", …
	Created      time.Time    // key creation time
	Bound        time.Time    // creation time of the self-signature in effect
	Expires      time.Time    // expiry per that self-signature; zero means never
	Capabilities Capabilities // uses per that self-signature
	Revocations  []Revocation // verified revocation signatures of this key
}

// Certificate is a parsed, validated OpenPGP certificate (transferable public
// key). It is immutable and safe for concurrent use.
type Certificate struct {
	KeyInfo          // the primary key
	Version int      // 4 or 6
	UserIDs []string // user ids with a valid self-certification, sorted
	Subkeys []KeyInfo

	raw    []byte
	entity *openpgp.Entity // read-only: every signature's validity is preset
	keys   []*keyState     // primary first, then subkeys in order
}

// keyState is the time line of one key: its valid bindings and revocations.
type keyState struct {
	info     *KeyInfo
	pub      *packet.PublicKey
	primary  bool
	bindings []binding // sorted by created
}

// binding is one valid self-signature (or subkey binding signature).
type binding struct {
	created    time.Time
	keyExpires time.Time // zero: never
	sigExpires time.Time // zero: never
	caps       Capabilities
}

// Encode returns the certificate as stored: the binary OpenPGP packets as
// given (dearmored), every packet kept, old self-signatures included.
func (c *Certificate) Encode() []byte { return slices.Clone(c.raw) }

// Key returns the primary key or subkey with the given fingerprint
// (lowercase hex), or false.
func (c *Certificate) Key(fingerprint string) (KeyInfo, bool) {
	if k := c.key(fingerprint); k != nil {
		return *k.info, true
	}
	return KeyInfo{}, false
}

func (c *Certificate) key(fingerprint string) *keyState {
	for _, k := range c.keys {
		if k.info.Fingerprint == fingerprint {
			return k
		}
	}
	return nil
}

// bindingAt returns the latest valid binding created at or before t.
func (k *keyState) bindingAt(t time.Time) (binding, bool) {
	for i := len(k.bindings) - 1; i >= 0; i-- {
		if !k.bindings[i].created.After(t) {
			return k.bindings[i], true
		}
	}
	return binding{}, false
}

// strongHash reports whether h is acceptable for signatures trustd relies on.
func strongHash(h crypto.Hash) bool {
	switch h {
	case crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA3_256, crypto.SHA3_512:
		return true
	}
	return false
}

// hashName names a hash algorithm as OpenPGP tools do ("SHA256").
func hashName(h crypto.Hash) string {
	switch h {
	case crypto.MD5:
		return "MD5"
	case crypto.SHA1:
		return "SHA1"
	case crypto.RIPEMD160:
		return "RIPEMD160"
	case crypto.SHA224:
		return "SHA224"
	case crypto.SHA256:
		return "SHA256"
	case crypto.SHA384:
		return "SHA384"
	case crypto.SHA512:
		return "SHA512"
	case crypto.SHA3_256:
		return "SHA3-256"
	case crypto.SHA3_512:
		return "SHA3-512"
	}
	return fmt.Sprintf("hash#%d", int(h))
}

// fpr formats a fingerprint as lowercase hex.
func fpr(b []byte) string { return hex.EncodeToString(b) }

// algorithmName names a public key's algorithm and size or curve, or reports
// it unsupported.
func algorithmName(pk *packet.PublicKey) (string, error) {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoRSAEncryptOnly:
		bits, err := pk.BitLength()
		if err != nil {
			return "", err
		}
		if int(bits) < MinRSABits || int(bits) > MaxRSABits {
			return "", fmt.Errorf("rsa%d is outside the accepted %d to %d bits", bits, MinRSABits, MaxRSABits)
		}
		return fmt.Sprintf("rsa%d", bits), nil
	case packet.PubKeyAlgoEd25519:
		return "ed25519", nil
	case packet.PubKeyAlgoEd448:
		return "ed448", nil
	case packet.PubKeyAlgoX25519:
		return "x25519", nil
	case packet.PubKeyAlgoX448:
		return "x448", nil
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoECDH:
		curve, err := pk.Curve()
		if err != nil {
			return "", err
		}
		if curve == packet.CurveSecP256k1 {
			return "", errors.New("curve secp256k1 is not accepted")
		}
		switch {
		case pk.PubKeyAlgo == packet.PubKeyAlgoEdDSA && curve == packet.Curve25519:
			return "ed25519", nil
		case pk.PubKeyAlgo == packet.PubKeyAlgoEdDSA && curve == packet.Curve448:
			return "ed448", nil
		case pk.PubKeyAlgo == packet.PubKeyAlgoECDH && curve == packet.Curve25519:
			return "cv25519", nil
		case pk.PubKeyAlgo == packet.PubKeyAlgoECDH && curve == packet.Curve448:
			return "cv448", nil
		case pk.PubKeyAlgo == packet.PubKeyAlgoECDSA:
			return "ecdsa-" + strings.ToLower(string(curve)), nil
		case pk.PubKeyAlgo == packet.PubKeyAlgoECDH:
			return "ecdh-" + strings.ToLower(string(curve)), nil
		}
		return "", fmt.Errorf("curve %s cannot be used with algorithm %d", curve, pk.PubKeyAlgo)
	case packet.PubKeyAlgoDSA:
		return "", errors.New("DSA keys are not accepted")
	case packet.PubKeyAlgoElGamal:
		return "", errors.New("ElGamal keys are not accepted")
	}
	return "", fmt.Errorf("public key algorithm %d is not supported", pk.PubKeyAlgo)
}

// dearmor returns the binary packets of data: the body of its single
// armored block of one of the wanted types, or data itself if it is not
// armored. It rejects more than one armored block.
func dearmor(op string, data []byte, wanted ...string) ([]byte, string, error) {
	if bytes.HasPrefix(data, []byte(":-----BEGIN PGP")) || bytes.Contains(data, []byte("\n:-----BEGIN PGP")) {
		return nil, "", inputerr.New(op, "", ErrMalformed,
			"the armor line starts with a colon, which gpg adds to stored revocation certificates to prevent accidental use; remove the colon to use it")
	}
	if !bytes.Contains(data, []byte("-----BEGIN PGP")) {
		return data, "", nil
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", inputerr.Wrap(op, "", ErrMalformed, "bad ASCII armor", err)
	}
	if !slices.Contains(wanted, block.Type) {
		if block.Type == openpgp.PrivateKeyType {
			return nil, block.Type, inputerr.New(op, "", ErrSecretKey,
				"this is a secret key block; give the public certificate (gpg --export --armor FINGERPRINT)")
		}
		return nil, block.Type, inputerr.New(op, "", ErrMalformed,
			fmt.Sprintf("armored block is %q, want %s", block.Type, strings.Join(wanted, " or ")))
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, int64(len(data))+1))
	if err != nil {
		return nil, block.Type, inputerr.Wrap(op, "", ErrMalformed, "bad ASCII armor body", err)
	}
	end := []byte("-----END " + block.Type + "-----")
	if i := bytes.Index(data, end); i >= 0 && bytes.Contains(data[i+len(end):], []byte("-----BEGIN PGP")) {
		return nil, block.Type, inputerr.New(op, "", ErrMalformed, "more than one armored block; give exactly one")
	}
	return body, block.Type, nil
}

// ParseCertificate parses one OpenPGP certificate (transferable public key),
// armored ("gpg --export --armor") or binary, and validates it: a supported
// primary key algorithm with a valid self-signature using a strong hash,
// every subkey bound by a valid strong binding signature (with a valid
// cross-signature for signing subkeys). Secret keys are rejected with a hint.
func ParseCertificate(data []byte) (*Certificate, error) {
	if len(data) > MaxCertificateBytes {
		return nil, inputerr.New(opCert, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxCertificateBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, inputerr.New(opCert, "", ErrMalformed, "empty input")
	}
	raw, _, err := dearmor(opCert, data, openpgp.PublicKeyType)
	if err != nil {
		return nil, err
	}
	if err := scanCertificatePackets(raw); err != nil {
		return nil, err
	}
	packets := packet.NewReader(bytes.NewReader(raw))
	e, err := openpgp.ReadEntity(packets)
	if err != nil {
		return nil, inputerr.Wrap(opCert, "", ErrMalformed, "not a valid OpenPGP certificate", err)
	}
	if _, err := packets.Next(); !errors.Is(err, io.EOF) {
		return nil, inputerr.New(opCert, "", ErrMalformed, "more than one certificate (or trailing data); give exactly one")
	}
	c := &Certificate{raw: slices.Clone(raw), entity: e, Version: e.PrimaryKey.Version}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// scanCertificatePackets walks the packets once, before go-crypto builds
// the entity, to reject secret keys and to count the subkeys (go-crypto
// silently skips subkeys of algorithms it does not know).
func scanCertificatePackets(raw []byte) error {
	r := packet.NewReader(bytes.NewReader(raw))
	n := 0
	for {
		p, err := r.NextWithUnsupported()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return inputerr.Wrap(opCert, fmt.Sprintf("packet %d", n), ErrMalformed, "cannot be read", err)
		}
		if u, ok := p.(*packet.UnsupportedPacket); ok {
			if _, isKey := u.IncompletePacket.(*packet.PublicKey); isKey {
				return inputerr.Wrap(opCert, fmt.Sprintf("packet %d", n), ErrUnsupportedAlgorithm, "a key of an unsupported algorithm", u.Error)
			}
		}
		switch pk := p.(type) {
		case *packet.PrivateKey:
			return inputerr.New(opCert, fmt.Sprintf("packet %d", n), ErrSecretKey,
				"this is a secret key; give the public certificate (gpg --export --armor FINGERPRINT)")
		case *packet.PublicKey:
			if n != 0 && !pk.IsSubkey {
				return inputerr.New(opCert, "", ErrMalformed, "more than one certificate; give exactly one")
			}
		}
		if n == MaxCertificatePackets {
			return inputerr.New(opCert, "", ErrTooLarge, fmt.Sprintf("more than %d packets", MaxCertificatePackets))
		}
		if n == 0 {
			if pk, ok := p.(*packet.PublicKey); !ok || pk.IsSubkey {
				return inputerr.New(opCert, "packet 0", ErrMalformed, fmt.Sprintf("a certificate starts with a public key packet, not %T", p))
			}
		}
		n++
	}
	if n == 0 {
		return inputerr.New(opCert, "", ErrMalformed, "no OpenPGP packets")
	}
	return nil
}

// sigOK checks a self-signature's strength: strong hash (also for an
// embedded cross-signature) and no unknown critical notation.
func sigOK(sig *packet.Signature) bool {
	if !strongHash(sig.Hash) {
		return false
	}
	if sig.EmbeddedSignature != nil && !strongHash(sig.EmbeddedSignature.Hash) {
		return false
	}
	for _, n := range sig.Notations {
		if n.IsCritical {
			return false
		}
	}
	return true
}

// preset records a signature's time-independent validity in go-crypto's
// cache so that later go-crypto calls never write to the shared entity.
func preset(vs *packet.VerifiableSignature, valid bool) {
	v := valid
	vs.Valid = &v
}

func newBinding(sig *packet.Signature, pk *packet.PublicKey) binding {
	b := binding{created: sig.CreationTime}
	if sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0 {
		b.keyExpires = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	}
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		b.sigExpires = sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second)
	}
	if sig.FlagsValid {
		b.caps = Capabilities{Certify: sig.FlagCertify, Sign: sig.FlagSign,
			Encrypt: sig.FlagEncryptCommunications || sig.FlagEncryptStorage, Authenticate: sig.FlagAuthenticate}
	}
	return b
}

// validate verifies every self-signature, binding and revocation once,
// presets go-crypto's validity cache, and fills in the description.
func (c *Certificate) validate() error {
	e := c.entity
	pk := e.PrimaryKey
	alg, err := algorithmName(pk)
	if err != nil {
		return inputerr.Wrap(opCert, "primary key", ErrUnsupportedAlgorithm, "cannot be used", err)
	}
	if !pk.PubKeyAlgo.CanSign() {
		return inputerr.New(opCert, "primary key", ErrUnsupportedAlgorithm, alg+" cannot sign")
	}
	primary := &keyState{info: &c.KeyInfo, pub: pk, primary: true}
	c.KeyInfo = KeyInfo{Fingerprint: fpr(pk.Fingerprint), KeyID: pk.KeyId, Algorithm: alg, Created: pk.CreationTime}
	weak := 0
	check := func(vs *packet.VerifiableSignature, verify func(*packet.Signature) error) bool {
		err := verify(vs.Packet)
		ok := err == nil && sigOK(vs.Packet)
		if err == nil && !ok {
			weak++
		}
		preset(vs, ok)
		return ok
	}
	for name, id := range e.Identities {
		valid := false
		for _, vs := range id.SelfCertifications {
			if check(vs, func(s *packet.Signature) error { return pk.VerifyUserIdSignature(name, pk, s) }) {
				primary.bindings = append(primary.bindings, newBinding(vs.Packet, pk))
				valid = true
			}
		}
		for _, vs := range id.Revocations {
			check(vs, func(s *packet.Signature) error { return pk.VerifyUserIdSignature(name, pk, s) })
		}
		if valid {
			c.UserIDs = append(c.UserIDs, name)
		}
	}
	for _, vs := range e.DirectSignatures {
		if check(vs, pk.VerifyDirectKeySignature) {
			primary.bindings = append(primary.bindings, newBinding(vs.Packet, pk))
		}
	}
	if len(primary.bindings) == 0 {
		if weak > 0 {
			return inputerr.New(opCert, "primary key", ErrUntrusted, "its self-signatures use only weak hashes (SHA-1 or older); re-sign them with SHA-256 or better (gpg --cert-digest-algo SHA256 --quick-set-expire)")
		}
		return inputerr.New(opCert, "primary key", ErrUntrusted, "no valid self-signature")
	}
	for _, vs := range e.Revocations {
		err := pk.VerifyRevocationSignature(vs.Packet)
		preset(vs, err == nil)
		if err == nil {
			c.Revocations = append(c.Revocations, newRevocation(vs.Packet, c.Fingerprint, c.Fingerprint, false))
		}
	}
	slices.Sort(c.UserIDs)
	sortBindings(primary)
	c.keys = append(c.keys, primary)

	c.Subkeys = make([]KeyInfo, len(e.Subkeys))
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		spk := sk.PublicKey
		info := &c.Subkeys[i]
		*info = KeyInfo{Fingerprint: fpr(spk.Fingerprint), KeyID: spk.KeyId, Created: spk.CreationTime}
		field := "subkey " + info.Fingerprint
		if info.Algorithm, err = algorithmName(spk); err != nil {
			return inputerr.Wrap(opCert, field, ErrUnsupportedAlgorithm, "cannot be used", err)
		}
		st := &keyState{info: info, pub: spk}
		weak = 0
		for _, vs := range sk.Bindings {
			if check(vs, func(s *packet.Signature) error { return pk.VerifyKeySignature(spk, s) }) {
				b := newBinding(vs.Packet, spk)
				if b.caps.Sign && !spk.PubKeyAlgo.CanSign() {
					b.caps.Sign = false
				}
				st.bindings = append(st.bindings, b)
			}
		}
		if len(st.bindings) == 0 {
			if weak > 0 {
				return inputerr.New(opCert, field, ErrUntrusted, "its binding signatures use only weak hashes (SHA-1 or older)")
			}
			return inputerr.New(opCert, field, ErrUntrusted, "no valid binding signature (a signing subkey also needs a valid cross-signature)")
		}
		for _, vs := range sk.Revocations {
			err := pk.VerifySubkeyRevocationSignature(vs.Packet, spk)
			preset(vs, err == nil)
			if err == nil {
				info.Revocations = append(info.Revocations, newRevocation(vs.Packet, info.Fingerprint, c.Fingerprint, true))
			}
		}
		sortBindings(st)
		c.keys = append(c.keys, st)
	}
	// Describe each key as of its latest binding.
	for _, k := range c.keys {
		b := k.bindings[len(k.bindings)-1]
		k.info.Bound, k.info.Expires, k.info.Capabilities = b.created, b.keyExpires, b.caps
	}
	return nil
}

func sortBindings(k *keyState) {
	slices.SortStableFunc(k.bindings, func(a, b binding) int { return a.created.Compare(b.created) })
}

// State is a key's status at a time.
type State string

// The states Status reports.
const (
	StateValid       State = "valid"
	StateExpired     State = "expired"
	StateRevoked     State = "revoked"
	StateNotYetValid State = "not-yet-valid"
	StateSuperseded  State = "superseded"
)

// Status is a certificate's state at a time, for display ("key show").
type Status struct {
	State        State
	Since        time.Time   // when the state began (expiry, revocation or rotation time); zero for valid
	Revocation   *Revocation // the revocation in effect, for StateRevoked
	SupersededBy string      // the new key's fingerprint, for StateSuperseded
}

// String renders the status in one line: "valid", "expired since …",
// "revoked (key compromised, hard) since …", "superseded by … since …".
func (s Status) String() string {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch s.State {
	case StateRevoked:
		r := s.Revocation
		kind := "soft"
		if r.Hard {
			kind = "hard: every signature is invalid"
		}
		msg := fmt.Sprintf("revoked (%s, %s) since %s", r.Reason, kind, ts(s.Since))
		if r.Text != "" {
			msg += fmt.Sprintf(": %q", r.Text)
		}
		return msg
	case StateExpired, StateNotYetValid:
		return fmt.Sprintf("%s since %s", s.State, ts(s.Since))
	case StateSuperseded:
		return fmt.Sprintf("superseded by %s since %s", s.SupersededBy, ts(s.Since))
	}
	return string(s.State)
}

// Status returns the primary key's state at time at, taking into account the
// revocations in the certificate and the extra ones given (standalone
// revocation certificates verified with VerifyRevocation). A hard
// revocation applies at every time; a soft one from its creation on.
func (c *Certificate) Status(at time.Time, extra ...Revocation) Status {
	revs := append(slices.Clone(c.Revocations), extra...)
	var best *Revocation
	for i := range revs {
		r := &revs[i]
		if r.Subkey || r.Fingerprint != c.Fingerprint {
			continue
		}
		if timerule.Voids(timerule.Revocation{Hard: r.Hard, Effective: r.Created}, at, at) {
			if best == nil || (r.Hard && !best.Hard) || (r.Hard == best.Hard && r.Created.Before(best.Created)) {
				best = r
			}
		}
	}
	if best != nil {
		return Status{State: StateRevoked, Since: best.Created, Revocation: best}
	}
	if at.Before(c.Created) {
		return Status{State: StateNotYetValid, Since: at}
	}
	b, ok := c.keys[0].bindingAt(at)
	if !ok {
		return Status{State: StateNotYetValid, Since: c.keys[0].bindings[0].created}
	}
	if timerule.Ended(b.keyExpires, at, at) {
		return Status{State: StateExpired, Since: b.keyExpires}
	}
	return Status{State: StateValid}
}

// keyProblem says why key k cannot have made a signature claiming t and
// first observed at observed (zero: judged by the claimed time alone),
// checking creation and binding at the claimed time, expiry at the time
// the one rule judges signatures at (timerule.Ended: the later of the
// two, so an expired key cannot backdate) and (if needSign) the sign
// capability, not revocation; code is "" if it can.
func (k *keyState) keyProblem(t, observed time.Time, needSign bool) (reason string, code RefusalCode) {
	name := "primary key"
	if !k.primary {
		name = "subkey"
	}
	if t.Before(k.info.Created) {
		return fmt.Sprintf("the signature (%s) predates the %s's creation (%s)", t.UTC().Format(time.RFC3339), name, k.info.Created.UTC().Format(time.RFC3339)), CodeNotYetValid
	}
	b, ok := k.bindingAt(t)
	if !ok {
		return fmt.Sprintf("%s %s was not yet bound to the certificate at %s", name, k.info.Fingerprint, t.UTC().Format(time.RFC3339)), CodeUnboundSubkey
	}
	if timerule.Ended(b.keyExpires, t, observed) {
		return fmt.Sprintf("%s %s expired at %s", name, k.info.Fingerprint, b.keyExpires.UTC().Format(time.RFC3339)), CodeKeyExpired
	}
	if timerule.Ended(b.sigExpires, t, observed) {
		return fmt.Sprintf("the self-signature of %s %s expired at %s", name, k.info.Fingerprint, b.sigExpires.UTC().Format(time.RFC3339)), CodeKeyExpired
	}
	if needSign && !b.caps.Sign {
		return fmt.Sprintf("%s %s is bound for %s, not signing", name, k.info.Fingerprint, b.caps), CodeNotSigningKey
	}
	return "", ""
}
