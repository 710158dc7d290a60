package digest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
)

// MaxStringLength is the longest digest string Parse accepts, so that hostile
// input is rejected before any decoding work. The longest OCI digest
// (blake2b-512) is 140 characters; only base2 multihashes of 512-bit digests
// exceed the limit.
const MaxStringLength = 512

// maxMultihashLength bounds the binary input FromMultihash looks at; the
// longest supported multihash is 68 bytes.
const maxMultihashLength = MaxStringLength / 2

// Digest is a content digest: an algorithm and its hash value. The zero value
// means "no digest" (see IsZero). Digests are comparable with == and usable as
// map keys; equal digests always have equal algorithm and value.
type Digest struct {
	alg Algorithm
	hex string // lowercase, exactly 2*alg.Size() characters
}

// New returns the digest of algorithm alg with hash value sum, checking that
// the algorithm is supported and the length matches it.
func New(alg Algorithm, sum []byte) (Digest, error) {
	input := string(alg) + ":" + hex.EncodeToString(sum)
	if !alg.Valid() {
		return Digest{}, &ParseError{Input: input, Err: unknownAlgorithm(string(alg))}
	}
	if len(sum) != alg.Size() {
		return Digest{}, &ParseError{Input: input, Err: fmt.Errorf("%w: %s needs %d bytes, got %d", ErrWrongLength, alg, alg.Size(), len(sum))}
	}
	return Digest{alg: alg, hex: input[len(alg)+1:]}, nil
}

// Parse parses a digest in OCI form ("sha256:" followed by exactly 64
// lowercase hex characters) or a multibase-encoded multihash ("z…", "b…",
// "f…", or any other base go-multibase decodes) of a supported algorithm
// with a full-length value. Anything else is rejected with a *ParseError.
func Parse(s string) (Digest, error) {
	d, err := parse(s)
	if err != nil {
		return Digest{}, &ParseError{Input: s, Err: err}
	}
	return d, nil
}

func parse(s string) (Digest, error) {
	if s == "" {
		return Digest{}, fmt.Errorf("%w: no digest given", ErrEmpty)
	}
	if len(s) > MaxStringLength {
		return Digest{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLong, len(s), MaxStringLength)
	}
	if s[0] == multibase.Identity {
		// Identity multibase carries raw bytes, which may be anything.
		return parseMultibase(s)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			return Digest{}, fmt.Errorf("%w: invalid UTF-8 at offset %d", ErrBadEncoding, i)
		case unicode.IsSpace(r):
			return Digest{}, fmt.Errorf("%w: whitespace at offset %d", ErrBadEncoding, i)
		case unicode.IsControl(r):
			return Digest{}, fmt.Errorf("%w: control character at offset %d", ErrBadEncoding, i)
		}
	}
	if strings.IndexByte(s, ':') >= 0 {
		return parseOCI(s)
	}
	return parseMultibase(s)
}

// parseOCI parses "algorithm:hex" with lowercase hex of the exact length.
func parseOCI(s string) (Digest, error) {
	name, enc, _ := strings.Cut(s, ":")
	if name == "" {
		return Digest{}, fmt.Errorf("%w: missing algorithm before \":\"", ErrBadEncoding)
	}
	alg := Algorithm(name)
	if !alg.Valid() {
		return Digest{}, unknownAlgorithm(name)
	}
	upper := -1
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			if upper < 0 {
				upper = i
			}
		default:
			r, _ := utf8.DecodeRuneInString(enc[i:])
			return Digest{}, fmt.Errorf("%w: non-hex character %q at offset %d", ErrBadEncoding, r, len(name)+1+i)
		}
	}
	if upper >= 0 {
		return Digest{}, fmt.Errorf("%w: hex must be lowercase (%q at offset %d)", ErrBadEncoding, enc[upper], len(name)+1+upper)
	}
	if want := 2 * alg.Size(); len(enc) != want {
		return Digest{}, fmt.Errorf("%w: %s needs %d hex characters, got %d", ErrWrongLength, alg, want, len(enc))
	}
	return Digest{alg: alg, hex: enc}, nil
}

func parseMultibase(s string) (Digest, error) {
	enc, b, err := multibase.Decode(s)
	if err != nil {
		if errors.Is(err, multibase.ErrUnsupportedEncoding) {
			r, _ := utf8.DecodeRuneInString(s)
			return Digest{}, fmt.Errorf("%w: neither \"algorithm:hex\" nor multibase (unknown multibase prefix %q)", ErrBadEncoding, r)
		}
		return Digest{}, fmt.Errorf("%w: invalid multibase %s: %w", ErrBadEncoding, encodingName(enc), err)
	}
	return decodeMultihash(b)
}

func encodingName(enc multibase.Encoding) string {
	if name, ok := multibase.EncodingToStr[enc]; ok {
		return name
	}
	return "string"
}

// MustParse is like Parse but panics on error. It is meant for tests and
// constants, where a bad digest is a programming error.
func MustParse(s string) Digest {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// FromMultihash decodes a binary multihash (varint code, varint length,
// digest) of a supported algorithm with a full-length digest.
func FromMultihash(b []byte) (Digest, error) {
	if len(b) > maxMultihashLength {
		return Digest{}, &ParseError{
			Input: hex.EncodeToString(b[:maxQuoted/2]) + "...",
			Err:   fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLong, len(b), maxMultihashLength),
			noun:  "multihash",
		}
	}
	d, err := decodeMultihash(b)
	if err != nil {
		return Digest{}, &ParseError{Input: hex.EncodeToString(b), Err: err, noun: "multihash"}
	}
	return d, nil
}

func decodeMultihash(b []byte) (Digest, error) {
	dm, err := multihash.Decode(b)
	if err != nil {
		return Digest{}, multihashError(b, err)
	}
	alg, ok := algByCode[dm.Code]
	if !ok {
		name := multihash.Codes[dm.Code]
		if name == "" {
			name = "not in the multicodec table"
		}
		return Digest{}, fmt.Errorf("%w: unsupported multihash code 0x%x (%s)", ErrUnknownAlgorithm, dm.Code, name)
	}
	if dm.Length != alg.Size() {
		return Digest{}, fmt.Errorf("%w: %s needs a %d-byte digest, multihash has %d (truncated digests are not accepted)", ErrWrongLength, alg, alg.Size(), dm.Length)
	}
	return Digest{alg: alg, hex: hex.EncodeToString(dm.Digest)}, nil
}

// multihashError explains why multihash.Decode rejected b. The library's
// errors are not all distinguishable, so the header is re-read here.
func multihashError(b []byte, err error) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: multihash is %d bytes, too short for a header", ErrWrongLength, len(b))
	}
	_, n, verr := varint.FromUvarint(b)
	if verr != nil {
		return fmt.Errorf("%w: malformed multihash code varint: %w", ErrBadEncoding, verr)
	}
	length, m, verr := varint.FromUvarint(b[n:])
	if verr != nil {
		return fmt.Errorf("%w: malformed multihash length varint: %w", ErrBadEncoding, verr)
	}
	if rest := len(b) - n - m; uint64(rest) != length {
		return fmt.Errorf("%w: multihash length says %d bytes but %d follow", ErrWrongLength, length, rest)
	}
	return fmt.Errorf("%w: %w", ErrBadEncoding, err)
}

// Algorithm returns the digest's algorithm ("" for the zero Digest).
func (d Digest) Algorithm() Algorithm { return d.alg }

// Hex returns the hash value as lowercase hex.
func (d Digest) Hex() string { return d.hex }

// Bytes returns the raw hash value in a new slice.
func (d Digest) Bytes() []byte {
	b, err := hex.DecodeString(d.hex)
	if err != nil {
		panic("digest: corrupt Digest value: " + err.Error())
	}
	return b
}

// String returns the OCI form "algorithm:hex", or "" for the zero Digest.
func (d Digest) String() string {
	if d.IsZero() {
		return ""
	}
	return string(d.alg) + ":" + d.hex
}

// IsZero reports whether d is the zero Digest, which stands for "no digest".
func (d Digest) IsZero() bool { return d == Digest{} }

// Multihash returns d as a binary multihash, or nil for the zero Digest.
func (d Digest) Multihash() []byte {
	if d.IsZero() {
		return nil
	}
	mh, err := multihash.Encode(d.Bytes(), d.alg.MultihashCode())
	if err != nil {
		panic("digest: multihash encoding failed: " + err.Error())
	}
	return mh
}

// MarshalText returns the OCI form, so that digests encode as JSON strings
// and work as JSON object keys; the zero Digest encodes as "".
func (d Digest) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses any form Parse accepts. An empty text gives the zero
// Digest, mirroring MarshalText, so optional fields round-trip.
func (d *Digest) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*d = Digest{}
		return nil
	}
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
