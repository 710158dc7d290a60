package attest

import (
	"encoding/json"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// SignedDigest is the store.Statement.SignedDigest this package gives a
// record it appends in a format of its own, computed from the record as
// logged (payload type, predicate type, envelope and payload); ok is false
// for records of other formats, and for one it cannot read. The append
// paths compute the same, and statement.IndexLoggedSignatures uses it for
// the entries logged before signed digests were recorded.
func SignedDigest(e store.Statement) (d digest.Digest, ok bool) {
	switch KindOf(e.PayloadType) {
	case KindLayout, KindLink:
		return metablockDigest(e.PayloadType, e.Payload), true
	case KindNotation:
		return envelope.PAEDigest(e.PayloadType, e.Payload), true
	case KindCosign:
		r, err := cosign.ParseRecord(e.Envelope)
		if err != nil {
			return digest.Digest{}, false
		}
		return loggedCosignDigest(r)
	case KindSigstoreBundle:
		if e.PredicateType != MessageSignaturePredicateType {
			return digest.Digest{}, false
		}
		var b bundle.Bundle
		if err := b.UnmarshalJSON(e.Envelope); err != nil {
			return digest.Digest{}, false
		}
		ms := b.GetMessageSignature()
		alg, ok := hashNames[ms.GetMessageDigest().GetAlgorithm()]
		if !ok {
			return digest.Digest{}, false
		}
		signed, err := digest.New(alg, ms.GetMessageDigest().GetDigest())
		if err != nil {
			return digest.Digest{}, false
		}
		return messageDigest(signed), true
	}
	return digest.Digest{}, false
}

// metablockDigest identifies an in-toto layout's or link's signed object
// by its canonical JSON, which a v0.9 metablock's signatures sign (so
// whitespace around it changes nothing), or as given when it has none.
func metablockDigest(payloadType string, signed json.RawMessage) digest.Digest {
	if c, err := cjson.EncodeCanonical(signed); err == nil {
		signed = c
	}
	return envelope.PAEDigest(payloadType, signed)
}

// messageDigest identifies a signature over an artifact's digest (a
// message-signature bundle, a cosign blob signature): a signer signs an
// artifact once.
func messageDigest(signed digest.Digest) digest.Digest {
	return envelope.PAEDigest(MessageSignaturePredicateType, []byte(signed.String()))
}

// cosignDigest identifies what a cosign record's key signed: its
// simple-signing payload, or signed, the digest of the blob it signs. A
// DSSE record is logged as its envelope (Submit), never as a record.
func cosignDigest(r cosign.Record, signed digest.Digest) digest.Digest {
	if r.Kind == cosign.KindSimpleSigning {
		return envelope.PAEDigest(recordtype.CosignPayloadType, r.Data)
	}
	return messageDigest(signed)
}

// loggedCosignDigest is cosignDigest of a logged record, reading the blob
// digest from the record as putCosign did.
func loggedCosignDigest(r cosign.Record) (digest.Digest, bool) {
	var signed digest.Digest
	switch r.Kind {
	case cosign.KindSimpleSigning:
	case cosign.KindBlobBundle:
		d, err := digest.Parse(r.Digest)
		if err != nil {
			return digest.Digest{}, false
		}
		signed = d
	case cosign.KindSigstoreBundle:
		env, d, _, err := keyBundle(r.Data)
		if err != nil || env != nil {
			return digest.Digest{}, false
		}
		signed = d
	default:
		return digest.Digest{}, false
	}
	return cosignDigest(r, signed), true
}
