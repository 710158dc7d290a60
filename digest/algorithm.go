package digest

import (
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/blake2b"
)

// Algorithm names a supported hash function by its OCI algorithm identifier.
// Only the constants below are valid; use [ParseAlgorithm] to check a string.
type Algorithm string

// The supported algorithms, named as in OCI digests.
const (
	SHA256      Algorithm = "sha256"
	SHA384      Algorithm = "sha384"
	SHA512      Algorithm = "sha512"
	SHA3_256    Algorithm = "sha3-256"
	SHA3_512    Algorithm = "sha3-512"
	BLAKE2b_256 Algorithm = "blake2b-256"
	BLAKE2b_512 Algorithm = "blake2b-512"
	BLAKE3      Algorithm = "blake3" // 256-bit output
)

type algInfo struct {
	size    int
	code    uint64
	newHash func() hash.Hash
}

var algorithms = []Algorithm{SHA256, SHA384, SHA512, SHA3_256, SHA3_512, BLAKE2b_256, BLAKE2b_512, BLAKE3}

// algInfos holds each algorithm's digest size, multicodec code (from the
// multiformats table; go-multihash v0.2.3 lacks sha2-384) and constructor.
var algInfos = map[Algorithm]algInfo{
	SHA256:      {32, 0x12, sha256.New},
	SHA384:      {48, 0x20, sha512.New384},
	SHA512:      {64, 0x13, sha512.New},
	SHA3_256:    {32, 0x16, func() hash.Hash { return sha3.New256() }},
	SHA3_512:    {64, 0x14, func() hash.Hash { return sha3.New512() }},
	BLAKE2b_256: {32, 0xb220, func() hash.Hash { return mustBLAKE2b(blake2b.New256(nil)) }},
	BLAKE2b_512: {64, 0xb240, func() hash.Hash { return mustBLAKE2b(blake2b.New512(nil)) }},
	BLAKE3:      {32, 0x1e, func() hash.Hash { return blake3.New() }},
}

var algByCode = func() map[uint64]Algorithm {
	m := make(map[uint64]Algorithm, len(algInfos))
	for a, info := range algInfos {
		m[info.code] = a
	}
	return m
}()

// mustBLAKE2b unwraps a blake2b constructor result; it only fails for keys
// longer than 64 bytes, and no key is used here.
func mustBLAKE2b(h hash.Hash, err error) hash.Hash {
	if err != nil {
		panic(err)
	}
	return h
}

// Algorithms returns every supported algorithm, in a stable order (that of
// the constants), as a new slice the caller may modify.
func Algorithms() []Algorithm {
	return append([]Algorithm(nil), algorithms...)
}

// ParseAlgorithm returns the algorithm named s. Only the exact lowercase
// names of the constants are accepted, so that a digest has one spelling.
func ParseAlgorithm(s string) (Algorithm, error) {
	a := Algorithm(s)
	if a.Valid() {
		return a, nil
	}
	return "", &ParseError{Input: s, Err: unknownAlgorithm(s), noun: "algorithm"}
}

func unknownAlgorithm(s string) error {
	if lower := strings.ToLower(s); lower != s && Algorithm(lower).Valid() {
		return fmt.Errorf("%w: %q (algorithm names are lowercase: %q)", ErrUnknownAlgorithm, s, lower)
	}
	return fmt.Errorf("%w: %q (supported: %s)", ErrUnknownAlgorithm, truncate(s), algorithmList())
}

func algorithmList() string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether a is one of the supported algorithms.
func (a Algorithm) Valid() bool {
	_, ok := algInfos[a]
	return ok
}

// String returns the algorithm's name.
func (a Algorithm) String() string { return string(a) }

// Size returns the length in bytes of a's digests, or 0 if a is not supported.
func (a Algorithm) Size() int {
	return algInfos[a].size
}

// New returns a new hash computing a's digests. It panics if a is not
// supported; check untrusted names with [ParseAlgorithm] first.
func (a Algorithm) New() hash.Hash {
	info, ok := algInfos[a]
	if !ok {
		panic(fmt.Sprintf("digest: unsupported algorithm %q", string(a)))
	}
	return info.newHash()
}

// MultihashCode returns a's code in the multicodec table, used as the prefix
// of its multihashes, or 0 if a is not supported.
func (a Algorithm) MultihashCode() uint64 {
	return algInfos[a].code
}
