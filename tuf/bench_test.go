package tuf

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// reportPercentiles reports p50 and p99 of per-operation samples.
func reportPercentiles(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(p float64) float64 {
		i := int(float64(len(samples)-1) * p)
		return float64(samples[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkPublishTarget measures the server side of publishing one target
// in the top-level targets role (a new release of one of its 20 targets): verifying the
// upload and signing and applying the new snapshot and timestamp on
// MemState. Building and signing the upload (client side) is not timed.
func BenchmarkPublishTarget(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) {
		for i := 0; i < 20; i++ {
			name := fmt.Sprintf("app/app-%d.tar.gz", i)
			md.Signed.Targets[name] = fakeTarget(name)
		}
	}, f.targets...)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Replace one of the 20 targets with a new release: constant size.
		name := fmt.Sprintf("app/app-%d.tar.gz", i%20)
		tf := fakeTarget(fmt.Sprintf("%s@%d", name, i))
		md, err := AddTarget(f.current(metadata.TARGETS), name, tf, f.clock.Now().Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		doc := mustSign(b, md, f.targets...)
		b.StartTimer()
		start := time.Now()
		if _, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, doc); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, samples)
}

// BenchmarkHashedBinPublish measures publishing one more target into a
// repository of 100,000 targets in 256 hashed bins: verify the bin upload,
// re-sign snapshot and timestamp. It reports metadata bytes written per
// publish.
func BenchmarkHashedBinPublish(b *testing.B) {
	r := newBinsRepo(b, 100_000, 8)
	samples := make([]time.Duration, 0, b.N)
	written := r.st.BytesWritten()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bin, doc := r.nextBinUpload(b, fmt.Sprintf("pkg/bench/artifact-%d.tar.gz", i))
		b.StartTimer()
		start := time.Now()
		if _, err := r.svc.Upload(r.ctx, r.repo, bin, doc); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, samples)
	b.ReportMetric(float64(r.st.BytesWritten()-written)/float64(b.N), "bytes-written/op")
}
