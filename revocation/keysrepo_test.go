package revocation_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
