package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

const opCosign = "attest: cosign"

// putCosign verifies a cosign Record against the registered key it names
// and appends it. A message signature (a blob bundle, a simple-signing
// payload, a message-signature Sigstore bundle) is stored as the record,
// re-encoded so one signature is one entry, under
// recordtype.CosignSignature with the digest it signs as its subject and
// the key as its signer. A DSSE attestation (a .att layer, a DSSE
// Sigstore bundle) is the caller's in-toto statement: its envelope, with
// the key id cosign leaves empty filled in (DSSE does not sign key ids),
// goes through the log's Submit path, which verifies it again.
func (s *Service) putCosign(ctx context.Context, req PutRequest) (store.Statement, bool, error) {
	r, err := cosign.ParseRecord(req.Data)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: %w", err)
	}
	pub, err := s.cosignKey(ctx, r.KeyID)
	if err != nil {
		return store.Statement{}, false, err
	}
	var signed digest.Digest
	switch r.Kind {
	case cosign.KindBlobBundle:
		b, err := cosign.ParseLegacyBundle(r.Data)
		if err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: data: %w", err)
		}
		if b.PublicKey != nil && !cosign.SameKey(pub, b.PublicKey) {
			return store.Statement{}, false, inputerr.New(opCosign, "data.cert", cosign.ErrKeyMismatch,
				fmt.Sprintf("the bundle carries another public key than key %s", r.KeyID))
		}
		if signed, err = digest.Parse(r.Digest); err != nil {
			return store.Statement{}, false, inputerr.Wrap(opCosign, "digest", cosign.ErrMalformed, "not a digest", err)
		}
		if err := cosign.VerifyDigest(pub, signed, b.Signature); err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: data.base64Signature: %w", err)
		}
	case cosign.KindSimpleSigning:
		p, err := cosign.ParseSimpleSigning(r.Data)
		if err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: data: %w", err)
		}
		sig, err := cosign.DecodeSignature("signature", r.Signature)
		if err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: %w", err)
		}
		if err := cosign.VerifyMessage(pub, r.Data, sig); err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: signature: %w", err)
		}
		signed = p.ManifestDigest
	case cosign.KindSigstoreBundle:
		env, d, sig, err := keyBundle(r.Data)
		if err != nil {
			return store.Statement{}, false, err
		}
		if env != nil {
			return s.putCosignDSSE(ctx, req, env, r.KeyID)
		}
		if err := cosign.VerifyDigest(pub, d, sig); err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: data.messageSignature.signature: %w", err)
		}
		signed = d
	case cosign.KindDSSE:
		env, err := cosignDSSE(r.Data, s.envelopeLimits())
		if err != nil {
			return store.Statement{}, false, err
		}
		return s.putCosignDSSE(ctx, req, env, r.KeyID)
	}
	if !req.Digest.IsZero() && req.Digest != signed {
		return store.Statement{}, false, inputerr.New(opCosign, "data", ErrDigestMismatch, fmt.Sprintf("the signature is over %s, not %s", signed, req.Digest))
	}
	canon, err := r.Encode()
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: cosign: encode: %w", err)
	}
	out, created, err := s.log.AppendVerified(ctx, store.Statement{
		PayloadType:   recordtype.CosignPayloadType,
		PredicateType: recordtype.CosignSignature,
		Envelope:      canon,
		// The key signs a message once: a record of it in other bytes (a
		// bundle re-indented, a signature made anew) is the first entry.
		SignedDigest: cosignDigest(r, signed),
		SignerKeyIDs: []string{r.KeyID},
		Subjects:     []store.StatementSubject{{Digests: []digest.Digest{signed}}},
	})
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: cosign: %w", err)
	}
	return out, created, nil
}

// cosignKey returns the registered key id names, which must be one that
// verifies cosign signatures (not an OpenPGP certificate).
func (s *Service) cosignKey(ctx context.Context, id string) (envelope.PublicKey, error) {
	k, err := s.store.Key(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return envelope.PublicKey{}, inputerr.New(opCosign, "keyid", envelope.ErrUnknownKey, fmt.Sprintf("key id %s is not registered", id))
	}
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("attest: cosign: key %s: %w", id, err)
	}
	if k.Type == pgp.KeyType {
		return envelope.PublicKey{}, inputerr.New(opCosign, "keyid", cosign.ErrUnsupportedKey, fmt.Sprintf("key %s is an OpenPGP certificate; cosign signs with PEM keys", id))
	}
	pub, err := envelope.DecodeStoredKey(k.Type, k.PublicKey)
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("attest: cosign: stored key %s: %w", id, err)
	}
	return pub, nil
}

// keyBundle reads a Sigstore bundle signed with a public key: its DSSE
// envelope (as JSON, key ids empty), or the digest and signature of its
// message signature. A bundle with a certificate is keyless and goes to
// Put as it is.
func keyBundle(data []byte) (env *dsse.Envelope, d digest.Digest, sig []byte, err error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, digest.Digest{}, nil, inputerr.Wrap(opCosign, "data", ErrInvalidBundle, "not a Sigstore bundle sigstore-go accepts", err)
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, digest.Digest{}, nil, inputerr.Wrap(opCosign, "data.verificationMaterial", ErrInvalidBundle, "unreadable", err)
	}
	if vc.Certificate() != nil {
		return nil, digest.Digest{}, nil, inputerr.New(opCosign, "data.verificationMaterial", cosign.ErrKeyMismatch,
			"a certificate: this is a keyless bundle; submit it as it is (trustctl attest put)")
	}
	if de := b.GetDsseEnvelope(); de != nil {
		if len(de.GetSignatures()) != 1 {
			return nil, digest.Digest{}, nil, inputerr.New(opCosign, "data.dsseEnvelope.signatures", ErrInvalidBundle,
				fmt.Sprintf("%d signatures; a bundle has exactly one", len(de.GetSignatures())))
		}
		return &dsse.Envelope{
			PayloadType: de.GetPayloadType(),
			Payload:     base64.StdEncoding.EncodeToString(de.GetPayload()),
			Signatures:  []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(de.GetSignatures()[0].GetSig())}},
		}, digest.Digest{}, nil, nil
	}
	ms := b.GetMessageSignature()
	alg, ok := hashNames[ms.GetMessageDigest().GetAlgorithm()]
	if !ok {
		return nil, digest.Digest{}, nil, inputerr.New(opCosign, "data.messageSignature.messageDigest.algorithm", ErrInvalidBundle,
			fmt.Sprintf("%s is not an algorithm trustd indexes", ms.GetMessageDigest().GetAlgorithm()))
	}
	d, err = digest.New(alg, ms.GetMessageDigest().GetDigest())
	if err != nil {
		return nil, digest.Digest{}, nil, inputerr.Wrap(opCosign, "data.messageSignature.messageDigest.digest", ErrInvalidBundle, "malformed", err)
	}
	if len(ms.GetSignature()) == 0 || len(ms.GetSignature()) > cosign.MaxSignatureBytes {
		return nil, digest.Digest{}, nil, inputerr.New(opCosign, "data.messageSignature.signature", ErrInvalidBundle,
			fmt.Sprintf("%d bytes; a signature is 1 to %d", len(ms.GetSignature()), cosign.MaxSignatureBytes))
	}
	return nil, d, ms.GetSignature(), nil
}

// cosignDSSE reads the DSSE envelope of a .att layer: one signature, its
// key id empty (cosign's) or set.
func cosignDSSE(data []byte, lim envelope.Limits) (*dsse.Envelope, error) {
	if len(data) > lim.MaxEnvelopeBytes && lim.MaxEnvelopeBytes > 0 {
		return nil, inputerr.New(opCosign, "data", ErrTooLarge, fmt.Sprintf("%d bytes, the limit is %d", len(data), lim.MaxEnvelopeBytes))
	}
	var env dsse.Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, inputerr.Wrap(opCosign, "data", ErrMalformed, "not a DSSE envelope (payloadType, payload, signatures)", err)
	}
	if len(env.Signatures) != 1 {
		return nil, inputerr.New(opCosign, "data.signatures", ErrMalformed, fmt.Sprintf("%d signatures; cosign writes exactly one", len(env.Signatures)))
	}
	return &env, nil
}

// putCosignDSSE submits env with its one signature's key id set to keyID.
func (s *Service) putCosignDSSE(ctx context.Context, req PutRequest, env *dsse.Envelope, keyID string) (store.Statement, bool, error) {
	if id := env.Signatures[0].KeyID; id != "" && id != keyID {
		return store.Statement{}, false, inputerr.New(opCosign, "data.signatures[0].keyid", cosign.ErrKeyMismatch,
			fmt.Sprintf("the envelope names key %q, the record %s", id, keyID))
	}
	env.Signatures[0].KeyID = keyID
	raw, err := json.Marshal(env)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: cosign: encode envelope: %w", err)
	}
	return s.putDSSE(ctx, PutRequest{Data: raw, Digest: req.Digest})
}
