package feedback_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store/postgres"
)

// BenchmarkVoteSubmit measures signed votes accepted per second at
// concurrency 16 through statement.Log.Submit (verification, validation,
// group-committed append, vote and totals indexing), 256 voters over 1,000
// artifacts. Envelopes are signed before the timer starts.
//
//	scripts/with-postgres.sh go test -run '^$' -bench VoteSubmit -benchtime 20000x ./feedback
func BenchmarkVoteSubmit(b *testing.B) {
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s, figs := teststore.OpenWriteBench(b, be)
			f := newFixture(b, s, feedback.Options{Now: time.Now})
			voters := make([]identity, 256)
			for i := range voters {
				voters[i] = f.identity(b)
			}
			values := []string{feedback.Like, feedback.Dislike, feedback.Trust, feedback.Distrust}
			envs := make([][]byte, b.N)
			base := time.Now().Add(-time.Hour)
			for i := range envs {
				envs[i] = voteEnv(b, voters[i%len(voters)], artifact(fmt.Sprint("bench-", i%1000)), values[i%len(values)], base.Add(time.Duration(i)*time.Microsecond))
			}
			var next atomic.Int64
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			figs.Start(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if _, _, err := f.log.Submit(context.Background(), envs[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "votes/s")
			figs.Report(b, b.N, rate)
		})
	}
}

// seedSQL runs statements on the benchmark's database.
func seedSQL(b *testing.B, url string, stmts ...string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		start := time.Now()
		if _, err := conn.Exec(ctx, s); err != nil {
			b.Fatalf("%s: %v", s, err)
		}
		b.Logf("seed %.60s… %s", s, time.Since(start).Round(time.Millisecond))
	}
}

// seedDigest is the digest the seed SQL gives digest number i.
func seedDigest(i int) digest.Digest {
	sum := sha256.Sum256([]byte(fmt.Sprint("d", i)))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

// seedBase creates n digests (one subject each, sha256 of "d"||i) and the
// one log entry every seeded vote points to.
func seedBase(n int) []string {
	return []string{
		`INSERT INTO statements (seq, envelope_digest, payload_type, predicate_type, envelope, payload, signer_key_ids, recorded_at)
			VALUES (1, 'sha256:00', 'application/vnd.in-toto+json', '` + feedback.VotePredicateType + `', '\x7b7d', '\x7b7d', '[]', now())`,
		fmt.Sprintf(`INSERT INTO subjects (created_at) SELECT now() FROM generate_series(1, %d)`, n),
		fmt.Sprintf(`INSERT INTO digests (algorithm, value, subject_id)
			SELECT 'sha256', encode(sha256(('d' || i)::bytea), 'hex'), i FROM generate_series(1, %d) AS i`, n),
	}
}

// latencies runs op n times and reports p50 and p99 in milliseconds.
func latencies(b *testing.B, op func(i int) error) {
	var ds []time.Duration
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		i++
	}
	slices.Sort(ds)
	pct := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// BenchmarkReputationGlobal measures a global reputation query with
// 10,000,000 current votes over 1,000,000 digests on PostgreSQL: it reads
// the digest's totals (and its alias claims and responses), never the
// votes. Seeding takes a few minutes.
//
//	scripts/with-postgres.sh go test -run '^$' -bench ReputationGlobal -benchtime 5000x -timeout 30m ./feedback
func BenchmarkReputationGlobal(b *testing.B) {
	const digests, votesPerDigest = 1_000_000, 10
	url := testpg.URL(b)
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Foreign-key triggers are off while seeding (the rows are consistent
	// by construction): checking 10M references one by one would take most
	// of an hour on a small machine.
	seed := append(append([]string{`SET session_replication_role = replica`}, seedBase(digests)...),
		fmt.Sprintf(`INSERT INTO votes (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at)
			SELECT 'sha256', encode(sha256(('d' || (i %% %[1]d + 1))::bytea), 'hex'),
				CASE WHEN (i / %[1]d) %% 2 = 0 THEN 'quality' ELSE 'trust' END,
				'voter-' || (i / %[1]d), CASE WHEN i %% 3 = 0 THEN -1 ELSE 1 END,
				now() - (i %% 1000) * interval '1 minute', 1, now()
			FROM generate_series(0, %[2]d - 1) AS i`, digests, digests*votesPerDigest),
		`INSERT INTO vote_totals (algorithm, value, likes, dislikes, trusts, distrusts, voters, last_vote_at)
			SELECT algorithm, value,
				count(*) FILTER (WHERE axis = 'quality' AND vote > 0), count(*) FILTER (WHERE axis = 'quality' AND vote < 0),
				count(*) FILTER (WHERE axis = 'trust' AND vote > 0), count(*) FILTER (WHERE axis = 'trust' AND vote < 0),
				count(DISTINCT voter_key_id), max(voted_at)
			FROM votes GROUP BY algorithm, value`,
		`ANALYZE`)
	seedSQL(b, url, seed...)
	svc := feedback.New(s, feedback.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	latencies(b, func(int) error {
		rep, err := svc.Reputation(context.Background(), feedback.Query{Digest: seedDigest(1 + rng.IntN(digests))})
		if err == nil && rep.Voters != votesPerDigest {
			err = fmt.Errorf("voters %d, want %d", rep.Voters, votesPerDigest)
		}
		return err
	})
}

// BenchmarkReputationWebOfTrust measures a reputation query from one trust
// root at depth 3 over 10,000 identities, each trusting 8 (sparse) or 20
// (dense) others at a random level (1 in 20 statements a distrust), every
// identity having voted on the digest, on PostgreSQL.
//
//	scripts/with-postgres.sh go test -run '^$' -bench ReputationWebOfTrust -benchtime 300x ./feedback
func BenchmarkReputationWebOfTrust(b *testing.B) {
	const identities = 10_000
	for _, fanout := range []int{8, 20} {
		b.Run(fmt.Sprint("fanout-", fanout), func(b *testing.B) {
			url := testpg.URL(b)
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			seed := append(seedBase(1),
				fmt.Sprintf(`INSERT INTO trust_edges (truster_key_id, trustee_key_id, level, stated_at, seq)
					SELECT 'id-' || i, 'id-' || ((i * 7919 + j * 104729 + j * j * 31) %% %[1]d),
						CASE WHEN (i + j) %% 20 = 0 THEN -1 ELSE 1 + (i * j) %% 3 END, now(), 1
					FROM generate_series(0, %[1]d - 1) AS i, generate_series(1, %[2]d) AS j
					ON CONFLICT DO NOTHING`, identities, fanout),
				fmt.Sprintf(`INSERT INTO votes (algorithm, value, axis, voter_key_id, vote, voted_at, seq, recorded_at)
					SELECT 'sha256', encode(sha256('d1'::bytea), 'hex'), 'quality', 'id-' || i, CASE WHEN i %% 4 = 0 THEN -1 ELSE 1 END,
						now(), 1, now()
					FROM generate_series(0, %d - 1) AS i`, identities),
				`INSERT INTO vote_totals (algorithm, value, likes, dislikes, trusts, distrusts, voters, last_vote_at)
					SELECT algorithm, value, count(*) FILTER (WHERE vote > 0), count(*) FILTER (WHERE vote < 0), 0, 0, count(*), max(voted_at)
					FROM votes GROUP BY algorithm, value`,
				`ANALYZE`)
			seedSQL(b, url, seed...)
			svc := feedback.New(s, feedback.Options{})
			rep, err := svc.Reputation(context.Background(), feedback.Query{Digest: seedDigest(1), TrustRoots: []string{"id-0"}, Depth: 3})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("reached %d identities, %d voters counted", rep.Reached, rep.Voters)
			latencies(b, func(i int) error {
				_, err := svc.Reputation(context.Background(), feedback.Query{Digest: seedDigest(1), TrustRoots: []string{fmt.Sprint("id-", i%identities)}, Depth: 3})
				return err
			})
		})
	}
}
