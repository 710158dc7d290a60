package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// TestListSameNumber: two trustd replicas on one store (or a restarted
// one) serve revocation lists of the same number issued at different
// times. A client's cache must never let a list of the number it holds
// drop revocations, whatever its issue time says (the attack: a later
// issue time, fewer entries), and must not refuse an identical list
// merely because another replica issued it earlier (a full sync after a
// delta from another replica).
func TestListSameNumber(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
		for i := range 3 {
			if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: sha256Of(fmt.Sprint("bad ", i)).String()},
				Reason: revocation.ReasonMalicious}, authority.signer); err != nil {
				t.Fatal(err)
			}
		}
		signer, pub := listKey(t)
		// Replicas share the store, the online TUF keys, the system keys
		// directory and the list key.
		online, system := tuftest.OnlineKeys(t), filepath.Join(t.TempDir(), "system")
		replica := func() *revocation.Lists {
			state, err := tufstore.New(e.store, e.log)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := tuf.New(state, online, tuf.Config{})
			if err != nil {
				t.Fatal(err)
			}
			kp, err := revocation.NewKeyPublisher(svc, state, online, system)
			if err != nil {
				t.Fatal(err)
			}
			return revocation.NewLists(revocation.NewPublisher(e.store, signer, time.Hour), kp, pub)
		}
		fetch := func(l *revocation.Lists, since int64) *revocation.Verified {
			t.Helper()
			raw, err := l.Fetch(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			return verify(t, raw, pub)
		}
		a := replica()
		snap := fetch(a, 0)
		synced := func(t *testing.T) *revocation.Cache {
			c, err := revocation.OpenCache(t.TempDir(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(snap); err != nil {
				t.Fatal(err)
			}
			return c
		}
		num := snap.Info.Number
		bad0 := sha256Of("bad 0").String()

		t.Run("same number, later issue time, a revocation dropped", func(t *testing.T) {
			c := synced(t)
			var kept []revocation.Entry
			for i := range snap.Len() {
				en, err := snap.Entry(i)
				if err != nil {
					t.Fatal(err)
				}
				if en.Key != revocation.DigestKey(sha256Of("bad 0")) {
					kept = append(kept, en)
				}
			}
			if len(kept) != snap.Len()-1 {
				t.Fatalf("kept %d of %d entries", len(kept), snap.Len())
			}
			later := snap.Info
			later.Issued = later.Issued.Add(time.Minute)
			dropped, err := revocation.Sign(ctx, signer, later, kept)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(verify(t, dropped, pub)); !errors.Is(err, revocation.ErrRollback) {
				t.Errorf("a list of the cached number dropping a revocation = %v, want ErrRollback", err)
			}
			if en, err := c.Check(revocation.KindDigest, bad0); err != nil || en == nil {
				t.Errorf("after the refused list the cache answers %v, %v for %s; want it revoked", en, err, bad0)
			}
			if n, _ := c.Number(); n != num || !c.Issued().Equal(snap.Info.Issued) {
				t.Errorf("the cache holds list %d issued %s, want %d issued %s", n, c.Issued(), num, snap.Info.Issued)
			}
		})

		t.Run("full sync from a replica after a delta from another", func(t *testing.T) {
			c := synced(t)
			time.Sleep(10 * time.Millisecond) // replica b's delta is issued after a's snapshot
			b := replica()
			delta := fetch(b, num)
			if err := c.Apply(delta); err != nil {
				t.Fatalf("delta since %d from replica b: %v", num, err)
			}
			again := fetch(a, 0) // a's cached snapshot, issued before b's delta
			if again.Info.Number != num {
				t.Fatalf("full list %d, want %d", again.Info.Number, num)
			}
			if err := c.Apply(again); err != nil {
				t.Errorf("full sync from replica a after a delta of the same number from replica b: %v", err)
			}
			if n, _ := c.Number(); n != num || c.Issued().Before(delta.Info.Issued) {
				t.Errorf("the cache holds list %d issued %s, want %d issued no earlier than %s", n, c.Issued(), num, delta.Info.Issued)
			}
			if en, err := c.Check(revocation.KindDigest, bad0); err != nil || en == nil {
				t.Errorf("after the syncs the cache answers %v, %v for %s; want it revoked", en, err, bad0)
			}
		})
	})
}
