package envelope

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Key types this package knows. Other packages add theirs (OpenPGP, Sigstore)
// with RegisterKeyType.
const (
	KeyTypeED25519   = "ed25519"
	KeyTypeECDSAP256 = "ecdsa-p256"
	KeyTypeECDSAP384 = "ecdsa-p384"
	KeyTypeRSA       = "rsa"
)

// Signature scheme names, as securesystemslib and TUF spell them.
const (
	SchemeED25519         = "ed25519"
	SchemeECDSAP256SHA256 = "ecdsa-sha2-nistp256"
	SchemeECDSAP384SHA384 = "ecdsa-sha2-nistp384"
	SchemeRSAPSSSHA256    = "rsassa-pss-sha256"
)

// Key size bounds.
const (
	// MaxKeyBytes is the largest key file or registry value accepted.
	MaxKeyBytes = 64 << 10
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
	// MaxRSABits is the largest RSA modulus accepted, which bounds the cost
	// of one verification.
	MaxRSABits = 16384
)

// PublicKey is a parsed public key ready to register: its key id, trustd key
// type, securesystemslib signature scheme and the key itself.
type PublicKey struct {
	ID     string           // TUF/securesystemslib key id: hex SHA-256 of the canonical JSON key
	Type   string           // one of the KeyType constants
	Scheme string           // securesystemslib scheme name
	Public crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

// Encode returns the canonical stored form of k: a PEM "PUBLIC KEY" block
// holding the PKIX (SubjectPublicKeyInfo) encoding.
func (k PublicKey) Encode() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		// Every PublicKey this package returns holds a key x509 can encode.
		panic("envelope: PublicKey.Encode of an unsupported key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey parses a public key given as a PEM "PUBLIC KEY" block (PKIX)
// or as a securesystemslib/TUF JSON key ({"keytype", "scheme", "keyval":
// {"public"}}). It accepts ed25519, ECDSA P-256 and P-384, and RSA keys of at
// least 2048 bits; errors match ErrInvalidKey and say why.
func ParsePublicKey(data []byte) (PublicKey, error) {
	if len(data) > MaxKeyBytes {
		return PublicKey{}, inputerr.Wrap(opPublicKey, "", ErrInvalidKey,
			fmt.Sprintf("%d bytes, the limit is %d", len(data), MaxKeyBytes), ErrTooLarge)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return PublicKey{}, inputerr.New(opPublicKey, "", ErrInvalidKey, "empty input")
	case trimmed[0] == '{':
		return parseJSONKey(trimmed)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN ")):
		pub, err := parsePEMPublic(opPublicKey, "", trimmed)
		if err != nil {
			return PublicKey{}, err
		}
		return newPublicKey(opPublicKey, "", pub)
	default:
		return PublicKey{}, inputerr.New(opPublicKey, "", ErrInvalidKey,
			`neither a PEM "PUBLIC KEY" block nor a securesystemslib JSON key`)
	}
}

// DecodeStoredKey turns a registry row (key type and the bytes Encode
// produced) back into a PublicKey, checking that the key is of that type.
func DecodeStoredKey(keyType string, encoded []byte) (PublicKey, error) {
	switch keyType {
	case KeyTypeED25519, KeyTypeECDSAP256, KeyTypeECDSAP384, KeyTypeRSA:
	default:
		return PublicKey{}, inputerr.New(opStoredKey, "", ErrInvalidKey,
			fmt.Sprintf("key type %q is not one this package decodes", keyType))
	}
	if len(encoded) > MaxKeyBytes {
		return PublicKey{}, inputerr.Wrap(opStoredKey, "", ErrInvalidKey,
			fmt.Sprintf("%d bytes, the limit is %d", len(encoded), MaxKeyBytes), ErrTooLarge)
	}
	trimmed := bytes.TrimSpace(encoded)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return PublicKey{}, inputerr.New(opStoredKey, "", ErrInvalidKey, `not a PEM "PUBLIC KEY" block`)
	}
	pub, err := parsePEMPublic(opStoredKey, "", trimmed)
	if err != nil {
		return PublicKey{}, err
	}
	k, err := newPublicKey(opStoredKey, "", pub)
	if err != nil {
		return PublicKey{}, err
	}
	if k.Type != keyType {
		return PublicKey{}, inputerr.New(opStoredKey, "", ErrInvalidKey,
			fmt.Sprintf("registry row says %s but holds a key of type %s", keyType, k.Type))
	}
	return k, nil
}

// privateKeyHint is the reason given when a private key is offered as public.
const privateKeyHint = "this is a private key; give the public half (openssl pkey -pubout)"

// parsePEMPublic parses exactly one PEM "PUBLIC KEY" block with nothing but
// whitespace around it. data must start with "-----BEGIN ".
func parsePEMPublic(op, fld string, data []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, inputerr.New(op, fld, ErrInvalidKey, "malformed PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
	case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY",
		"OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
		return nil, inputerr.New(op, fld, ErrInvalidKey, privateKeyHint)
	case "RSA PUBLIC KEY":
		return nil, inputerr.New(op, fld, ErrInvalidKey,
			`PKCS#1 "RSA PUBLIC KEY" is not accepted; convert it to PKIX with openssl rsa -RSAPublicKey_in -pubout`)
	case "CERTIFICATE":
		return nil, inputerr.New(op, fld, ErrInvalidKey,
			"this is a certificate; give its public key (openssl x509 -pubkey -noout)")
	default:
		return nil, inputerr.New(op, fld, ErrInvalidKey,
			fmt.Sprintf(`PEM block type %q; want "PUBLIC KEY"`, block.Type))
	}
	if len(block.Headers) > 0 {
		return nil, inputerr.New(op, fld, ErrInvalidKey, "PEM headers are not allowed in a public key")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, inputerr.New(op, fld, ErrInvalidKey, "trailing data after the PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		reason := "not a PKIX public key"
		if strings.Contains(err.Error(), "unsupported elliptic curve") {
			reason = "unsupported curve (trustd takes P-256 and P-384)"
		}
		return nil, inputerr.Wrap(op, fld, ErrInvalidKey, reason, err)
	}
	return pub, nil
}

// newPublicKey checks that pub is a key trustd accepts and computes its id.
func newPublicKey(op, fld string, pub crypto.PublicKey) (PublicKey, error) {
	var k PublicKey
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
				fmt.Sprintf("ed25519 key is %d bytes, want %d", len(p), ed25519.PublicKeySize))
		}
		k = PublicKey{Type: KeyTypeED25519, Scheme: SchemeED25519, Public: p}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			k = PublicKey{Type: KeyTypeECDSAP256, Scheme: SchemeECDSAP256SHA256, Public: p}
		case elliptic.P384():
			k = PublicKey{Type: KeyTypeECDSAP384, Scheme: SchemeECDSAP384SHA384, Public: p}
		default:
			return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
				fmt.Sprintf("unsupported curve %s (trustd takes P-256 and P-384)", p.Curve.Params().Name))
		}
	case *rsa.PublicKey:
		bits := p.N.BitLen()
		switch {
		case bits < MinRSABits:
			return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
				fmt.Sprintf("rsa key is %d bits; trustd requires at least %d", bits, MinRSABits))
		case bits > MaxRSABits:
			return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
				fmt.Sprintf("rsa key is %d bits; trustd accepts at most %d", bits, MaxRSABits))
		}
		k = PublicKey{Type: KeyTypeRSA, Scheme: SchemeRSAPSSSHA256, Public: p}
	case *ecdh.PublicKey:
		return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
			"this is a key-agreement (ECDH/X25519) key, not a signing key")
	default:
		return PublicKey{}, inputerr.New(op, fld, ErrInvalidKey,
			fmt.Sprintf("unsupported key algorithm %T (trustd takes ed25519, ecdsa P-256/P-384 and rsa)", pub))
	}
	id, err := tufKeyID(k.Public, k.Scheme)
	if err != nil {
		return PublicKey{}, inputerr.Wrap(op, fld, ErrInvalidKey, "cannot compute the key id", err)
	}
	k.ID = id
	return k, nil
}

// tufKeyID computes the TUF key id of pub: the hex SHA-256 of the canonical
// JSON of {"keytype", "scheme", "keyval": {"public"}}, as go-tuf writes it.
// go-tuf labels every ECDSA key ecdsa-sha2-nistp256, so the scheme is set
// here (securesystemslib uses ecdsa-sha2-nistp384 for P-384 keys).
func tufKeyID(pub crypto.PublicKey, scheme string) (string, error) {
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return "", err
	}
	k.Scheme = scheme
	return k.ID()
}

// The securesystemslib/TUF JSON key form.

// sslibKeyTypes maps a JSON keytype to the schemes trustd accepts with it.
var sslibKeyTypes = map[string][]string{
	"ed25519":             {SchemeED25519},
	"ecdsa":               {SchemeECDSAP256SHA256, SchemeECDSAP384SHA384},
	"ecdsa-sha2-nistp256": {SchemeECDSAP256SHA256},
	"ecdsa-sha2-nistp384": {SchemeECDSAP384SHA384},
	"rsa":                 {SchemeRSAPSSSHA256},
}

// maxJSONKeyDepth is the nesting a JSON key may have: {"keyval": {...}} and
// {"keyid_hash_algorithms": [...]}.
const maxJSONKeyDepth = 2

func parseJSONKey(data []byte) (PublicKey, error) {
	if issue := checkJSON(data, maxJSONKeyDepth); issue != nil {
		e := inputerr.New(opPublicKey, issue.field, ErrInvalidKey, issue.reason)
		if issue.deep {
			e.Err = ErrTooDeep
		}
		return PublicKey{}, e
	}
	members, _ := objectMembers(data)
	var (
		keyType, scheme, public, declaredID string
		hashAlgs                            []string
		haveHashAlgs                        bool
	)
	str := func(name string, raw json.RawMessage) (string, error) {
		s, ok := jsonString(raw)
		if !ok {
			return "", inputerr.New(opPublicKey, name, ErrInvalidKey, "must be a string, not "+jsonKind(raw))
		}
		return s, nil
	}
	var err error
	for _, m := range members {
		switch m.key {
		case "keytype":
			keyType, err = str("keytype", m.value)
		case "scheme":
			scheme, err = str("scheme", m.value)
		case "keyid":
			declaredID, err = str("keyid", m.value)
		case "keyid_hash_algorithms":
			haveHashAlgs = true
			if jsonKind(m.value) != "an array" || json.Unmarshal(m.value, &hashAlgs) != nil {
				err = inputerr.New(opPublicKey, m.key, ErrInvalidKey, "must be an array of strings")
			}
		case "keyval":
			public, err = parseKeyval(m.value)
		default:
			err = inputerr.New(opPublicKey, field("", m.key), ErrInvalidKey,
				"unknown field (a JSON key has keytype, scheme, keyval, and optionally keyid and keyid_hash_algorithms)")
		}
		if err != nil {
			return PublicKey{}, err
		}
	}
	switch {
	case keyType == "":
		return PublicKey{}, inputerr.New(opPublicKey, "keytype", ErrInvalidKey, "required")
	case scheme == "":
		return PublicKey{}, inputerr.New(opPublicKey, "scheme", ErrInvalidKey, "required")
	case public == "":
		return PublicKey{}, inputerr.New(opPublicKey, "keyval.public", ErrInvalidKey, "required")
	}
	schemes, ok := sslibKeyTypes[keyType]
	if !ok {
		return PublicKey{}, inputerr.New(opPublicKey, "keytype", ErrInvalidKey,
			fmt.Sprintf("unsupported key type %q (trustd takes ed25519, ecdsa and rsa)", keyType))
	}
	if !slices.Contains(schemes, scheme) {
		return PublicKey{}, inputerr.New(opPublicKey, "scheme", ErrInvalidKey,
			fmt.Sprintf("%q is not supported for key type %s (want %s)", scheme, keyType, strings.Join(schemes, " or ")))
	}

	var pub crypto.PublicKey
	if keyType == "ed25519" {
		raw, err := hex.DecodeString(public)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return PublicKey{}, inputerr.New(opPublicKey, "keyval.public", ErrInvalidKey,
				fmt.Sprintf("an ed25519 public key is %d hex characters", 2*ed25519.PublicKeySize))
		}
		pub = ed25519.PublicKey(raw)
	} else {
		pemData := bytes.TrimSpace([]byte(public))
		if !bytes.HasPrefix(pemData, []byte("-----BEGIN ")) {
			return PublicKey{}, inputerr.New(opPublicKey, "keyval.public", ErrInvalidKey,
				`must be a PEM "PUBLIC KEY" block for key type `+keyType)
		}
		pub, err = parsePEMPublic(opPublicKey, "keyval.public", pemData)
		if err != nil {
			return PublicKey{}, err
		}
	}
	k, err := newPublicKey(opPublicKey, "keyval.public", pub)
	if err != nil {
		return PublicKey{}, err
	}
	if k.Scheme != scheme {
		return PublicKey{}, inputerr.New(opPublicKey, "scheme", ErrInvalidKey,
			fmt.Sprintf("%s does not match the %s key in keyval.public (want %s)", scheme, k.Type, k.Scheme))
	}
	if declaredID != "" && declaredID != k.ID {
		// The declared id may have been computed over the key exactly as given
		// (PEM formatted otherwise, the legacy keyid_hash_algorithms field):
		// accept it if so, but the key's trustd id is always the normalised one.
		asGiven := map[string]any{"keytype": keyType, "scheme": scheme, "keyval": map[string]string{"public": public}}
		if haveHashAlgs {
			asGiven["keyid_hash_algorithms"] = hashAlgs
		}
		if id, err := canonicalID(asGiven); err != nil || id != declaredID {
			return PublicKey{}, inputerr.New(opPublicKey, "keyid", ErrInvalidKey,
				fmt.Sprintf("%q does not match the key (its key id is %s)", declaredID, k.ID))
		}
	}
	return k, nil
}

// parseKeyval returns keyval.public, rejecting private halves and fields
// trustd does not take.
func parseKeyval(raw json.RawMessage) (string, error) {
	members, ok := objectMembers(raw)
	if !ok {
		return "", inputerr.New(opPublicKey, "keyval", ErrInvalidKey, "must be an object, not "+jsonKind(raw))
	}
	var public string
	for _, m := range members {
		s, ok := jsonString(m.value)
		if !ok {
			return "", inputerr.New(opPublicKey, field("keyval", m.key), ErrInvalidKey, "must be a string, not "+jsonKind(m.value))
		}
		switch m.key {
		case "public":
			public = s
		case "private":
			if s != "" {
				return "", inputerr.New(opPublicKey, "keyval.private", ErrInvalidKey, privateKeyHint)
			}
		default:
			return "", inputerr.New(opPublicKey, field("keyval", m.key), ErrInvalidKey, "unknown field (keyval takes public)")
		}
	}
	return public, nil
}

func canonicalID(v any) (string, error) {
	b, err := cjson.EncodeCanonical(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
