package attest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store/postgres"
)

// postgresBackend is the PostgreSQL backend alone: the benchmarks' targets
// are PostgreSQL figures.
func postgresBackend() teststore.Backend { return teststore.Backends()[1] }

// BenchmarkIngestDSSE measures ed25519-signed DSSE attestations (SLSA
// provenance, indexed) accepted per second through attest.Put at
// concurrency 16, verification, indexing and the log append included.
// Envelopes are signed before the timer starts: signing is the client's
// work.
//
//	scripts/with-postgres.sh go test -run '^$' -bench IngestDSSE -benchtime 5000x ./attest
func BenchmarkIngestDSSE(b *testing.B) {
	e := newEnv(b, postgresBackend(), 0)
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), pub.Encode(), ""); err != nil {
		b.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		b.Fatal(err)
	}
	docs := make([][]byte, b.N)
	for i := range docs {
		stmt := statementJSON(b, attest.PredicateSLSAProvenanceV1, provenanceV1,
			envelope.Subject{Name: "app.tar.gz", Digests: sumsOf(fmt.Sprintf("bench-%d", i))})
		env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, stmt, signer)
		if err != nil {
			b.Fatal(err)
		}
		if docs[i], err = json.Marshal(env); err != nil {
			b.Fatal(err)
		}
	}
	ingest(b, e, docs)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
}

// BenchmarkIngestSigstoreBundle measures keyless Sigstore bundles (DSSE,
// with a log entry and a signed timestamp) accepted per second at
// concurrency 16, sigstore-go verification against the trusted root
// included.
//
//	scripts/with-postgres.sh go test -run '^$' -bench IngestSigstore -benchtime 2000x ./attest
func BenchmarkIngestSigstoreBundle(b *testing.B) {
	e := newEnv(b, postgresBackend(), 0)
	docs := make([][]byte, b.N)
	at := time.Now().Add(5 * time.Minute)
	for i := range docs {
		stmt := statementJSON(b, attest.PredicateSLSAProvenanceV1, provenanceV1,
			envelope.Subject{Name: "app.tar.gz", Digests: sumsOf(fmt.Sprintf("bench-%d", i))})
		docs[i] = attesttest.Attest(b, e.vs, identity, issuer, stmt, at, attesttest.Opts{TLog: true, TSA: true})
	}
	ingest(b, e, docs)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bundles/s")
}

func ingest(b *testing.B, e *env, docs [][]byte) {
	var next atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if _, _, err := e.svc.Put(context.Background(), attest.PutRequest{Data: docs[i]}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
}

// Sizes of the listing benchmark's data set.
const (
	benchAttestations = 1_000_000
	benchSubjects     = 100_000
)

// BenchmarkListByDigest measures `attest list DIGEST` (a page of 50) over
// 1,000,000 attestations across 100,000 subjects (10 each, a quarter of
// them indexed SLSA provenance) at concurrency 16, reporting p50 and p99
// latency. The data set is seeded in SQL (generate_series), and the plan of
// the listing query is checked to walk the digest index.
//
//	scripts/with-postgres.sh go test -run '^$' -bench ListByDigest -benchtime 20000x -timeout 30m ./attest
func BenchmarkListByDigest(b *testing.B) {
	ctx := context.Background()
	url := testpg.URL(b)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	start := time.Now()
	seedAttestations(b, conn)
	b.Logf("seeded %d attestations over %d subjects in %s", benchAttestations, benchSubjects, time.Since(start).Round(time.Millisecond))
	explainList(b, conn)

	svc := attest.New(st, nil, attest.Options{})
	digests := make([]digest.Digest, benchSubjects)
	for i := range digests {
		digests[i] = sha256Of(fmt.Sprintf("subject-%d", i+1))
	}
	list := func(i int64) error {
		got, _, err := svc.List(ctx, attest.Query{Digest: digests[(i*7919)%benchSubjects], PageSize: 50})
		if err == nil && len(got) != benchAttestations/benchSubjects {
			err = fmt.Errorf("%d entries, want %d", len(got), benchAttestations/benchSubjects)
		}
		return err
	}
	b.ResetTimer()
	latency := measure(b, 16, b.N, list)
	b.StopTimer()
	b.ReportMetric(percentile(latency, 0.50), "p50-ms")
	b.ReportMetric(percentile(latency, 0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lists/s")
	// One at a time, the same queries show the service time without
	// queueing for the machine's cores.
	serial := measure(b, 1, min(b.N, 2000), list)
	b.ReportMetric(percentile(serial, 0.50), "serial-p50-ms")
	b.ReportMetric(percentile(serial, 0.99), "serial-p99-ms")
}

// measure runs call n times from the given number of goroutines and
// returns every call's latency, sorted.
func measure(b *testing.B, workers, n int, call func(i int64) error) []time.Duration {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		latency = make([]time.Duration, 0, n)
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					break
				}
				t0 := time.Now()
				err := call(i)
				mine = append(mine, time.Since(t0))
				if err != nil {
					b.Errorf("call %d: %v", i, err)
					return
				}
			}
			mu.Lock()
			latency = append(latency, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latency)
	return latency
}

// percentile returns the p-th latency of a sorted slice in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(float64(len(sorted)-1)*p)].Microseconds()) / 1000
}

// seedAttestations writes the listing benchmark's data set with a handful
// of INSERT … SELECT generate_series statements: subject k has digest
// sha256("subject-k") and is named by statements k, k+100000, ….
func seedAttestations(b *testing.B, conn *pgx.Conn) {
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO subjects (id, created_at) OVERRIDING SYSTEM VALUE SELECT g, now() FROM generate_series(1, $1) g`,
		`INSERT INTO digests (algorithm, value, subject_id) SELECT 'sha256', encode(sha256(convert_to('subject-' || g, 'UTF8')), 'hex'), g
			FROM generate_series(1, $1) g`,
		`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			SELECT g, 'sha256:' || encode(sha256(convert_to('envelope-' || g, 'UTF8')), 'hex'), 'application/vnd.in-toto+json',
				CASE WHEN g % 4 = 0 THEN 'https://slsa.dev/provenance/v1' ELSE 'https://example.com/test-result/v1' END,
				convert_to('{"payloadType":"application/vnd.in-toto+json"}', 'UTF8'), convert_to('{}', 'UTF8'),
				'["bench-signer-' || (g % 10) || '"]', now()
			FROM generate_series(1, $1) g`,
		`INSERT INTO statement_signers (seq, key_id) SELECT g, 'bench-signer-' || (g % 10) FROM generate_series(1, $1) g`,
		`INSERT INTO statement_subjects (seq, subject_index, name, algorithm, value)
			SELECT g, 0, 'artifact-' || ((g - 1) % $2 + 1), 'sha256', encode(sha256(convert_to('subject-' || ((g - 1) % $2 + 1), 'UTF8')), 'hex')
			FROM generate_series(1, $1) g`,
		`INSERT INTO attestations (seq, builder_id, build_type, source_repository, source_ref)
			SELECT g, 'https://builder.example/' || (g % 7), 'https://example.com/buildtype/v1', 'https://git.example/repo-' || (g % 1000), 'refs/heads/main'
			FROM generate_series(4, $1, 4) g`,
		`ANALYZE`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "$2"):
			args = []any{benchAttestations, benchSubjects}
		case strings.Contains(q, "INTO subjects"), strings.Contains(q, "INTO digests"):
			args = []any{benchSubjects}
		case strings.Contains(q, "$1"):
			args = []any{benchAttestations}
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

// explainList fails the benchmark unless PostgreSQL answers the listing
// query by walking the (algorithm, value, seq) index of statement_subjects.
func explainList(b *testing.B, conn *pgx.Conn) {
	ctx := context.Background()
	d := sha256Of("subject-42")
	rows, err := conn.Query(ctx, `EXPLAIN SELECT s.seq, s.payload_type, s.predicate_type, s.signer_key_ids, ss.name, s.recorded_at, a.seq
		FROM statement_subjects ss JOIN statements s ON s.seq = ss.seq LEFT JOIN attestations a ON a.seq = ss.seq
		WHERE ss.algorithm = $1 AND ss.value = $2 ORDER BY ss.seq DESC LIMIT 51`, "sha256", d.Hex())
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	b.Logf("EXPLAIN attest list:\n%s", text)
	if !strings.Contains(text, "statement_subjects_digest") {
		b.Fatalf("the listing query does not use the statement_subjects_digest index:\n%s", text)
	}
}
