package envelope

import "crypto"

// NewCryptoSigner wraps a private key that lives outside this process (a
// PKCS#11 token, a KMS) as a Signer: its crypto.Signer signs with the same
// schemes as a key from LoadPrivateKey (ed25519, ECDSA P-256/P-384, RSASSA-PSS
// SHA-256), and its public half gives the key id. priv must sign what its
// Public() names.
func NewCryptoSigner(priv crypto.Signer) (Signer, PublicKey, error) {
	pub, err := newPublicKey(opLoadSigner, "key", priv.Public())
	if err != nil {
		return nil, PublicKey{}, err
	}
	return &keySigner{verifier: verifier{pub: pub}, private: priv}, pub, nil
}

// opLoadSigner names NewCryptoSigner in errors.
const opLoadSigner = "envelope: crypto signer"
