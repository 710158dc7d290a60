package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

// benchSubjects is how many subjects the benchmark's trustd holds.
const benchSubjects = 100_000

// seedSubjects appends n log entries, each naming a subject of its own, in
// transactions of 1,000 (the log's tree nodes with them).
func seedSubjects(b *testing.B, s store.Store, n int) {
	b.Helper()
	skey, vkey, err := tlog.GenerateLogKey("seed-log")
	if err != nil {
		b.Fatal(err)
	}
	l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const batch = 1000
	for i := 0; i < n; i += batch {
		recs := make([]store.Statement, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			sum := sha256.Sum256(fmt.Appendf(nil, "subject %d", j))
			d, _ := digest.New(digest.SHA256, sum[:])
			recs = append(recs, store.Statement{PayloadType: "application/vnd.example.seed+json", PredicateType: "https://example.com/seed/v1",
				Envelope: fmt.Appendf(nil, `{"seed":%d}`, j), Payload: []byte("{}"), SignerKeyIDs: []string{fmt.Sprintf("seed-key-%d", j%13)},
				Subjects: []store.StatementSubject{{Name: fmt.Sprintf("s-%d.tar", j), Digests: []digest.Digest{d}}}})
		}
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, _, err := l.AppendVerifiedIn(ctx, w, recs)
			return err
		})
		if err != nil {
			b.Fatalf("seed %d: %v", i, err)
		}
	}
}

var (
	seedOnce  sync.Once
	seedBytes []byte
)

// seededStore returns a SQLite database file holding benchSubjects
// subjects, made once per test binary (the benchmark function runs more
// than once).
func seededStore(b *testing.B) []byte {
	seedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trustd-bench-seed-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "trustd.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		seedSubjects(b, s, benchSubjects)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d subjects in %s", benchSubjects, time.Since(start).Round(time.Millisecond))
		if seedBytes, err = os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	})
	if seedBytes == nil {
		b.Fatal("seeding failed")
	}
	return seedBytes
}

// BenchmarkOnlineVerify measures issue 14's target: `trustctl verify`
// online of a 1 KiB file, against a trustd (SQLite) holding 100,000
// subjects, next to `trustctl verify --offline` of the same file with its
// token, each a whole process, interleaved in one run. The policy is the
// README's deploy shape (a token, or a TUF target and no revocation); the
// token key is given as a file to both, so the online run makes one call
// (GetEvidence). It reports both medians and their ratio (target ≤ 1.5).
//
//	make bench-online-verify   # go test -run '^$' -bench OnlineVerify -benchtime 21x ./integration
func BenchmarkOnlineVerify(b *testing.B) {
	work := b.TempDir()
	data := filepath.Join(work, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		b.Fatal(err)
	}
	seeded := seededStore(b)
	if err := os.WriteFile(filepath.Join(data, "trustd.db"), seeded, 0o600); err != nil {
		b.Fatal(err)
	}

	policyFile := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`apiVersion: trustd.dev/policy/v1
policies:
  - name: deploy
    require:
      any:
        - token: {maxAge: 24h}
        - all:
            - tuf: {repo: bench/files, pattern: "*"}
            - revocation: {maxAge: 1h}
`), 0o644); err != nil {
		b.Fatal(err)
	}
	d := startTrustd(b, "--data-dir", data, "--token-policy", policyFile)
	tc := func(args ...string) result {
		r := trustctl(b, d.grpcAddr, args...)
		if r.code != 0 {
			b.Fatalf("trustctl %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	file := filepath.Join(work, "small.bin")
	small := make([]byte, 1024)
	if _, err := rand.Read(small); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, small, 0o644); err != nil {
		b.Fatal(err)
	}
	root, targets := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	genKey(b, root)
	genKey(b, targets)
	tc("tuf", "init", "bench/files", "--root-key", root, "--root-threshold", "1", "--targets-key", targets+".pub", "--targets-threshold", "1")
	tc("sign", file, "--repo", "bench/files", "--name", "small.bin", "--key", targets)
	tc("token", "issue", file, "--policy", "deploy", "--attach")
	tokenKey := filepath.Join(work, "token.pub")
	tc("token", "key", "--out", tokenKey)

	online := []string{"verify", file, "--policy", policyFile, "--token-key", tokenKey}
	offline := append(slices.Clone(online), "--offline")
	for _, args := range [][]string{online, offline} {
		if r := tc(args...); r.code != 0 {
			b.Fatalf("%v: exit %d", args, r.code)
		}
	}
	timed := func(args []string) time.Duration {
		start := time.Now()
		if r := trustctl(b, d.grpcAddr, args...); r.code != 0 {
			b.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return time.Since(start)
	}
	// The floors of the same machine at the same moment: a trustctl
	// process that does nothing, and one that makes one small call.
	sum := sha256.Sum256(small)
	floor := []string{"version", "--client"}
	oneCall := []string{"revocations", "lookup", "digest", "sha256:" + hex.EncodeToString(sum[:])}
	var on, off, fl, one []time.Duration
	b.ResetTimer()
	for range b.N {
		on = append(on, timed(online))
		off = append(off, timed(offline))
		fl = append(fl, timed(floor))
		one = append(one, timed(oneCall))
	}
	b.StopTimer()
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	mOn, mOff := median(on), median(off)
	b.ReportMetric(float64(mOn.Microseconds())/1000, "online-ms")
	b.ReportMetric(float64(mOff.Microseconds())/1000, "offline-ms")
	b.ReportMetric(float64(mOn)/float64(mOff), "ratio")
	verdict := "PASS"
	if float64(mOn) > 1.5*float64(mOff) {
		verdict = "MISS"
	}
	metrics := string(httpGet(b, "http://"+d.httpAddr+"/metrics"))
	b.Logf("trustd GetEvidence: %s", meanLatency(metrics, "/trust.v1.EvidenceService/GetEvidence"))
	b.Logf("floors: trustctl version median %s, one LookupRevocation call median %s", median(fl).Round(10*time.Microsecond), median(one).Round(10*time.Microsecond))
	b.Logf("%s: online verify median %s, offline verify with a token median %s, ratio %.2f (target <= 1.5) over %d runs each, %d subjects",
		verdict, mOn.Round(10*time.Microsecond), mOff.Round(10*time.Microsecond), float64(mOn)/float64(mOff), b.N, benchSubjects)
}

// meanLatency reads a method's mean latency from trustd's metrics text.
func meanLatency(metrics, method string) string {
	var sum, count float64
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.Contains(line, `method="`+method+`"`) {
			continue
		}
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "trustd_grpc_request_duration_seconds_sum"):
			sum = v
		case strings.HasPrefix(line, "trustd_grpc_request_duration_seconds_count"):
			count = v
		}
	}
	if count == 0 {
		return "no calls"
	}
	return fmt.Sprintf("%.0f calls, mean %s", count, time.Duration(sum/count*float64(time.Second)).Round(time.Microsecond))
}
