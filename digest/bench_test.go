package digest

import (
	"context"
	"io"
	"testing"
)

// repeatReader yields size bytes by repeating a small block, so benchmarks
// stream gigabytes without holding them in memory.
type repeatReader struct {
	block []byte
	off   int
	left  int64
}

func newRepeatReader(size int64) *repeatReader {
	return &repeatReader{block: randomBytes(64<<10, 42), left: size}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.block[r.off:])
		r.off = (r.off + c) % len(r.block)
		n += c
	}
	r.left -= int64(n)
	return n, nil
}

func BenchmarkSum(b *testing.B) {
	const size = 1 << 30
	type benchCase struct {
		name string
		algs []Algorithm
	}
	var cases []benchCase
	for _, a := range Algorithms() {
		cases = append(cases, benchCase{string(a), []Algorithm{a}})
	}
	cases = append(cases, benchCase{"sha256+sha512", []Algorithm{SHA256, SHA512}}, benchCase{"all", nil})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				res, err := Sum(context.Background(), newRepeatReader(size), c.algs)
				if err != nil || res.Size != size {
					b.Fatalf("Sum: %v, %d bytes", err, res.Size)
				}
			}
		})
	}
}
