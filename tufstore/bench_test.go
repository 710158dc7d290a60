package tufstore_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/tuf"
)

// BenchmarkPublishTarget publishes one target per iteration through the
// Service on each backend: verify the upload, re-sign snapshot and
// timestamp, and commit them with their log entries. It reports p50 and
// p99 latency. Signing the upload is done outside the timer.
func BenchmarkPublishTarget(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			st := be.Open(b)
			s, _ := newStateTB(b, st)
			online := tuftest.OnlineKeys(b)
			svc, err := tuf.New(s, online, tuf.Config{})
			if err != nil {
				b.Fatal(err)
			}
			r := tuftest.NewRepo(b, "acme/bench", online)
			if _, err := svc.Init(ctx, r.Name, r.RootV1); err != nil {
				b.Fatal(err)
			}
			var cur []byte
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				doc := r.SignTargets(b, cur, fmt.Sprintf("pkg/p-%d.tgz", i), []byte(fmt.Sprint("content ", i)))
				b.StartTimer()
				start := time.Now()
				if _, err := svc.Upload(ctx, r.Name, "targets", doc); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				cur = doc
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkServeTimestamp serves timestamp.json over loopback HTTP to 16
// concurrent clients, through tuf.Service.Metadata on the store.
func BenchmarkServeTimestamp(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			st := be.Open(b)
			s, _ := newStateTB(b, st)
			online := tuftest.OnlineKeys(b)
			svc, _ := tuf.New(s, online, tuf.Config{})
			r := tuftest.NewRepo(b, "acme/bench", online)
			if _, err := svc.Init(ctx, r.Name, r.RootV1); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Upload(ctx, r.Name, "targets", r.SignTargets(b, nil, "a", []byte("a"))); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.ReportMetric(timestampRate(b, svc, r.Name, b.N), "req/s")
		})
	}
}

// timestampRate serves repo's timestamp.json through svc.Metadata over
// loopback HTTP to 16 concurrent clients for n requests and returns
// requests per second.
func timestampRate(b *testing.B, svc *tuf.Service, repo string, n int) float64 {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		data, err := svc.Metadata(req.Context(), repo, "timestamp.json")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Get(srv.URL + "/tuf/" + repo + "/timestamp.json")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("timestamp.json: %s", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// Hashed-bin benchmark sizes: 2^binBits bins of binTargets targets each.
const (
	binBits    = 10 // 1,024 bins
	binTargets = 100
)

// BenchmarkHashedBinPublishPostgres publishes one more target into a
// repository whose targets delegates to 1,024 hashed bins holding 102,400
// targets, on PostgreSQL: verify the bin upload (threshold, version,
// expiry, the target inside the bin), re-sign snapshot (1,025 roles) and
// timestamp, commit with the log entries. Only the bin, snapshot and
// timestamp are written. Sub-benchmark publish reports p50/p99 publish
// latency and the metadata bytes written per publish, timestamp the
// timestamp.json requests/s at concurrency 16 on that repository (at least
// 20,000 requests, whatever b.N). Seeding
// runs every bin's first version through Upload too (about a minute).
func BenchmarkHashedBinPublishPostgres(b *testing.B) {
	var be *teststore.Backend
	for _, c := range teststore.Backends() {
		if c.Name == "postgres" {
			be = &c
		}
	}
	if be == nil {
		b.Skip("PostgreSQL only: run under scripts/with-postgres.sh")
	}
	ctx := context.Background()
	st := be.Open(b)
	s, _ := newStateTB(b, st)
	online := tuftest.OnlineKeys(b)
	svc, err := tuf.New(s, online, tuf.Config{})
	if err != nil {
		b.Fatal(err)
	}
	r := tuftest.NewRepo(b, "acme/bins", online)
	if _, err := svc.Init(ctx, r.Name, r.RootV1); err != nil {
		b.Fatal(err)
	}
	binKey := tuftest.NewKey(b)
	bins, err := tuf.HashedBins("bins", binBits, tuf.KeySet{Keys: []*metadata.Key{binKey.Key}, Threshold: 1})
	if err != nil {
		b.Fatal(err)
	}
	expires := time.Now().Add(90 * 24 * time.Hour)
	top, err := tuf.NextTargets(nil, expires)
	if err != nil {
		b.Fatal(err)
	}
	top.Signed.Delegations = bins
	if _, err := svc.Upload(ctx, r.Name, metadata.TARGETS, signed(b, top, r.Targets.Signer)); err != nil {
		b.Fatal(err)
	}
	names := tuf.BinNames(bins)
	byBin := map[string]map[string]*metadata.TargetFiles{}
	for _, bin := range names {
		byBin[bin] = map[string]*metadata.TargetFiles{}
	}
	for i := 0; i < binTargets<<binBits; i++ {
		name := fmt.Sprintf("pkg/%04d/artifact-%06d.tar.gz", i/1000, i)
		bin, err := tuf.BinFor(bins, name)
		if err != nil {
			b.Fatal(err)
		}
		byBin[bin][name] = fakeTarget(name)
	}
	seedStart := time.Now()
	for _, bin := range names {
		md, err := tuf.NextTargets(nil, expires)
		if err != nil {
			b.Fatal(err)
		}
		md.Signed.Targets = byBin[bin]
		if _, err := svc.Upload(ctx, r.Name, bin, signed(b, md, binKey.Signer)); err != nil {
			b.Fatalf("seed %s: %v", bin, err)
		}
	}
	b.Logf("seeded %d targets in %d bins in %v", binTargets<<binBits, len(names), time.Since(seedStart).Round(time.Second))

	b.Run("publish", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		var written int
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			name := fmt.Sprintf("pkg/bench/new-%d-%d.tar.gz", b.N, i)
			bin, err := tuf.BinFor(bins, name)
			if err != nil {
				b.Fatal(err)
			}
			cur, err := s.Get(ctx, r.Name, bin, 0)
			if err != nil {
				b.Fatal(err)
			}
			md, err := tuf.AddTarget(cur, name, fakeTarget(name), expires)
			if err != nil {
				b.Fatal(err)
			}
			doc := signed(b, md, binKey.Signer)
			b.StartTimer()
			start := time.Now()
			res, err := svc.Upload(ctx, r.Name, bin, doc)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			b.StopTimer()
			if len(res.Published) != 3 || res.Published[0].Role != bin {
				b.Fatalf("published %+v, want the bin, snapshot and timestamp", res.Published)
			}
			for _, f := range res.Published {
				written += len(f.Data)
			}
			b.StartTimer()
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(written)/float64(b.N), "bytes-written/op")
	})
	b.Run("timestamp", func(b *testing.B) {
		b.ReportMetric(timestampRate(b, svc, r.Name, max(b.N, 20_000)), "req/s")
	})
}

// fakeTarget is a target entry for name with hashes derived from the name
// (trustd never sees target bytes, so any well-formed hashes do).
func fakeTarget(name string) *metadata.TargetFiles {
	s256, s512 := sha256.Sum256([]byte(name)), sha512.Sum512([]byte(name))
	return &metadata.TargetFiles{Length: int64(len(name)) * 1000, Hashes: metadata.Hashes{"sha256": s256[:], "sha512": s512[:]}, Path: name}
}

func signed(b *testing.B, md *metadata.Metadata[metadata.TargetsType], s signature.Signer) []byte {
	b.Helper()
	doc, err := tuf.Sign(md, s)
	if err != nil {
		b.Fatal(err)
	}
	return doc
}
