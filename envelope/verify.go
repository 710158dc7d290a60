package envelope

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Verify checks every signature of env against the key registered under its
// key id, and returns the distinct signer key ids in signature order. Unlike
// dsse.EnvelopeVerifier it accepts nothing unless all signatures verify: an
// unregistered key id fails with ErrUnknownKey, a signature that does not
// verify with ErrBadSignature, and one whose form belongs to another key type
// than the registered key with ErrWrongKeyType.
func Verify(ctx context.Context, env *dsse.Envelope, lookup KeyLookup) ([]string, error) {
	if env == nil {
		return nil, inputerr.New(opVerify, "", ErrMalformed, "no envelope")
	}
	if lookup == nil {
		return nil, fmt.Errorf("%s: no key lookup given", opVerify)
	}
	if len(env.Signatures) == 0 {
		return nil, inputerr.New(opVerify, "signatures", ErrMalformed, "at least one signature is required")
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		return nil, inputerr.Wrap(opVerify, "payload", ErrMalformed, "not valid base64", err)
	}
	pae := dsse.PAE(env.PayloadType, body)

	type key struct {
		keyType string
		v       dsse.Verifier
	}
	keys := make(map[string]key, len(env.Signatures))
	signers := make([]string, 0, len(env.Signatures))
	for i, s := range env.Signatures {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", opVerify, err)
		}
		fld := fmt.Sprintf("signatures[%d]", i)
		if err := checkKeyID(opVerify, fld+".keyid", ErrMalformed, s.KeyID); err != nil {
			return nil, err
		}
		sig, err := decodeBase64(s.Sig)
		if err != nil || len(sig) == 0 {
			return nil, inputerr.New(opVerify, fld+".sig", ErrMalformed, "not a non-empty base64 signature")
		}
		k, seen := keys[s.KeyID]
		if !seen {
			keyType, v, err := loadVerifier(ctx, lookup, fld, s.KeyID)
			if err != nil {
				return nil, err
			}
			k = key{keyType, v}
			keys[s.KeyID] = k
			signers = append(signers, s.KeyID)
		}
		if err := k.v.Verify(ctx, pae, sig); err != nil {
			if errors.Is(err, ErrWrongKeyType) {
				return nil, inputerr.Wrap(opVerify, fld, ErrWrongKeyType,
					fmt.Sprintf("key %s is %s, which cannot have made this signature", s.KeyID, k.keyType), err)
			}
			return nil, inputerr.Wrap(opVerify, fld, ErrBadSignature,
				fmt.Sprintf("does not verify with key %s (%s)", s.KeyID, k.keyType), err)
		}
	}
	return signers, nil
}

// loadVerifier looks a key id up and builds the verifier for its row.
func loadVerifier(ctx context.Context, lookup KeyLookup, fld, keyID string) (string, dsse.Verifier, error) {
	keyType, encoded, err := lookup(ctx, keyID)
	if errors.Is(err, ErrUnknownKey) {
		if err == ErrUnknownKey {
			return "", nil, inputerr.New(opVerify, fld, ErrUnknownKey, fmt.Sprintf("key id %s is not registered", keyID))
		}
		// Keep the lookup's reason (not a revocation list key, not a
		// trusted token key, not in the evidence).
		return "", nil, inputerr.Wrap(opVerify, fld, ErrUnknownKey, fmt.Sprintf("key id %s is not registered", keyID), err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s: %s: look up key %s: %w", opVerify, fld, keyID, err)
	}
	factory, ok := verifierFactory(keyType)
	if !ok {
		return "", nil, inputerr.New(opVerify, fld, ErrInvalidKey,
			fmt.Sprintf("key %s is of type %q, which this program cannot verify (it knows %s)", keyID, keyType, strings.Join(KeyTypes(), ", ")))
	}
	v, err := verifiers.load(keyType, encoded, factory)
	if err != nil {
		return "", nil, inputerr.Wrap(opVerify, fld, ErrInvalidKey, fmt.Sprintf("registered key %s (%s) cannot be loaded", keyID, keyType), err)
	}
	if v == nil {
		return "", nil, inputerr.New(opVerify, fld, ErrInvalidKey, fmt.Sprintf("key type %s gave no verifier for key %s", keyType, keyID))
	}
	if id, err := v.KeyID(); err == nil && id != "" && id != keyID {
		return "", nil, inputerr.New(opVerify, fld, ErrInvalidKey,
			fmt.Sprintf("the registry row for key id %s holds the key %s", keyID, id))
	}
	return keyType, v, nil
}

// Sign builds a DSSE envelope over payload with one signature by each signer,
// using the dsse package's EnvelopeSigner. Every signer must have a key id.
func Sign(ctx context.Context, payloadType string, payload []byte, signers ...Signer) (*dsse.Envelope, error) {
	if payloadType == "" {
		return nil, inputerr.New(opSign, "payloadType", ErrMalformed, "required")
	}
	if len(signers) == 0 {
		return nil, inputerr.New(opSign, "", ErrInvalidKey, "no signers given")
	}
	ds := make([]dsse.Signer, len(signers))
	for i, s := range signers {
		if s == nil {
			return nil, inputerr.New(opSign, fmt.Sprintf("signers[%d]", i), ErrInvalidKey, "nil signer")
		}
		id, err := s.KeyID()
		if err != nil {
			return nil, inputerr.Wrap(opSign, fmt.Sprintf("signers[%d]", i), ErrInvalidKey, "no key id", err)
		}
		if err := checkKeyID(opSign, fmt.Sprintf("signers[%d]", i), ErrInvalidKey, id); err != nil {
			return nil, err
		}
		ds[i] = s
	}
	es, err := dsse.NewEnvelopeSigner(ds...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opSign, err)
	}
	env, err := es.SignPayload(ctx, payloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opSign, err)
	}
	return env, nil
}

// The verifier cache holds at most maxCachedVerifiers entries (it is
// emptied when full), each for a key of at most maxCachedKeyBytes encoded:
// its keys take at most 32 MiB, whatever the registry holds.
const (
	maxCachedVerifiers = 4096
	maxCachedKeyBytes  = 8 << 10
)

// verifierCache keeps loaded verifiers by key type and encoded key.
// Loading one parses the key and computes its TUF key id over canonical
// JSON, which costs a quarter of an ed25519 verification; an encoded key
// never changes meaning, so an entry never goes stale.
type verifierCache struct {
	mu sync.Mutex
	m  map[string]dsse.Verifier
}

var verifiers verifierCache

func (c *verifierCache) load(keyType string, encoded []byte, factory func([]byte) (dsse.Verifier, error)) (dsse.Verifier, error) {
	if len(encoded) > maxCachedKeyBytes {
		return factory(encoded)
	}
	k := keyType + "\x00" + string(encoded)
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := factory(encoded)
	if err != nil || v == nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedVerifiers {
		c.m = make(map[string]dsse.Verifier)
	}
	c.m[k] = v
	c.mu.Unlock()
	return v, nil
}

// PAEDigest is the SHA-256 of the DSSE pre-authentication encoding of
// payloadType and payload: what every signature of an envelope signs,
// whatever the envelope's encoding (its whitespace, its base64 alphabet,
// which signatures it carries). trustd logs each signer's payload once by
// it (store.Statement.SignedDigest).
func PAEDigest(payloadType string, payload []byte) digest.Digest {
	sum := sha256.Sum256(dsse.PAE(payloadType, payload))
	d, _ := digest.New(digest.SHA256, sum[:]) // a SHA-256 sum is always a valid digest
	return d
}
