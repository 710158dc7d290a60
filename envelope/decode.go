package envelope

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Limits bound the work done on untrusted envelopes and statements. A zero
// or negative field means its default.
type Limits struct {
	MaxEnvelopeBytes int // size of the envelope JSON (and of the payload); default 1 MiB
	MaxJSONDepth     int // nesting of arrays and objects; default 32
	MaxSignatures    int // signatures in one envelope; default 16
	// MaxSubjects bounds the subjects of one in-toto statement; default
	// 1,000. Every subject digest becomes an index row, so this, not the
	// byte size, bounds what one statement costs the store.
	MaxSubjects int
}

// Default limits.
const (
	DefaultMaxEnvelopeBytes = 1 << 20
	DefaultMaxJSONDepth     = 32
	DefaultMaxSignatures    = 16
	DefaultMaxSubjects      = 1000
)

// MaxKeyIDBytes is the longest signature key id Decode accepts.
const MaxKeyIDBytes = 256

// DefaultLimits returns the default limits: 1 MiB, depth 32, 16 signatures,
// 1,000 subjects.
func DefaultLimits() Limits {
	return Limits{
		MaxEnvelopeBytes: DefaultMaxEnvelopeBytes,
		MaxJSONDepth:     DefaultMaxJSONDepth,
		MaxSignatures:    DefaultMaxSignatures,
		MaxSubjects:      DefaultMaxSubjects,
	}
}

// withDefaults fills zero or negative fields with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEnvelopeBytes <= 0 {
		l.MaxEnvelopeBytes = d.MaxEnvelopeBytes
	}
	if l.MaxJSONDepth <= 0 {
		l.MaxJSONDepth = d.MaxJSONDepth
	}
	if l.MaxSignatures <= 0 {
		l.MaxSignatures = d.MaxSignatures
	}
	if l.MaxSubjects <= 0 {
		l.MaxSubjects = d.MaxSubjects
	}
	return l
}

// Decode parses a DSSE JSON envelope from untrusted input. It checks the size
// before parsing and the nesting depth (with a streaming token walk) before
// unmarshalling, and then is strict: payloadType, payload and signatures are
// required with their JSON types, payload and every sig must be valid base64
// (standard or URL-safe), there must be 1 to lim.MaxSignatures signatures,
// each with a non-empty keyid, and unknown fields, duplicate keys, invalid
// UTF-8 and trailing data are rejected. It does not verify signatures.
func Decode(data []byte, lim Limits) (*dsse.Envelope, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxEnvelopeBytes {
		return nil, inputerr.New(opDecode, "", ErrTooLarge,
			fmt.Sprintf("envelope is %d bytes, the limit is %d", len(data), lim.MaxEnvelopeBytes))
	}
	if issue := checkJSON(data, lim.MaxJSONDepth); issue != nil {
		kind := ErrMalformed
		if issue.deep {
			kind = ErrTooDeep
		}
		return nil, inputerr.New(opDecode, issue.field, kind, issue.reason)
	}
	members, _ := objectMembers(data)
	env := &dsse.Envelope{}
	var havePayload, haveSignatures bool
	var sigs []json.RawMessage
	for _, m := range members {
		switch m.key {
		case "payloadType":
			s, ok := jsonString(m.value)
			if !ok {
				return nil, inputerr.New(opDecode, m.key, ErrMalformed, "must be a string, not "+jsonKind(m.value))
			}
			env.PayloadType = s
		case "payload":
			s, ok := jsonString(m.value)
			if !ok {
				return nil, inputerr.New(opDecode, m.key, ErrMalformed, "must be a base64 string, not "+jsonKind(m.value))
			}
			if _, err := decodeBase64(s); err != nil {
				return nil, inputerr.New(opDecode, m.key, ErrMalformed, "not valid base64 (standard or URL-safe, padded)")
			}
			env.Payload, havePayload = s, true
		case "signatures":
			a, ok := jsonArray(m.value)
			if !ok {
				return nil, inputerr.New(opDecode, m.key, ErrMalformed, "must be an array, not "+jsonKind(m.value))
			}
			sigs, haveSignatures = a, true
		default:
			return nil, inputerr.New(opDecode, field("", m.key), ErrMalformed,
				"unknown field (a DSSE envelope has payloadType, payload and signatures)")
		}
	}
	switch {
	case env.PayloadType == "":
		return nil, inputerr.New(opDecode, "payloadType", ErrMalformed, "required")
	case !havePayload:
		return nil, inputerr.New(opDecode, "payload", ErrMalformed, "required")
	case !haveSignatures || len(sigs) == 0:
		return nil, inputerr.New(opDecode, "signatures", ErrMalformed, "at least one signature is required")
	case len(sigs) > lim.MaxSignatures:
		return nil, inputerr.New(opDecode, "signatures", ErrTooLarge,
			fmt.Sprintf("%d signatures, the limit is %d", len(sigs), lim.MaxSignatures))
	}
	env.Signatures = make([]dsse.Signature, len(sigs))
	for i, raw := range sigs {
		sig, err := decodeSignature(fmt.Sprintf("signatures[%d]", i), raw)
		if err != nil {
			return nil, err
		}
		env.Signatures[i] = sig
	}
	return env, nil
}

func decodeSignature(fld string, raw json.RawMessage) (dsse.Signature, error) {
	members, ok := objectMembers(raw)
	if !ok {
		return dsse.Signature{}, inputerr.New(opDecode, fld, ErrMalformed, "must be an object, not "+jsonKind(raw))
	}
	var sig dsse.Signature
	var haveSig bool
	for _, m := range members {
		s, isString := jsonString(m.value)
		switch m.key {
		case "keyid", "sig":
			if !isString {
				return dsse.Signature{}, inputerr.New(opDecode, field(fld, m.key), ErrMalformed, "must be a string, not "+jsonKind(m.value))
			}
		default:
			return dsse.Signature{}, inputerr.New(opDecode, field(fld, m.key), ErrMalformed,
				"unknown field (a DSSE signature has keyid and sig)")
		}
		if m.key == "keyid" {
			sig.KeyID = s
		} else {
			sig.Sig, haveSig = s, true
		}
	}
	if err := checkKeyID(opDecode, fld+".keyid", ErrMalformed, sig.KeyID); err != nil {
		return dsse.Signature{}, err
	}
	if !haveSig || sig.Sig == "" {
		return dsse.Signature{}, inputerr.New(opDecode, fld+".sig", ErrMalformed, "required")
	}
	if _, err := decodeBase64(sig.Sig); err != nil {
		return dsse.Signature{}, inputerr.New(opDecode, fld+".sig", ErrMalformed, "not valid base64 (standard or URL-safe, padded)")
	}
	return sig, nil
}

// checkKeyID rejects key ids trustd cannot look up: empty, overlong, or
// holding control characters.
func checkKeyID(op, fld string, kind error, id string) error {
	if id == "" {
		return inputerr.New(op, fld, kind, "required: trustd looks signers up by key id")
	}
	if len(id) > MaxKeyIDBytes {
		return inputerr.New(op, fld, kind, fmt.Sprintf("%d bytes, the limit is %d", len(id), MaxKeyIDBytes))
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return inputerr.New(op, fld, kind, fmt.Sprintf("contains the character %q", r))
		}
	}
	return nil
}

// decodeBase64 decodes standard or URL-safe padded base64, the two encodings
// DSSE allows, in the same order as the dsse package so that anything Decode
// accepts dsse decodes alike.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(s)
	}
	return b, err
}
