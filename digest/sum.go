package digest

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

const (
	// DefaultBufferSize is the chunk size Sum reads and hashes at a time
	// unless WithBufferSize says otherwise.
	DefaultBufferSize = 1 << 20
	// sumBuffers is how many chunks a multi-algorithm Sum keeps in flight:
	// enough for the reader to stay ahead of the hashers, and a fixed bound
	// on memory (sumBuffers × buffer size) whatever the input size.
	sumBuffers = 4
)

// Result is what Sum computed: the number of bytes read and one digest per
// requested algorithm.
type Result struct {
	Size    int64    // bytes read from the input
	Digests []Digest // in the order the algorithms were given to Sum
}

// Get returns the digest computed with algorithm a, if it was requested.
func (r Result) Get(a Algorithm) (Digest, bool) {
	for _, d := range r.Digests {
		if d.alg == a {
			return d, true
		}
	}
	return Digest{}, false
}

// SumOption configures Sum.
type SumOption func(*sumConfig)

type sumConfig struct {
	progress func(int64)
	bufSize  int
}

// WithProgress makes Sum call fn with the total number of bytes read so far
// after each chunk, from the goroutine that called Sum; fn should be quick.
func WithProgress(fn func(bytesRead int64)) SumOption {
	return func(c *sumConfig) { c.progress = fn }
}

// WithBufferSize sets the size of the chunks Sum reads and hashes (default
// DefaultBufferSize); values below 1 keep the default. Memory use is about
// four times this with several algorithms, once with one.
func WithBufferSize(n int) SumOption {
	return func(c *sumConfig) {
		if n > 0 {
			c.bufSize = n
		}
	}
}

// bufPool recycles default-size buffers across Sum calls.
var bufPool = sync.Pool{New: func() any { return new([DefaultBufferSize]byte) }}

func getBuffer(size int) []byte {
	if size == DefaultBufferSize {
		return bufPool.Get().(*[DefaultBufferSize]byte)[:]
	}
	return make([]byte, size)
}

func putBuffer(b []byte) {
	if len(b) == DefaultBufferSize {
		bufPool.Put((*[DefaultBufferSize]byte)(b))
	}
}

// Sum reads r to the end once and returns its digests for every algorithm in
// algs (all supported algorithms if algs is empty). With several algorithms
// each runs in its own goroutine on shared, reference-counted chunks, so the
// wall time is that of the slowest one and memory stays constant.
//
// Sum stops with ctx.Err() when ctx is cancelled, checked between reads (a
// blocked Read is not interrupted; close the reader for that). A read error is
// returned wrapped. Unknown or duplicate algorithms are rejected before any
// read. No goroutine outlives the call.
func Sum(ctx context.Context, r io.Reader, algs []Algorithm, opts ...SumOption) (Result, error) {
	if len(algs) == 0 {
		algs = algorithms
	}
	for i, a := range algs {
		if !a.Valid() {
			return Result{}, &ParseError{Input: string(a), Err: unknownAlgorithm(string(a)), noun: "algorithm"}
		}
		for _, b := range algs[:i] {
			if a == b {
				return Result{}, fmt.Errorf("%w: %s", ErrDuplicateAlgorithm, a)
			}
		}
	}
	cfg := sumConfig{bufSize: DefaultBufferSize}
	for _, o := range opts {
		o(&cfg)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var (
		size int64
		sums [][]byte
		err  error
	)
	if len(algs) == 1 {
		size, sums, err = sumInline(ctx, r, algs[0], &cfg)
	} else {
		size, sums, err = sumParallel(ctx, r, algs, &cfg)
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Size: size, Digests: make([]Digest, len(algs))}
	for i, a := range algs {
		if res.Digests[i], err = New(a, sums[i]); err != nil {
			return Result{}, fmt.Errorf("digest: %s produced a bad sum: %w", a, err)
		}
	}
	return res, nil
}

// readChunk fills buf from r as far as it can. It returns io.EOF only when
// the input is exhausted, together with any final bytes.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		return n, io.EOF
	default:
		return n, fmt.Errorf("digest: reading input: %w", err)
	}
}

func sumInline(ctx context.Context, r io.Reader, a Algorithm, cfg *sumConfig) (int64, [][]byte, error) {
	h := a.New()
	buf := getBuffer(cfg.bufSize)
	defer putBuffer(buf)
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		n, err := readChunk(r, buf)
		if err != nil && err != io.EOF {
			return 0, nil, err
		}
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if cfg.progress != nil {
				cfg.progress(size)
			}
		}
		if err == io.EOF {
			return size, [][]byte{h.Sum(nil)}, nil
		}
	}
}

// chunk is one buffer of input shared by all hashers; refs counts the hashers
// that have not finished with it yet.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

func sumParallel(ctx context.Context, r io.Reader, algs []Algorithm, cfg *sumConfig) (int64, [][]byte, error) {
	var (
		free    = make(chan *chunk, sumBuffers)
		chunks  = make([]*chunk, 0, sumBuffers)
		queues  = make([]chan *chunk, len(algs))
		sums    = make([][]byte, len(algs))
		aborted atomic.Bool
		wg      sync.WaitGroup
	)
	for i, a := range algs {
		queues[i] = make(chan *chunk, sumBuffers)
		wg.Add(1)
		go hashWorker(a.New(), queues[i], free, &aborted, &sums[i], &wg)
	}
	finish := func(abort bool) {
		aborted.Store(abort)
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
		for _, c := range chunks {
			putBuffer(c.buf)
		}
	}

	var size int64
	for {
		var c *chunk
		select {
		case c = <-free:
		default:
			if len(chunks) < sumBuffers {
				c = &chunk{buf: getBuffer(cfg.bufSize)}
				chunks = append(chunks, c)
				break
			}
			select {
			case c = <-free:
			case <-ctx.Done():
				finish(true)
				return 0, nil, ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			finish(true)
			return 0, nil, err
		}
		n, err := readChunk(r, c.buf)
		if err != nil && err != io.EOF {
			finish(true)
			return 0, nil, err
		}
		if n > 0 {
			c.n = n
			c.refs.Store(int32(len(queues)))
			for _, q := range queues {
				q <- c
			}
			size += int64(n)
			if cfg.progress != nil {
				cfg.progress(size)
			}
		} else {
			free <- c
		}
		if err == io.EOF {
			finish(false)
			return size, sums, nil
		}
	}
}

// hashWorker hashes every chunk it receives and hands each chunk back to free
// once the last hasher is done with it. After an abort it only releases
// chunks, so that Sum can return quickly.
func hashWorker(h hash.Hash, queue <-chan *chunk, free chan<- *chunk, aborted *atomic.Bool, sum *[]byte, wg *sync.WaitGroup) {
	defer wg.Done()
	for c := range queue {
		if !aborted.Load() {
			h.Write(c.buf[:c.n])
		}
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}
	if !aborted.Load() {
		*sum = h.Sum(nil)
	}
}
