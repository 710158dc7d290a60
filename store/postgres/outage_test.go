package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/storetest"
)

// TestOutageIsUnavailable: while PostgreSQL is down every read, write and
// ping fails with store.ErrUnavailable (a retry may succeed), not an
// unclassified error; once it is back the same store serves again.
func TestOutageIsUnavailable(t *testing.T) {
	c := testpg.NewCluster(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Seed(t, s)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"ping", s.Ping},
		{"read", func(ctx context.Context) error { _, err := s.SubjectByDigest(ctx, storetest.Seeded.SHA256); return err }},
		{"view", func(ctx context.Context) error {
			_, err := s.SubjectView(ctx, storetest.Seeded.SHA256, store.EvidencePage{Limit: 10})
			return err
		}},
		{"write", func(ctx context.Context) error {
			return s.Update(ctx, func(ctx context.Context, w store.Writer) error {
				_, err := w.PutKey(ctx, store.Key{ID: "outage-key", Type: "ed25519", PublicKey: []byte("k")})
				return err
			})
		}},
	}
	check := func(phase string, want error) {
		t.Helper()
		for _, tc := range calls {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := tc.call(cctx)
			cancel()
			if want == nil && err != nil {
				t.Errorf("%s: %s: %v", phase, tc.name, err)
			}
			if want != nil && !errors.Is(err, want) {
				t.Errorf("%s: %s = %v, want %v", phase, tc.name, err, want)
			}
		}
	}
	check("before the restart", nil)
	c.Stop()
	check("while PostgreSQL is down", store.ErrUnavailable)
	c.Start()
	// The pool drops the dead connections and dials new ones.
	deadline := time.Now().Add(15 * time.Second)
	for s.Ping(ctx) != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	check("after the restart", nil)
	storetest.CheckSeeded(t, s)
}
