package digest

import (
	"fmt"
	"strings"

	"github.com/multiformats/go-multibase"
)

// Format selects how a Digest is written as a string.
type Format string

// The supported output formats. All of them are accepted back by Parse.
const (
	FormatOCI             Format = "oci"              // "sha256:e3b0…", the OCI / go-digest form
	FormatMultihash       Format = "multihash"        // base58btc multibase multihash, "z…"
	FormatMultihashBase32 Format = "multihash-base32" // lowercase unpadded base32 multibase multihash, "b…"
	FormatMultihashHex    Format = "multihash-hex"    // lowercase hex multibase multihash, "f…"
)

var formats = []Format{FormatOCI, FormatMultihash, FormatMultihashBase32, FormatMultihashHex}

// Formats returns every supported format, in a stable order, as a new slice.
func Formats() []Format {
	return append([]Format(nil), formats...)
}

// ParseFormat returns the format named s, for command-line flags and
// configuration; only the exact names of the constants are accepted.
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return "", &ParseError{
		Input: s,
		Err:   fmt.Errorf("%w (supported: %s)", ErrUnknownFormat, strings.Join(names, ", ")),
		noun:  "format",
	}
}

// String returns the format's name.
func (f Format) String() string { return string(f) }

// Format returns d written in format f. The zero Format and any unknown one
// give the OCI form, so a missing setting never loses the digest; the zero
// Digest gives "".
func (d Digest) Format(f Format) string {
	if d.IsZero() {
		return ""
	}
	var enc multibase.Encoding
	switch f {
	case FormatMultihash:
		enc = multibase.Base58BTC
	case FormatMultihashBase32:
		enc = multibase.Base32
	case FormatMultihashHex:
		enc = multibase.Base16
	default:
		return d.String()
	}
	s, err := multibase.Encode(enc, d.Multihash())
	if err != nil {
		panic("digest: multibase encoding failed: " + err.Error())
	}
	return s
}
