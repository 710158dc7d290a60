package revocation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
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
// indexing them are indexed once, by IndexLoggedOpenPGP.
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
			n, err := e.svc.IndexLoggedOpenPGP(ctx, st)
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

// pgpKey generates an OpenPGP key, registers its certificate and returns
// its fingerprint and a signer.
func pgpKey(t *testing.T, e *env, name string) (string, *pgp.KeySigner) {
	t.Helper()
	// Created at the env's clock: a key made a second boundary after
	// e.now (a loaded machine) would be not yet valid at e.now.
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return e.now }}
	ent, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sec bytes.Buffer
	w, err := armor.Encode(&sec, "PGP PRIVATE KEY BLOCK", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	signer, err := pgp.NewKeySigner(sec.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := e.keys.Add(context.Background(), signer.Certificate().Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	return k.ID, signer
}

// rotation signs a rotation from old to new (both signing) about new's
// certificate.
func rotation(t *testing.T, st store.Store, oldFpr, newFpr string, effective time.Time, signers ...envelope.Signer) []byte {
	t.Helper()
	pred, err := json.Marshal(pgp.Rotation{Old: oldFpr, New: newFpr, Effective: effective})
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.Key(context.Background(), newFpr)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ks := pgplog.KeySubject(cert)
	stmt, err := envelope.NewStatement(pgp.RotationPredicateType, pred, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, stmt, signers...)
}

// TestPGPRotationOneState: an OpenPGP rotation the chain verifier counts
// supersedes the old key in the one index from its effective time, so
// lookups, lists and policies see what chain decisions see; an older log's
// rotations are indexed by the backfill; none can be reinstated.
func TestPGPRotationOneState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := newEnv(t, st, revocation.Config{})
		oldFpr, oldSigner := pgpKey(t, e, "old")
		newFpr, newSigner := pgpKey(t, e, "new")
		effective := e.now.Add(time.Hour)
		entry, _, err := e.log.Submit(ctx, rotation(t, st, oldFpr, newFpr, effective, oldSigner, newSigner))
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: oldFpr})
		if err != nil || r == nil || r.Reason != revocation.ReasonSuperseded || !r.Effective.Equal(effective) || r.Seq != entry.Seq {
			t.Fatalf("Lookup(old key) = %+v, %v; want superseded from %s at log entry %d", r, err, effective, entry.Seq)
		}
		if r, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: newFpr}); err != nil || r != nil {
			t.Errorf("Lookup(new key) = %+v, %v", r, err)
		}
		// The soft rule: before the effective time the old key still signs.
		if r, err := e.svc.KeyRevoked(ctx, oldFpr, e.now, e.now); err != nil || r != nil {
			t.Errorf("KeyRevoked(old key) before the effective time = %+v, %v", r, err)
		}
		if r, err := e.svc.KeyRevoked(ctx, oldFpr, e.now, effective); err != nil || r == nil || r.Seq != entry.Seq {
			t.Errorf("KeyRevoked(old key) observed at the effective time = %+v, %v", r, err)
		}
		authority := e.key(t)
		e2 := newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
		if _, err := e2.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: revocation.Target{Kind: revocation.KindKey, ID: oldFpr},
			Reason: revocation.ReasonOther}, authority.signer); !errors.Is(err, revocation.ErrInvalid) {
			t.Errorf("reinstating a rotation = %v, want ErrInvalid", err)
		}

		// An older trustd logged a rotation without indexing it.
		skey, vkey, err := tlog.GenerateLogKey("test-log")
		if err != nil {
			t.Fatal(err)
		}
		old, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: pgplog.Validators(st)})
		if err != nil {
			t.Fatal(err)
		}
		thirdFpr, thirdSigner := pgpKey(t, e, "third")
		// Effective once both keys exist: a key made after e.now (a
		// second boundary crossed on a loaded machine) cannot be
		// superseded before its creation.
		lateAt := time.Now().UTC().Truncate(time.Second).Add(time.Second)
		late, _, err := old.Submit(ctx, rotation(t, st, newFpr, thirdFpr, lateAt, newSigner, thirdSigner))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.IndexLoggedOpenPGP(ctx, st); err != nil || n != 1 {
			t.Fatalf("backfill indexed %d, %v; want the one rotation", n, err)
		}
		if r, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: newFpr}); err != nil || r == nil || r.Seq != late.Seq {
			t.Errorf("Lookup(new key) after the backfill = %+v, %v", r, err)
		}
	})
}

// TestKeyStatusOneState: key show's status of an OpenPGP key (KeyStatus)
// reads the one revocation state: a revocation statement of the key shows
// as revoked once in force (hard or not as its reason says), and lifting
// it shows the key valid again; a reinstatement is refused while a
// rotation from the key is logged.
func TestKeyStatusOneState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
		fpr, _ := pgpKey(t, e, "dev")
		for _, tc := range []struct {
			action    revocation.Action
			reason    revocation.Reason
			effective time.Time
			want      pgp.State
			hard      bool
		}{
			{revocation.ActionRevoke, revocation.ReasonWithdrawn, e.now.Add(time.Hour), pgp.StateValid, false},
			{revocation.ActionRevoke, revocation.ReasonMalicious, e.now.Add(time.Hour), pgp.StateRevoked, true},
			{revocation.ActionReinstate, revocation.ReasonOther, e.now, pgp.StateValid, false},
			{revocation.ActionRevoke, revocation.ReasonRetired, e.now.Add(-time.Hour), pgp.StateRevoked, false},
		} {
			if _, err := e.revoke(t, revocation.Predicate{Action: tc.action, Target: revocation.Target{Kind: revocation.KindKey, ID: fpr},
				Reason: tc.reason, Effective: tc.effective}, authority.signer); err != nil {
				t.Fatalf("%s %s: %v", tc.action, tc.reason, err)
			}
			st, err := e.svc.KeyStatus(ctx, fpr, e.now)
			if err != nil || st.State != tc.want || (tc.want == pgp.StateRevoked && st.Revocation.Hard != tc.hard) {
				t.Errorf("after %s %s effective %s: KeyStatus = %v, %v; want %s (hard %v)", tc.action, tc.reason, tc.effective, st, err, tc.want, tc.hard)
			}
		}
		// Another key, rotated, then revoked by a statement: lifting the
		// statement would erase the rotation from the index.
		oldFpr, oldSigner := pgpKey(t, e, "old")
		newFpr, newSigner := pgpKey(t, e, "new")
		if _, _, err := e.log.Submit(ctx, rotation(t, e.store, oldFpr, newFpr, e.now, oldSigner, newSigner)); err != nil {
			t.Fatal(err)
		}
		target := revocation.Target{Kind: revocation.KindKey, ID: oldFpr}
		if _, err := e.revoke(t, revocation.Predicate{Target: target, Reason: revocation.ReasonCompromised}, authority.signer); err != nil {
			t.Fatal(err)
		}
		if _, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: target, Reason: revocation.ReasonOther}, authority.signer); !errors.Is(err, revocation.ErrInvalid) {
			t.Errorf("reinstating a rotated key's revocation statement = %v, want ErrInvalid", err)
		}
		if r, err := e.svc.Lookup(ctx, target); err != nil || r == nil || !r.InForce(e.now) {
			t.Errorf("Lookup(rotated key) after the refused reinstatement = %+v, %v; want revoked", r, err)
		}
	})
}
