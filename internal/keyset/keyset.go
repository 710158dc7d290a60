// Package keyset names a list of keys by a short value, so a memo can
// keep the answer about a list (the revocations or identities of a
// reputation's voters) under it. It is not a commitment: the value is
// seeded per process, so nobody outside can aim two lists at one value.
package keyset

import (
	"encoding/binary"
	"hash/maphash"
)

var seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// Of returns the name of keys, in their order: two 64-bit hashes of the
// keys under independent seeds, and their number.
func Of(keys []string) [24]byte {
	var out [24]byte
	for i, seed := range seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		for _, k := range keys {
			h.WriteString(k)
			h.WriteByte(0)
		}
		binary.LittleEndian.PutUint64(out[8*i:], h.Sum64())
	}
	binary.LittleEndian.PutUint64(out[16:], uint64(len(keys)))
	return out
}
