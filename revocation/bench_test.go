package revocation_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/revocation"
)

// benchCache builds, saves and reopens a cache of n revocations of
// digests sha256(uint64 i), as a client holds after a sync.
func benchCache(b *testing.B, n int) *revocation.Cache {
	b.Helper()
	signer, pub, err := revocation.LoadListKey(filepath.Join(b.TempDir(), "list.key"))
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]revocation.Entry, n)
	for i := range entries {
		entries[i] = revocation.Entry{Key: revocation.TargetKey(revocation.KindDigest, benchDigest(i)), Kind: revocation.KindDigest,
			Reason: revocation.ReasonMalicious, Action: revocation.ActionRevoke, Revoker: "security", Effective: time.Unix(1, 0), Seq: int64(i + 1)}
	}
	sortEntries(entries)
	now := time.Now()
	l, err := revocation.Sign(context.Background(), signer, revocation.ListInfo{Number: int64(n), Issued: now, Expires: now.Add(time.Hour)}, entries)
	if err != nil {
		b.Fatal(err)
	}
	v, err := revocation.Verify(context.Background(), l, pub)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	c, err := revocation.OpenCache(dir, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Apply(v); err != nil {
		b.Fatal(err)
	}
	if err := c.Save(); err != nil {
		b.Fatal(err)
	}
	if c, err = revocation.OpenCache(dir, time.Hour); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchDigest(i int) string {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(i))
	return sha256Of(string(buf[:])).String()
}

// BenchmarkCacheCheck1M: one offline check against 1,000,000 cached
// revocations, half of them hits: "by-key" is the lookup alone,
// "by-digest" adds computing the target key of a digest.Digest, "by-id"
// also parses and canonicalizes the digest string.
func BenchmarkCacheCheck1M(b *testing.B) {
	const n = 1_000_000
	c := benchCache(b, n)
	b.ReportMetric(float64(c.SizeOnDisk()), "cache-bytes")
	ids := make([]string, 4096)
	keys := make([][32]byte, len(ids))
	for i := range ids {
		if i%2 == 0 {
			ids[i] = benchDigest(i * 211)
		} else {
			ids[i] = benchDigest(n + i)
		}
		keys[i] = revocation.TargetKey(revocation.KindDigest, ids[i])
	}
	b.Run("by-key", func(b *testing.B) {
		i, cpu := 0, processCPU()
		for b.Loop() {
			e, err := c.CheckKey(keys[i%len(keys)])
			if err != nil || (e != nil) != (i%2 == 0) {
				b.Fatalf("check %d: %v, %v", i, e, err)
			}
			i++
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(i), "cpu-ns/op")
	})
	ds := make([]digestT, len(ids))
	for i, id := range ids {
		ds[i] = mustParse(b, id)
	}
	b.Run("by-digest", func(b *testing.B) {
		i, cpu := 0, processCPU()
		for b.Loop() {
			e, err := c.CheckDigest(ds[i%len(ds)])
			if err != nil || (e != nil) != (i%2 == 0) {
				b.Fatalf("check %d: %v, %v", i, e, err)
			}
			i++
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(i), "cpu-ns/op")
	})
	b.Run("by-id", func(b *testing.B) {
		i, cpu := 0, processCPU()
		for b.Loop() {
			e, err := c.Check(revocation.KindDigest, ids[i%len(ids)])
			if err != nil || (e != nil) != (i%2 == 0) {
				b.Fatalf("check %d: %v, %v", i, e, err)
			}
			i++
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(i), "cpu-ns/op")
	})
}

func mustParse(b *testing.B, s string) digestT {
	d, err := digest.Parse(s)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
