package statement_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// TestBatchFailureInTheMiddle: three submissions committed as one batch,
// the middle one refused by its predicate's indexer after that indexer
// wrote a row. The other two are acknowledged and stored, the refused one
// leaves nothing (no entry, no subject, not the indexer's row), the log
// stays gapless and its tree proves every entry; resubmitting an
// acknowledged envelope returns its entry. Per-entry and batch indexers.
func TestBatchFailureInTheMiddle(t *testing.T) {
	for _, be := range teststore.Backends() {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batch=%v", be.Name, batched), func(t *testing.T) {
				testBatchFailure(t, be.Open(t), batched)
			})
		}
	}
}

func testBatchFailure(t *testing.T, s store.Store, batched bool) {
	ctx := context.Background()
	var (
		gate    = make(chan struct{})
		entered = make(chan struct{}, 1)
		once    sync.Once
	)
	refused := errors.New("refused by the test indexer")
	index := func(ctx context.Context, w store.Writer, e store.Statement) error {
		switch {
		case bytes.Contains(e.Payload, []byte(`"gate"`)):
			once.Do(func() { entered <- struct{}{}; <-gate })
		case bytes.Contains(e.Payload, []byte(`"fail"`)):
			// A row of the failing entry's own, which must not survive.
			if _, err := w.PutKey(ctx, store.Key{ID: "written-by-failed-entry", Type: "ed25519", PublicKey: []byte("x")}); err != nil {
				return err
			}
			return refused
		}
		return nil
	}
	opts := statement.Options{}
	if batched {
		opts.BatchIndexers = map[string]statement.BatchIndexer{testPredicate: func(ctx context.Context, w store.Writer, es []store.Statement) error {
			for _, e := range es {
				if err := index(ctx, w, e); err != nil {
					return err
				}
			}
			return nil
		}}
	} else {
		opts.Indexers = map[string]statement.Indexer{testPredicate: index}
	}
	skey, vkey, err := tlog.GenerateLogKey("batch-test")
	if err != nil {
		t.Fatal(err)
	}
	opts.LogKey, opts.LogVerifierKey = skey, vkey
	l, err := statement.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	k := newSigner(t, s, envelope.KeyTypeED25519, true)
	envs := map[string][]byte{
		"gate": sign(t, `{"gate":true}`, []envelope.Subject{artifact("gate")}, k),
		"a":    sign(t, `{"ok":1}`, []envelope.Subject{artifact("a")}, k),
		"b":    sign(t, `{"fail":true}`, []envelope.Subject{artifact("b-only")}, k),
		"c":    sign(t, `{"ok":3}`, []envelope.Subject{artifact("c")}, k),
	}
	type outcome struct {
		rec     store.Statement
		created bool
		err     error
	}
	var (
		mu  sync.Mutex
		got = map[string]outcome{}
		wg  sync.WaitGroup
	)
	submit := func(name string) {
		defer wg.Done()
		rec, created, err := l.Submit(ctx, envs[name])
		mu.Lock()
		got[name] = outcome{rec, created, err}
		mu.Unlock()
	}
	// The gate entry holds the commit inside its indexer while a, b and c
	// queue up behind it: they are then committed as one batch.
	wg.Add(1)
	gateDone := make(chan struct{})
	go func() { submit("gate"); close(gateDone) }()
	select {
	case <-entered:
	case <-gateDone:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("gate: %v; it ended before its indexer held it", got["gate"].err)
	}
	for _, name := range []string{"a", "b", "c"} {
		wg.Add(1)
		go submit(name)
	}
	waitQueued(t, l, 3)
	close(gate)
	wg.Wait()

	for _, name := range []string{"gate", "a", "c"} {
		if o := got[name]; o.err != nil || !o.created || o.rec.Seq == 0 {
			t.Fatalf("%s: %+v, want a new entry", name, o)
		}
	}
	if o := got["b"]; !errors.Is(o.err, refused) {
		t.Fatalf("b: %+v, want the indexer's refusal", o)
	}
	// Gapless: entries 1..3 hold gate, a and c, and there is no 4th.
	size, err := s.LogSize(ctx)
	if err != nil || size != 3 {
		t.Fatalf("LogSize = %d, %v; want 3", size, err)
	}
	seen := map[int64][]byte{}
	for _, name := range []string{"gate", "a", "c"} {
		seq := got[name].rec.Seq
		if seq < 1 || seq > 3 || seen[seq] != nil {
			t.Fatalf("%s at seq %d (others %v)", name, seq, seen)
		}
		seen[seq] = envs[name]
	}
	// Nothing of b: no entry, no subject, not its indexer's row.
	if _, err := s.StatementSeqByEnvelope(ctx, envelopeDigest(t, envs["b"])); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b's entry: %v, want ErrNotFound", err)
	}
	if _, err := s.SubjectByDigest(ctx, artifact("b-only").Digests[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b's subject: %v, want ErrNotFound", err)
	}
	if _, err := s.Key(ctx, "written-by-failed-entry"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b's indexer row: %v, want ErrNotFound", err)
	}
	// One tree over the three entries.
	checkProves(t, l, vkey, seen)
	// Idempotent: a again is its entry; b again is refused again.
	again, created, err := l.Submit(ctx, envs["a"])
	if err != nil || created || again.Seq != got["a"].rec.Seq {
		t.Fatalf("resubmitted a: seq %d created %v %v; want seq %d, not created", again.Seq, created, err, got["a"].rec.Seq)
	}
	if _, _, err := l.Submit(ctx, envs["b"]); !errors.Is(err, refused) {
		t.Fatalf("resubmitted b: %v, want the refusal", err)
	}
	if size, _ := s.LogSize(ctx); size != 3 {
		t.Fatalf("LogSize after resubmissions = %d, want 3", size)
	}
}

// envelopeDigest is the log's identity of an envelope: its SHA-256.
func envelopeDigest(t *testing.T, env []byte) digest.Digest {
	t.Helper()
	sum := sha256.Sum256(env)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPlannedOnAFailedBatch: a batch planned against the tip the batch
// before it leaves, while that one commits, when that one then fails at
// its commit: the second is not stored against a tip the log does not
// have. The first is held in its indexer while another transaction
// records one of its digests, so its insert of that digest fails at
// COMMIT (the conflict is the submitter's answer), after the second
// planned against it. The second is refused by the check at the lock,
// retried under the lock and acknowledged; the log is gapless and its
// tree proves every entry.
// PostgreSQL only: SQLite's one write lock makes the other transaction
// wait for the first instead, so the first cannot fail so there.
func TestPlannedOnAFailedBatch(t *testing.T) {
	for _, be := range teststore.Backends() {
		if be.Name != "postgres" {
			continue
		}
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			s := be.Open(t)
			var (
				gate    = make(chan struct{})
				entered = make(chan struct{}, 1)
				once    sync.Once
			)
			skey, vkey, err := tlog.GenerateLogKey("planned-test")
			if err != nil {
				t.Fatal(err)
			}
			l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey,
				BatchIndexers: map[string]statement.BatchIndexer{testPredicate: func(ctx context.Context, w store.Writer, es []store.Statement) error {
					for _, e := range es {
						if bytes.Contains(e.Payload, []byte(`"gate"`)) {
							once.Do(func() { entered <- struct{}{}; <-gate })
						}
					}
					return nil
				}}})
			if err != nil {
				t.Fatal(err)
			}
			k := newSigner(t, s, envelope.KeyTypeED25519, true)
			gated := artifact("planned-gate")
			envs := map[string][]byte{
				"gate": sign(t, `{"gate":true}`, []envelope.Subject{gated}, k),
				"a":    sign(t, `{"ok":1}`, []envelope.Subject{artifact("planned-a")}, k),
				"c":    sign(t, `{"ok":3}`, []envelope.Subject{artifact("planned-c")}, k),
			}
			var (
				mu  sync.Mutex
				got = map[string]store.Statement{}
				wg  sync.WaitGroup
			)
			submit := func(name string) {
				defer wg.Done()
				rec, created, err := l.Submit(ctx, envs[name])
				switch {
				case name == "gate":
					if !errors.Is(err, store.ErrConflict) {
						t.Errorf("gate: %v, want ErrConflict (its digest recorded meanwhile)", err)
					}
					return
				case err != nil || !created:
					t.Errorf("%s: created %v, %v", name, created, err)
				}
				mu.Lock()
				got[name] = rec
				mu.Unlock()
			}
			wg.Add(1)
			go submit("gate")
			<-entered
			for _, name := range []string{"a", "c"} {
				wg.Add(1)
				go submit(name)
			}
			waitQueued(t, l, 2)
			// Another transaction records the gate's digest (an alias
			// claim, which does not take the log lock).
			err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
				_, _, err := w.AddAliasClaim(ctx, store.AliasClaim{Source: store.ClaimTUFTarget, Reference: "planned-test",
					Digests: []digest.Digest{gated.Digests[0], artifact("planned-elsewhere").Digests[0]}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			close(gate)
			wg.Wait()
			if t.Failed() {
				return
			}
			if n := l.Replans(); n != 1 {
				t.Errorf("batches planned against a tip and retried under the lock: %d, want 1", n)
			}
			if size, err := s.LogSize(ctx); err != nil || size != 2 {
				t.Fatalf("LogSize = %d, %v; want 2", size, err)
			}
			acked := map[int64][]byte{}
			for name, rec := range got {
				acked[rec.Seq] = envs[name]
			}
			checkProves(t, l, vkey, acked)
		})
	}
}

// TestSlowCommitBeforePlanned: a batch planned against the tip of a batch
// whose commit takes longer than the planned batch's lock timeout (a slow
// disk; here a commit held by a trigger) gives up its wait, is appended
// again under the log lock once that commit is done, and its submitter
// gets its entry, not an error.
func TestSlowCommitBeforePlanned(t *testing.T) {
	ctx := context.Background()
	s, url := teststore.Postgres(t)
	f := newFixture(t, s, nil)
	k := newSigner(t, s, envelope.KeyTypeED25519, true)
	envs := map[string][]byte{
		"slow":    sign(t, `{"slow":true}`, []envelope.Subject{artifact("commit-slow")}, k),
		"planned": sign(t, `{"planned":true}`, []envelope.Subject{artifact("commit-planned")}, k),
	}
	hold := testpg.HoldCommits(t, url)
	var (
		mu  sync.Mutex
		got = map[int64][]byte{}
		wg  sync.WaitGroup
	)
	submit := func(name string) {
		defer wg.Done()
		rec, created, err := f.log.Submit(ctx, envs[name])
		if err != nil || !created {
			t.Errorf("%s: created %v, %v", name, created, err)
			return
		}
		mu.Lock()
		got[rec.Seq] = envs[name]
		mu.Unlock()
	}
	wg.Add(2)
	go submit("slow")
	hold.WaitFor(t, "advisory", 1) // its commit is held, the log lock with it
	go submit("planned")
	for deadline := time.Now().Add(30 * time.Second); f.log.Replans() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			hold.Release(t)
			t.Fatal("the planned batch never gave up waiting for the held commit")
		}
	}
	hold.Release(t)
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := f.log.Replans(); n != 1 {
		t.Errorf("batches retried under the lock: %d, want 1", n)
	}
	if size, err := s.LogSize(ctx); err != nil || size != 2 {
		t.Fatalf("LogSize = %d, %v; want 2", size, err)
	}
	checkProves(t, f.log, f.vkey, got)
}

// TestTwoLogsOneTree: two Logs on one store (two trustd replicas on one
// database) append in turn, each keeping its own idea of the tree's right
// edge between its batches; the log stays one gapless tree that proves
// every entry from both.
func TestTwoLogsOneTree(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			s := be.Open(t)
			a := newFixture(t, s, nil)
			skey, vkey, err := tlog.GenerateLogKey("second")
			if err != nil {
				t.Fatal(err)
			}
			other, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey})
			if err != nil {
				t.Fatal(err)
			}
			k := newSigner(t, s, envelope.KeyTypeED25519, true)
			var envs [][]byte
			for i := range 23 {
				env := sign(t, `{}`, []envelope.Subject{artifact(fmt.Sprint("two-", i))}, k)
				l := a.log
				if i%3 == 1 {
					l = other
				}
				rec, created, err := l.Submit(ctx, env)
				if err != nil || !created || rec.Seq != int64(i+1) {
					t.Fatalf("entry %d: seq %d created %v %v", i, rec.Seq, created, err)
				}
				envs = append(envs, env)
			}
			// a planned its second batch against the tip its first left,
			// which other had moved: the check refused it, and it was
			// appended under the lock.
			if a.log.Replans() == 0 {
				t.Error("no batch of a was planned against a moved tip and retried")
			}
			for _, l := range []*statement.Log{a.log, other} {
				signed, size, err := l.Checkpoint(ctx, 0)
				if err != nil || size != 23 {
					t.Fatalf("Checkpoint: size %d, %v", size, err)
				}
				cp, err := tlog.OpenCheckpoint(signed, l.VerifierKey())
				if err != nil {
					t.Fatal(err)
				}
				for i, env := range envs {
					proof, _, treeSize, err := l.InclusionProof(ctx, int64(i+1), size)
					if err != nil {
						t.Fatal(err)
					}
					if err := tlog.VerifyInclusion(tlog.LeafHash(env), uint64(i), treeSize, proof, cp.Hash); err != nil {
						t.Fatalf("inclusion of entry %d: %v", i+1, err)
					}
				}
			}
		})
	}
}

// waitQueued waits until n appends of l wait for the group commit.
func waitQueued(t *testing.T, l *statement.Log, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.QueuedAppends() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", l.QueuedAppends(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkProves checks that entry seq of l holds envs[seq] and that l's
// latest checkpoint, verified with vkey, proves it, for every seq.
func checkProves(t *testing.T, l *statement.Log, vkey string, envs map[int64][]byte) {
	t.Helper()
	ctx := context.Background()
	signed, _, err := l.Checkpoint(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.OpenCheckpoint(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	for seq, env := range envs {
		st, err := l.Get(ctx, seq)
		if err != nil || !bytes.Equal(st.Envelope, env) {
			t.Fatalf("entry %d: %v, want the envelope acknowledged as it", seq, err)
		}
		proof, _, treeSize, err := l.InclusionProof(ctx, seq, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(env), uint64(seq-1), treeSize, proof, cp.Hash); err != nil {
			t.Fatalf("inclusion of entry %d: %v", seq, err)
		}
	}
}

// TestBatchGathersArrivingEntries: a batch waits for the submitters still
// verifying their entries, so a client answered a moment ago joins it
// rather than a batch of its own; one that gives up, or takes longer than
// the wait, holds nobody up.
func TestBatchGathersArrivingEntries(t *testing.T) {
	for _, c := range []struct {
		name  string
		wait  time.Duration
		join  bool // the arriving submitter queues an entry
		leave bool // it leaves (queued or not) before the wait is over
		sizes []int
	}{
		{"joins the batch", time.Minute, true, true, []int{2}},
		{"gives up", time.Minute, false, true, []int{1}},
		{"too slow", 200 * time.Millisecond, false, false, []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := teststore.Backends()[0].Open(t)
			var (
				mu    sync.Mutex
				sizes []int
			)
			skey, vkey, err := tlog.GenerateLogKey("gather-test")
			if err != nil {
				t.Fatal(err)
			}
			l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey,
				BatchIndexers: map[string]statement.BatchIndexer{testPredicate: func(_ context.Context, _ store.Writer, es []store.Statement) error {
					mu.Lock()
					defer mu.Unlock()
					sizes = append(sizes, len(es))
					return nil
				}}})
			if err != nil {
				t.Fatal(err)
			}
			l.SetGatherWait(c.wait)
			k := newSigner(t, s, envelope.KeyTypeED25519, true)
			ctx := context.Background()
			leave := l.Arrive()
			errs := make(chan error, 2)
			submit := func(name string) {
				_, _, err := l.Submit(ctx, sign(t, `{"ok":1}`, []envelope.Subject{artifact(name)}, k))
				errs <- err
			}
			go submit("first")
			waitQueued(t, l, 1)
			n := 1
			if c.join {
				go submit("second")
				waitQueued(t, l, 2)
				n++
			}
			if c.leave {
				leave()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			leave()
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(sizes, c.sizes) {
				t.Errorf("batches of %v entries, want %v", sizes, c.sizes)
			}
		})
	}
}
