package revocation_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

type digestT = digest.Digest

func sha256Of(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

// pgpKey makes and registers an OpenPGP key with a signing subkey.
func (e *env) pgpKey(t testing.TB, name string) *pgp.KeySigner {
	t.Helper()
	// Made before the test clock, so signatures judged at e.now are valid.
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return e.now.Add(-time.Hour) }}
	ent, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.AddSigningSubkey(cfg); err != nil {
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
	s, err := pgp.NewKeySigner(sec.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), s.Certificate().Encode(), ""); err != nil {
		t.Fatal(err)
	}
	return s
}

// delegate logs an OpenPGP delegation from one key to another.
func (e *env) delegate(t testing.TB, from, to *pgp.KeySigner, scope string, until time.Time) {
	t.Helper()
	d := pgp.Delegation{Delegator: from.Certificate().Fingerprint, Delegate: to.Certificate().Fingerprint, Scope: []string{scope},
		NotBefore: e.now.Add(-48 * time.Hour), Until: until}
	pred, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	ks := pgplog.KeySubject(to.Certificate())
	stmt, err := envelope.NewStatement(pgp.DelegationPredicateType, pred, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.log.Submit(context.Background(), sign(t, stmt, from)); err != nil {
		t.Fatalf("delegate: %v", err)
	}
}

// tufKey is a registered ed25519 key that also signs TUF metadata.
func (e *env) tufKey(t testing.TB) (testKey, tuftest.Key) {
	t.Helper()
	k := e.key(t)
	ts := tuf.EnvelopeSigner(k.signer)
	mk, id, err := tuf.PublicKeyOf(ts)
	if err != nil {
		t.Fatal(err)
	}
	if id != k.id {
		t.Fatalf("TUF key id %s, trustd key id %s", id, k.id)
	}
	return k, tuftest.Key{Signer: ts, Key: mk, ID: id}
}

// tufPublish creates repository name whose targets key is targets and
// publishes one target with content; with a delegate, the top-level
// targets role delegates "rel/*" to role "releases" (the delegate's key),
// which lists the target instead.
func (e *env) tufPublish(t testing.TB, name string, targets tuftest.Key, target string, content []byte, delegate ...tuftest.Key) {
	t.Helper()
	ctx := context.Background()
	svc, repo := tuftest.InitRepo(t, e.store, e.log, name, targets)
	if len(delegate) == 0 {
		if _, err := svc.Upload(ctx, name, metadata.TARGETS, repo.SignTargets(t, nil, target, content)); err != nil {
			t.Fatal(err)
		}
		return
	}
	top := metadata.Targets(time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second))
	top.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{delegate[0].ID: delegate[0].Key},
		Roles: []metadata.DelegatedRole{{Name: "releases", KeyIDs: []string{delegate[0].ID}, Threshold: 1, Paths: []string{"rel/*"}}}}
	signed, err := tuf.Sign(top, targets.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, name, metadata.TARGETS, signed); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, name, "releases", repo.SignTargets(t, nil, target, content, delegate[0].Signer)); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorityMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		e := newEnv(t, st, revocation.Config{})
		authority, issuer, revokedIssuer := e.key(t), e.key(t), e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}, TokenIssuers: []string{issuer.id, revokedIssuer.id}})

		owner, other, revoked, self, victim := e.key(t), e.key(t), e.key(t), e.key(t), e.key(t)
		ownerStmt := e.attest(t, "owner-attestation", owner.signer)
		revokedStmt := e.attest(t, "revoked-attestation", revoked.signer)
		revokedKey, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: revoked.id}, Reason: revocation.ReasonCompromised}, authority.signer)
		if err != nil {
			t.Fatalf("authority revokes a key: %v", err)
		}
		// A revocation is lifted by reinstating, never by revoking the statement.
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: revokedKey.EnvelopeDigest.String()},
			Reason: revocation.ReasonWithdrawn}, authority.signer); !errors.Is(err, revocation.ErrInvalid) || !strings.Contains(err.Error(), "is itself a revocation") {
			t.Fatalf("revoking a revocation statement = %v, want ErrInvalid", err)
		}

		// A digest listed by a TUF targets role, and one by another repository's role.
		tufTargets, tufMeta := e.tufKey(t)
		otherTargets, otherMeta := e.tufKey(t)
		e.tufPublish(t, "acme/images", tufMeta, "app.tar.gz", []byte("app bytes"))
		e.tufPublish(t, "other/images", otherMeta, "tool.tar.gz", []byte("tool bytes"))
		tufDigest := sha256Of("app bytes").String()
		// A digest listed by a delegated role.
		topTargets, topMeta := e.tufKey(t)
		relTargets, relMeta := e.tufKey(t)
		e.tufPublish(t, "acme/delegated", topMeta, "rel/app-2.tar.gz", []byte("delegated bytes"), relMeta)
		delegatedDigest := sha256Of("delegated bytes").String()
		// A digest listed by a TUF role whose key was revoked since.
		revokedTargets, revokedMeta := e.tufKey(t)
		e.tufPublish(t, "acme/old", revokedMeta, "old.tar.gz", []byte("old bytes"))
		oldDigest := sha256Of("old bytes").String()
		for _, k := range []string{revokedTargets.id, revokedIssuer.id} {
			if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: k}, Reason: revocation.ReasonCompromised}, authority.signer); err != nil {
				t.Fatal(err)
			}
		}

		// A digest in an OpenPGP manifest published by root, with
		// delegations of its name (in force, expired) and of another scope.
		root, dev, stale, elsewhere := e.pgpKey(t, "root"), e.pgpKey(t, "dev"), e.pgpKey(t, "stale"), e.pgpKey(t, "elsewhere")
		e.delegate(t, root, dev, "releases/**", e.now.Add(24*time.Hour))
		e.delegate(t, root, stale, "releases/**", e.now.Add(-time.Hour))
		e.delegate(t, root, elsewhere, "other/**", e.now.Add(24*time.Hour))
		pgpDigest := sha256Of("release bytes")
		manifest := []byte(pgpDigest.Hex() + "  releases/app-1.0.tar.gz\n")
		sig, err := root.Sign(ctx, manifest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: manifest, Signature: sig}); err != nil {
			t.Fatalf("publish manifest: %v", err)
		}

		key := func(id string) revocation.Target { return revocation.Target{Kind: revocation.KindKey, ID: id} }
		stmtT := func(s store.Statement) revocation.Target {
			return revocation.Target{Kind: revocation.KindStatement, ID: s.EnvelopeDigest.String()}
		}
		dig := func(d string) revocation.Target { return revocation.Target{Kind: revocation.KindDigest, ID: d} }
		token := revocation.Target{Kind: revocation.KindToken, ID: "sha256:e838f952786f396e8ee05518f8f55781bd890d84029dd45e1d3250b41b5e7020"}

		for _, tc := range []struct {
			name   string
			target revocation.Target
			signer envelope.Signer
			reject string // "" = accepted; else a substring of the reason
		}{
			{"key by itself", key(self.id), self.signer, ""},
			{"key by the security authority", key(victim.id), authority.signer, ""},
			{"key by another key", key(issuer.id), other.signer, "is neither the key itself nor a security authority key"},
			{"key by a token issuer (another scope)", key(other.id), issuer.signer, "is neither the key itself nor a security authority key"},
			{"key by a revoked key", key(revoked.id), revoked.signer, "is revoked (compromised"},
			{"statement by its signer", stmtT(ownerStmt), owner.signer, ""},
			{"statement by another key", stmtT(ownerStmt), other.signer, "did not sign statement"},
			{"statement by the security authority (another scope)", stmtT(ownerStmt), authority.signer, "did not sign statement"},
			{"statement by its revoked signer", stmtT(revokedStmt), revoked.signer, "is revoked"},
			{"TUF digest by its targets role key", dig(tufDigest), tufTargets.signer, ""},
			{"TUF digest by the security authority", dig(sha256Of("anything").String()), authority.signer, ""},
			{"TUF digest by another repository's role key", dig(tufDigest), otherTargets.signer, "holds no authority for it"},
			{"TUF digest by another key", dig(tufDigest), other.signer, "holds no authority for it"},
			{"TUF digest by its role key, since revoked", dig(oldDigest), revokedTargets.signer, "is revoked (compromised"},
			{"TUF digest by the delegated role key that listed it", dig(delegatedDigest), relTargets.signer, ""},
			{"TUF digest by the delegating role key (it did not list it)", dig(delegatedDigest), topTargets.signer, "holds no authority for it"},
			{"PGP digest by its publisher", dig(pgpDigest.String()), root, ""},
			{"PGP digest by a delegate whose scope covers it", dig(pgpDigest.String()), dev, ""},
			{"PGP digest by an expired delegation", dig(pgpDigest.String()), stale, "holds no authority for it"},
			{"PGP digest by a delegate of another scope", dig(pgpDigest.String()), elsewhere, "holds no authority for it"},
			{"token by its issuer", token, issuer.signer, ""},
			{"token by the security authority", revocation.Target{Kind: revocation.KindToken, ID: "sha256:44fafdb1831f04a2fd82b097c0ff99fb2f32f8be0494062b324bcfc8f6b53c0c"}, authority.signer, ""},
			{"token by another key", token, owner.signer, "is neither a token issuer nor a security authority key"},
			{"token by a TUF role key (another scope)", token, tufTargets.signer, "is neither a token issuer nor a security authority key"},
			{"token by a revoked issuer", token, revokedIssuer.signer, "is revoked (compromised"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, err := st.LogSize(ctx)
				if err != nil {
					t.Fatal(err)
				}
				entry, err := e.revoke(t, revocation.Predicate{Target: tc.target, Reason: revocation.ReasonMalicious}, tc.signer)
				if tc.reject == "" {
					if err != nil {
						t.Fatalf("rejected: %v", err)
					}
					// Revoking a target again keeps its first revocation.
					got, err := e.svc.Lookup(ctx, tc.target)
					if err != nil || got == nil || got.Seq > entry.Seq || got.Action != revocation.ActionRevoke {
						t.Fatalf("Lookup = %+v, %v; want a revocation up to entry %d", got, err, entry.Seq)
					}
					return
				}
				if !errors.Is(err, statement.ErrRejected) || !errors.Is(err, revocation.ErrUnauthorized) || !strings.Contains(err.Error(), tc.reject) {
					t.Fatalf("err = %v; want ErrUnauthorized saying %q", err, tc.reject)
				}
				if after, _ := st.LogSize(ctx); after != before {
					t.Errorf("log grew from %d to %d on a rejected revocation", before, after)
				}
			})
		}
	})
}

// newEnvOn rebuilds e's services on the same store with cfg.
func newEnvOn(t testing.TB, e *env, cfg revocation.Config) *env {
	t.Helper()
	n := newEnv(t, e.store, cfg)
	n.now = e.now
	return n
}

func TestReinstate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		owner, other := e.key(t), e.key(t)
		target := revocation.Target{Kind: revocation.KindToken, ID: "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}
		e = newEnvOn(t, e, revocation.Config{TokenIssuers: []string{owner.id}})
		if _, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: target}, owner.signer); !errors.Is(err, revocation.ErrNothingToReinstate) {
			t.Fatalf("reinstating what is not revoked = %v, want ErrNothingToReinstate", err)
		}
		first, err := e.revoke(t, revocation.Predicate{Target: target, Reason: revocation.ReasonWithdrawn}, owner.signer)
		if err != nil {
			t.Fatal(err)
		}
		// Revoking again (a new statement) is idempotent: the state stays the first revocation.
		if _, err := e.revoke(t, revocation.Predicate{Target: target, Reason: revocation.ReasonWithdrawn, Effective: e.now.Add(time.Hour)}, owner.signer); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Lookup(ctx, target); got == nil || got.Seq != first.Seq {
			t.Fatalf("after revoking twice: %+v, want the first revocation %d", got, first.Seq)
		}
		if _, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: target}, other.signer); !errors.Is(err, revocation.ErrUnauthorized) {
			t.Fatalf("reinstatement by another key = %v, want ErrUnauthorized", err)
		}
		re, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: target}, owner.signer)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := e.svc.TokenRevoked(ctx, "x"); err != nil || r != nil {
			t.Fatalf("TokenRevoked after reinstatement = %+v, %v", r, err)
		}
		hist, err := e.svc.History(ctx, 0, 100)
		if err != nil || len(hist) != 3 || hist[2].Seq != re.Seq || hist[2].Action != revocation.ActionReinstate {
			t.Fatalf("history = %+v, %v; want revoke, revoke, reinstate (all kept)", hist, err)
		}
	})
}

// TestIndexerJudgesInTransaction: no path but Submit appends a
// revocation (the record-type table refuses it elsewhere), and the indexer
// judges authority again inside the append's transaction, so a revocation
// whose authority went away after the validator ran (a concurrent change)
// is refused and nothing is stored.
func TestIndexerJudgesInTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	owner, other := e.key(t), e.key(t)
	stmt, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke,
		Target: revocation.Target{Kind: revocation.KindKey, ID: owner.id}, Reason: revocation.ReasonCompromised, Effective: e.now})
	if err != nil {
		t.Fatal(err)
	}
	raw := sign(t, stmt, other.signer)
	rec := store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: revocation.PredicateType,
		Envelope: raw, Payload: stmt, SignerKeyIDs: []string{other.id}, Subjects: []store.StatementSubject{{Name: "key", Digests: []digest.Digest{sha256Of("x")}}}}
	before, _ := e.store.LogSize(ctx)
	if _, _, err = e.log.AppendVerified(ctx, rec); !errors.Is(err, recordtype.ErrReserved) {
		t.Fatalf("append bypassing Submit = %v, want ErrReserved", err)
	}
	if after, _ := e.store.LogSize(ctx); after != before {
		t.Errorf("log grew from %d to %d", before, after)
	}
	index := e.svc.Indexers()[revocation.PredicateType]
	err = e.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		rec.Seq = 1_000
		return index(ctx, w, rec)
	})
	if !errors.Is(err, revocation.ErrUnauthorized) {
		t.Fatalf("indexing an unauthorized revocation = %v, want ErrUnauthorized", err)
	}
	if r, err := e.svc.KeyRevoked(ctx, owner.id, e.now, e.now); err != nil || r != nil {
		t.Errorf("KeyRevoked = %v, %v; want nothing indexed", r, err)
	}
}

// TestTUFRoleRotation: digest authority follows the TUF role, not a key
// that once signed it: after the targets key is rotated (root v2 adds a new
// key, which signs targets v2; root v3 drops the old one), the new key may
// revoke a digest that only v1 listed, and the old key may not.
func TestTUFRoleRotation(t *testing.T) {
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
	oldKey, oldMeta := e.tufKey(t)
	newKey, newMeta := e.tufKey(t)
	repo := &tuftest.Repo{Name: "acme/rotating", Root: tuftest.NewKey(t), Targets: oldMeta}
	root := func(version int64, targets ...tuftest.Key) []byte {
		var ks []*metadata.Key
		for _, k := range targets {
			ks = append(ks, k.Key)
		}
		md, err := tuf.NewRoot(tuf.RootSpec{Version: version, Expires: time.Now().Add(24 * time.Hour),
			Root: tuf.KeySet{Keys: []*metadata.Key{repo.Root.Key}}, Targets: tuf.KeySet{Keys: ks},
			Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
		if err != nil {
			t.Fatal(err)
		}
		signed, err := tuf.Sign(md, repo.Root.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	if _, err := svc.Init(ctx, repo.Name, root(1, oldMeta)); err != nil {
		t.Fatal(err)
	}
	v1 := repo.SignTargets(t, nil, "app-1.tar.gz", []byte("app 1"))
	if _, err := svc.Upload(ctx, repo.Name, metadata.TARGETS, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, repo.Name, metadata.ROOT, root(2, oldMeta, newMeta)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, repo.Name, metadata.TARGETS, repo.SignTargets(t, v1, "app-2.tar.gz", []byte("app 2"), newMeta.Signer)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, repo.Name, metadata.ROOT, root(3, newMeta)); err != nil {
		t.Fatal(err)
	}
	target := revocation.Target{Kind: revocation.KindDigest, ID: sha256Of("app 1").String()}
	if _, err := e.revoke(t, revocation.Predicate{Target: target, Reason: revocation.ReasonMalicious}, oldKey.signer); !errors.Is(err, revocation.ErrUnauthorized) {
		t.Errorf("revocation by the rotated-out key = %v, want ErrUnauthorized", err)
	}
	if _, err := e.revoke(t, revocation.Predicate{Target: target, Reason: revocation.ReasonMalicious}, newKey.signer); err != nil {
		t.Errorf("revocation by the role's current key: %v", err)
	}
	// Targets v1, signed by the rotated-out key only, is still the role's:
	// the aliases it linked stay linked.
	v1Entry := e.tufEntries(t, "app 1")[repo.Name]
	if got, err := e.svc.WrittenByPublisher(ctx, sha256Of("app 1"), v1Entry); err != nil || !slices.Equal(got, []int64{v1Entry.Seq}) {
		t.Errorf("WrittenByPublisher(targets v1 after the rotation) = %v, %v; want [%d]", got, err, v1Entry.Seq)
	}
}
