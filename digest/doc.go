// Package digest parses, validates and formats content digests, and computes
// several of them at once in a single streaming pass over the input.
//
// A [Digest] is an algorithm plus the hash value. It is written in the OCI
// form "algorithm:hex" (compatible with github.com/opencontainers/go-digest)
// or as a multibase-encoded multihash (multiformats); [Parse] accepts both and
// [Digest.Format] produces either. Digests are comparable values and can be
// used directly as map keys; two digests of the same algorithm and value are
// equal no matter which form they were parsed from.
//
// Every error caused by bad input is a [*ParseError] that matches both
// [ErrInvalid] and one specific sentinel ([ErrEmpty], [ErrTooLong],
// [ErrUnknownAlgorithm], [ErrWrongLength] or [ErrBadEncoding]) with
// errors.Is, and whose message names the input and the reason.
//
// [Sum] reads a stream once and feeds every requested algorithm from the same
// fixed set of buffers, one goroutine per algorithm, so memory use does not
// grow with the input and the wall time is that of the slowest algorithm.
package digest
