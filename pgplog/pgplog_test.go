package pgplog_test

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
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

type env struct {
	store store.Store
	log   *statement.Log
	svc   *pgplog.Service
	keys  *keys.Registry
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: pgplog.Validators(st)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, log: l, svc: pgplog.New(st, l), keys: keys.NewRegistry(st)}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "pgp", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *env) register(t testing.TB, cert []byte) *pgp.Certificate {
	t.Helper()
	k, _, err := e.keys.Add(context.Background(), cert, "")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return k.PGP
}

func (e *env) size(t testing.TB) uint64 {
	t.Helper()
	n, err := e.store.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishManifest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sums := fixture(t, "SHA256SUMS")
	if _, err := e.svc.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: fixture(t, "SHA256SUMS.ed25519.gpg")}); !errors.Is(err, pgplog.ErrUnknownSigner) {
		t.Fatalf("publish before registering: %v, want ErrUnknownSigner", err)
	}
	cert := e.register(t, fixture(t, "ed25519.asc"))

	// A key publishes a manifest once: its signature armored, or the same
	// text under a name that reads it alike, is the first entry (copyOf);
	// the clearsigned text (without the final newline) is other text, and
	// a name that reads the lines as other digests says something else.
	tests := []struct {
		name   string
		m      pgplog.Manifest
		copyOf string
	}{
		{"detached binary", pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: fixture(t, "SHA256SUMS.ed25519.gpg")}, ""},
		{"detached armored", pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: fixture(t, "SHA256SUMS.ed25519.asc")}, "detached binary"},
		{"renamed alike", pgplog.Manifest{Name: "sha256sums.txt", Data: sums, Signature: fixture(t, "SHA256SUMS.ed25519.asc")}, "detached binary"},
		{"clearsigned", pgplog.Manifest{Name: "SHA256SUMS", Clearsigned: fixture(t, "SHA256SUMS.ed25519.clear")}, ""},
	}
	seqs := map[string]int64{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.svc.PublishManifest(ctx, tc.m)
			if err != nil {
				t.Fatalf("PublishManifest: %v", err)
			}
			seqs[tc.name] = p.Entry.Seq
			if tc.copyOf != "" {
				if p.Created || p.Entry.Seq != seqs[tc.copyOf] || len(p.Entries) != 3 {
					t.Errorf("published entry %d created %v; want the %s entry %d", p.Entry.Seq, p.Created, tc.copyOf, seqs[tc.copyOf])
				}
				return
			}
			if !p.Created || len(p.Entries) != 3 || len(p.Problems) != 0 || p.Signature.Primary != cert.Fingerprint ||
				p.Entry.PredicateType != pgplog.ManifestPredicateType || len(p.Entry.Subjects) != 3 || p.Entry.SignerKeyIDs[0] != cert.Fingerprint {
				t.Errorf("published %+v", p)
			}
			var rec pgplog.ManifestRecord
			if err := json.Unmarshal(p.Entry.Envelope, &rec); err != nil || rec.Name != tc.m.Name || !bytes.Equal(rec.Signature, tc.m.Signature) ||
				!bytes.Equal(rec.Clearsigned, tc.m.Clearsigned) {
				t.Errorf("stored record %+v, %v: not verbatim", rec, err)
			}
			again, err := e.svc.PublishManifest(ctx, tc.m)
			if err != nil || again.Created || again.Entry.Seq != p.Entry.Seq {
				t.Errorf("publish again: %+v, %v; want the original entry", again.Entry, err)
			}
		})
	}

	// What the start-up backfill computes from a logged manifest is what
	// the append recorded.
	first, err := e.store.Statement(ctx, seqs["detached binary"])
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := pgplog.SignedDigest(first); !ok {
		t.Error("SignedDigest of a logged manifest: not ok")
	} else if logged, err := e.store.SignedBefore(ctx, d, first.SignerKeyIDs); err != nil || !logged {
		t.Errorf("SignedDigest of a logged manifest: %s, logged %v, %v; want what the append recorded", d, logged, err)
	}

	before := e.size(t)
	withBad := append(bytes.Clone(sums), []byte("not a checksum line\n")...)
	for _, tc := range []struct {
		name string
		m    pgplog.Manifest
		want error
	}{
		{"tampered manifest", pgplog.Manifest{Name: "SHA256SUMS", Data: withBad, Signature: fixture(t, "SHA256SUMS.ed25519.gpg")}, pgp.ErrBadSignature},
		{"unregistered signer", pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: fixture(t, "SHA256SUMS.rsa3072.gpg")}, pgplog.ErrUnknownSigner},
		{"no name", pgplog.Manifest{Data: sums, Signature: fixture(t, "SHA256SUMS.ed25519.gpg")}, pgplog.ErrInvalidManifest},
		{"no signature", pgplog.Manifest{Name: "SHA256SUMS", Data: sums}, pgplog.ErrInvalidManifest},
		{"both forms", pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: []byte{1}, Clearsigned: []byte{1}}, pgplog.ErrInvalidManifest},
		{"garbage signature", pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: []byte("garbage")}, pgp.ErrMalformed},
		{"oversized manifest", pgplog.Manifest{Name: "SHA256SUMS", Data: make([]byte, pgp.MaxManifestBytes+1), Signature: []byte{1}}, pgp.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.PublishManifest(ctx, tc.m); !errors.Is(err, tc.want) {
				t.Errorf("PublishManifest = %v, want %v", err, tc.want)
			}
		})
	}
	if after := e.size(t); after != before {
		t.Errorf("log grew from %d to %d on rejected publications", before, after)
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.Revoke(ctx, fixture(t, "rev-compromised.asc")); !errors.Is(err, pgplog.ErrUnknownSigner) {
		t.Fatalf("revoke unregistered: %v", err)
	}
	cert := e.register(t, fixture(t, "ed25519.asc"))
	if st, err := e.svc.Status(ctx, cert.Fingerprint, time.Now()); err != nil || st.State != pgp.StateValid {
		t.Fatalf("status before = %v, %v", st, err)
	}
	r, err := e.svc.Revoke(ctx, fixture(t, "rev-compromised.asc"))
	if err != nil || !r.Created || !r.Revocation.Hard || r.Revocation.Reason != pgp.ReasonCompromised || r.Entry.PredicateType != pgplog.RevocationPredicateType {
		t.Fatalf("Revoke = %+v, %v", r, err)
	}
	if again, err := e.svc.Revoke(ctx, fixture(t, "rev-compromised.asc")); err != nil || again.Created {
		t.Errorf("revoke again: %+v, %v", again, err)
	}
	st, err := e.svc.Status(ctx, cert.Fingerprint, time.Now())
	if err != nil || st.State != pgp.StateRevoked || st.Revocation == nil || !st.Revocation.Hard {
		t.Errorf("status after = %+v, %v; want revoked, hard", st, err)
	}
	_, err = e.svc.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: fixture(t, "SHA256SUMS"), Signature: fixture(t, "SHA256SUMS.ed25519.gpg")})
	if !errors.Is(err, pgp.ErrRefused) || !errors.Is(err, pgp.CodeRevokedCompromised) {
		t.Errorf("publish by a revoked key = %v, want a revoked-compromised refusal", err)
	}
	if _, err := e.svc.Revoke(ctx, []byte("garbage")); !errors.Is(err, pgp.ErrMalformed) {
		t.Errorf("garbage revocation = %v, want ErrMalformed", err)
	}
}

// genKey makes an OpenPGP key with a signing subkey and returns its
// registered certificate and a signer for it.
func genKey(t testing.TB, e *env, name string) (*pgp.Certificate, *pgp.KeySigner) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519}
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
	signer, err := pgp.NewKeySigner(sec.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.register(t, signer.Certificate().Encode()), signer
}

// submit signs an authority statement about subject's certificate.
func submit(t *testing.T, e *env, predicateType string, predicate any, subject *pgp.Certificate, signers ...envelope.Signer) (store.Statement, error) {
	t.Helper()
	pred, err := json.Marshal(predicate)
	if err != nil {
		t.Fatal(err)
	}
	ks := pgplog.KeySubject(subject)
	payload, err := envelope.NewStatement(predicateType, pred, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
	if err != nil {
		t.Fatal(err)
	}
	dsseEnv, err := envelope.Sign(context.Background(), "application/vnd.in-toto+json", payload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(dsseEnv)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), raw)
	return st, err
}

func TestDelegationRotationDecide(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root, rootSigner := genKey(t, e, "root")
	dev, devSigner := genKey(t, e, "dev")
	next, nextSigner := genKey(t, e, "next")
	now := time.Now().UTC().Truncate(time.Second)

	deleg := pgp.Delegation{Delegator: root.Fingerprint, Delegate: dev.Fingerprint, Scope: []string{"releases/**"}, Until: now.Add(24 * time.Hour)}
	if _, err := submit(t, e, pgp.DelegationPredicateType, deleg, dev, devSigner); !errors.Is(err, statement.ErrRejected) {
		t.Errorf("delegation signed by the delegate only = %v, want ErrRejected", err)
	}
	if _, err := submit(t, e, pgp.DelegationPredicateType, deleg, root, rootSigner); !errors.Is(err, statement.ErrRejected) {
		t.Errorf("delegation about the wrong certificate = %v, want ErrRejected", err)
	}
	d, err := submit(t, e, pgp.DelegationPredicateType, deleg, dev, rootSigner)
	if err != nil {
		t.Fatalf("submit delegation: %v", err)
	}

	var subkey string
	for _, sk := range dev.Subkeys {
		if sk.Capabilities.Sign {
			subkey = sk.Fingerprint
		}
	}
	for _, tc := range []struct {
		name, signer, file string
		refusal            pgp.RefusalCode
	}{
		{"inside scope", subkey, "releases/app/1.0.tar.gz", ""},
		{"outside scope", subkey, "other/app.tar.gz", pgp.CodeScopeEscape},
		{"the root itself", root.Fingerprint, "anything", ""},
		{"unknown key", "0000000000000000000000000000000000000000", "releases/x", pgp.CodeUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := e.svc.Decide(ctx, pgplog.Query{Name: tc.file, Signer: tc.signer, Roots: []string{root.Fingerprint}})
			if tc.refusal == "" {
				if err != nil || chain.Root != root.Fingerprint {
					t.Fatalf("Decide = %+v, %v", chain, err)
				}
				if tc.signer == subkey && (len(chain.Links) != 1 || chain.Links[0].Statement != pgplog.StatementID(d.Seq)) {
					t.Errorf("chain links = %+v, want the delegation #%d", chain.Links, d.Seq)
				}
				return
			}
			if !errors.Is(err, tc.refusal) {
				t.Errorf("Decide = %v, want refusal %s", err, tc.refusal)
			}
		})
	}
	if _, err := e.svc.Decide(ctx, pgplog.Query{Name: "x", Signer: "short", Roots: []string{root.Fingerprint}}); !errors.Is(err, pgplog.ErrInvalidQuery) {
		t.Errorf("bad signer = %v, want ErrInvalidQuery", err)
	}
	if _, err := e.svc.Decide(ctx, pgplog.Query{Name: "x", Signer: root.Fingerprint}); !errors.Is(err, pgplog.ErrInvalidQuery) {
		t.Errorf("no roots = %v, want ErrInvalidQuery", err)
	}

	rot := pgp.Rotation{Old: root.Fingerprint, New: next.Fingerprint, Effective: now.Add(-time.Minute)}
	if _, err := submit(t, e, pgp.RotationPredicateType, rot, next, rootSigner); !errors.Is(err, statement.ErrRejected) {
		t.Errorf("rotation signed by the old key only = %v, want ErrRejected", err)
	}
	if _, err := submit(t, e, pgp.RotationPredicateType, rot, next, rootSigner, nextSigner); err != nil {
		t.Fatalf("submit rotation: %v", err)
	}
	st, err := e.svc.Status(ctx, root.Fingerprint, time.Now())
	if err != nil || st.State != pgp.StateSuperseded || st.SupersededBy != next.Fingerprint {
		t.Errorf("root status = %+v, %v; want superseded by %s", st, err, next.Fingerprint)
	}
	if chain, err := e.svc.Decide(ctx, pgplog.Query{Name: "x", Signer: next.Fingerprint, Roots: []string{root.Fingerprint}}); err != nil || len(chain.Links) != 1 || chain.Links[0].Kind != pgp.LinkRotation {
		t.Errorf("decide for the new key = %+v, %v; want one rotation link", chain, err)
	}
}

// TestForgedRecordsIgnored: a stranger cannot Submit records of the types
// pgplog writes itself, and forged rows of its types already in the store
// (an old database) neither count as facts nor make every decision fail.
func TestForgedRecordsIgnored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root, _ := genKey(t, e, "root")
	stranger, strangerSigner := genKey(t, e, "stranger")
	before := e.size(t)
	for _, pt := range []string{pgplog.RevocationPredicateType, pgplog.ManifestPredicateType} {
		if _, err := submit(t, e, pt, map[string]string{}, root, strangerSigner); !errors.Is(err, recordtype.ErrReserved) {
			t.Errorf("Submit of a %s = %v, want ErrReserved", pt, err)
		}
	}
	if after := e.size(t); after != before {
		t.Fatalf("log grew from %d to %d on refused forgeries", before, after)
	}

	ks := pgplog.KeySubject(root)
	forge := func(payloadType, predicateType string, predicate any) {
		pred, err := json.Marshal(predicate)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := envelope.NewStatement(predicateType, pred, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
		if err != nil {
			t.Fatal(err)
		}
		teststore.AppendUnchecked(t, e.store, store.Statement{PayloadType: payloadType, PredicateType: predicateType,
			Envelope: append([]byte(predicateType), payload...), Payload: payload, SignerKeyIDs: []string{stranger.Fingerprint},
			Subjects: []store.StatementSubject{ks}})
	}
	forge(envelope.PayloadTypeInToto, pgplog.RevocationPredicateType, map[string]string{})
	// A delegation from root to the stranger that never went through the
	// validator (it came in a Sigstore bundle, before the table).
	forge(recordtype.BundlePayloadTypePrefix+".v0.3+json", pgp.DelegationPredicateType,
		pgp.Delegation{Delegator: root.Fingerprint, Delegate: stranger.Fingerprint, Scope: []string{"**"}, Until: time.Now().Add(time.Hour)})

	if st, err := e.svc.Status(ctx, root.Fingerprint, time.Now()); err != nil || st.State != pgp.StateValid {
		t.Errorf("root status = %+v, %v; want valid, the forged revocation ignored", st, err)
	}
	if _, err := e.svc.Decide(ctx, pgplog.Query{Name: "releases/x", Signer: stranger.Fingerprint, Roots: []string{root.Fingerprint}}); !errors.Is(err, pgp.ErrRefused) {
		t.Errorf("Decide for the stranger = %v, want a refusal: the forged delegation is no fact", err)
	}
	if _, err := e.svc.Decide(ctx, pgplog.Query{Name: "releases/x", Signer: root.Fingerprint, Roots: []string{root.Fingerprint}}); err != nil {
		t.Errorf("Decide for the root itself: %v", err)
	}
}
