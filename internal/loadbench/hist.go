package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values (nanoseconds) below exactLimit get a bucket each
// and are recorded exactly. Above, every power-of-two range [2^k, 2^(k+1))
// is split into subBuckets equal buckets, so a recorded value is known to
// within 1/subBuckets (under 0.1 %) of itself. Values from 2^maxExp ns
// (about 68.7 s) up land in the last bucket; Max still holds them exactly.
const (
	subBits    = 10
	subBuckets = 1 << subBits   // 1024
	exactLimit = 2 * subBuckets // 2048 ns
	maxExp     = 36             // 2^36 ns ≈ 68.7 s
	numBuckets = exactLimit + (maxExp-subBits-1)*subBuckets
	maxValue   = int64(1)<<maxExp - 1
)

// Histogram records latencies in a fixed set of log-linear buckets, so it
// never grows however many samples it takes. It is not safe for concurrent
// use: give each worker its own and Merge them afterwards.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    float64 // nanoseconds; float so that no count can overflow it
	min    int64
	max    int64
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// bucketOf returns the bucket index for v nanoseconds (0 ≤ v ≤ maxValue).
func bucketOf(v int64) int {
	if v < exactLimit {
		return int(v)
	}
	k := bits.Len64(uint64(v)) - 1 // v is in [2^k, 2^(k+1)), k ≥ subBits+1
	shift := k - subBits
	return exactLimit + (k-subBits-1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketLow returns the smallest value that falls into bucket i.
func bucketLow(i int) int64 {
	if i < exactLimit {
		return int64(i)
	}
	j := i - exactLimit
	k := j/subBuckets + subBits + 1
	shift := k - subBits
	return int64(j%subBuckets+subBuckets) << shift
}

// Record adds one latency. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.counts[bucketOf(min(v, maxValue))]++
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Count returns the number of samples recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest sample, exactly (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest sample, exactly (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average sample (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method:
// the smallest recorded sample with at least ⌈q·n⌉ samples at or below it.
// Samples below 2048 ns are exact; above, the lower bound of the sample's
// bucket is returned (at most 0.1 % below the sample), never outside
// [Min, Max]. Quantile(1) is Max; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketLow(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
