package testpg

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// holdKey is the advisory lock a CommitHold owns; advisory locks are the
// database's own, and each test has its own database.
const holdKey = 4242

// CommitHold holds the COMMIT of every transaction that inserts into the
// log (statements) of one test database, its rows written, until Release:
// a deferred trigger waits on an advisory lock the hold owns. A test so
// orders what other connections do while an append is written but not
// committed, without sleeping.
type CommitHold struct {
	conn     *pgx.Conn
	released bool
}

// HoldCommits installs the hold on the database at url (from URL) and
// takes its lock; the test's cleanup releases it.
func HoldCommits(t testing.TB, url string) *CommitHold {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	h := &CommitHold{conn: conn}
	t.Cleanup(func() {
		h.Release(t)
		conn.Close(context.Background())
	})
	for _, q := range []string{
		fmt.Sprintf(`CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN PERFORM pg_advisory_xact_lock_shared(%d); RETURN NULL; END $$`, holdKey),
		`CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON statements
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit()`,
		fmt.Sprintf(`SELECT pg_advisory_lock(%d)`, holdKey),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("testpg: hold commits: %s: %v", q, err)
		}
	}
	return h
}

// Release lets the held commits (and every later one) through; it may be
// called more than once.
func (h *CommitHold) Release(t testing.TB) {
	t.Helper()
	if h.released {
		return
	}
	h.released = true
	if _, err := h.conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, holdKey); err != nil {
		t.Fatalf("testpg: release commits: %v", err)
	}
}

// WaitFor waits until at least n sessions of the database wait on a lock
// of the given wait event ("advisory": a held commit, or an append
// waiting for the log lock; "transactionid": a write waiting on a row or
// key another transaction wrote), and fails the test after 30 seconds.
func (h *CommitHold) WaitFor(t testing.TB, event string, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var got int
		err := h.conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = $1 AND datname = current_database()`, event).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			h.Release(t)
			t.Fatalf("testpg: %d sessions wait on %s locks, want %d", got, event, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
