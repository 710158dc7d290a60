// Package tuftest builds TUF repositories for tests and benchmarks of the
// packages that wire the tuf package into trustd: keys, a root v1 naming
// trustd's online keys, and signed targets uploads.
package tuftest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// Key is a test signing key in both forms the tuf package uses, and as
// an envelope key (to register it with trustd, or sign statements with
// it).
type Key struct {
	Signer signature.Signer
	Key    *metadata.Key
	ID     string
	// Envelope signs DSSE envelopes with the key; Public is its public
	// key (Public.Encode registers it).
	Envelope envelope.Signer
	Public   envelope.PublicKey
}

// NewKey generates an ed25519 key.
func NewKey(t testing.TB) Key {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := tuf.EnvelopeSigner(s)
	k, id, err := tuf.PublicKeyOf(signer)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: signer, Key: k, ID: id, Envelope: s, Public: pub}
}

// OnlineKeys returns a fresh set of trustd online keys (one snapshot, one
// timestamp key).
func OnlineKeys(t testing.TB) *tuf.OnlineKeys {
	t.Helper()
	o := tuf.NewOnlineKeys()
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, err := o.Add(role, NewKey(t).Signer); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// Repo is a repository's offline keys and its root v1.
type Repo struct {
	Name    string
	Root    Key
	Targets Key
	RootV1  []byte
}

// NewRepo builds and signs root v1 for name (one root and one targets key,
// threshold 1, trustd's online keys), without uploading it.
func NewRepo(t testing.TB, name string, online *tuf.OnlineKeys) *Repo {
	t.Helper()
	r := &Repo{Name: name, Root: NewKey(t), Targets: NewKey(t)}
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 1, Expires: time.Now().Add(365 * 24 * time.Hour),
		Root: tuf.KeySet{Keys: []*metadata.Key{r.Root.Key}, Threshold: 1}, Targets: tuf.KeySet{Keys: []*metadata.Key{r.Targets.Key}, Threshold: 1},
		Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	if r.RootV1, err = tuf.Sign(md, r.Root.Signer); err != nil {
		t.Fatal(err)
	}
	return r
}

// SignTargets returns the next targets version after current (nil: v1) with
// target name describing content, signed by signers (default: the
// repository's targets key).
func (r *Repo) SignTargets(t testing.TB, current []byte, name string, content []byte, signers ...signature.Signer) []byte {
	t.Helper()
	n, ds, err := tuf.HashTarget(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	tf, err := tuf.NewTargetFile(n, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	md, err := tuf.AddTarget(current, name, tf, time.Now().Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) == 0 {
		signers = []signature.Signer{r.Targets.Signer}
	}
	out, err := tuf.Sign(md, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NewService returns trustd's TUF service over st and log, with its state
// and fresh online keys, as a server wires them.
func NewService(t testing.TB, st store.Store, log *statement.Log) (*tuf.Service, *tufstore.State, *tuf.OnlineKeys) {
	t.Helper()
	state, err := tufstore.New(st, log)
	if err != nil {
		t.Fatal(err)
	}
	online := OnlineKeys(t)
	svc, err := tuf.New(state, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return svc, state, online
}

// InitRepo creates repository name in trustd's TUF state over st and log:
// a new root key, targets as the targets key, and fresh online keys for
// snapshot and timestamp. It returns the service to upload through and
// the repository to sign with.
func InitRepo(t testing.TB, st store.Store, log *statement.Log, name string, targets Key) (*tuf.Service, *Repo) {
	t.Helper()
	svc, _, online := NewService(t, st, log)
	repo := &Repo{Name: name, Root: NewKey(t), Targets: targets}
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 1, Expires: time.Now().Add(24 * time.Hour),
		Root: tuf.KeySet{Keys: []*metadata.Key{repo.Root.Key}}, Targets: tuf.KeySet{Keys: []*metadata.Key{targets.Key}},
		Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	root, err := tuf.Sign(md, repo.Root.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Init(context.Background(), name, root); err != nil {
		t.Fatal(err)
	}
	return svc, repo
}
