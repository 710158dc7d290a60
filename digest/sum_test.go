package digest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/blake2b"
)

// oneShot computes the digest of data with the plain library functions, as
// the reference for Sum.
func oneShot(a Algorithm, data []byte) []byte {
	switch a {
	case SHA256:
		s := sha256.Sum256(data)
		return s[:]
	case SHA384:
		s := sha512.Sum384(data)
		return s[:]
	case SHA512:
		s := sha512.Sum512(data)
		return s[:]
	case SHA3_256:
		s := sha3.Sum256(data)
		return s[:]
	case SHA3_512:
		s := sha3.Sum512(data)
		return s[:]
	case BLAKE2b_256:
		s := blake2b.Sum256(data)
		return s[:]
	case BLAKE2b_512:
		s := blake2b.Sum512(data)
		return s[:]
	case BLAKE3:
		s := blake3.Sum256(data)
		return s[:]
	}
	panic("no reference for " + a)
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// algorithmSets returns every single algorithm, every pair, and all of them.
func algorithmSets() [][]Algorithm {
	all := Algorithms()
	var sets [][]Algorithm
	for _, a := range all {
		sets = append(sets, []Algorithm{a})
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			sets = append(sets, []Algorithm{a, b})
		}
	}
	// Reversed, so that Result order is checked against the given order.
	rev := make([]Algorithm, len(all))
	for i, a := range all {
		rev[len(all)-1-i] = a
	}
	return append(sets, rev)
}

func setName(algs []Algorithm) string {
	if len(algs) == 0 {
		return "all"
	}
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, "+")
}

func TestSumMatchesOneShot(t *testing.T) {
	checkNoGoroutineLeak(t)
	const small = 4096
	runs := []struct {
		name    string
		bufSize int // 0: default
		sizes   []int
		reader  func([]byte) io.Reader
	}{
		{"default-buffer", 0, []int{0, 1, DefaultBufferSize - 1, DefaultBufferSize, DefaultBufferSize + 1, 5<<20 + 123},
			func(b []byte) io.Reader { return bytes.NewReader(b) }},
		// Short reads and more chunks than buffers in the pool.
		{"small-buffer-half-reads", small, []int{0, 1, small - 1, small, small + 1, 3*sumBuffers*small + 7},
			func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"one-byte-reads", 100, []int{0, 1, 99, 100, 101, 1000},
			func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	}
	sets := algorithmSets()
	for _, run := range runs {
		for _, size := range run.sizes {
			data := randomBytes(size, uint64(size))
			want := map[Algorithm][]byte{}
			for _, a := range Algorithms() {
				want[a] = oneShot(a, data)
			}
			var opts []SumOption
			if run.bufSize > 0 {
				opts = append(opts, WithBufferSize(run.bufSize))
			}
			for _, algs := range sets {
				t.Run(fmt.Sprintf("%s/%d/%s", run.name, size, setName(algs)), func(t *testing.T) {
					res, err := Sum(context.Background(), run.reader(data), algs, opts...)
					if err != nil {
						t.Fatal(err)
					}
					if res.Size != int64(size) {
						t.Errorf("Size = %d, want %d", res.Size, size)
					}
					if len(res.Digests) != len(algs) {
						t.Fatalf("got %d digests for %d algorithms", len(res.Digests), len(algs))
					}
					for i, a := range algs {
						d := res.Digests[i]
						if d.Algorithm() != a || !bytes.Equal(d.Bytes(), want[a]) {
							t.Errorf("digest %d = %v, want %s:%x", i, d, a, want[a])
						}
						if g, ok := res.Get(a); !ok || g != d {
							t.Errorf("Get(%s) = %v, %v", a, g, ok)
						}
					}
				})
			}
		}
	}
}

func TestSumAllAlgorithmsByDefault(t *testing.T) {
	res, err := Sum(context.Background(), strings.NewReader("abc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range Algorithms() {
		if res.Digests[i].Algorithm() != a {
			t.Errorf("digest %d is %s, want %s", i, res.Digests[i].Algorithm(), a)
		}
	}
	if _, ok := res.Get("md5"); ok {
		t.Error("Get found an algorithm that was not computed")
	}
}

func TestSumRejectsAlgorithms(t *testing.T) {
	read := false
	r := readerFunc(func(p []byte) (int, error) { read = true; return 0, io.EOF })
	_, err := Sum(context.Background(), r, []Algorithm{SHA256, SHA512, SHA256})
	if !errors.Is(err, ErrDuplicateAlgorithm) || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("duplicate: error %v", err)
	}
	_, err = Sum(context.Background(), r, []Algorithm{SHA256, "md5"})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrUnknownAlgorithm) || !strings.Contains(err.Error(), "md5") {
		t.Errorf("unknown: error %v", err)
	}
	if read {
		t.Error("Sum read its input before rejecting the algorithms")
	}
}

func TestSumProgress(t *testing.T) {
	const bufSize = 1000
	for _, algs := range [][]Algorithm{{SHA256}, {SHA256, BLAKE3}} {
		var calls []int64
		data := randomBytes(10*bufSize+1, 1)
		res, err := Sum(context.Background(), bytes.NewReader(data), algs,
			WithBufferSize(bufSize), WithProgress(func(n int64) { calls = append(calls, n) }))
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 11 || calls[len(calls)-1] != res.Size {
			t.Errorf("%s: progress calls %v for %d bytes", setName(algs), calls, res.Size)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i] <= calls[i-1] {
				t.Errorf("%s: progress went backwards: %v", setName(algs), calls)
			}
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// endless yields random-looking bytes forever.
func endless() io.Reader {
	block := randomBytes(4096, 9)
	return readerFunc(func(p []byte) (int, error) {
		n := 0
		for n < len(p) {
			n += copy(p[n:], block)
		}
		return n, nil
	})
}

func TestSumReaderError(t *testing.T) {
	checkNoGoroutineLeak(t)
	boom := errors.New("boom")
	const bufSize = 1024
	for _, algs := range [][]Algorithm{{SHA512}, {SHA256, SHA512}, nil} {
		for _, after := range []int{0, 10, bufSize, 20*bufSize + 5} {
			readers := map[string]io.Reader{
				"separate": io.MultiReader(bytes.NewReader(randomBytes(after, 3)), iotest.ErrReader(boom)),
				"with-data": readerFunc(func(p []byte) (int, error) {
					if after == 0 {
						return 0, boom
					}
					n := min(len(p), after)
					after -= n
					if after == 0 {
						return n, boom
					}
					return n, nil
				}),
			}
			for name, r := range readers {
				res, err := Sum(context.Background(), r, algs, WithBufferSize(bufSize))
				if !errors.Is(err, boom) {
					t.Errorf("%s after %d bytes (%s): error %v, want boom", setName(algs), after, name, err)
				}
				if res.Size != 0 || res.Digests != nil {
					t.Errorf("result %+v returned with error", res)
				}
			}
		}
	}
}

func TestSumCancel(t *testing.T) {
	checkNoGoroutineLeak(t)
	for _, algs := range [][]Algorithm{{SHA256}, {SHA256, SHA512}, nil} {
		t.Run(setName(algs), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := Sum(ctx, endless(), algs); err != context.Canceled {
				t.Errorf("pre-cancelled: error %v, want context.Canceled", err)
			}

			ctx, cancel = context.WithCancel(context.Background())
			chunks := 0
			_, err := Sum(ctx, endless(), algs, WithBufferSize(64<<10), WithProgress(func(int64) {
				if chunks++; chunks == 20 {
					cancel()
				}
			}))
			if err != context.Canceled {
				t.Errorf("cancelled mid-stream: error %v, want context.Canceled", err)
			}
			if chunks != 20 {
				t.Errorf("read %d chunks after cancellation at 20", chunks)
			}

			ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = Sum(ctx, endless(), algs)
			if err != context.DeadlineExceeded {
				t.Errorf("deadline: error %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Sum took %v to notice its deadline", d)
			}
		})
	}
}

// TestSumConstantMemory hashes a long stream and checks that the memory
// allocated is the buffer pool plus a little, not per chunk or per byte.
func TestSumConstantMemory(t *testing.T) {
	const bufSize = 64 << 10
	const total = 64 << 20
	algs := []Algorithm{SHA256, BLAKE3, BLAKE2b_256}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := Sum(context.Background(), io.LimitReader(endless(), total), algs, WithBufferSize(bufSize))
	runtime.ReadMemStats(&after)
	if err != nil || res.Size != total {
		t.Fatalf("Sum: %v, size %d", err, res.Size)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d MiB in %d-byte chunks: %d bytes allocated in %d allocations", total>>20, bufSize, allocated, mallocs)
	if limit := uint64(sumBuffers*bufSize + 64<<10); allocated > limit {
		t.Errorf("Sum of %d MiB allocated %d bytes, limit %d", total>>20, allocated, limit)
	}
	if chunks := uint64(total / bufSize); mallocs > chunks/4 {
		t.Errorf("Sum of %d chunks made %d allocations", chunks, mallocs)
	}
}
