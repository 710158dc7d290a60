package pgplog_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/pgplog"
)

// BenchmarkPublishManifest10k publishes a 10,000-line SHA256SUMS signed by
// an Ed25519 OpenPGP key: verify the signature, parse every line, and index
// every digest (subjects, digests, log append) in the SQLite store.
//
//	go test ./pgplog -run '^$' -bench PublishManifest10k -benchtime 5x
func BenchmarkPublishManifest10k(b *testing.B) {
	e := newEnv(b)
	_, signer := genKey(b, e, "release")
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		var m strings.Builder
		for line := range 10_000 {
			sum := sha256.Sum256(fmt.Appendf(nil, "%d-%d", i, line))
			fmt.Fprintf(&m, "%x  pkg-%d-%d.tar.gz\n", sum, i, line)
		}
		data := []byte(m.String())
		sig, err := signer.Sign(ctx, data)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := e.svc.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: data, Signature: sig})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Entries) != 10_000 || len(p.Problems) != 0 {
			b.Fatalf("indexed %d entries with %d problems, want 10000 and none", len(p.Entries), len(p.Problems))
		}
	}
}
