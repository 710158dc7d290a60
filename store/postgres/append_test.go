package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
)

// TestPlannedAppendYieldsTheLock: an append planned against a tip inserts
// its rows before it waits for its turn and the log lock, so they are
// written while the append before it commits. A writer that holds the log
// lock (another replica's append, reading under it) and then inserts a
// digest of those rows waits for the planned append, which waits for the
// lock: the planned append gives up within its lock timeout, with
// ErrConflict (the batcher retries it under the lock), and the writer goes
// on. Without the timeout both waited until PostgreSQL's deadlock check
// failed one of them a second later, with an error no caller can retry.
func TestPlannedAppendYieldsTheLock(t *testing.T) {
	s, url := teststore.Postgres(t)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("contested"))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	env := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"cGxhbm5lZA==","signatures":[]}`)
	envSum := sha256.Sum256(env)
	envDigest, err := digest.New(digest.SHA256, envSum[:])
	if err != nil {
		t.Fatal(err)
	}
	rec := store.Statement{EnvelopeDigest: envDigest, PayloadType: "application/vnd.in-toto+json", PredicateType: "https://example.com/planned",
		Envelope: env, Payload: []byte("planned"), SignerKeyIDs: []string{"key-planned"},
		Subjects: []store.StatementSubject{{Name: "contested", Digests: []digest.Digest{d}}}}

	locked, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close(ctx)
	tx, err := locked.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgres.LogLockKey)); err != nil {
		t.Fatal(err)
	}

	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	planned := make(chan error, 1)
	go func() {
		planned <- s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, _, err := w.AppendStatementsAt(ctx, []store.Statement{rec}, store.LogTip{Next: 1})
			return err
		})
	}()
	// The planned append's rows are in once it waits for the log lock.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND wait_event = 'advisory' AND datname = current_database()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the planned append never waited for the log lock")
		}
	}
	start := time.Now()
	if _, err := tx.Exec(ctx, `WITH s AS (INSERT INTO subjects (created_at) VALUES (now()) RETURNING id)
		INSERT INTO digests (algorithm, value, subject_id) SELECT 'sha256', $1, id FROM s`, hex.EncodeToString(sum[:])); err != nil {
		t.Fatalf("the lock holder's insert of the digest the planned append wrote: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-planned; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("planned append = %v, want ErrConflict (retried under the lock)", err)
	}
	if size, err := s.LogSize(ctx); err != nil || size != 0 {
		t.Fatalf("log size after the planned append gave up = %d, %v; want 0 (nothing of it stored)", size, err)
	}
	t.Logf("the lock holder waited %v for the planned append to give up", time.Since(start))
}
