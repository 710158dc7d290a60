package statement_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/tlog"
)

// TestLogKeyRotation: the same log, on the same store, served first with
// the old key, then during a planned rotation (the new key signs, the old
// one co-signs and the checkpoint announces the new one), then with the new
// key alone. A client that pinned the old key follows to the new one and
// proves every later checkpoint consistent with the ones it saw; a client
// that pinned the new key reads the rotation's checkpoints as any other.
func TestLogKeyRotation(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			oldSKey, oldVKey := logKey(t, "test-log")
			newSKey, newVKey := logKey(t, "test-log")
			open := func(opts statement.Options) *statement.Log {
				t.Helper()
				l, err := statement.New(st, opts)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			k := newSigner(t, st, envelope.KeyTypeED25519, true)
			submitted := 0
			submit := func(l *statement.Log, n int) {
				t.Helper()
				for range n {
					submitted++
					if _, _, err := l.Submit(ctx, sign(t, `{}`, []envelope.Subject{artifact(fmt.Sprint("artifact ", submitted))}, k)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The client: its pinned key and the last checkpoint it saw.
			pinned := oldVKey
			var seen tlog.Checkpoint
			follow := func(l *statement.Log, step string) tlog.Checkpoint {
				t.Helper()
				signed, _, err := l.Checkpoint(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				cp, key, err := tlog.FollowCheckpoint(signed, pinned)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if seen.Hash != nil {
					proof, _, _, err := l.ConsistencyProof(ctx, seen.Size, cp.Size)
					if err != nil {
						t.Fatal(err)
					}
					if err := tlog.CheckConsistent(seen, cp, proof); err != nil {
						t.Fatalf("%s: %v", step, err)
					}
				}
				pinned, seen = key, cp
				return cp
			}

			before := open(statement.Options{LogKey: oldSKey, LogVerifierKey: oldVKey})
			submit(before, 3)
			if cp := follow(before, "before"); cp.NewKey != "" || pinned != oldVKey {
				t.Fatalf("before the rotation: %+v, pinned %s", cp, pinned)
			}

			during := open(statement.Options{LogKey: newSKey, LogVerifierKey: newVKey, RetiringLogKeys: []string{oldSKey}})
			if during.VerifierKey() != newVKey {
				t.Errorf("VerifierKey during the rotation = %s, want the new key", during.VerifierKey())
			}
			submit(during, 2)
			if cp := follow(during, "during"); cp.NewKey != newVKey || pinned != newVKey {
				t.Fatalf("during the rotation: %+v, pinned %s; want the new key", cp, pinned)
			}
			// Inclusion proofs come with the same announcing checkpoint,
			// which a client that pinned the new key reads as well.
			_, signed, _, err := during.InclusionProof(ctx, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{oldVKey, newVKey} {
				if _, got, err := tlog.FollowCheckpoint(signed, key); err != nil || got != newVKey {
					t.Errorf("inclusion proof checkpoint, pinned %s: %s, %v", key, got, err)
				}
			}

			after := open(statement.Options{LogKey: newSKey, LogVerifierKey: newVKey})
			submit(after, 2)
			if cp := follow(after, "after"); cp.NewKey != "" || cp.Size != 7 {
				t.Fatalf("after the rotation: %+v", cp)
			}
			// The old key no longer signs: a client that missed the whole
			// rotation learns nothing from these checkpoints.
			signed, _, err = after.Checkpoint(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tlog.FollowCheckpoint(signed, oldVKey); err == nil {
				t.Error("a checkpoint after the rotation verifies with the old key")
			}
		})
	}
}

// TestLogKeyOptions: a log whose keys could sign checkpoints no client
// accepts is refused.
func TestLogKeyOptions(t *testing.T) {
	st := teststore.Backends()[0].Open(t)
	skey, vkey := logKey(t, "test-log")
	other, otherV := logKey(t, "test-log")
	renamed, _ := logKey(t, "other-log")
	for _, tc := range []struct {
		name string
		opts statement.Options
		want string
	}{
		{"keys of two pairs", statement.Options{LogKey: skey, LogVerifierKey: otherV}, "do not belong together"},
		{"retiring key of another name", statement.Options{LogKey: skey, LogVerifierKey: vkey, RetiringLogKeys: []string{renamed}}, "keeps the log's name"},
		{"the log key retiring itself", statement.Options{LogKey: skey, LogVerifierKey: vkey, RetiringLogKeys: []string{skey}}, "the same key twice"},
		{"a retiring key twice", statement.Options{LogKey: skey, LogVerifierKey: vkey, RetiringLogKeys: []string{other, other}}, "the same key twice"},
		{"a verifier key as a retiring key", statement.Options{LogKey: skey, LogVerifierKey: vkey, RetiringLogKeys: []string{otherV}}, "retiring log key 1"},
	} {
		if _, err := statement.New(st, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func logKey(t testing.TB, origin string) (string, string) {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}
