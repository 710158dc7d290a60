package revocation_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// keysRepoStack is what trustd wires for trustd/keys on one store: a TUF
// service over the store-backed state, and the key publisher.
type keysRepoStack struct {
	store store.Store
	state *tufstore.State
	svc   *tuf.Service
	kp    *revocation.KeyPublisher
}

// newKeysRepoStack builds the stack on st; replicas share the log key, the
// online keys and the system keys directory, as trustd replicas do.
func newKeysRepoStack(t testing.TB, st store.Store, logKey, logVerifier string, online *tuf.OnlineKeys, systemDir string) *keysRepoStack {
	t.Helper()
	l, err := statement.New(st, statement.Options{LogKey: logKey, LogVerifierKey: logVerifier})
	if err != nil {
		t.Fatal(err)
	}
	state, err := tufstore.New(st, l)
	if err != nil {
		t.Fatal(err)
	}
	// An open creation policy: the reserved names must hold even then.
	svc, err := tuf.New(state, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := revocation.NewKeyPublisher(svc, state, online, systemDir)
	if err != nil {
		t.Fatal(err)
	}
	return &keysRepoStack{store: st, state: state, svc: svc, kp: kp}
}

func newLogKey(t testing.TB) (string, string) {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// serveKeysRepo serves svc's trustd/keys metadata in the TUF layout.
func serveKeysRepo(t testing.TB, svc *tuf.Service) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/tuf/"+revocation.KeysRepo+"/")
		data, err := svc.Metadata(r.Context(), revocation.KeysRepo, name)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/tuf/" + revocation.KeysRepo
}

// TestKeysRepoTakeover: a stranger cannot take trustd/keys. Their 'tuf
// init trustd/keys' is refused even under an open creation policy; trustd
// creates the repository at start with its own keys and publishes the
// token and list keys; the stranger can neither upload targets nor propose
// a new root; a go-tuf client pinned to the served root gets trustd's token
// key. A trustd/keys that someone else created before trustd first started
// stops trustd from starting instead of being used.
func TestKeysRepoTakeover(t *testing.T) {
	ctx := context.Background()
	online := tuftest.OnlineKeys(t)
	skey, vkey := newLogKey(t)
	s := newKeysRepoStack(t, teststoreSQLite(t), skey, vkey, online, filepath.Join(t.TempDir(), "system"))
	stranger := tuftest.NewRepo(t, revocation.KeysRepo, online)
	_, tokPub := listKey(t)
	_, listPub := listKey(t)

	// Before trustd starts: the stranger's init is refused, nothing stored.
	if _, err := s.svc.Init(ctx, revocation.KeysRepo, stranger.RootV1); !errors.Is(err, tuf.ErrNotAuthorized) {
		t.Fatalf("stranger's init of %s = %v, want ErrNotAuthorized", revocation.KeysRepo, err)
	}
	if _, err := s.state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 0); !errors.Is(err, tuf.ErrNotFound) {
		t.Fatalf("the refused init stored a root: %v", err)
	}

	// trustd starts: the repository exists with its keys, both published.
	if err := s.kp.Start(ctx, s.kp.Key(token.KeyTarget, tokPub), s.kp.Key(revocation.ListKeyTarget, listPub)); err != nil {
		t.Fatal(err)
	}
	// Both keys in one targets version.
	if v, err := s.state.Get(ctx, revocation.KeysRepo, metadata.TARGETS, 0); err != nil || !strings.Contains(string(v), `"version":1`) {
		t.Errorf("targets after start = %s, %v; want version 1 with both keys", v, err)
	}
	// Starting again (a restart) changes nothing.
	sizeBefore := logSize(t, s)
	if err := s.kp.Start(ctx, s.kp.Key(token.KeyTarget, tokPub), s.kp.Key(revocation.ListKeyTarget, listPub)); err != nil {
		t.Fatal(err)
	}
	if got := logSize(t, s); got != sizeBefore {
		t.Errorf("a restart appended %d log entries", got-sizeBefore)
	}

	// After start: init is still refused (not "exists"), targets signed by
	// the stranger do not verify, and a root proposal by the stranger alone
	// is not even kept pending.
	if _, err := s.svc.Init(ctx, revocation.KeysRepo, stranger.RootV1); !errors.Is(err, tuf.ErrNotAuthorized) {
		t.Errorf("stranger's init after start = %v, want ErrNotAuthorized", err)
	}
	current, err := s.state.Get(ctx, revocation.KeysRepo, metadata.TARGETS, 0)
	if err != nil {
		t.Fatal(err)
	}
	evil := stranger.SignTargets(t, current, token.KeyTarget, []byte("stranger's token key"))
	if _, err := s.svc.Upload(ctx, revocation.KeysRepo, metadata.TARGETS, evil); !errors.Is(err, tuf.ErrBadSignature) {
		t.Errorf("stranger's targets upload = %v, want ErrBadSignature", err)
	}
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 2, Expires: time.Now().Add(time.Hour),
		Root: tuf.KeySet{Keys: []*metadata.Key{stranger.Root.Key}, Threshold: 1}, Targets: tuf.KeySet{Keys: []*metadata.Key{stranger.Targets.Key}, Threshold: 1},
		Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	proposal, err := tuf.Sign(md, stranger.Root.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Upload(ctx, revocation.KeysRepo, metadata.ROOT, proposal); !errors.Is(err, tuf.ErrNotAuthorized) {
		t.Errorf("stranger's root proposal = %v, want ErrNotAuthorized", err)
	}
	if ps, err := s.state.Pending(ctx, revocation.KeysRepo); err != nil || len(ps) != 0 {
		t.Errorf("pending after the stranger's attempts: %+v, %v", ps, err)
	}

	// A go-tuf client pinned to the root trustd serves reads trustd's keys.
	url := serveKeysRepo(t, s.svc)
	root, err := s.state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 1)
	if err != nil {
		t.Fatal(err)
	}
	meta := t.TempDir()
	for name, want := range map[string]envelope.PublicKey{token.KeyTarget: tokPub, revocation.ListKeyTarget: listPub} {
		if got, err := revocation.FetchKey(url, root, meta, name); err != nil || got.ID != want.ID {
			t.Errorf("FetchKey(%s) = %s, %v; want %s", name, got.ID, err, want.ID)
		}
	}

	// A trustd/keys created by someone else (before this server first
	// started, or with another replica's system keys) is never used.
	foreign := newKeysRepoStack(t, teststoreSQLite(t), skey, vkey, online, filepath.Join(t.TempDir(), "system"))
	if _, err := foreign.svc.InitReserved(ctx, revocation.KeysRepo, stranger.RootV1); err != nil {
		t.Fatal(err)
	}
	err = foreign.kp.Start(ctx, foreign.kp.Key(token.KeyTarget, tokPub))
	if !errors.Is(err, revocation.ErrKeysRepoForeign) || !strings.Contains(err.Error(), stranger.Root.ID) {
		t.Fatalf("start over a foreign %s = %v, want ErrKeysRepoForeign naming its root key", revocation.KeysRepo, err)
	}
	if _, err := foreign.state.Get(ctx, revocation.KeysRepo, metadata.TARGETS, 0); !errors.Is(err, tuf.ErrNotFound) {
		t.Errorf("a key was published into the foreign repository: %v", err)
	}
}

func logSize(t testing.TB, s *keysRepoStack) uint64 {
	t.Helper()
	n, err := s.store.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKeysRepoReplicaRace: two replicas starting at once on one PostgreSQL
// database both start: the one that loses the race to create trustd/keys
// (or to publish a key) re-reads the winner's repository, and no error
// reaches its caller. Repeated on fresh databases to meet the race often.
func TestKeysRepoReplicaRace(t *testing.T) {
	ctx := context.Background()
	online := tuftest.OnlineKeys(t)
	skey, vkey := newLogKey(t)
	_, tokPub := listKey(t)
	_, listPub := listKey(t)
	for round := range 6 {
		url := testpg.URL(t)
		system := filepath.Join(t.TempDir(), "system") // shared, as replicas share their keys
		stacks := make([]*keysRepoStack, 2)
		for i := range stacks {
			st, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			stacks[i] = newKeysRepoStack(t, st, skey, vkey, online, system)
		}
		start := make(chan struct{})
		errs := make([]error, len(stacks))
		var wg sync.WaitGroup
		for i, s := range stacks {
			wg.Go(func() {
				<-start
				errs[i] = s.kp.Start(ctx, s.kp.Key(token.KeyTarget, tokPub), s.kp.Key(revocation.ListKeyTarget, listPub))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: replica %d failed to start: %v", round, i, err)
			}
		}
		for i, s := range stacks {
			url := serveKeysRepo(t, s.svc)
			root, err := s.state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 1)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]envelope.PublicKey{token.KeyTarget: tokPub, revocation.ListKeyTarget: listPub} {
				if got, err := revocation.FetchKey(url, root, t.TempDir(), name); err != nil || got.ID != want.ID {
					t.Errorf("round %d, replica %d: FetchKey(%s) = %s, %v; want %s", round, i, name, got.ID, err, want.ID)
				}
			}
		}
		if _, err := stacks[0].state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 2); !errors.Is(err, tuf.ErrNotFound) {
			t.Errorf("round %d: a second root was published: %v", round, err)
		}
	}
}

// TestKeysRepoRotation: a planned rotation of trustd's keys through
// trustd/keys, followed by a client that pinned the old state, on both
// backends. Each step is a restart (Start) with the rotated key sets: the
// next token key is published beside the current one (verifiers learn it
// before it signs), then it signs while the old one stays published (old
// tokens verify until they expire), then the old one goes; the list key
// and the log key rotate the same way. The client refreshes from the root
// it pinned before the rotation, which never changes; between refreshes
// it reads the same keys from its cache alone.
func TestKeysRepoRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		ctx := context.Background()
		online := tuftest.OnlineKeys(t)
		skey, vkey := newLogKey(t)
		s := newKeysRepoStack(t, open(t), skey, vkey, online, filepath.Join(t.TempDir(), "system"))
		var logged strings.Builder
		s.kp.Log = slog.New(slog.NewTextHandler(&logged, nil))
		_, tokA := listKey(t)
		_, tokB := listKey(t)
		_, listA := listKey(t)
		_, listB := listKey(t)
		_, logB := newLogKey(t)

		start := func(tok, list *revocation.PublishedKey, logKeys ...string) {
			t.Helper()
			lk, err := s.kp.LogKey(logKeys[0], logKeys[1:]...)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.kp.Start(ctx, tok, list, lk); err != nil {
				t.Fatal(err)
			}
		}
		start(s.kp.Key(token.KeyTarget, tokA), s.kp.Key(revocation.ListKeyTarget, listA), vkey)
		url := serveKeysRepo(t, s.svc)
		pinned, err := s.state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 1)
		if err != nil {
			t.Fatal(err)
		}
		meta := t.TempDir() // the client's cache, kept across the rotation
		check := func(step string, wantTok, wantList []envelope.PublicKey, wantLog []string) {
			t.Helper()
			for _, local := range []bool{false, true} {
				var toks, lists []envelope.PublicKey
				var logs []string
				var err1, err2, err3 error
				if local {
					toks, err1 = revocation.CachedKeys(pinned, meta, token.KeyTarget)
					lists, err2 = revocation.CachedKeys(pinned, meta, revocation.ListKeyTarget)
					logs, err3 = revocation.CachedLogKeys(pinned, meta)
				} else {
					toks, err1 = revocation.FetchKeys(url, pinned, meta, token.KeyTarget)
					lists, err2 = revocation.FetchKeys(url, pinned, meta, revocation.ListKeyTarget)
					logs, err3 = revocation.FetchLogKeys(url, pinned, meta)
				}
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Fatalf("%s (cached: %v): %v", step, local, err)
				}
				if got, want := keyIDs(toks), keyIDs(wantTok); !slices.Equal(got, want) {
					t.Errorf("%s (cached: %v): token keys %v, want %v", step, local, got, want)
				}
				if got, want := keyIDs(lists), keyIDs(wantList); !slices.Equal(got, want) {
					t.Errorf("%s (cached: %v): list keys %v, want %v", step, local, got, want)
				}
				if !slices.Equal(logs, wantLog) {
					t.Errorf("%s (cached: %v): log keys %v, want %v", step, local, logs, wantLog)
				}
			}
		}
		check("before", []envelope.PublicKey{tokA}, []envelope.PublicKey{listA}, []string{vkey})

		// 1: the next keys are announced; the current ones still sign.
		start(s.kp.Key(token.KeyTarget, tokA, tokB), s.kp.Key(revocation.ListKeyTarget, listA, listB), vkey)
		check("announced", []envelope.PublicKey{tokA, tokB}, []envelope.PublicKey{listA, listB}, []string{vkey})
		// 2: the new keys sign; the old ones stay accepted. The log key
		// rotates here: the new one signs, the old one co-signs.
		start(s.kp.Key(token.KeyTarget, tokB, tokA), s.kp.Key(revocation.ListKeyTarget, listB, listA), logB, vkey)
		check("switched", []envelope.PublicKey{tokB, tokA}, []envelope.PublicKey{listB, listA}, []string{logB, vkey})
		if logged.Len() > 0 {
			t.Errorf("a key was retired before the last step:\n%s", logged.String())
		}
		// A restart with the same configuration publishes nothing new.
		before := logSize(t, s)
		start(s.kp.Key(token.KeyTarget, tokB, tokA), s.kp.Key(revocation.ListKeyTarget, listB, listA), logB, vkey)
		if got := logSize(t, s); got != before {
			t.Errorf("a restart with the same keys appended %d log entries", got-before)
		}
		// 3: the old keys go, in one targets version, and the operator is
		// told what stops verifying.
		start(s.kp.Key(token.KeyTarget, tokB), s.kp.Key(revocation.ListKeyTarget, listB), logB)
		check("retired", []envelope.PublicKey{tokB}, []envelope.PublicKey{listB}, []string{logB})
		if got := logSize(t, s); got != before+3 { // targets, snapshot, timestamp
			t.Errorf("retiring three keys appended %d log entries, want 3 (one targets version)", got-before)
		}
		for _, id := range []string{tokA.ID, listA.ID, revocation.NoteKeyID(vkey)} {
			if !strings.Contains(logged.String(), "key="+id) {
				t.Errorf("retiring key %s was not logged:\n%s", id, logged.String())
			}
		}
		// The root never changed: the pinned root v1 is still the root.
		if _, err := s.state.Get(ctx, revocation.KeysRepo, metadata.ROOT, 2); !errors.Is(err, tuf.ErrNotFound) {
			t.Errorf("the rotation published a root v2: %v", err)
		}
		// The daily republish of one purpose keeps the others' keys.
		if _, err := s.kp.Key(token.KeyTarget, tokB).Publish(ctx); err != nil {
			t.Fatal(err)
		}
		check("republished", []envelope.PublicKey{tokB}, []envelope.PublicKey{listB}, []string{logB})
	})
}

// TestAcceptedKeyTarget: accepted keys are published under names of their
// purpose that no other purpose's names match.
func TestAcceptedKeyTarget(t *testing.T) {
	for _, tc := range []struct{ name, id, want string }{
		{token.KeyTarget, "3e63", "token.3e63.pub"},
		{revocation.ListKeyTarget, "ab12", "revocation-list.ab12.pub"},
		{revocation.LogKeyTarget, "ff00", "log.ff00.vkey"},
	} {
		if got := revocation.AcceptedKeyTarget(tc.name, tc.id); got != tc.want {
			t.Errorf("AcceptedKeyTarget(%s, %s) = %s, want %s", tc.name, tc.id, got, tc.want)
		}
	}
}

func keyIDs(keys []envelope.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
