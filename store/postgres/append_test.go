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

// TestPlannedAppendBoundsItsWaits: an append planned against a tip writes
// its rows before it waits for its turn and the log lock, so they are
// written while the append before it commits. Another writer may then
// wait for those rows while the planned append waits for that writer:
//   - a writer holding the log lock (another replica's append, reading
//     under it) inserts a digest of the planned append's rows;
//   - another planned append (another replica's) wrote a digest first that
//     the planned append inserts too, and may wait for the planned
//     append's rows in turn.
//
// In both the planned append gives up within its lock timeout, with
// ErrConflict (the batcher retries it under the lock), nothing of it is
// stored, and the other writer goes on. Without the timeout both waited
// until PostgreSQL's deadlock check failed one of them a second later,
// with an error no caller can retry.
func TestPlannedAppendBoundsItsWaits(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lockFirst: the other writer takes the log lock before the
		// planned append writes, and inserts the digest after; else it
		// inserts the digest before and holds no lock.
		lockFirst bool
		// waitEvent is what the planned append waits on before the other
		// writer goes on.
		waitEvent string
	}{
		{"lock holder inserts the planned rows' digest", true, "advisory"},
		{"planned append inserts a digest another wrote first", false, "transactionid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
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

			other, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close(ctx)
			tx, err := other.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			insertDigest := func() error {
				_, err := tx.Exec(ctx, `WITH s AS (INSERT INTO subjects (created_at) VALUES (now()) RETURNING id)
					INSERT INTO digests (algorithm, value, subject_id) SELECT 'sha256', $1, id FROM s`, hex.EncodeToString(sum[:]))
				return err
			}
			if tc.lockFirst {
				_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgres.LogLockKey))
			} else {
				err = insertDigest()
			}
			if err != nil {
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
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				var waiting int
				if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
					AND wait_event = $1 AND datname = current_database()`, tc.waitEvent).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				select {
				case err := <-planned:
					t.Fatalf("the planned append ended (%v) before it waited on a %s lock", err, tc.waitEvent)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("the planned append never waited on a %s lock", tc.waitEvent)
				}
			}
			if tc.lockFirst {
				if err := insertDigest(); err != nil {
					t.Fatalf("the lock holder's insert of the digest the planned append wrote: %v", err)
				}
			}
			// The other writer holds on until the planned append is done.
			select {
			case err := <-planned:
				if !errors.Is(err, store.ErrConflict) {
					t.Fatalf("planned append = %v, want ErrConflict (retried under the lock)", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the planned append still waits for the other writer after 10 s")
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if size, err := s.LogSize(ctx); err != nil || size != 0 {
				t.Fatalf("log size after the planned append gave up = %d, %v; want 0 (nothing of it stored)", size, err)
			}
		})
	}
}
