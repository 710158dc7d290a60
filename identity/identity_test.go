package identity_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

const issuer = "https://token.actions.example.com"

type env struct {
	store  store.Store
	log    *statement.Log
	attest *attest.Service
	fb     *feedback.Service
	vs     *ca.VirtualSigstore
	idv    *identity.Verifier
	// authority is the security authority, which may revoke anything.
	authority voter
	rev       *revocation.Service
	// legacy logs bindings as a trustd from before the binding index did:
	// without indexing them.
	legacy bool
}

func newEnv(t testing.TB, s store.Store, roots ...string) *env {
	t.Helper()
	e := &env{store: s}
	e.authority = e.voter(t)
	rev := revocation.New(s, revocation.Config{SecurityAuthority: []string{e.authority.id}, PGP: pgplog.New(s, nil)})
	idv, err := identity.New(s, identity.Options{PGPRoots: roots, Revocations: rev})
	if err != nil {
		t.Fatal(err)
	}
	fb := feedback.New(s, feedback.Options{Identities: idv, Revocations: rev})
	validators := fb.Validators()
	maps.Copy(validators, idv.Validators())
	maps.Copy(validators, rev.Validators())
	indexers := fb.Indexers()
	maps.Copy(indexers, rev.Indexers())
	for pt, ix := range idv.Indexers() {
		indexers[pt] = func(ctx context.Context, w store.Writer, entry store.Statement) error {
			if e.legacy {
				return nil
			}
			return ix(ctx, w, entry)
		}
	}
	skey, vkey, err := tlog.GenerateLogKey("identity-test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: indexers})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := attest.LoadTrustedRoot(attesttest.WriteTrustedRoot(t, vs))
	if err != nil {
		t.Fatal(err)
	}
	e.log, e.attest, e.fb, e.vs, e.idv, e.rev = l, attest.New(s, l, attest.Options{Sigstore: tr}), fb, vs, idv, rev
	return e
}

// revoke has by (the security authority when nil) revoke a target.
func (e *env) revoke(t testing.TB, by *voter, kind revocation.Kind, id string, reason revocation.Reason) {
	t.Helper()
	stmt, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: kind, ID: id},
		Reason: reason, Effective: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if by == nil {
		by = &e.authority
	}
	if _, _, err := e.log.Submit(context.Background(), e.sign(t, stmt, *by)); err != nil {
		t.Fatalf("revoke %s %s: %v", kind, id, err)
	}
}

type voter struct {
	envelope.Signer
	id string
}

func (e *env) voter(t testing.TB) voter {
	t.Helper()
	priv, _, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	sg, pub, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := keys.NewRegistry(e.store).Add(context.Background(), pub.Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	return voter{Signer: sg, id: k.ID}
}

func (e *env) sign(t testing.TB, payload []byte, by ...envelope.Signer) []byte {
	t.Helper()
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, by...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bindKey submits the key's side of a binding to subject.
func (e *env) bindKey(t testing.TB, v voter, subject string) store.Statement {
	t.Helper()
	stmt, err := identity.Statement(identity.Binding{KeyID: v.id, Issuer: issuer, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), e.sign(t, stmt, v))
	if err != nil {
		t.Fatalf("submit key binding: %v", err)
	}
	return st
}

// bindIdentity submits the identity's side, a keyless Sigstore bundle,
// and returns the bundle.
func (e *env) bindIdentity(t testing.TB, keyID, subject string) []byte {
	t.Helper()
	b, err := e.tryBindIdentity(t, keyID, subject)
	if err != nil {
		t.Fatalf("put identity bundle: %v", err)
	}
	return b
}

func (e *env) tryBindIdentity(t testing.TB, keyID, subject string) ([]byte, error) {
	t.Helper()
	stmt, err := identity.Statement(identity.Binding{KeyID: keyID, Issuer: issuer, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	b := attesttest.Attest(t, e.vs, subject, issuer, stmt, time.Now().Add(time.Minute), attesttest.Opts{TLog: true})
	_, _, err = e.attest.Put(context.Background(), attest.PutRequest{Data: b})
	return b, err
}

func (e *env) verified(t testing.TB, keyID string) bool {
	t.Helper()
	ok, err := e.idv.Verified(context.Background(), keyID)
	if err != nil {
		t.Fatalf("Verified(%s): %v", keyID, err)
	}
	// The binding index gives the same answer as the statements read one
	// by one (every test that asks is a differential test of the two).
	bulk, err := e.idv.VerifiedKeys(context.Background(), []string{keyID, "not-a-registered-key"})
	if err != nil {
		t.Fatalf("VerifiedKeys(%s): %v", keyID, err)
	}
	if bulk[keyID] != ok || bulk["not-a-registered-key"] {
		t.Fatalf("VerifiedKeys(%s) = %v, Verified = %v", keyID, bulk, ok)
	}
	return ok
}

func TestSigstoreBinding(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b.Open(t))
			alice, bob, carol, dave, erin := e.voter(t), e.voter(t), e.voter(t), e.voter(t), e.voter(t)
			frank, grace := e.voter(t), e.voter(t)

			e.bindKey(t, alice, "alice@example.com")
			e.bindIdentity(t, alice.id, "alice@example.com")
			e.bindKey(t, bob, "bob@example.com")             // the key's side only
			e.bindIdentity(t, carol.id, "carol@example.com") // the identity's side only
			e.bindKey(t, carol, "someone-else@example.com")  // names another identity
			e.bindIdentity(t, bob.id, "mallory@example.com") // an identity bob never named
			e.bindKey(t, dave, "shared@example.com")         // one identity, two keys:
			e.bindIdentity(t, dave.id, "shared@example.com") // dave first,
			e.bindKey(t, erin, "shared@example.com")         // then erin,
			e.bindIdentity(t, erin.id, "shared@example.com") // whose binding is newest
			graceSide := e.bindKey(t, grace, "grace@example.com")
			e.bindIdentity(t, grace.id, "grace@example.com")
			e.bindKey(t, frank, "frank@example.com")
			e.bindIdentity(t, frank.id, "frank@example.com")
			if !e.verified(t, frank.id) || !e.verified(t, grace.id) {
				t.Fatal("frank and grace are not verified before the revocations")
			}
			// Others' bundles naming alice's key cannot crowd her binding out.
			for i := range identity.MaxBindings + 1 {
				e.bindIdentity(t, alice.id, fmt.Sprintf("sybil-%d@example.com", i))
			}
			e.revoke(t, nil, revocation.KindKey, frank.id, revocation.ReasonRetired)
			e.revoke(t, &grace, revocation.KindStatement, graceSide.EnvelopeDigest.String(), revocation.ReasonWithdrawn)

			for _, c := range []struct {
				name string
				id   string
				want bool
			}{
				{"both sides", alice.id, true},
				{"key side only", bob.id, false},
				{"identity side only", carol.id, false},
				{"superseded by a newer binding of the identity", dave.id, false},
				{"newest binding of the identity", erin.id, true},
				{"revoked key", frank.id, false},
				{"revoked binding statement", grace.id, false},
				{"unknown key", "0000000000000000000000000000000000000000000000000000000000000000", false},
			} {
				if got := e.verified(t, c.id); got != c.want {
					t.Errorf("%s: Verified = %v, want %v", c.name, got, c.want)
				}
			}

			// A binding naming alice, signed by bob, is refused before it is stored.
			stmt, err := identity.Statement(identity.Binding{KeyID: alice.id, Issuer: issuer, Subject: "bob@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.log.Submit(context.Background(), e.sign(t, stmt, bob)); !errors.Is(err, identity.ErrInvalidBinding) {
				t.Errorf("binding signed by another key: %v, want ErrInvalidBinding", err)
			}

			// Reputation: alice (verified) and bob (not) like the same digest.
			sum := sha256.Sum256([]byte("app"))
			d, err := digest.New(digest.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			subj := envelope.Subject{Name: "app", Digests: []digest.Digest{d}}
			for _, v := range []voter{alice, bob} {
				payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Like, Timestamp: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := e.log.Submit(context.Background(), e.sign(t, payload, v)); err != nil {
					t.Fatal(err)
				}
			}
			all, err := e.fb.Reputation(context.Background(), feedback.Query{Digest: d})
			if err != nil || all.Voters != 2 || all.Quality.Positive != 2 {
				t.Fatalf("Reputation = %+v, %v; want 2 voters", all, err)
			}
			ver, err := e.fb.Reputation(context.Background(), feedback.Query{Digest: d, VerifiedOnly: true})
			if err != nil || ver.Voters != 1 || ver.Quality.Positive != 1 {
				t.Fatalf("Reputation(verified only) = %+v, %v; want alice alone", ver, err)
			}
		})
	}
}

// TestBindingReplay: a stranger logs an identity's superseded binding
// again to make the identity vouch for its old key. Copies of what the
// sides logged (both sides re-encoded: whitespace around the same
// signatures) are the original entries; the key's side with the
// stranger's own signature added is refused (store.ErrSignedBefore); the
// old key signing the same binding anew, in a payload of other bytes, is
// refused by the binding index (ErrRepeatedBinding). Nothing is stored
// and the newest binding stands.
func TestBindingReplay(t *testing.T) {
	ctx := context.Background()
	reencode := func(t *testing.T, raw []byte) []byte {
		t.Helper()
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b.Open(t))
			old, next, stranger := e.voter(t), e.voter(t), e.voter(t)
			const who = "rotating@example.com"
			oldSide := e.bindKey(t, old, who)
			oldBundle := e.bindIdentity(t, old.id, who)
			e.bindKey(t, next, who)
			e.bindIdentity(t, next.id, who)
			if e.verified(t, old.id) || !e.verified(t, next.id) {
				t.Fatal("before the replays: want the newest binding's key verified, the old one not")
			}
			size, err := e.store.LogSize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, oldSide.Payload, "", " "); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name   string
				submit func() (int64, error)
				want   error // nil: the original entry
			}{
				{"key side re-encoded", func() (int64, error) {
					st, _, err := e.log.Submit(ctx, reencode(t, oldSide.Envelope))
					return st.Seq, err
				}, nil},
				{"identity side re-encoded", func() (int64, error) {
					a, _, err := e.attest.Put(ctx, attest.PutRequest{Data: reencode(t, oldBundle)})
					return a.Seq, err
				}, nil},
				{"key side with the stranger's signature", func() (int64, error) {
					_, _, err := e.log.Submit(ctx, e.sign(t, oldSide.Payload, old, stranger))
					return 0, err
				}, store.ErrSignedBefore},
				{"key side signed anew, other bytes", func() (int64, error) {
					_, _, err := e.log.Submit(ctx, e.sign(t, pretty.Bytes(), old))
					return 0, err
				}, identity.ErrRepeatedBinding},
			} {
				seq, err := c.submit()
				switch {
				case c.want != nil && !errors.Is(err, c.want):
					t.Errorf("%s: %v, want %v", c.name, err, c.want)
				case c.want == nil && (err != nil || seq <= 0 || uint64(seq) > size):
					t.Errorf("%s: entry %d, %v; want an entry logged before", c.name, seq, err)
				}
			}
			if after, err := e.store.LogSize(ctx); err != nil || after != size {
				t.Errorf("log size after the replays = %d, %v; want %d (nothing stored)", after, err, size)
			}
			if e.verified(t, old.id) || !e.verified(t, next.id) {
				t.Error("after the replays: the old key is verified again, or the newest one no longer")
			}
			st, created, err := e.log.Submit(ctx, oldSide.Envelope)
			if err != nil || created || st.Seq != oldSide.Seq {
				t.Errorf("the original envelope again: seq %d created %v %v; want the original entry %d", st.Seq, created, err, oldSide.Seq)
			}
		})
	}
}

// pgpKey is an OpenPGP key made with go-crypto, certified by certifiers.
func pgpKey(t *testing.T, name string, certifiers ...*openpgp.Entity) (*openpgp.Entity, []byte) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity(name, "", name+"@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certifiers {
		for _, id := range e.Identities {
			if err := id.SignIdentity(c, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return e, buf.Bytes()
}

func TestPGPCertification(t *testing.T) {
	root, rootCert := pgpKey(t, "root")
	_, memberCert := pgpKey(t, "member", root)
	stranger, strangerCert := pgpKey(t, "stranger")
	_, vouchedCert := pgpKey(t, "vouched", stranger) // certified, but not by a root
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			ids := map[string]string{}
			for name, cert := range map[string][]byte{"root": rootCert, "member": memberCert, "stranger": strangerCert, "vouched": vouchedCert} {
				k, _, err := keys.NewRegistry(s).Add(context.Background(), cert, name)
				if err != nil {
					t.Fatalf("register %s: %v", name, err)
				}
				ids[name] = k.ID
			}
			e := newEnv(t, s, ids["root"])
			for name, want := range map[string]bool{"root": true, "member": true, "stranger": false, "vouched": false} {
				if got := e.verified(t, ids[name]); got != want {
					t.Errorf("%s: Verified = %v, want %v", name, got, want)
				}
			}
			none := newEnv(t, s)
			if none.verified(t, ids["member"]) {
				t.Error("member is verified with no roots configured")
			}
		})
	}
}

func TestNewRejectsRoots(t *testing.T) {
	for _, roots := range [][]string{{"not-hex"}, {"abcd"}} {
		if _, err := identity.New(nil, identity.Options{PGPRoots: roots}); !errors.Is(err, identity.ErrInvalidRoot) {
			t.Errorf("New(%q) = %v, want ErrInvalidRoot", roots, err)
		}
	}
}

func TestParseBinding(t *testing.T) {
	kid := "5f2e0000000000000000000000000000000000000000000000000000000000ab"
	for _, c := range []struct {
		name, in, field string
	}{
		{"valid", `{"keyId":"` + kid + `","issuer":"https://accounts.example.com","subject":"a@example.com"}`, ""},
		{"not json", `[`, "predicate"},
		{"no key", `{"issuer":"https://i","subject":"s"}`, "predicate.keyId"},
		{"pgp fingerprint", `{"keyId":"0123456789abcdef0123456789abcdef01234567","issuer":"https://i","subject":"s"}`, "predicate.keyId"},
		{"no issuer", `{"keyId":"` + kid + `","subject":"s"}`, "predicate.issuer"},
		{"issuer with fragment", `{"keyId":"` + kid + `","issuer":"https://i#x","subject":"s"}`, "predicate.issuer"},
		{"no subject", `{"keyId":"` + kid + `","issuer":"https://i"}`, "predicate.subject"},
		{"unknown field", `{"keyId":"` + kid + `","issuer":"https://i","subject":"s","role":"admin"}`, "predicate.role"},
		{"mistyped field", `{"keyId":1,"issuer":"https://i","subject":"s"}`, "predicate.keyId"},
		{"trailing data", `{"keyId":"` + kid + `","issuer":"https://i","subject":"s"} {}`, "predicate"},
		{"too large", `{"keyId":"` + kid + `","issuer":"https://i","subject":"` + strings.Repeat("s", 5000) + `"}`, "predicate"},
	} {
		_, err := identity.ParseBinding([]byte(c.in))
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ie *envelope.Error
		if !errors.Is(err, identity.ErrInvalidBinding) || !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: %v, want ErrInvalidBinding on %s", c.name, err, c.field)
		}
	}
}

func FuzzParseBinding(f *testing.F) {
	f.Add([]byte(`{"keyId":"5f2e0000000000000000000000000000000000000000000000000000000000ab","issuer":"https://i","subject":"s"}`))
	f.Add([]byte(`{"keyId":"","issuer":"https://i#","subject":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := identity.ParseBinding(data)
		if err != nil {
			return
		}
		if _, err := identity.Statement(b); err != nil {
			t.Fatalf("Statement of a parsed binding: %v", err)
		}
	})
}
