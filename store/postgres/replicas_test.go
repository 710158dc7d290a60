package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/storetest"
)

// replicated is a primary with one streaming standby and a store reading
// from it.
type replicated struct {
	primary, standby *testpg.Cluster
	s                *postgres.Store
}

func newReplicated(t *testing.T, wait time.Duration) *replicated {
	t.Helper()
	p := testpg.NewCluster(t)
	sb := p.NewStandby()
	s, err := postgres.OpenWith(context.Background(), p.URL, postgres.Options{
		ReadURLs: []string{sb.URL}, ReadWait: wait, ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &replicated{primary: p, standby: sb, s: s}
}

func execOn(t *testing.T, url, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func putKey(t *testing.T, s *postgres.Store, id string) string {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, err := w.PutKey(ctx, store.Key{ID: id, Type: "ed25519", PublicKey: []byte("key " + id)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.CommitPosition(ctx)
	if err != nil || pos == "" {
		t.Fatalf("CommitPosition = %q, %v", pos, err)
	}
	return pos
}

// waitReplayed waits until the standby has replayed pos (a session
// wanting pos is served by it).
func waitReplayed(t *testing.T, r *replicated, pos string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, _ := r.s.ReadsServed()
		_, err := r.s.KeyCount(store.WithReadSession(context.Background(), pos), "ed25519")
		after, _ := r.s.ReadsServed()
		if err == nil && after > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby did not replay %s in 30s (err %v)", pos, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// read runs one read in a new session wanting minPos and says whether the
// standby or the primary served it.
func read[T any](t *testing.T, r *replicated, minPos string, fn func(context.Context) (T, error)) (T, string, error) {
	t.Helper()
	sb0, p0 := r.s.ReadsServed()
	v, err := fn(store.WithReadSession(context.Background(), minPos))
	sb1, p1 := r.s.ReadsServed()
	switch {
	case sb1 > sb0 && p1 == p0:
		return v, "standby", err
	case p1 > p0 && sb1 == sb0:
		return v, "primary", err
	}
	t.Fatalf("read served by %d standby and %d primary reads", sb1-sb0, p1-p0)
	return v, "", err
}

// TestReadYourWritesLaggingStandby: with the standby's replay paused, a
// read carrying the position of the caller's write waits the bound and
// then reads the write from the primary; a read without a position gets
// the standby's older view; once replay resumes the standby serves the
// read with the position.
func TestReadYourWritesLaggingStandby(t *testing.T) {
	const wait = 300 * time.Millisecond
	r := newReplicated(t, wait)
	waitReplayed(t, r, putKey(t, r.s, "before"))

	execOn(t, r.standby.URL, `SELECT pg_wal_replay_pause()`)
	pos := putKey(t, r.s, "mine")
	lookup := func(ctx context.Context) (store.Key, error) { return r.s.Key(ctx, "mine") }

	start := time.Now()
	k, by, err := read(t, r, pos, lookup)
	if err != nil || k.ID != "mine" || by != "primary" {
		t.Fatalf("read with the write's position = %+v, %v, by %s; want the key from the primary", k, err, by)
	}
	if took := time.Since(start); took < wait {
		t.Errorf("read with position went to the primary after %v, before the %v bound", took, wait)
	}

	if _, by, err := read(t, r, "", lookup); !errors.Is(err, store.ErrNotFound) || by != "standby" {
		t.Fatalf("read without position = %v by %s; want the standby's view, without the key", err, by)
	}
	// Every kind of read routes: a list (Query) and a one-statement view.
	if ks, by, err := read(t, r, "", func(ctx context.Context) ([]store.Key, error) { return r.s.Keys(ctx, "", 10) }); err != nil || len(ks) != 1 || by != "standby" {
		t.Fatalf("key list without position = %d keys, %v, by %s; want the standby's one", len(ks), err, by)
	}

	execOn(t, r.standby.URL, `SELECT pg_wal_replay_resume()`)
	waitReplayed(t, r, pos)
	if k, by, err := read(t, r, pos, lookup); err != nil || k.ID != "mine" || by != "standby" {
		t.Fatalf("read with position after resume = %+v, %v, by %s; want the key from the standby", k, err, by)
	}
}

// TestReadPositionInvalid: a position that is not a WAL position is
// refused as invalid input, not sent anywhere.
func TestReadPositionInvalid(t *testing.T) {
	r := newReplicated(t, 0)
	for _, pos := range []string{"x", "1/", "/1", "123456789/0", "1/G", "-1/2", "1/2/3"} {
		_, err := r.s.Key(store.WithReadSession(context.Background(), pos), "k")
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("position %q: err = %v, want ErrInvalid", pos, err)
		}
	}
}

// TestStandbyDown: reads of sessions keep succeeding, from the primary,
// while the only standby is down (killed, as by a crash); once it is back
// it is probed healthy and serves again.
func TestStandbyDown(t *testing.T) {
	r := newReplicated(t, 0)
	waitReplayed(t, r, putKey(t, r.s, "k0"))
	r.standby.Kill()
	for i := range 20 {
		pos := ""
		if i%2 == 1 {
			pos = putKey(t, r.s, fmt.Sprintf("k%d", i))
		}
		n, by, err := read(t, r, pos, func(ctx context.Context) (int64, error) { return r.s.KeyCount(ctx, "ed25519") })
		if err != nil {
			t.Fatalf("read %d with the standby down: %v", i, err)
		}
		if by != "primary" || n < 1 {
			t.Fatalf("read %d with the standby down: %d keys by %s, want the primary's", i, n, by)
		}
	}
	if _, err := r.s.SubjectView(store.WithReadSession(context.Background(), ""), storetest.Seeded.SHA256, store.EvidencePage{Limit: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("subject view with the standby down = %v, want ErrNotFound from the primary", err)
	}
	r.standby.Start()
	waitReplayed(t, r, putKey(t, r.s, "back"))
}
