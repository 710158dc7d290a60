package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/store"
)

// testLogCosignatures: witness cosignatures are stored once per witness
// and size, read back by size and as each witness's latest, and a second
// cosignature of the same size with another root is a conflict.
func testLogCosignatures(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(c store.LogCosignature) error {
		return s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutLogCosignature(ctx, c) })
	}
	root := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.LatestLogCosignature(ctx, "w1+00000000+AA"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestLogCosignature of none = %v, want ErrNotFound", err)
	}
	cs := []store.LogCosignature{
		{Witness: "w1+00000000+AA", TreeSize: 5, RootHash: root(5), Line: "— w1 AAAA\n", SignedAt: at},
		{Witness: "w2+00000000+BB", TreeSize: 5, RootHash: root(5), Line: "— w2 BBBB\n", SignedAt: at},
		{Witness: "w1+00000000+AA", TreeSize: 9, RootHash: root(9), Line: "— w1 CCCC\n", SignedAt: at.Add(time.Second)},
	}
	for _, c := range cs {
		if err := put(c); err != nil {
			t.Fatalf("PutLogCosignature(%s, %d) = %v", c.Witness, c.TreeSize, err)
		}
	}
	// The same again is a no-op; another root for the same size conflicts.
	if err := put(cs[0]); err != nil {
		t.Fatalf("PutLogCosignature again = %v", err)
	}
	forged := cs[0]
	forged.RootHash, forged.Line = root(6), "— w1 DDDD\n"
	if err := put(forged); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutLogCosignature with another root = %v, want ErrConflict", err)
	}
	for _, bad := range []store.LogCosignature{
		{TreeSize: 1, RootHash: root(1), Line: "x", SignedAt: at},
		{Witness: "w", TreeSize: 1, RootHash: root(1), SignedAt: at},
		{Witness: "w", TreeSize: 1, RootHash: []byte{1}, Line: "x", SignedAt: at},
		{Witness: "w", TreeSize: 1, RootHash: root(1), Line: "x"},
	} {
		if err := put(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutLogCosignature(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	got, err := s.LogCosignatures(ctx, 5)
	if err != nil || len(got) != 2 || got[0].Line != cs[0].Line || got[1].Line != cs[1].Line || !got[0].SignedAt.Equal(at) || got[0].RecordedAt.IsZero() {
		t.Fatalf("LogCosignatures(5) = %+v, %v", got, err)
	}
	if got, err := s.LogCosignatures(ctx, 6); err != nil || len(got) != 0 {
		t.Fatalf("LogCosignatures(6) = %+v, %v; want none", got, err)
	}
	latest, err := s.LatestLogCosignature(ctx, "w1+00000000+AA")
	if err != nil || latest.TreeSize != 9 || !bytes.Equal(latest.RootHash, root(9)) {
		t.Fatalf("LatestLogCosignature(w1) = %+v, %v; want size 9", latest, err)
	}
}
