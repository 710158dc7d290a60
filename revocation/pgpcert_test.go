package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

func pgpFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "pgp", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPGPRevocationOneState: an OpenPGP revocation certificate that pgplog
// logs is, in the same transaction, a revocation of the key in the one
// index, with its reason's strength kept: lookup, history, the signed
// offline list and the policy sources all say revoked, citing the
// certificate's own log entry.
func TestPGPRevocationOneState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		for _, tc := range []struct {
			file   string
			reason revocation.Reason
			hard   bool
		}{
			{"rev-compromised.asc", revocation.ReasonCompromised, true},
			{"rev-none.asc", revocation.ReasonOther, true},
			{"rev-superseded.asc", revocation.ReasonSuperseded, false},
			{"rev-retired.asc", revocation.ReasonRetired, false},
		} {
			t.Run(tc.file, func(t *testing.T) {
				ctx := context.Background()
				e := newEnv(t, open(t), revocation.Config{})
				k, _, err := e.keys.Add(ctx, pgpFixture(t, "ed25519.asc"), "")
				if err != nil {
					t.Fatal(err)
				}
				rev, err := e.pgp.Revoke(ctx, pgpFixture(t, tc.file))
				if err != nil {
					t.Fatal(err)
				}
				seq := rev.Entry.Seq
				target := revocation.Target{Kind: revocation.KindKey, ID: k.ID}
				got, err := e.svc.Lookup(ctx, target)
				if err != nil || got == nil || got.Action != revocation.ActionRevoke || got.Reason != tc.reason || got.Seq != seq ||
					!got.Effective.Equal(rev.Revocation.Created) || got.Reason.Hard() != tc.hard {
					t.Fatalf("Lookup = %+v, %v; want %s at log entry %d", got, err, tc.reason, seq)
				}
				hist, err := e.svc.History(ctx, 0, 10)
				if err != nil || len(hist) != 1 || hist[0].Seq != seq || hist[0].Target != target {
					t.Fatalf("History = %+v, %v", hist, err)
				}
				// The signed offline list carries it.
				listSigner, listPub := listKey(t)
				snap, err := revocation.NewPublisher(e.store, listSigner, time.Hour).Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				c, err := revocation.OpenCache(t.TempDir(), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Apply(verify(t, snap, listPub)); err != nil {
					t.Fatal(err)
				}
				entry, err := c.Check(revocation.KindKey, k.ID)
				if err != nil || entry == nil || entry.Reason != tc.reason || entry.Seq != seq || !entry.InForce(time.Now()) {
					t.Fatalf("cached entry = %+v, %v", entry, err)
				}
				// Signatures the log observed before the revocation count
				// only when it is soft; after it, never.
				before, after := rev.Revocation.Created.Add(-time.Hour), rev.Revocation.Created.Add(time.Hour)
				if voids := entry.VoidsSignature(before, before); voids != tc.hard {
					t.Errorf("a signature observed before a %s revocation: voided %v, want %v", tc.reason, voids, tc.hard)
				}
				if !entry.VoidsSignature(before, after) {
					t.Errorf("a backdated signature observed after a %s revocation counts", tc.reason)
				}
			})
		}
	})
}

// TestPGPRevocationIndexerRefusesForgeries: the indexer verifies the
// certificate again in the append's transaction; a revocation certificate
// filed under another registered certificate (a stranger trying to revoke
// a key that is not theirs) indexes nothing and fails the append.
func TestPGPRevocationIndexerRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	victim, _, err := e.keys.Add(ctx, pgpFixture(t, "ed25519.asc"), "")
	if err != nil {
		t.Fatal(err)
	}
	stranger, _, err := e.keys.Add(ctx, pgpFixture(t, "rsa3072.asc"), "")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(pgplog.RevocationRecord{Revocation: pgpFixture(t, "rev-compromised.asc")})
	if err != nil {
		t.Fatal(err)
	}
	index := e.svc.Indexers()[recordtype.PGPRevocation]
	for _, signer := range []string{stranger.ID, "0123456789ABCDEF0123456789ABCDEF01234567"} {
		err = e.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
			return index(ctx, w, store.Statement{Seq: 99, PayloadType: recordtype.PGPRevocationPayloadType, PredicateType: recordtype.PGPRevocation,
				Envelope: rec, SignerKeyIDs: []string{signer}})
		})
		if err == nil {
			t.Fatalf("indexing a revocation certificate filed under %s succeeded", signer)
		}
	}
	for _, id := range []string{victim.ID, stranger.ID} {
		if r, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: id}); err != nil || r != nil {
			t.Errorf("Lookup(%s) = %+v, %v; want nothing indexed", id, r, err)
		}
	}
}

// TestPGPRevocationBackfill: certificates an older trustd logged without
// indexing them are indexed once, by IndexLoggedPGPRevocations.
func TestPGPRevocationBackfill(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := newEnv(t, st, revocation.Config{})
		k, _, err := e.keys.Add(ctx, pgpFixture(t, "ed25519.asc"), "")
		if err != nil {
			t.Fatal(err)
		}
		// An older trustd: the log has no revocation indexers.
		skey, vkey, err := tlog.GenerateLogKey("test-log")
		if err != nil {
			t.Fatal(err)
		}
		old, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
		if err != nil {
			t.Fatal(err)
		}
		rev, err := pgplog.New(st, old).Revoke(ctx, pgpFixture(t, "rev-superseded.asc"))
		if err != nil {
			t.Fatal(err)
		}
		target := revocation.Target{Kind: revocation.KindKey, ID: k.ID}
		if r, err := e.svc.Lookup(ctx, target); err != nil || r != nil {
			t.Fatalf("before the backfill: %+v, %v", r, err)
		}
		for i, want := range []int{1, 0} {
			n, err := e.svc.IndexLoggedPGPRevocations(ctx, st)
			if err != nil || n != want {
				t.Fatalf("run %d: indexed %d, %v; want %d", i, n, err, want)
			}
		}
		if r, err := e.svc.Lookup(ctx, target); err != nil || r == nil || r.Seq != rev.Entry.Seq || r.Reason != revocation.ReasonSuperseded {
			t.Fatalf("after the backfill: %+v, %v", r, err)
		}
	})
}

// TestPGPRevocationNotReinstated: an OpenPGP revocation certificate is the
// key holder's final word; not even the security authority lifts it.
func TestPGPRevocationNotReinstated(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	authority := e.key(t)
	e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
	k, _, err := e.keys.Add(ctx, pgpFixture(t, "ed25519.asc"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pgp.Revoke(ctx, pgpFixture(t, "rev-compromised.asc")); err != nil {
		t.Fatal(err)
	}
	_, err = e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: revocation.Target{Kind: revocation.KindKey, ID: k.ID},
		Reason: revocation.ReasonOther}, authority.signer)
	if !errors.Is(err, revocation.ErrInvalid) {
		t.Fatalf("reinstating an OpenPGP revocation = %v, want ErrInvalid", err)
	}
}
