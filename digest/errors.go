package digest

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns for bad input matches
// ErrInvalid and exactly one of the others with errors.Is.
var (
	// ErrInvalid marks any rejected digest, multihash, algorithm or format
	// name, so callers can map all bad input to one status.
	ErrInvalid = errors.New("invalid digest")
	// ErrEmpty reports an empty input.
	ErrEmpty = errors.New("empty")
	// ErrTooLong reports a string longer than MaxStringLength.
	ErrTooLong = errors.New("too long")
	// ErrUnknownAlgorithm reports an algorithm name or multihash code that is
	// not supported.
	ErrUnknownAlgorithm = errors.New("unknown algorithm")
	// ErrWrongLength reports a digest value whose length does not match its
	// algorithm, including truncated multihashes.
	ErrWrongLength = errors.New("wrong length")
	// ErrBadEncoding reports malformed syntax: non-hex or uppercase hex,
	// whitespace, a missing separator, undecodable multibase or varints.
	ErrBadEncoding = errors.New("bad encoding")
	// ErrUnknownFormat reports a format name that [ParseFormat] does not know.
	ErrUnknownFormat = errors.New("unknown format")
)

// ErrDuplicateAlgorithm is returned by [Sum] when an algorithm is requested
// more than once, which is almost certainly a caller bug.
var ErrDuplicateAlgorithm = errors.New("digest: algorithm requested twice")

// maxQuoted is how much of a bad input an error message repeats.
const maxQuoted = 80

// ParseError describes rejected input: what it was and why. Err wraps the
// specific sentinel and carries the reason; errors.Is also matches ErrInvalid.
type ParseError struct {
	Input string // the rejected input as given (hex-encoded for binary multihashes)
	Err   error  // the reason, wrapping one of the sentinel errors

	noun string // what Input is, for the message; "digest" when empty
}

// Error returns a message such as
// `digest "sha256:abc": wrong length: sha256 needs 64 hex characters, got 3`.
func (e *ParseError) Error() string {
	noun := e.noun
	if noun == "" {
		noun = "digest"
	}
	reason := "invalid"
	if e.Err != nil {
		reason = e.Err.Error()
	}
	return noun + " " + strconv.Quote(truncate(e.Input)) + ": " + reason
}

// Unwrap returns ErrInvalid and the specific error, so that errors.Is matches
// both.
func (e *ParseError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// truncate shortens s to about maxQuoted bytes, on a rune boundary, marking
// the cut with "...".
func truncate(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
