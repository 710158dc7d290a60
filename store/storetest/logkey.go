package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trustd-dev/trustd/store"
)

func setLogKey(ctx context.Context, s store.Store, key, expect string) error {
	return s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.SetLogVerifierKey(ctx, key, expect) })
}

// testLogVerifierKey: the log's verifier key is recorded once and changes
// only by a compare-and-swap naming the recorded key.
func testLogVerifierKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.LogVerifierKey(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LogVerifierKey of a new store = %v, want ErrNotFound", err)
	}
	steps := []struct {
		name        string
		key, expect string
		want        error
		recorded    string
	}{
		{"empty key", "", "", store.ErrInvalid, ""},
		{"expect a key when none is recorded", "log+a", "log+x", store.ErrConflict, ""},
		{"first start records", "log+a", "", nil, "log+a"},
		{"same key again", "log+a", "", nil, "log+a"},
		{"another replica's own key", "log+b", "", store.ErrConflict, "log+a"},
		{"rotation naming the wrong key", "log+b", "log+x", store.ErrConflict, "log+a"},
		{"rotation naming the recorded key", "log+b", "log+a", nil, "log+b"},
		{"the old key again", "log+a", "", store.ErrConflict, "log+b"},
	}
	for _, st := range steps {
		err := setLogKey(ctx, s, st.key, st.expect)
		if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Errorf("%s: SetLogVerifierKey(%q, %q) = %v, want %v", st.name, st.key, st.expect, err, st.want)
		}
		got, err := s.LogVerifierKey(ctx)
		if st.recorded == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: recorded %q, %v; want none", st.name, got, err)
			}
			continue
		}
		if err != nil || got != st.recorded {
			t.Errorf("%s: recorded %q, %v; want %q", st.name, got, err, st.recorded)
		}
	}
	// A refused write inside a transaction rolls back with it.
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if err := w.SetLogVerifierKey(ctx, "log+c", "log+b"); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if err == nil {
		t.Fatal("aborted transaction committed")
	}
	if got, _ := s.LogVerifierKey(ctx); got != "log+b" {
		t.Errorf("after a rolled back rotation the recorded key is %q, want log+b", got)
	}
}

// testLogVerifierKeyRace: replicas starting together on an empty database
// each try to record their own key; exactly one wins and the others get
// ErrConflict.
func testLogVerifierKeyRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = setLogKey(ctx, s, fmt.Sprintf("log+%d", i), "") })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("replicas %d and %d both recorded their key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("replica %d: %v, want ErrConflict", i, err)
		}
	}
	got, err := s.LogVerifierKey(ctx)
	if winner < 0 || err != nil || got != fmt.Sprintf("log+%d", winner) {
		t.Errorf("recorded %q, %v; want the winner %d's key", got, err, winner)
	}
}
