package tuf

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/envelope"
)

// RSA modulus bounds for keys in TUF metadata.
const (
	minRSABits = envelope.MinRSABits
	maxRSABits = envelope.MaxRSABits
)

// KeyTypes are the trustd key types accepted for TUF roles (envelope key
// type names): ed25519, ecdsa-p256 and rsa (RSASSA-PSS SHA-256).
var KeyTypes = []string{envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA}

// checkKey checks one key of a keys map: an accepted type and scheme, key
// material of that type, and an id equal to the TUF key id of the key.
func checkKey(field, id string, k *metadata.Key) (fingerprint string, f *fault) {
	if k == nil {
		return "", newFault(ErrMalformed, field, "null key")
	}
	switch {
	case k.Type == metadata.KeyTypeEd25519 && k.Scheme == metadata.KeySchemeEd25519:
	case (k.Type == metadata.KeyTypeECDSA_SHA2_P256 || k.Type == metadata.KeyTypeECDSA_SHA2_P256_COMPAT) && k.Scheme == metadata.KeySchemeECDSA_SHA2_P256:
	case k.Type == metadata.KeyTypeRSASSA_PSS_SHA256 && k.Scheme == metadata.KeySchemeRSASSA_PSS_SHA256:
	default:
		return "", newFault(ErrWrongKeyType, field,
			fmt.Sprintf("keytype %q with scheme %q is not accepted (trustd takes ed25519/ed25519, ecdsa/ecdsa-sha2-nistp256 and rsa/rsassa-pss-sha256)", trunc(k.Type), trunc(k.Scheme)))
	}
	pub, err := k.ToPublicKey()
	if err != nil {
		return "", &fault{field: field + ".keyval.public", reason: "not a valid " + k.Type + " public key", kind: ErrWrongKeyType, err: err}
	}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", newFault(ErrWrongKeyType, field+".keyval.public", fmt.Sprintf("ed25519 key is %d bytes, want %d", len(p), ed25519.PublicKeySize))
		}
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return "", newFault(ErrWrongKeyType, field+".keyval.public", fmt.Sprintf("ecdsa key is on curve %s; scheme ecdsa-sha2-nistp256 needs P-256", p.Curve.Params().Name))
		}
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return "", newFault(ErrWrongKeyType, field+".keyval.public", fmt.Sprintf("rsa key is %d bits; trustd takes %d to %d", bits, minRSABits, maxRSABits))
		}
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", &fault{field: field + ".keyval.public", reason: "cannot encode the key", kind: ErrWrongKeyType, err: err}
	}
	sum := sha256.Sum256(der)
	want, err := keyID(k)
	if err != nil {
		return "", &fault{field: field, reason: "cannot compute the key id", kind: ErrMalformed, err: err}
	}
	if want != id {
		return "", newFault(ErrMalformed, field, fmt.Sprintf("key id does not match the key: its TUF key id (hex SHA-256 of its canonical JSON) is %s", want))
	}
	return hex.EncodeToString(sum[:]), nil
}

// keyID computes the TUF key id of k without trusting a cached value.
func keyID(k *metadata.Key) (string, error) {
	c := &metadata.Key{Type: k.Type, Scheme: k.Scheme, Value: k.Value, UnrecognizedFields: k.UnrecognizedFields}
	return c.ID()
}

// checkKeys checks a keys map (root keys or delegation keys) and that no two
// ids name the same public key.
func checkKeys(field string, keys map[string]*metadata.Key) *fault {
	seen := map[string]string{}
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fld := fmt.Sprintf("%s[%q]", field, trunc(id))
		fp, f := checkKey(fld, id, keys[id])
		if f != nil {
			return f
		}
		if other, ok := seen[fp]; ok {
			return newFault(ErrDuplicateKeyID, fld, fmt.Sprintf("same public key as key %s; each key may be listed once", other))
		}
		seen[fp] = id
	}
	return nil
}

// checkRoleKeys checks the keyids and threshold of one role against keys.
func checkRoleKeys(field string, keyIDs []string, threshold int, keys map[string]*metadata.Key) *fault {
	if len(keyIDs) == 0 {
		return newFault(ErrMalformed, field+".keyids", "no keys: a role needs at least one")
	}
	seen := map[string]bool{}
	for i, id := range keyIDs {
		if seen[id] {
			return newFault(ErrDuplicateKeyID, fmt.Sprintf("%s.keyids[%d]", field, i), fmt.Sprintf("key id %s is listed twice", trunc(id)))
		}
		seen[id] = true
		if _, ok := keys[id]; !ok {
			return newFault(ErrMalformed, fmt.Sprintf("%s.keyids[%d]", field, i), fmt.Sprintf("key id %s is not in the keys map", trunc(id)))
		}
	}
	if threshold < 1 {
		return newFault(ErrMalformed, field+".threshold", fmt.Sprintf("%d: must be at least 1", threshold))
	}
	if threshold > len(keyIDs) {
		return newFault(ErrMalformed, field+".threshold", fmt.Sprintf("%d but the role has only %d keys: it could never be met", threshold, len(keyIDs)))
	}
	return nil
}

// NewSigner wraps a private key as the go-tuf signer for its TUF scheme:
// ed25519, ECDSA P-256 with SHA-256, or RSASSA-PSS with SHA-256. The key is
// never printed.
func NewSigner(priv crypto.Signer) (signature.Signer, error) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		return signature.LoadED25519Signer(k)
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("tuf: signer: ecdsa curve %s: %w", k.Curve.Params().Name, ErrWrongKeyType)
		}
		return signature.LoadECDSASigner(k, crypto.SHA256)
	case *rsa.PrivateKey:
		return signature.LoadRSAPSSSigner(k, crypto.SHA256, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	return nil, fmt.Errorf("tuf: signer: private key %T: %w", priv, ErrWrongKeyType)
}

// EnvelopeSigner adapts an envelope.Signer (from envelope.LoadPrivateKey) to
// the go-tuf signer interface. Its signatures are the TUF ones: ed25519,
// ECDSA P-256 over SHA-256 in ASN.1, RSASSA-PSS SHA-256.
func EnvelopeSigner(s envelope.Signer) signature.Signer {
	return envelopeSigner{s}
}

type envelopeSigner struct{ s envelope.Signer }

// PublicKey returns the signer's public key.
func (e envelopeSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return e.s.Public(), nil
}

// SignMessage signs the whole message.
func (e envelopeSigner) SignMessage(message io.Reader, _ ...signature.SignOption) ([]byte, error) {
	data, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	return e.s.Sign(context.Background(), data)
}

// String names the signer by key id only.
func (e envelopeSigner) String() string {
	id, _ := e.s.KeyID()
	return "tuf.EnvelopeSigner(" + id + ")"
}

// PublicKeyOf returns the TUF key (public half, as it goes in a keys map) of
// a signer and its key id.
func PublicKeyOf(s signature.Signer) (*metadata.Key, string, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("tuf: public key of signer: %w", err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("tuf: public key of signer: %w", err)
	}
	id, err := k.ID()
	if err != nil {
		return nil, "", fmt.Errorf("tuf: public key of signer: %w", err)
	}
	return k, id, nil
}

// KeyFromEnvelope converts an envelope public key (ed25519, ecdsa-p256 or
// rsa) to its TUF form for a keys map, and returns its key id.
func KeyFromEnvelope(pub envelope.PublicKey) (*metadata.Key, string, error) {
	switch pub.Type {
	case envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA:
	default:
		return nil, "", fmt.Errorf("tuf: key %s of type %s: %w", pub.ID, pub.Type, ErrWrongKeyType)
	}
	k, err := metadata.KeyFromPublicKey(pub.Public)
	if err != nil {
		return nil, "", fmt.Errorf("tuf: key %s: %w", pub.ID, err)
	}
	id, err := k.ID()
	if err != nil {
		return nil, "", fmt.Errorf("tuf: key %s: %w", pub.ID, err)
	}
	return k, id, nil
}

// OnlineKeys holds trustd's online signing keys for the snapshot and
// timestamp roles of every repository. A repository's root names which of
// them sign its snapshot and timestamp; keeping old and new keys side by side
// lets a root rotation move to new online keys. Safe for concurrent use.
type OnlineKeys struct {
	mu   sync.RWMutex
	keys map[string]map[string]onlineKey // role → key id → key
}

type onlineKey struct {
	signer signature.Signer
	key    *metadata.Key
}

// NewOnlineKeys returns an empty key set; fill it with Add.
func NewOnlineKeys() *OnlineKeys {
	return &OnlineKeys{keys: map[string]map[string]onlineKey{
		metadata.SNAPSHOT: {}, metadata.TIMESTAMP: {},
	}}
}

// Add makes s an online key for role (snapshot or timestamp) and returns its
// key id. A key serves one role only.
func (o *OnlineKeys) Add(role string, s signature.Signer) (string, error) {
	if role != metadata.SNAPSHOT && role != metadata.TIMESTAMP {
		return "", fmt.Errorf("tuf: online keys: role %q: only snapshot and timestamp keys are online: %w", role, ErrUnknownRole)
	}
	k, id, err := PublicKeyOf(s)
	if err != nil {
		return "", err
	}
	if _, f := checkKey("key", id, k); f != nil {
		return "", opError("online keys", "", role, ErrWrongKeyType, f)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for r, m := range o.keys {
		if _, ok := m[id]; ok && r != role {
			return "", fmt.Errorf("tuf: online keys: key %s already serves %s; use separate keys: %w", id, r, ErrDuplicateKeyID)
		}
	}
	o.keys[role][id] = onlineKey{signer: s, key: k}
	return id, nil
}

// Keys returns the public halves of the online keys for role, sorted by key
// id, as they go in a root's keys map.
func (o *OnlineKeys) Keys(role string) map[string]*metadata.Key {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := map[string]*metadata.Key{}
	for id, k := range o.keys[role] {
		out[id] = k.key
	}
	return out
}

// signer returns the online signer for role with key id id.
func (o *OnlineKeys) signer(role, id string) (signature.Signer, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	k, ok := o.keys[role][id]
	return k.signer, ok
}

// has reports whether id is an online key of any role.
func (o *OnlineKeys) has(id string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, m := range o.keys {
		if _, ok := m[id]; ok {
			return true
		}
	}
	return false
}

// Online key files.
const (
	// SnapshotKeyFile and TimestampKeyFile are the file names LoadOnlineKeys
	// generates; every other "snapshot*.pem" and "timestamp*.pem" file in
	// the directory is loaded too (rotated keys).
	SnapshotKeyFile  = "snapshot.pem"
	TimestampKeyFile = "timestamp.pem"
)

// LoadOnlineKeys loads trustd's online keys from dir: every "snapshot*.pem"
// file is a snapshot key and every "timestamp*.pem" file a timestamp key
// (unencrypted PKCS#8 PEM, mode 0600 or stricter). If a role has no key file
// yet, it generates one of keyType (ed25519, ecdsa-p256 or rsa) as
// SnapshotKeyFile or TimestampKeyFile with mode 0600.
func LoadOnlineKeys(dir, keyType string) (*OnlineKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tuf: online keys: %w", err)
	}
	o := NewOnlineKeys()
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		paths, err := filepath.Glob(filepath.Join(dir, role+"*.pem"))
		if err != nil {
			return nil, fmt.Errorf("tuf: online keys: %w", err)
		}
		if len(paths) == 0 {
			p := filepath.Join(dir, role+".pem")
			if err := GenerateOnlineKey(p, keyType); err != nil {
				return nil, err
			}
			paths = []string{p}
		}
		sort.Strings(paths)
		for _, p := range paths {
			s, err := LoadOnlineKey(p)
			if err != nil {
				return nil, err
			}
			if _, err := o.Add(role, s); err != nil {
				return nil, fmt.Errorf("tuf: online keys: %s: %w", p, err)
			}
		}
	}
	return o, nil
}

// GenerateOnlineKey generates a key of keyType (ed25519, ecdsa-p256 or rsa)
// and writes its private half to a new file at path with mode 0600.
func GenerateOnlineKey(path, keyType string) error {
	switch keyType {
	case envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA:
	default:
		return fmt.Errorf("tuf: generate online key: type %q (want %s): %w", keyType, strings.Join(KeyTypes, ", "), ErrWrongKeyType)
	}
	pemBytes, _, err := envelope.GenerateKey(keyType)
	if err != nil {
		return fmt.Errorf("tuf: generate online key: %w", err)
	}
	if err := envelope.WritePrivateKeyFile(path, pemBytes); err != nil {
		return fmt.Errorf("tuf: generate online key: %w", err)
	}
	return nil
}

// LoadOnlineKey loads one online private key file, refusing a file that
// group or others may read or write.
func LoadOnlineKey(path string) (signature.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tuf: online key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tuf: online key %s: mode %#o lets others read it; chmod 600 it: %w", path, st.Mode().Perm(), fs.ErrPermission)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tuf: online key: %w", err)
	}
	s, pub, err := envelope.LoadPrivateKey(data, nil)
	if err != nil {
		return nil, fmt.Errorf("tuf: online key %s: %w", path, err)
	}
	switch pub.Type {
	case envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA:
	default:
		return nil, fmt.Errorf("tuf: online key %s: type %s: %w", path, pub.Type, ErrWrongKeyType)
	}
	return EnvelopeSigner(s), nil
}

// errNoSigner is returned when trustd lacks an online key a root names.
var errNoSigner = errors.New("no online signer")

// trunc shortens s for an error message.
func trunc(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
