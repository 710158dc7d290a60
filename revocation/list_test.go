package revocation_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

func listKey(t testing.TB) (envelope.Signer, envelope.PublicKey) {
	t.Helper()
	s, pub, err := revocation.LoadListKey(filepath.Join(t.TempDir(), "list.key"))
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

func verify(t testing.TB, l revocation.List, pub envelope.PublicKey) *revocation.Verified {
	t.Helper()
	v, err := revocation.Verify(context.Background(), l, pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

func TestOfflineList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}, TokenIssuers: []string{authority.id}})
		revoke := func(action revocation.Action, kind revocation.Kind, id string, reason revocation.Reason) {
			t.Helper()
			if _, err := e.revoke(t, revocation.Predicate{Action: action, Target: revocation.Target{Kind: kind, ID: id}, Reason: reason}, authority.signer); err != nil {
				t.Fatalf("%s %s:%s: %v", action, kind, id, err)
			}
		}
		for i := range 20 {
			revoke(revocation.ActionRevoke, revocation.KindDigest, sha256Of(fmt.Sprint("bad ", i)).String(), revocation.ReasonMalicious)
		}
		revoke(revocation.ActionRevoke, revocation.KindToken, "sha256:4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe", revocation.ReasonRetired)
		revoke(revocation.ActionRevoke, revocation.KindToken, "sha256:efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773", revocation.ReasonRetired)

		signer, pub := listKey(t)
		pubr := revocation.NewPublisher(e.store, signer, time.Hour)
		snap1, err := pubr.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v1 := verify(t, snap1, pub)
		if v1.Info.Delta() || v1.Len() != 22 {
			t.Fatalf("snapshot 1: %+v with %d entries, want 22", v1.Info, v1.Len())
		}
		dir := t.TempDir()
		c, err := revocation.OpenCache(dir, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Check(revocation.KindToken, "sha256:4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe"); !errors.Is(err, revocation.ErrNoCache) {
			t.Fatalf("check on an empty cache = %v, want ErrNoCache", err)
		}
		if err := c.Apply(v1); err != nil {
			t.Fatal(err)
		}
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}

		// Changes: a reinstatement, a stronger revocation over a weaker
		// one, an idempotent repeat, new revocations.
		revoke(revocation.ActionReinstate, revocation.KindToken, "sha256:4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe", revocation.ReasonOther)
		revoke(revocation.ActionRevoke, revocation.KindToken, "sha256:efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773", revocation.ReasonCompromised)
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: sha256Of("bad 0").String()},
			Reason: revocation.ReasonMalicious, Effective: e.now.Add(time.Minute)}, authority.signer); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			revoke(revocation.ActionRevoke, revocation.KindToken, tokID(fmt.Sprint("new-", i)), revocation.ReasonWithdrawn)
		}
		revoke(revocation.ActionReinstate, revocation.KindToken, tokID("new-3"), revocation.ReasonOther)

		delta, err := pubr.Delta(ctx, v1.Info.Number)
		if err != nil {
			t.Fatal(err)
		}
		dv := verify(t, delta, pub)
		if !dv.Info.Delta() || dv.Info.Since != v1.Info.Number || dv.Len() != 9 {
			t.Fatalf("delta: %+v with %d entries, want 9 since %d", dv.Info, dv.Len(), v1.Info.Number)
		}
		reopened, err := revocation.OpenCache(dir, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := reopened.Apply(dv); err != nil {
			t.Fatal(err)
		}
		if err := reopened.Save(); err != nil {
			t.Fatal(err)
		}

		snap2, err := pubr.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v2 := verify(t, snap2, pub)
		full, err := revocation.OpenCache(t.TempDir(), 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := full.Apply(v2); err != nil {
			t.Fatal(err)
		}
		t.Run("delta application equals the full snapshot", func(t *testing.T) {
			fromDelta, err := revocation.OpenCache(dir, 48*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			a, err := fromDelta.Entries()
			if err != nil {
				t.Fatal(err)
			}
			b, err := full.Entries()
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != 25 || !reflect.DeepEqual(a, b) {
				for i := range min(len(a), len(b)) {
					if !reflect.DeepEqual(a[i], b[i]) {
						t.Errorf("entry %d: %+v != %+v", i, a[i], b[i])
					}
				}
				t.Fatalf("delta-applied cache (%d entries) != snapshot (%d entries, want 25)", len(a), len(b))
			}
			n, _ := fromDelta.Number()
			if n != v2.Info.Number {
				t.Errorf("numbers: %d != %d", n, v2.Info.Number)
			}
		})
		t.Run("checks", func(t *testing.T) {
			for _, tc := range []struct {
				kind   revocation.Kind
				id     string
				reason revocation.Reason // "" = not revoked
			}{
				{revocation.KindToken, "sha256:4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe", ""},
				{revocation.KindToken, "sha256:efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773", revocation.ReasonCompromised},
				{revocation.KindToken, tokID("new-3"), ""},
				{revocation.KindToken, tokID("new-4"), revocation.ReasonWithdrawn},
				{revocation.KindDigest, sha256Of("bad 7").String(), revocation.ReasonMalicious},
				{revocation.KindDigest, sha256Of("good").String(), ""},
				{revocation.KindKey, authority.id, ""},
			} {
				got, err := full.Check(tc.kind, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if (got == nil) != (tc.reason == "") || (got != nil && (got.Reason != tc.reason || got.Revoker != authority.id)) {
					t.Errorf("Check(%s, %s) = %+v, want %q by the authority", tc.kind, tc.id, got, tc.reason)
				}
			}
		})
		t.Run("rollback refused", func(t *testing.T) {
			err := full.Apply(v1)
			if !errors.Is(err, revocation.ErrRollback) {
				t.Fatalf("applying an older snapshot = %v, want ErrRollback", err)
			}
			// Same number, issued earlier: also a rollback.
			older, err := revocation.Sign(ctx, signer, revocation.ListInfo{Number: v2.Info.Number, Issued: v2.Info.Issued.Add(-time.Minute), Expires: v2.Info.Expires}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := full.Apply(verify(t, older, pub)); !errors.Is(err, revocation.ErrRollback) {
				t.Fatalf("applying an earlier-issued list = %v, want ErrRollback", err)
			}
		})
		t.Run("staleness enforced", func(t *testing.T) {
			stale, err := revocation.OpenCache(t.TempDir(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			stale.Now = func() time.Time { return v2.Info.Issued.Add(2 * time.Hour) }
			if err := stale.Apply(v2); !errors.Is(err, revocation.ErrStale) {
				t.Fatalf("applying a 2h-old list with a 1h limit = %v, want ErrStale", err)
			}
			full.Now = func() time.Time { return v2.Info.Issued.Add(49 * time.Hour) }
			defer func() { full.Now = time.Now }()
			if _, err := full.Check(revocation.KindToken, "sha256:efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773"); !errors.Is(err, revocation.ErrStale) {
				t.Fatalf("check on a stale cache = %v, want ErrStale", err)
			}
		})
		t.Run("unknown key refused", func(t *testing.T) {
			other, _ := listKey(t)
			forged, err := revocation.NewPublisher(e.store, other, time.Hour).Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := revocation.Verify(ctx, forged, pub); !errors.Is(err, revocation.ErrUntrustedList) {
				t.Fatalf("list signed by another key = %v, want ErrUntrustedList", err)
			}
		})
		t.Run("tampered body refused", func(t *testing.T) {
			body := append([]byte(nil), snap2.Body...)
			body[40] ^= 1
			if _, err := revocation.Verify(ctx, revocation.List{Envelope: snap2.Envelope, Body: body}, pub); !errors.Is(err, revocation.ErrBadList) {
				t.Fatalf("tampered body = %v, want ErrBadList", err)
			}
		})
		t.Run("delta on the wrong base refused", func(t *testing.T) {
			fresh, err := revocation.OpenCache(t.TempDir(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.Apply(dv); !errors.Is(err, revocation.ErrDeltaBase) {
				t.Fatalf("delta on an empty cache = %v, want ErrDeltaBase", err)
			}
		})
		t.Run("since ahead of the server", func(t *testing.T) {
			if _, err := pubr.Delta(ctx, v2.Info.Number+100); !errors.Is(err, revocation.ErrAhead) {
				t.Fatalf("delta since the future = %v, want ErrAhead", err)
			}
		})
	})
}

// TestKeysRepo: the list key reaches a client through the trustd/keys TUF
// repository and go-tuf's updater, trusting only the pinned root.
func TestKeysRepo(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	state, err := tufstore.New(e.store, e.log)
	if err != nil {
		t.Fatal(err)
	}
	online := tuftest.OnlineKeys(t)
	svc, err := tuf.New(state, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := revocation.NewKeyPublisher(svc, state, online, filepath.Join(t.TempDir(), "system"))
	if err != nil {
		t.Fatal(err)
	}
	_, pub := listKey(t)
	if err := kp.PublishKey(ctx, revocation.ListKeyTarget, pub); err != nil {
		t.Fatal(err)
	}
	if err := kp.PublishKey(ctx, revocation.ListKeyTarget, pub); err != nil {
		t.Fatal(err)
	}
	if v, err := state.Get(ctx, revocation.KeysRepo, "targets", 0); err != nil || !strings.Contains(string(v), `"version":1`) {
		t.Fatalf("publishing the same key twice should keep targets v1: %s, %v", v, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/tuf/"+revocation.KeysRepo+"/")
		data, err := svc.Metadata(r.Context(), revocation.KeysRepo, name)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	root, err := state.Get(ctx, revocation.KeysRepo, "root", 1)
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/tuf/" + revocation.KeysRepo
	meta := t.TempDir()
	got, err := revocation.FetchKey(url, root, meta, revocation.ListKeyTarget)
	if err != nil || got.ID != pub.ID {
		t.Fatalf("FetchKey = %v, %v; want %s", got.ID, err, pub.ID)
	}

	// A new list key is published the same way; the client follows.
	_, pub2 := listKey(t)
	if err := kp.PublishKey(ctx, revocation.ListKeyTarget, pub2); err != nil {
		t.Fatal(err)
	}
	if got, err := revocation.FetchKey(url, nil, meta, revocation.ListKeyTarget); err != nil || got.ID != pub2.ID {
		t.Fatalf("FetchKey after rotation = %v, %v; want %s", got.ID, err, pub2.ID)
	}

	// The token key is published beside it (PublishedKey); once fetched,
	// both are read from go-tuf's local cache alone, which an empty cache
	// cannot do.
	_, tokPub := listKey(t)
	if got, err := kp.Key(token.KeyTarget, tokPub).Publish(ctx); err != nil || got.ID != tokPub.ID {
		t.Fatalf("publish token key: %v, %v", got.ID, err)
	}
	if got, err := revocation.FetchKey(url, nil, meta, token.KeyTarget); err != nil || got.ID != tokPub.ID {
		t.Fatalf("FetchKey(token key) = %v, %v; want %s", got.ID, err, tokPub.ID)
	}
	for name, want := range map[string]string{token.KeyTarget: tokPub.ID, revocation.ListKeyTarget: pub2.ID} {
		if got, err := revocation.CachedKey(root, meta, name); err != nil || got.ID != want {
			t.Errorf("CachedKey(%s) = %v, %v; want %s", name, got.ID, err, want)
		}
	}
	if _, err := revocation.CachedKey(root, t.TempDir(), token.KeyTarget); err == nil || !strings.Contains(err.Error(), "no cached metadata") {
		t.Errorf("CachedKey from an empty cache: %v", err)
	}

	// Lists serve one snapshot until something changes.
	signer, listPub := listKey(t)
	lists := revocation.NewLists(revocation.NewPublisher(e.store, signer, time.Hour), kp, listPub)
	first, err := lists.Fetch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := lists.Fetch(ctx, 0); err != nil || !bytes.Equal(again.Envelope, first.Envelope) {
		t.Errorf("a second snapshot with nothing changed was rebuilt (%v)", err)
	}
	k := e.key(t)
	if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: k.id}}, k.signer); err != nil {
		t.Fatal(err)
	}
	changed, err := lists.Fetch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := verify(t, changed, listPub); v.Len() != 1 {
		t.Errorf("snapshot after a revocation has %d entries, want 1", v.Len())
	}
	if got, err := lists.Key(ctx); err != nil || got.ID != listPub.ID {
		t.Errorf("Lists.Key = %v, %v", got.ID, err)
	}

	// A client pinning another root refuses the repository.
	otherRepo := tuftest.NewRepo(t, "x/y", online)
	if _, err := revocation.FetchKey(url, otherRepo.RootV1, t.TempDir(), revocation.ListKeyTarget); err == nil {
		t.Fatal("FetchKey trusting another root succeeded")
	}
}

// TestDeltaEqualsSnapshotRandomized: after any sequence of revocations,
// stronger revocations, repeats and reinstatements, a cache kept current
// with deltas holds exactly what a fresh full snapshot holds.
func TestDeltaEqualsSnapshotRandomized(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	authority := e.key(t)
	e = newEnvOn(t, e, revocation.Config{TokenIssuers: []string{authority.id}})
	signer, pub := listKey(t)
	pubr := revocation.NewPublisher(e.store, signer, time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	delta, err := revocation.OpenCache(t.TempDir(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		for range 25 {
			target := revocation.Target{Kind: revocation.KindToken, ID: tokID(fmt.Sprint("t", rng.IntN(10)))}
			cur, err := e.svc.Lookup(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			p := revocation.Predicate{Target: target, Reason: revocation.Reasons[rng.IntN(len(revocation.Reasons))],
				Effective: e.now.Add(time.Duration(rng.IntN(100)-50) * time.Minute)}
			if cur != nil && cur.Action == revocation.ActionRevoke && rng.IntN(3) == 0 {
				p.Action = revocation.ActionReinstate
			}
			if _, err := e.revoke(t, p, authority.signer); err != nil {
				t.Fatalf("round %d: %+v: %v", round, p, err)
			}
		}
		since, has := delta.Number()
		if !has {
			since = 0
		}
		l, err := pubr.Delta(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if err := delta.Apply(verify(t, l, pub)); err != nil {
			t.Fatalf("round %d: apply: %v", round, err)
		}
		snap, err := pubr.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		full, err := revocation.OpenCache(t.TempDir(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := full.Apply(verify(t, snap, pub)); err != nil {
			t.Fatal(err)
		}
		a, _ := delta.Entries()
		b, _ := full.Entries()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round %d: delta-kept cache %+v\n!= snapshot %+v", round, a, b)
		}
		for i := range 10 {
			want, err := e.svc.TokenRevoked(ctx, tokID(fmt.Sprint("t", i)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := delta.Check(revocation.KindToken, tokID(fmt.Sprint("t", i)))
			if err != nil {
				t.Fatal(err)
			}
			if (want != nil) != (got != nil && got.InForce(e.now)) {
				t.Fatalf("round %d: t%d: server says %v, cache %+v", round, i, want, got)
			}
		}
	}
}

// TestVerifyListKeyRotation: while trustd rotates its list key, a client
// holding both published keys accepts a list signed by either, in a cache
// that holds lists signed by the other, and knows which one signed; a key
// it does not hold is refused.
func TestVerifyListKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
		oldSigner, oldPub := listKey(t)
		newSigner, newPub := listKey(t)
		_, strangerPub := listKey(t)
		cache, err := revocation.OpenCache(t.TempDir(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		revoke := func(i int) {
			t.Helper()
			if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: sha256Of(fmt.Sprint("bad ", i)).String()},
				Reason: revocation.ReasonMalicious}, authority.signer); err != nil {
				t.Fatal(err)
			}
		}
		revoke(1)
		snap, err := revocation.NewPublisher(e.store, oldSigner, time.Hour).Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := revocation.Verify(ctx, snap, oldPub) // before the rotation
		if err != nil || v.KeyID != oldPub.ID {
			t.Fatalf("old list, old key: %v, %v", v, err)
		}
		if err := cache.Apply(v); err != nil {
			t.Fatal(err)
		}
		revoke(2)
		delta, err := revocation.NewPublisher(e.store, newSigner, time.Hour).Delta(ctx, v.Info.Number)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := revocation.Verify(ctx, delta, oldPub); !errors.Is(err, revocation.ErrUntrustedList) {
			t.Errorf("new list, old key only: %v, want ErrUntrustedList", err)
		}
		for _, keys := range [][]envelope.PublicKey{{newPub, oldPub}, {oldPub, newPub}} {
			if v, err := revocation.Verify(ctx, delta, keys...); err != nil || v.KeyID != newPub.ID {
				t.Errorf("new list, keys %v: %v, %v; want verified by %s", keyIDs(keys), v, err, newPub.ID)
			}
		}
		v2, err := revocation.Verify(ctx, delta, newPub, oldPub)
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.Apply(v2); err != nil || cache.Len() != 2 {
			t.Errorf("the new key's delta on the old key's snapshot: %v, %d entries", err, cache.Len())
		}
		if _, err := revocation.Verify(ctx, delta, strangerPub); !errors.Is(err, revocation.ErrUntrustedList) || !strings.Contains(err.Error(), "not a revocation list key") {
			t.Errorf("a key trustd does not publish: %v", err)
		}
		if _, err := revocation.Verify(ctx, delta); !errors.Is(err, revocation.ErrUntrustedList) {
			t.Errorf("no keys: %v", err)
		}
	})
}

// tokID is a well-formed token id (the sha256 form token.ID gives) made
// from name, for tests that need many distinct tokens.
func tokID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}
