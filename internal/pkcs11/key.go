package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	p11 "github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// PKCS#11 v3.0 constants that github.com/miekg/pkcs11 (a v2.40 binding)
// does not define.
const (
	ckkECEdwards = 0x00000040 // CKK_EC_EDWARDS
	ckmEdDSA     = 0x00001057 // CKM_EDDSA
)

// Curve parameters (CKA_EC_PARAMS) the keys may carry: the DER OIDs of P-256
// and Ed25519, and the PrintableString "edwards25519" PKCS#11 v3.0 also allows.
var (
	paramsP256          = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	paramsEd25519OID    = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	paramsEd25519String = append([]byte{0x13, 0x0c}, "edwards25519"...)
)

// Key is a private key held in a PKCS#11 token: a crypto.Signer whose Sign
// runs on the token (ed25519 with CKM_EDDSA, ECDSA P-256 with CKM_ECDSA,
// RSA with CKM_RSA_PKCS_PSS). The private key never leaves the token. One
// Key keeps one logged-in session; Sign is safe for concurrent use. Close
// releases the module.
type Key struct {
	ref  Ref
	ctx  *p11.Ctx
	sess p11.SessionHandle
	obj  p11.ObjectHandle
	pub  crypto.PublicKey

	mu     sync.Mutex
	closed bool
}

// Open loads ref's module, finds its token, logs in with pin (if not
// empty), finds the private key and its public half, and returns the key.
// pin overrides ref.PIN; pass ref.PIN to use the URI's.
func Open(ref Ref, pin string) (*Key, error) {
	const op = "pkcs11: open"
	ctx, err := acquire(ref.Module)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, ref, err)
	}
	ref.PIN, ref.HasPIN = "", false // the session is logged in; the key keeps no PIN
	k := &Key{ref: ref, ctx: ctx}
	if err := k.open(pin); err != nil {
		_ = k.Close()
		return nil, fmt.Errorf("%s %s: %w", op, ref, err)
	}
	return k, nil
}

// modules are the loaded PKCS#11 modules: C_Initialize may run once per
// module and process, so keys on one module share its context.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

type module struct {
	ctx  *p11.Ctx
	refs int
}

// acquire loads and initialises the module at path, or shares it.
func acquire(path string) (*p11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.m[path]; ok {
		m.refs++
		return m.ctx, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load the module %s: %w", path, ErrModule)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("initialize module %s: %w: %w", path, ErrModule, err)
	}
	modules.m[path] = &module{ctx: ctx, refs: 1}
	return ctx, nil
}

// release drops one reference to the module at path, finalising and
// unloading it with the last.
func release(path string) error {
	modules.Lock()
	defer modules.Unlock()
	m, ok := modules.m[path]
	if !ok {
		return nil
	}
	if m.refs--; m.refs > 0 {
		return nil
	}
	delete(modules.m, path)
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	return err
}

func (k *Key) open(pin string) error {
	slot, err := k.findSlot()
	if err != nil {
		return err
	}
	if k.sess, err = k.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION); err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	if pin != "" {
		if err := k.ctx.Login(k.sess, p11.CKU_USER, pin); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
			return fmt.Errorf("log in: %w: %w", ErrLogin, err)
		}
	}
	if k.obj, err = k.findObject(p11.CKO_PRIVATE_KEY); err != nil {
		return err
	}
	k.pub, err = k.publicKey()
	return err
}

// findSlot returns the one slot whose token matches the ref.
func (k *Key) findSlot() (uint, error) {
	slots, err := k.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list slots: %w", err)
	}
	var found []uint
	for _, s := range slots {
		if k.ref.SlotID != nil && *k.ref.SlotID != s {
			continue
		}
		ti, err := k.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if (k.ref.Token == "" || k.ref.Token == ti.Label) && (k.ref.Serial == "" || k.ref.Serial == ti.SerialNumber) &&
			(k.ref.Manufacturer == "" || k.ref.Manufacturer == ti.ManufacturerID) && (k.ref.Model == "" || k.ref.Model == ti.Model) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no token matches (%d tokens present): %w", len(slots), ErrNoToken)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d tokens match; add token= or serial= to the URI: %w", len(found), ErrNoToken)
}

// findObject returns the one object of class that matches the ref's label
// and id.
func (k *Key) findObject(class uint) (p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
	if k.ref.Label != "" {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, k.ref.Label))
	}
	if len(k.ref.ID) > 0 {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, k.ref.ID))
	}
	if err := k.ctx.FindObjectsInit(k.sess, tmpl); err != nil {
		return 0, fmt.Errorf("find key: %w", err)
	}
	objs, _, err := k.ctx.FindObjects(k.sess, 2)
	if ferr := k.ctx.FindObjectsFinal(k.sess); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("find key: %w", err)
	}
	what := "private key"
	if class == p11.CKO_PUBLIC_KEY {
		what = "public key"
	}
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("no %s with this object/id on the token (wrong label, or not logged in: is the PIN given?): %w", what, ErrNoKey)
	case 1:
		return objs[0], nil
	}
	return 0, fmt.Errorf("more than one %s matches; add id= to the URI: %w", what, ErrNoKey)
}

func (k *Key) attrs(obj p11.ObjectHandle, types ...uint) ([][]byte, error) {
	var tmpl []*p11.Attribute
	for _, t := range types {
		tmpl = append(tmpl, p11.NewAttribute(t, nil))
	}
	got, err := k.ctx.GetAttributeValue(k.sess, obj, tmpl)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(got))
	for i, a := range got {
		out[i] = a.Value
	}
	return out, nil
}

// publicKey reads the public half: from the private key object for RSA
// (modulus and exponent), from the matching public key object for EC keys.
func (k *Key) publicKey() (crypto.PublicKey, error) {
	kt, err := k.attrs(k.obj, p11.CKA_KEY_TYPE)
	if err != nil {
		return nil, fmt.Errorf("read key type: %w", err)
	}
	switch keyType := ulong(kt[0]); keyType {
	case p11.CKK_RSA:
		v, err := k.attrs(k.obj, p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, fmt.Errorf("read rsa public key: %w", err)
		}
		e := new(big.Int).SetBytes(v[1])
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("rsa public exponent %s: %w", e, ErrUnsupportedKey)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(v[0]), E: int(e.Int64())}, nil
	case p11.CKK_EC, ckkECEdwards:
		pubObj, err := k.findObject(p11.CKO_PUBLIC_KEY)
		if err != nil {
			return nil, fmt.Errorf("the public half of an EC key is read from its public key object: %w", err)
		}
		v, err := k.attrs(pubObj, p11.CKA_EC_PARAMS, p11.CKA_EC_POINT)
		if err != nil {
			return nil, fmt.Errorf("read ec public key: %w", err)
		}
		return ecPublicKey(keyType, v[0], v[1])
	default:
		return nil, fmt.Errorf("key type 0x%x (trustd signs with ed25519, ecdsa P-256 and rsa keys): %w", keyType, ErrUnsupportedKey)
	}
}

// ecPublicKey decodes CKA_EC_POINT, which tokens give either DER-wrapped in
// an OCTET STRING (as PKCS#11 specifies) or raw.
func ecPublicKey(keyType uint, params, point []byte) (crypto.PublicKey, error) {
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	switch {
	case keyType == p11.CKK_EC && bytes.Equal(params, paramsP256):
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("P-256 public point: %w: %w", ErrUnsupportedKey, err)
		}
		return pub, nil
	case keyType == ckkECEdwards && (bytes.Equal(params, paramsEd25519OID) || bytes.Equal(params, paramsEd25519String)):
		if len(point) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 public key is %d bytes, want %d: %w", len(point), ed25519.PublicKeySize, ErrUnsupportedKey)
		}
		return ed25519.PublicKey(bytes.Clone(point)), nil
	}
	return nil, fmt.Errorf("curve parameters %x (trustd signs with P-256 and Ed25519 keys): %w", params, ErrUnsupportedKey)
}

// ulong decodes a CK_ULONG attribute value (native byte order, as the
// binding returns it).
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0) // no such key type
}

// Public returns the key's public half: ed25519.PublicKey, *ecdsa.PublicKey
// or *rsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs on the token, following the crypto.Signer contract: for
// ed25519 the whole message (opts.HashFunc() == 0); for ECDSA a digest, the
// signature returned in ASN.1 DER; for RSA a digest with *rsa.PSSOptions
// (RSASSA-PSS with MGF1 over the same hash). RSA PKCS#1 v1.5 is refused:
// TUF and DSSE keys in trustd sign with PSS.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, err := k.mechanism(digest, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign with %s: %w", k.ref, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, fmt.Errorf("pkcs11: sign with %s: key is closed: %w", k.ref, ErrModule)
	}
	if err := k.ctx.SignInit(k.sess, []*p11.Mechanism{mech}, k.obj); err != nil {
		return nil, fmt.Errorf("pkcs11: sign with %s: %w", k.ref, err)
	}
	sig, err := k.ctx.Sign(k.sess, digest)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign with %s: %w", k.ref, err)
	}
	if _, ok := k.pub.(*ecdsa.PublicKey); ok {
		return ecdsaDER(sig)
	}
	return sig, nil
}

func (k *Key) mechanism(digest []byte, opts crypto.SignerOpts) (*p11.Mechanism, error) {
	switch k.pub.(type) {
	case ed25519.PublicKey:
		if opts.HashFunc() != 0 {
			return nil, fmt.Errorf("ed25519 signs the message itself, not a %s digest (Ed25519ph is not supported): %w", opts.HashFunc(), ErrUnsupportedKey)
		}
		return p11.NewMechanism(ckmEdDSA, nil), nil
	case *ecdsa.PublicKey:
		if opts.HashFunc() == 0 || len(digest) != opts.HashFunc().Size() {
			return nil, fmt.Errorf("ecdsa signs a digest: got %d bytes for hash %s: %w", len(digest), opts.HashFunc(), ErrUnsupportedKey)
		}
		return p11.NewMechanism(p11.CKM_ECDSA, nil), nil
	case *rsa.PublicKey:
		pss, ok := opts.(*rsa.PSSOptions)
		if !ok {
			return nil, fmt.Errorf("rsa keys sign with RSASSA-PSS only (pass *rsa.PSSOptions): %w", ErrUnsupportedKey)
		}
		hash, mgf, err := pssHash(pss.HashFunc())
		if err != nil {
			return nil, err
		}
		if len(digest) != pss.HashFunc().Size() {
			return nil, fmt.Errorf("rsa-pss: digest is %d bytes, %s needs %d: %w", len(digest), pss.HashFunc(), pss.HashFunc().Size(), ErrUnsupportedKey)
		}
		salt := pss.SaltLength
		switch salt {
		case rsa.PSSSaltLengthEqualsHash:
			salt = pss.HashFunc().Size()
		case rsa.PSSSaltLengthAuto:
			salt = (k.pub.(*rsa.PublicKey).N.BitLen()-1+7)/8 - 2 - pss.HashFunc().Size()
		}
		if salt < 0 {
			return nil, fmt.Errorf("rsa-pss: salt length %d: %w", pss.SaltLength, ErrUnsupportedKey)
		}
		return p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(hash, mgf, uint(salt))), nil
	}
	return nil, fmt.Errorf("key %T: %w", k.pub, ErrUnsupportedKey)
}

// pssHash maps a hash to the PKCS#11 hash and MGF1 mechanism of RSASSA-PSS.
func pssHash(h crypto.Hash) (hash, mgf uint, err error) {
	switch h {
	case crypto.SHA256:
		return p11.CKM_SHA256, p11.CKG_MGF1_SHA256, nil
	case crypto.SHA384:
		return p11.CKM_SHA384, p11.CKG_MGF1_SHA384, nil
	case crypto.SHA512:
		return p11.CKM_SHA512, p11.CKG_MGF1_SHA512, nil
	}
	return 0, 0, fmt.Errorf("rsa-pss with hash %s: %w", h, ErrUnsupportedKey)
}

// ecdsaDER converts a PKCS#11 ECDSA signature (r‖s, each half the same
// length) to the ASN.1 DER form Go and TUF use.
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("pkcs11: token returned a %d-byte ECDSA signature, not r‖s", len(raw))
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// String names the key by its URI, without the PIN.
func (k *Key) String() string { return "pkcs11.Key(" + k.ref.String() + ")" }

// Format prints String for every verb.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Close closes the key's session and releases the module (unloaded with
// its last key). Signing after Close fails.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	if k.sess != 0 {
		_ = k.ctx.CloseSession(k.sess)
	}
	return release(k.ref.Module)
}
