package tufstore_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				data, err := svc.Metadata(req.Context(), r.Name, "timestamp.json")
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(data)
			}))
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 16}
			client := &http.Client{Transport: tr}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						resp, err := client.Get(srv.URL + "/tuf/acme/bench/timestamp.json")
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
