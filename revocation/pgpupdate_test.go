package revocation_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/gpgtest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// updatingRegistry is the key registry as trustd wires it: a registered
// OpenPGP certificate given again is updated through pgplog.
func (e *env) updatingRegistry() *keys.Registry {
	return keys.NewRegistry(e.store).WithCertificateUpdater(func(ctx context.Context, data []byte) (*pgp.Certificate, keys.Update, error) {
		u, err := e.pgp.UpdateCertificate(ctx, data)
		return u.Certificate, keys.Update{Changes: u.Changes, Ignored: u.Ignored, Entry: u.Entry.Seq}, err
	})
}

func changeKinds(u *keys.Update) []pgp.ChangeKind {
	if u == nil {
		return nil
	}
	var out []pgp.ChangeKind
	for _, c := range u.Changes {
		out = append(out, c.Kind)
	}
	return out
}

func storeLogSize(t testing.TB, s store.Store) uint64 {
	t.Helper()
	n, err := s.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPGPRevocationExports: a revocation reaches trustd the ways gpg
// users have it, for every reason code gpg offers: a revoked certificate
// re-exported after importing gpg --gen-revoke output (through key add,
// which merges it, or pgp revoke, armored or binary, which takes the
// revocation out of it) and the bare revocation certificate in binary.
// Both used to be refused (key add: "another key is registered under
// this id"; pgp revoke: "want one revocation signature packet, got
// PublicKey"). Every way, key status and the revocation index say
// revoked with gpg's reason and its strength, and doing it again adds
// nothing.
func TestPGPRevocationExports(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, reason := range []struct {
			menu    string
			pgp     pgp.Reason
			indexed revocation.Reason
			hard    bool
		}{
			{"0", pgp.ReasonNone, revocation.ReasonOther, true},
			{"1", pgp.ReasonCompromised, revocation.ReasonCompromised, true},
			{"2", pgp.ReasonSuperseded, revocation.ReasonSuperseded, false},
			{"3", pgp.ReasonRetired, revocation.ReasonRetired, false},
		} {
			for _, via := range []string{"key add", "pgp revoke armored export", "pgp revoke binary export", "pgp revoke bare binary"} {
				t.Run(reason.menu+"/"+via, func(t *testing.T) {
					ctx := context.Background()
					e := newEnv(t, open(t), revocation.Config{})
					reg := e.updatingRegistry()
					h := gpgtest.New(t)
					fpr := h.GenKey("Rev <rev@example.org>")
					if _, _, err := reg.Add(ctx, h.Run(nil, "--armor", "--export", fpr), ""); err != nil {
						t.Fatal(err)
					}
					rev := h.GenRevoke(fpr, reason.menu, "reason "+reason.menu)
					h.Run(rev, "--import")
					do := func() (created bool) {
						t.Helper()
						var data []byte
						switch via {
						case "key add":
							k, created, err := reg.Add(ctx, h.Run(nil, "--export", fpr), "")
							if err != nil || created {
								t.Fatalf("key add of the revoked export: %+v, %v", k.Update, err)
							}
							// Nil when the export is what is registered now.
							return k.Update != nil && len(k.Update.Changes) > 0
						case "pgp revoke armored export":
							data = h.Run(nil, "--armor", "--export", fpr)
						case "pgp revoke binary export":
							data = h.Run(nil, "--export", fpr)
						case "pgp revoke bare binary":
							data = h.Run(rev, "--dearmor")
						}
						r, err := e.pgp.Revoke(ctx, data)
						if err != nil {
							t.Fatalf("pgp revoke: %v", err)
						}
						if r.Revocation.Reason != reason.pgp || r.Revocation.Hard != reason.hard || r.Revocation.Fingerprint != fpr {
							t.Errorf("revoked %+v", r.Revocation)
						}
						return r.Created
					}
					if !do() {
						t.Fatal("the first time changed nothing")
					}
					size := storeLogSize(t, e.store)
					if do() || storeLogSize(t, e.store) != size {
						t.Errorf("again: changed something (log %d, was %d)", storeLogSize(t, e.store), size)
					}

					e.now = time.Now().Add(time.Hour).UTC()
					st, err := e.svc.KeyStatus(ctx, fpr, e.now)
					if err != nil || st.State != pgp.StateRevoked || st.Revocation.Hard != reason.hard ||
						(st.Revocation.HasReason && st.Revocation.Reason != reason.pgp) {
						t.Errorf("KeyStatus = %s, %v; want revoked for %s (hard %v)", st, err, reason.pgp, reason.hard)
					}
					got, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: fpr})
					if err != nil || got == nil || got.Reason != reason.indexed || got.Action != revocation.ActionRevoke {
						t.Errorf("Lookup = %+v, %v; want %s", got, err, reason.indexed)
					}
				})
			}
		}
	})
}

// TestPGPCertificateUpdates: a registered certificate re-exported after
// gpg --edit-key is updated by key add: a new signing subkey then signs
// manifests trustd accepts, a new expiry makes key status expired, a
// certification counts once its issuer is registered; each update is one
// log entry holding the export as given, nothing of the old certificate
// is dropped, and an export with a stranger's grafted revocation changes
// nothing.
func TestPGPCertificateUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		reg := e.updatingRegistry()
		h := gpgtest.New(t)
		fpr := h.GenKey("Alice <alice@example.org>", "--faked-system-time", "20200101T000000")
		first := h.Run(nil, "--export", fpr)
		if _, _, err := reg.Add(ctx, first, ""); err != nil {
			t.Fatal(err)
		}
		update := func(export []byte) keys.Key {
			t.Helper()
			k, created, err := reg.Add(ctx, export, "")
			if err != nil || created || k.Update == nil {
				t.Fatalf("key add: %+v, %v", k.Update, err)
			}
			return k
		}

		// A new signing subkey: its signatures are refused until the
		// update, accepted after it.
		h.Run(nil, "--quick-add-key", fpr, "ed25519", "sign", "0")
		sub := h.Fingerprints("alice@example.org")[1]
		dir := t.TempDir()
		sums := []byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt\n")
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), sums, 0o600); err != nil {
			t.Fatal(err)
		}
		sig := h.Run(nil, "--local-user", sub+"!", "--detach-sign", "--output", "-", filepath.Join(dir, "SHA256SUMS"))
		m := pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: sig}
		if _, err := e.pgp.PublishManifest(ctx, m); !errors.Is(err, pgplog.ErrUnknownSigner) {
			t.Fatalf("publish with an unregistered subkey: %v, want ErrUnknownSigner", err)
		}
		size := storeLogSize(t, e.store)
		k := update(h.Run(nil, "--armor", "--export", fpr))
		if got := changeKinds(k.Update); !slices.Equal(got, []pgp.ChangeKind{pgp.ChangeSubkey, pgp.ChangeSelfSignature}) {
			t.Errorf("addkey changes %v", got)
		}
		if storeLogSize(t, e.store) != size+1 || k.Update.Entry == 0 {
			t.Errorf("log grew by %d, want one entry", storeLogSize(t, e.store)-size)
		}
		entry, err := e.store.Statement(ctx, k.Update.Entry)
		if err != nil || entry.PredicateType != pgplog.CertUpdatePredicateType || entry.SignerKeyIDs[0] != fpr {
			t.Errorf("update entry %+v, %v", entry, err)
		}
		if stored, err := e.store.Key(ctx, fpr); err != nil || !bytes.Contains(stored.PublicKey, first) && len(stored.PublicKey) <= len(first) {
			t.Errorf("stored certificate does not extend the first one: %v", err)
		}
		p, err := e.pgp.PublishManifest(ctx, m)
		if err != nil || p.Signature.SigningKey != sub {
			t.Errorf("publish with the new subkey after the update: %+v, %v", p.Signature, err)
		}

		// A certification by Bob: ignored while Bob is not registered.
		b := gpgtest.New(t)
		bob := b.GenKey("Bob <bob@example.org>")
		b.Run(h.Run(nil, "--export", fpr), "--import")
		b.Run(nil, "--yes", "--quick-sign-key", fpr)
		certified := b.Run(nil, "--export", fpr)
		size = storeLogSize(t, e.store)
		k = update(certified)
		if len(k.Update.Changes) != 0 || len(k.Update.Ignored) != 1 || storeLogSize(t, e.store) != size {
			t.Errorf("certification by an unregistered key: %+v", k.Update)
		}
		if _, _, err := reg.Add(ctx, b.Run(nil, "--export", bob), ""); err != nil {
			t.Fatal(err)
		}
		k = update(certified)
		if got := changeKinds(k.Update); !slices.Equal(got, []pgp.ChangeKind{pgp.ChangeCertification}) || k.Update.Changes[0].Issuer != bob {
			t.Errorf("certification by a registered key: %+v", k.Update.Changes)
		}

		// A new expiry, in the past of the real clock.
		h.Run(nil, "--faked-system-time", "20200102T000000", "--quick-set-expire", fpr, "1d")
		update(h.Run(nil, "--export", fpr))
		if st, err := e.svc.KeyStatus(ctx, fpr, time.Now()); err != nil || st.State != pgp.StateExpired {
			t.Errorf("after the new expiry: %s, %v; want expired", st, err)
		}

		// A stranger's revocation grafted onto Alice's export.
		s := gpgtest.New(t)
		stranger := s.GenKey("Alice <alice@example.org>")
		forged := append(h.Run(nil, "--export", fpr), s.Run(s.GenRevoke(stranger, "1", "forged"), "--dearmor")...)
		size = storeLogSize(t, e.store)
		before, _ := e.store.Key(ctx, fpr)
		k = update(forged)
		after, _ := e.store.Key(ctx, fpr)
		if len(k.Update.Changes) != 0 || storeLogSize(t, e.store) != size || !bytes.Equal(before.PublicKey, after.PublicKey) {
			t.Errorf("grafted revocation: %+v", k.Update)
		}
		if _, err := e.pgp.Revoke(ctx, forged); err == nil {
			t.Errorf("pgp revoke took the grafted revocation")
		}
		if st, err := e.svc.KeyStatus(ctx, fpr, time.Now()); err != nil || st.State == pgp.StateRevoked {
			t.Errorf("after the forgery: %s, %v", st, err)
		}
	})
}
