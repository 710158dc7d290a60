package envelope

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/youmark/pkcs8"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// GeneratedRSABits is the modulus size of RSA keys made by GenerateKey.
const GeneratedRSABits = 3072

// PBKDF2Iterations is the PBKDF2-HMAC-SHA256 iteration count
// GenerateKeyEncrypted uses (the OWASP 2023 figure).
const PBKDF2Iterations = 600_000

// Bounds on the key-derivation work an encrypted key file may ask for.
const (
	maxPBKDF2Iterations = 10_000_000
	maxScryptMemory     = 256 << 20 // bytes: 128 * N * r
	maxScryptP          = 16
)

// LoadPrivateKey parses a PEM private key held locally and returns a Signer
// for it with its public key. It takes PKCS#8 "PRIVATE KEY", PKCS#8
// "ENCRYPTED PRIVATE KEY" (PBES2 with PBKDF2 or scrypt and AES-CBC or
// 3DES-CBC, decrypted with password) and the legacy "EC PRIVATE KEY" and
// "RSA PRIVATE KEY" forms. A wrong password gives ErrBadPassword, a missing
// one ErrPasswordRequired too; a password given for an unencrypted key is
// ignored. The key never leaves the returned Signer.
func LoadPrivateKey(pemBytes, password []byte) (Signer, PublicKey, error) {
	if len(pemBytes) > MaxKeyBytes {
		return nil, PublicKey{}, inputerr.Wrap(opPrivateKey, "", ErrInvalidKey,
			fmt.Sprintf("%d bytes, the limit is %d", len(pemBytes), MaxKeyBytes), ErrTooLarge)
	}
	trimmed := bytes.TrimSpace(pemBytes)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey, "not a PEM private key")
	}
	block, rest := pem.Decode(trimmed)
	if block != nil && block.Type == "EC PARAMETERS" {
		// openssl ecparam -genkey writes the curve parameters first.
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey, "malformed PEM block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey, "trailing data after the PEM block")
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey,
			"legacy OpenSSL PEM encryption is not supported; re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc")
	}
	if len(block.Headers) > 0 {
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey, "PEM headers are not allowed in a private key")
	}

	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		if len(password) == 0 {
			return nil, PublicKey{}, &Error{Op: opPrivateKey, Reason: "the key is encrypted",
				Kind: ErrBadPassword, Err: ErrPasswordRequired}
		}
		key, err = decryptPKCS8(block.Bytes, password)
		if err != nil {
			return nil, PublicKey{}, err
		}
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PUBLIC KEY":
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey, "this is a public key; signing needs the private key")
	case "OPENSSH PRIVATE KEY":
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey,
			"the OpenSSH private key format is not supported; export the key as PKCS#8 PEM")
	default:
		return nil, PublicKey{}, inputerr.New(opPrivateKey, "", ErrInvalidKey,
			fmt.Sprintf(`PEM block type %q; want "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"`, block.Type))
	}
	if err != nil {
		return nil, PublicKey{}, inputerr.Wrap(opPrivateKey, "", ErrInvalidKey, "not a valid "+block.Type, err)
	}
	return signerFromKey(opPrivateKey, key)
}

// signerFromKey checks a parsed private key and wraps it.
func signerFromKey(op string, key any) (Signer, PublicKey, error) {
	var priv crypto.Signer
	switch k := key.(type) {
	case ed25519.PrivateKey:
		priv = k
	case *ecdsa.PrivateKey:
		priv = k
	case *rsa.PrivateKey:
		priv = k
	case *ecdh.PrivateKey:
		return nil, PublicKey{}, inputerr.New(op, "", ErrInvalidKey, "this is a key-agreement (ECDH/X25519) key, not a signing key")
	default:
		return nil, PublicKey{}, inputerr.New(op, "", ErrInvalidKey,
			fmt.Sprintf("unsupported private key %T (trustd takes ed25519, ecdsa P-256/P-384 and rsa)", key))
	}
	pub, err := newPublicKey(op, "", priv.Public())
	if err != nil {
		return nil, PublicKey{}, err
	}
	return &keySigner{verifier: verifier{pub: pub}, private: priv}, pub, nil
}

// OIDs of PKCS#5 v2 (RFC 8018), scrypt (RFC 7914) and the ciphers
// github.com/youmark/pkcs8 decrypts.
var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidPKCS5          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	oidPKCS12PBE      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
	oidAESPrefix      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1}
	oidDESEDE3CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt                     []byte
	CostParameter            int
	BlockSize                int
	ParallelizationParameter int
	KeyLength                int `asn1:"optional"`
}

// decryptPKCS8 checks the PBES2 parameters of an EncryptedPrivateKeyInfo
// against what github.com/youmark/pkcs8 handles safely (it panics on a bad IV
// or ciphertext length, and decrypts its "AES-GCM" OIDs as CBC) and within
// work bounds, then decrypts it with that package.
func decryptPKCS8(der, password []byte) (any, error) {
	bad := func(reason string) error { return inputerr.New(opPrivateKey, "", ErrInvalidKey, reason) }
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, bad("not a PKCS#8 EncryptedPrivateKeyInfo")
	}
	alg := info.Algorithm.Algorithm
	if !alg.Equal(oidPBES2) {
		if hasPrefix(alg, oidPKCS5) || hasPrefix(alg, oidPKCS12PBE) {
			return nil, bad(fmt.Sprintf("PBES1/PKCS#12 encryption (%s) is not supported; re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc", alg))
		}
		return nil, bad(fmt.Sprintf("unsupported encryption algorithm %s (want PBES2)", alg))
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) > 0 {
		return nil, bad("malformed PBES2 parameters")
	}

	kdf := params.KeyDerivationFunc
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, bad("malformed PBKDF2 parameters")
		}
		switch {
		case len(p.Salt) == 0:
			return nil, bad("PBKDF2 salt is empty")
		case p.IterationCount < 1 || p.IterationCount > maxPBKDF2Iterations:
			return nil, bad(fmt.Sprintf("PBKDF2 iteration count %d is outside 1..%d", p.IterationCount, maxPBKDF2Iterations))
		case p.KeyLength != 0:
			return nil, bad("the PBKDF2 keyLength parameter is not supported")
		case len(p.PRF.Algorithm) != 0 && !p.PRF.Algorithm.Equal(oidHMACWithSHA1) && !p.PRF.Algorithm.Equal(oidHMACWithSHA256):
			return nil, bad(fmt.Sprintf("PBKDF2 PRF %s is not supported (want hmacWithSHA256 or hmacWithSHA1)", p.PRF.Algorithm))
		}
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, bad("malformed scrypt parameters")
		}
		n, r := p.CostParameter, p.BlockSize
		switch {
		case len(p.Salt) == 0:
			return nil, bad("scrypt salt is empty")
		case n < 2 || n&(n-1) != 0:
			return nil, bad(fmt.Sprintf("scrypt N=%d is not a power of two above 1", n))
		case r < 1 || p.ParallelizationParameter < 1 || p.ParallelizationParameter > maxScryptP:
			return nil, bad(fmt.Sprintf("scrypt r=%d p=%d out of range", r, p.ParallelizationParameter))
		case n > maxScryptMemory/128 || r > maxScryptMemory/128/n:
			return nil, bad(fmt.Sprintf("scrypt N=%d r=%d needs more than %d MiB", n, r, maxScryptMemory>>20))
		case p.KeyLength != 0:
			return nil, bad("the scrypt keyLength parameter is not supported")
		}
	default:
		return nil, bad(fmt.Sprintf("unsupported key derivation function %s (want PBKDF2 or scrypt)", kdf.Algorithm))
	}

	enc := params.EncryptionScheme.Algorithm
	var blockSize int
	switch {
	case enc.Equal(oidDESEDE3CBC):
		blockSize = 8
	case hasPrefix(enc, oidAESPrefix) && len(enc) == len(oidAESPrefix)+1:
		switch enc[len(enc)-1] {
		case 2, 22, 42: // aes-128-cbc, aes-192-cbc, aes-256-cbc
			blockSize = 16
		case 6, 26, 46:
			return nil, bad("AES-GCM key encryption is not supported; re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc")
		}
	}
	if blockSize == 0 {
		return nil, bad(fmt.Sprintf("unsupported cipher %s (want aes-128/192/256-cbc or des-ede3-cbc)", enc))
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 || len(iv) != blockSize {
		return nil, bad(fmt.Sprintf("the cipher IV must be %d bytes", blockSize))
	}
	if n := len(info.EncryptedData); n == 0 || n%blockSize != 0 {
		return nil, bad(fmt.Sprintf("encrypted data is %d bytes, not a positive multiple of the %d-byte block", n, blockSize))
	}

	key, err := parseEncryptedPKCS8(der, password)
	if err != nil {
		return nil, inputerr.Wrap(opPrivateKey, "", ErrBadPassword,
			"wrong password (or the decrypted data is not a private key)", err)
	}
	return key, nil
}

// parseEncryptedPKCS8 calls pkcs8.ParsePKCS8PrivateKey, turning a panic in
// that package (from input the checks above did not foresee) into an error.
func parseEncryptedPKCS8(der, password []byte) (key any, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("pkcs8: %v", r)
		}
	}()
	return pkcs8.ParsePKCS8PrivateKey(der, password)
}

func hasPrefix(oid, prefix asn1.ObjectIdentifier) bool {
	return len(oid) >= len(prefix) && prefix.Equal(oid[:len(prefix)])
}

// GenerateKey makes a new key of keyType and returns its private half as
// unencrypted PKCS#8 PEM ("PRIVATE KEY") with its public key. RSA keys have
// GeneratedRSABits bits. Store the PEM with WritePrivateKeyFile (mode 0600).
func GenerateKey(keyType string) (privatePEM []byte, pub PublicKey, err error) {
	priv, pub, err := generate(keyType)
	if err != nil {
		return nil, PublicKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, PublicKey{}, fmt.Errorf("%s: %w", opGenerate, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pub, nil
}

// GenerateKeyEncrypted is GenerateKey with the private key encrypted under
// password as PKCS#8 "ENCRYPTED PRIVATE KEY" (PBES2: PBKDF2-HMAC-SHA256 with
// PBKDF2Iterations iterations and AES-256-CBC), which openssl also reads.
func GenerateKeyEncrypted(keyType string, password []byte) (privatePEM []byte, pub PublicKey, err error) {
	if len(password) == 0 {
		return nil, PublicKey{}, &Error{Op: opGenerate, Reason: "an encrypted key",
			Kind: ErrBadPassword, Err: ErrPasswordRequired}
	}
	priv, pub, err := generate(keyType)
	if err != nil {
		return nil, PublicKey{}, err
	}
	der, err := pkcs8.MarshalPrivateKey(priv, password, &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       16,
			IterationCount: PBKDF2Iterations,
			HMACHash:       crypto.SHA256,
		},
	})
	if err != nil {
		return nil, PublicKey{}, fmt.Errorf("%s: %w", opGenerate, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), pub, nil
}

func generate(keyType string) (crypto.Signer, PublicKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch keyType {
	case KeyTypeED25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyTypeECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyTypeECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyTypeRSA:
		priv, err = rsa.GenerateKey(rand.Reader, GeneratedRSABits)
	default:
		return nil, PublicKey{}, inputerr.New(opGenerate, "", ErrInvalidKey,
			fmt.Sprintf("cannot generate key type %q (want %s, %s, %s or %s)", keyType, KeyTypeED25519, KeyTypeECDSAP256, KeyTypeECDSAP384, KeyTypeRSA))
	}
	if err != nil {
		return nil, PublicKey{}, fmt.Errorf("%s: %w", opGenerate, err)
	}
	pub, err := newPublicKey(opGenerate, "", priv.Public())
	if err != nil {
		return nil, PublicKey{}, err
	}
	return priv, pub, nil
}

// WritePrivateKeyFile writes a private key PEM to a new file at path with
// mode 0600. It never overwrites an existing file.
func WritePrivateKeyFile(path string, privatePEM []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("envelope: write private key: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("envelope: write private key: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := f.Write(privatePEM); err != nil {
		return fmt.Errorf("envelope: write private key: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("envelope: write private key: %w", err)
	}
	return nil
}
