package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	seq := func(from, to int64) []time.Duration {
		var out []time.Duration
		for v := from; v <= to; v++ {
			out = append(out, time.Duration(v))
		}
		return out
	}
	repeat := func(d time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	cat := func(parts ...[]time.Duration) []time.Duration {
		var out []time.Duration
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name          string
		samples       []time.Duration
		p50, p90, p99 time.Duration
		min, max      time.Duration
		mean          time.Duration
	}{
		{
			name: "empty",
		},
		{
			name:    "one sample",
			samples: []time.Duration{500},
			p50:     500, p90: 500, p99: 500, min: 500, max: 500, mean: 500,
		},
		{
			name:    "1..100 ns, exact range",
			samples: seq(1, 100),
			p50:     50, p90: 90, p99: 99, min: 1, max: 100, mean: 51, // 50.5 rounds half away from zero
		},
		{
			name:    "1..1000 ns reversed order",
			samples: reverse(seq(1, 1000)),
			p50:     500, p90: 900, p99: 990, min: 1, max: 1000, mean: 501,
		},
		{
			name: "bucketed: 1 ms reads as the lower bound of its bucket",
			// 1e6 ns is in [2^19, 2^20); buckets there are 2^9 = 512 ns wide:
			// 1e6 / 512 = 1953.125, so the bucket starts at 1953*512 = 999936.
			samples: []time.Duration{time.Millisecond, time.Millisecond, 2 * time.Millisecond},
			p50:     time.Millisecond, // clamped up to Min
			p90:     2 * time.Millisecond, p99: 2 * time.Millisecond,
			min: time.Millisecond, max: 2 * time.Millisecond, mean: 1333333,
		},
		{
			name: "slow tail: 98 fast, 2 slow",
			// p99 is rank 99, a 5 ms sample: 5e6 is in [2^22, 2^23) with
			// 4096 ns buckets, 5e6/4096 = 1220.7, bucket start 1220*4096.
			samples: cat(repeat(1500, 98), repeat(5*time.Millisecond, 1), repeat(7*time.Millisecond, 1)),
			p50:     1500, p90: 1500, p99: 4997120,
			min: 1500, max: 7 * time.Millisecond, mean: 121470,
		},
		{
			name:    "beyond the last bucket: max stays exact",
			samples: []time.Duration{10, 100 * time.Second},
			p50:     10, p90: 100 * time.Second, p99: 100 * time.Second,
			min: 10, max: 100 * time.Second, mean: 50*time.Second + 5,
		},
		{
			name:    "negative counts as zero",
			samples: []time.Duration{-5, 0, 7},
			p50:     0, p90: 7, p99: 7, min: 0, max: 7, mean: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			for _, s := range tc.samples {
				h.Record(s)
			}
			if got := h.Count(); got != uint64(len(tc.samples)) {
				t.Errorf("Count = %d, want %d", got, len(tc.samples))
			}
			for _, c := range []struct {
				what      string
				got, want time.Duration
			}{
				{"p50", h.Quantile(0.50), tc.p50},
				{"p90", h.Quantile(0.90), tc.p90},
				{"p99", h.Quantile(0.99), tc.p99},
				{"p100", h.Quantile(1), tc.max},
				{"min", h.Min(), tc.min},
				{"max", h.Max(), tc.max},
				{"mean", h.Mean(), tc.mean},
			} {
				if c.got != c.want {
					t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
				}
			}
		})
	}
}

func reverse(s []time.Duration) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestHistogramMerge(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for v := time.Duration(1); v <= 3000; v++ {
		all.Record(v * time.Microsecond)
		if v%3 == 0 {
			a.Record(v * time.Microsecond)
		} else {
			b.Record(v * time.Microsecond)
		}
	}
	merged := NewHistogram()
	merged.Merge(a)
	merged.Merge(NewHistogram())
	merged.Merge(b)
	if *merged != *all {
		t.Fatalf("merge differs from recording everything in one histogram: n=%d/%d min=%v/%v max=%v/%v",
			merged.Count(), all.Count(), merged.Min(), all.Min(), merged.Max(), all.Max())
	}
	if got, want := merged.Quantile(0.5), 1499136*time.Nanosecond; got != want {
		// 1.5 ms is in [2^20, 2^21) with 1024 ns buckets: 1500000/1024 = 1464.8,
		// so the bucket starts at 1464*1024.
		t.Errorf("merged p50 = %d, want %d", got, want)
	}
}

// TestBucketBounds checks the layout itself: every value maps to a bucket
// whose lower bound is at or below it and less than 0.1 % away, and bucket
// indexes are dense and increasing.
func TestBucketBounds(t *testing.T) {
	check := func(v int64) {
		t.Helper()
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		low := bucketLow(i)
		if low > v || (v-low)*subBuckets > v {
			t.Fatalf("value %d: bucket %d starts at %d", v, i, low)
		}
		if i+1 < numBuckets && bucketLow(i+1) <= v {
			t.Fatalf("value %d: next bucket %d starts at %d, not above it", v, i+1, bucketLow(i+1))
		}
	}
	for v := int64(0); v < 10*exactLimit; v++ {
		check(v)
	}
	for k := subBits + 1; k < maxExp; k++ {
		check(int64(1) << k)
		check(int64(1)<<k - 1)
	}
	check(maxValue)
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(r.Int64N(maxValue + 1))
	}
	for i := 1; i < numBuckets; i++ {
		if bucketLow(i) <= bucketLow(i-1) || bucketOf(bucketLow(i)) != i {
			t.Fatalf("bucket %d: low %d, previous low %d, bucketOf(low) = %d", i, bucketLow(i), bucketLow(i-1), bucketOf(bucketLow(i)))
		}
	}
}
