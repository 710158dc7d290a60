package server_test

import (
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
)

// stack is what newStack wires over one store: the server's options with
// the log, TUF, revocation lists and tokens set, and the keys tests check
// against.
type stack struct {
	opts     server.Options
	tufState tuf.State
	listKey  envelope.PublicKey
	tokenKey envelope.PublicKey
	// replicaLists builds the revocation lists another trustd over the
	// same store and keys would serve: the same list key, a cache of its
	// own.
	replicaLists func() *revocation.Lists
}

// newStack wires trustd's services over st as trustd does, with revocation
// configured by cfg; acceptedTokenKeys and acceptedListKeys are published
// beside the keys it signs with (a planned rotation).
func newStack(t testing.TB, st store.Store, cfg revocation.Config, acceptedTokenKeys, acceptedListKeys []envelope.PublicKey) stack {
	t.Helper()
	cfg.PGP = pgplog.New(st, nil)
	rev := revocation.New(st, cfg)
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	// The OpenPGP records' validators too, as trustd wires them (logHooks).
	validators := pgplog.Validators(st)
	maps.Copy(validators, rev.Validators())
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: rev.Indexers()})
	if err != nil {
		t.Fatal(err)
	}
	tufSvc, tufState, online := tuftest.NewService(t, st, l)
	dir := t.TempDir()
	signer, listKey, err := revocation.LoadListKey(filepath.Join(dir, "list.key"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := revocation.NewKeyPublisher(tufSvc, tufState, online, filepath.Join(dir, "keys-repo"))
	if err != nil {
		t.Fatal(err)
	}
	tokSigner, tokKey, err := token.LoadOrCreateKey(filepath.Join(dir, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	return stack{
		opts: server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			TUF: tufSvc, TUFState: tufState, TUFKeys: online,
			Revocation: rev, RevocationLists: revocation.NewLists(revocation.NewPublisher(st, signer, time.Hour), kp, listKey, acceptedListKeys...),
			TokenIssuer: token.NewIssuer(tokSigner, tokKey), TokenKey: kp.Key(token.KeyTarget, tokKey, acceptedTokenKeys...)},
		tufState: tufState, listKey: listKey, tokenKey: tokKey,
		replicaLists: func() *revocation.Lists {
			return revocation.NewLists(revocation.NewPublisher(st, signer, time.Hour), kp, listKey, acceptedListKeys...)
		},
	}
}
