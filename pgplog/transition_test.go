package pgplog_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// envOn is an env on st whose log runs the OpenPGP validators and the
// revocation index's indexers, as trustd wires them.
func envOn(t testing.TB, st store.Store) (*env, *revocation.Service) {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	rev := revocation.New(st, revocation.Config{PGP: pgplog.New(st, nil)})
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: pgplog.Validators(st), Indexers: rev.Indexers()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, log: l, svc: pgplog.New(st, l), keys: keys.NewRegistry(st)}, rev
}

// TestImportTransition: a clearsigned key transition statement signed by
// both keys (made by gpg, mktransition.sh) published through
// PublishManifest is imported as a rotation (a fact for chain decisions,
// the old key superseded in the revocation index), not as an empty
// manifest; one signature, a stranger naming another's key, a signer
// other than the named key, an unregistered key, and a revoked or already
// superseded old key are refused with nothing stored.
func TestImportTransition(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e, rev := envOn(t, b.Open(t))
			tr := func(name string) []byte { return fixture(t, "transition/"+name) }
			old := e.register(t, tr("old.asc"))
			mallory := e.register(t, tr("mallory.asc"))
			publish := func(name string) (pgplog.Published, error) {
				return e.svc.PublishManifest(ctx, pgplog.Manifest{Name: name, Clearsigned: tr(name)})
			}
			refuse := func(name string, kind error, msg string) {
				t.Helper()
				before := e.size(t)
				_, err := publish(name)
				if !errors.Is(err, kind) || !strings.Contains(err.Error(), msg) {
					t.Errorf("publish %s = %v; want %v saying %q", name, err, kind, msg)
				}
				if after := e.size(t); after != before {
					t.Errorf("publish %s stored %d entries", name, after-before)
				}
			}
			refuse("transition.asc", pgplog.ErrUnknownSigner, "new key: signer not registered: ")
			nu := e.register(t, tr("new.asc"))
			refuse("old-only.asc", pgp.ErrWrongKey, "1 signature(s)")
			refuse("mallory-claims-old.asc", pgp.ErrWrongKey, "no signature by the old key "+old.Fingerprint)
			refuse("wrong-new-signer.asc", pgp.ErrWrongKey, "no signature by the new key "+nu.Fingerprint)

			p, err := publish("transition.asc")
			if err != nil {
				t.Fatalf("publish transition: %v", err)
			}
			if p.Transition == nil || p.Transition.Old != old.Fingerprint || p.Transition.New != nu.Fingerprint || !p.Created || len(p.Entries) != 0 {
				t.Fatalf("published %+v", p)
			}
			ent := p.Entry
			if ent.PredicateType != pgplog.TransitionPredicateType || ent.PayloadType != pgplog.TransitionPayloadType ||
				len(ent.SignerKeyIDs) != 2 || ent.SignerKeyIDs[0] != old.Fingerprint || ent.SignerKeyIDs[1] != nu.Fingerprint ||
				len(ent.Subjects) != 1 || ent.Subjects[0].Digests[0] != pgplog.KeySubject(nu).Digests[0] {
				t.Fatalf("entry %+v", ent)
			}
			var rec pgplog.TransitionRecord
			if err := json.Unmarshal(ent.Envelope, &rec); err != nil || string(rec.Transition) != string(tr("transition.asc")) {
				t.Errorf("record %v: not verbatim", err)
			}
			again, err := publish("transition.asc")
			if err != nil || again.Created || again.Entry.Seq != ent.Seq {
				t.Errorf("publish again = %+v, %v; want the original entry", again.Entry, err)
			}
			// Both keys logged the statement's text, as the start-up
			// backfill would compute it from the entry.
			if d, ok := pgplog.SignedDigest(ent); !ok {
				t.Error("SignedDigest of the transition: not ok")
			} else {
				for _, k := range ent.SignerKeyIDs {
					if logged, err := e.store.SignedBefore(ctx, d, []string{k}); err != nil || !logged {
						t.Errorf("SignedDigest of the transition by %s: logged %v, %v", k, logged, err)
					}
				}
			}

			// A rotation like pgp rotate's: the old key superseded, the new
			// key inherits its authority through a rotation link.
			st, err := e.svc.Status(ctx, old.Fingerprint, p.Transition.Effective.Add(1))
			if err != nil || st.State != pgp.StateSuperseded || st.SupersededBy != nu.Fingerprint {
				t.Errorf("old key status = %+v, %v; want superseded by %s", st, err, nu.Fingerprint)
			}
			chain, err := e.svc.Decide(ctx, pgplog.Query{Name: "releases/x.tar.gz", Signer: nu.Fingerprint, Roots: []string{old.Fingerprint}})
			if err != nil || len(chain.Links) != 1 || chain.Links[0].Kind != pgp.LinkRotation || chain.Links[0].Statement != pgplog.StatementID(ent.Seq) {
				t.Errorf("decide for the new key = %+v, %v; want the rotation #%d", chain, err, ent.Seq)
			}
			if _, err := e.svc.Decide(ctx, pgplog.Query{Name: "releases/x.tar.gz", Signer: mallory.Fingerprint, Roots: []string{old.Fingerprint}}); !errors.Is(err, pgp.CodeNoPath) {
				t.Errorf("decide for the stranger = %v; want no-path", err)
			}
			r, err := rev.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: old.Fingerprint})
			if err != nil || r == nil || r.Reason != revocation.ReasonSuperseded || r.Seq != ent.Seq {
				t.Errorf("revocation index of the old key = %+v, %v; want superseded by entry %d", r, err, ent.Seq)
			}
			// The old key is superseded now: it cannot rotate again.
			refuse("old-to-mallory.asc", pgp.ErrRefused, "superseded")

		})
	}
}

// TestImportTransitionRevokedOldKey: a transition from a key revoked
// (compromised) is refused.
func TestImportTransitionRevokedOldKey(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e, _ := envOn(t, b.Open(t))
			e.register(t, fixture(t, "transition/old.asc"))
			e.register(t, fixture(t, "transition/new.asc"))
			if _, err := e.svc.Revoke(ctx, fixture(t, "transition/old-revoked.asc")); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			before := e.size(t)
			_, err := e.svc.PublishManifest(ctx, pgplog.Manifest{Name: "t.asc", Clearsigned: fixture(t, "transition/transition.asc")})
			if !errors.Is(err, pgp.ErrRefused) || !errors.Is(err, pgp.CodeRevokedCompromised) || !strings.Contains(err.Error(), "old key's signature") {
				t.Errorf("transition from a revoked key = %v; want refused as revoked", err)
			}
			if e.size(t) != before {
				t.Errorf("stored on refusal")
			}
		})
	}
}

// TestPublishRelease publishes a Debian repository's Release file made by
// apt-ftparchive and signed by gpg, as Release + Release.gpg and as
// InRelease: every path listed under SHA256 and SHA512 becomes one subject
// with both digests (aliases), and the evidence reading of the logged
// record finds the same lines. A manifest that indexes nothing is refused.
func TestPublishRelease(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e, _ := envOn(t, b.Open(t))
			deb := func(name string) []byte { return fixture(t, "debian/"+name) }
			cert := e.register(t, deb("archive.asc"))
			for _, m := range []pgplog.Manifest{
				{Name: "Release", Data: deb("Release"), Signature: deb("Release.gpg")},
				{Name: "InRelease", Clearsigned: deb("InRelease")},
			} {
				p, err := e.svc.PublishManifest(ctx, m)
				if err != nil {
					t.Fatalf("publish %s: %v", m.Name, err)
				}
				if len(p.Entries) != 6 || len(p.Problems) != 0 || len(p.Entry.Subjects) != 3 || p.Transition != nil {
					t.Fatalf("%s: %d entries, %d subjects, problems %v", m.Name, len(p.Entries), len(p.Entry.Subjects), p.Problems)
				}
				for _, s := range p.Entry.Subjects {
					if len(s.Digests) != 2 || s.Digests[0].Algorithm() != digest.SHA256 || s.Digests[1].Algorithm() != digest.SHA512 {
						t.Errorf("%s: subject %s digests %v; want its SHA-256 and SHA-512", m.Name, s.Name, s.Digests)
					}
				}
				lines, err := evidence.ManifestLines(p.Entry.Envelope, cert.Encode())
				if err != nil || len(lines) != 6 {
					t.Errorf("%s: ManifestLines = %d lines, %v", m.Name, len(lines), err)
				}
				// The two digests of a path are aliases of one subject.
				v, err := e.store.SubjectByDigest(ctx, p.Entry.Subjects[0].Digests[1])
				if err != nil || len(v.Digests) != 2 {
					t.Errorf("%s: subject of the SHA-512 digest = %+v, %v; want both digests", m.Name, v, err)
				}
			}

			before := e.size(t)
			for _, tc := range []struct {
				m   pgplog.Manifest
				msg string
			}{
				{pgplog.Manifest{Name: "notes.txt", Data: []byte("hello\n"), Signature: deb("Release.gpg")}, "does not verify"},
				{pgplog.Manifest{Name: "Release.txt", Data: deb("Release"), Signature: deb("Release.gpg")}, "none of its"},
				{pgplog.Manifest{Name: "Release.txt", Data: deb("Release"), Signature: deb("Release.gpg")}, "--name Release"},
			} {
				if _, err := e.svc.PublishManifest(ctx, tc.m); err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("publish %s = %v; want an error saying %q", tc.m.Name, err, tc.msg)
				}
			}
			if e.size(t) != before {
				t.Errorf("a refused manifest was stored")
			}
		})
	}
}
