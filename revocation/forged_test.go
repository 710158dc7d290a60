package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// forgedStatement is a stranger's in-toto statement of a reserved
// predicate type naming d, shaped so a reader that trusts the type string
// finds what it looks for: the TUF descriptor of the stranger's own
// repository ({"repo","role","version"} at the top level of the payload).
func forgedStatement(t testing.TB, predicateType, repo string, d digest.Digest) []byte {
	t.Helper()
	stmt := map[string]any{
		"_type":         envelope.StatementTypeV1,
		"subject":       []map[string]any{{"name": "victim.tar.gz", "digest": map[string]string{string(d.Algorithm()): d.Hex()}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{},
		"repo":          repo, "role": "targets", "version": 1,
	}
	raw, err := json.Marshal(stmt)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestForgedPublisherEvidence is the attack of issue 13: a stranger with
// a self-registered key makes trustd hold a record of trustd's own TUF
// metadata (or OpenPGP manifest) type naming a victim's digest, and then
// revokes the victim's release as malicious. Submitting the forgery is
// refused with the log unchanged; a forged row already in the store (an
// old database) makes nobody a publisher.
func TestForgedPublisherEvidence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		victimKey, victimMeta := e.tufKey(t)
		e.tufPublish(t, "acme/app", victimMeta, "app.tar.gz", []byte("victim bytes"))
		victim := sha256Of("victim bytes")
		// The stranger owns a TUF repository of their own, so a forged
		// descriptor pointing at it names metadata the stranger's key signs.
		stranger, strangerMeta := e.tufKey(t)
		e.tufPublish(t, "evil/bait", strangerMeta, "bait.tar.gz", []byte("bait bytes"))
		strangerPGP := e.pgpKey(t, "stranger")

		revokeVictim := func(signer envelope.Signer) error {
			_, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: victim.String()},
				Reason: revocation.ReasonMalicious}, signer)
			return err
		}

		// Through Submit: refused, nothing stored.
		for _, pt := range []string{tufstore.PredicateType, pgplog.ManifestPredicateType} {
			before, _ := e.store.LogSize(ctx)
			_, _, err := e.log.Submit(ctx, sign(t, forgedStatement(t, pt, "evil/bait", victim), stranger.signer))
			if !errors.Is(err, recordtype.ErrReserved) {
				t.Fatalf("Submit of a forged %s = %v, want ErrReserved", pt, err)
			}
			if after, _ := e.store.LogSize(ctx); after != before {
				t.Fatalf("log grew from %d to %d on a refused forgery", before, after)
			}
		}

		// Forged rows already in the store, as an older trustd let them in.
		tufForgery := forgedStatement(t, tufstore.PredicateType, "evil/bait", victim)
		teststore.AppendUnchecked(t, e.store, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: tufstore.PredicateType,
			Envelope: sign(t, tufForgery, stranger.signer), Payload: tufForgery, SignerKeyIDs: []string{stranger.id},
			Subjects: []store.StatementSubject{{Name: "victim.tar.gz", Digests: []digest.Digest{victim}}}})
		pgpForgery := forgedStatement(t, pgplog.ManifestPredicateType, "", victim)
		teststore.AppendUnchecked(t, e.store, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: pgplog.ManifestPredicateType,
			Envelope: sign(t, pgpForgery, strangerPGP), Payload: pgpForgery, SignerKeyIDs: []string{strangerPGP.Certificate().Fingerprint},
			Subjects: []store.StatementSubject{{Name: "victim.tar.gz", Digests: []digest.Digest{victim}}}})

		for name, signer := range map[string]envelope.Signer{"TUF": stranger.signer, "OpenPGP": strangerPGP} {
			if err := revokeVictim(signer); !errors.Is(err, revocation.ErrUnauthorized) {
				t.Errorf("%s forgery: the stranger's revocation of the victim's digest = %v, want ErrUnauthorized", name, err)
			}
		}
		for _, k := range []string{stranger.id, strangerPGP.Certificate().Fingerprint} {
			if ok, err := e.svc.IsPublisher(ctx, k, victim); err != nil || ok {
				t.Errorf("IsPublisher(stranger %s) = %v, %v; want false", k, ok, err)
			}
		}
		if ok, err := e.svc.IsPublisher(ctx, victimKey.id, victim); err != nil || !ok {
			t.Errorf("IsPublisher(the victim's TUF key) = %v, %v; want true", ok, err)
		}
		// The rightful publisher still may.
		if err := revokeVictim(victimKey.signer); err != nil {
			t.Errorf("the publisher's own revocation: %v", err)
		}
	})
}

// TestAttestationPublishers: a configured attestation signer is a
// publisher of the digests its attestations name; any other attestation
// signer is not, and neither is a signer of feedback.
func TestAttestationPublishers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		builder, stranger := e.key(t), e.key(t)
		e = newEnvOn(t, e, revocation.Config{AttestationPublishers: []string{builder.id}})
		e.attest(t, "release", builder.signer)
		e.attest(t, "release", stranger.signer)
		d := sha256Of("release")
		for _, tc := range []struct {
			key  string
			want bool
		}{{builder.id, true}, {stranger.id, false}} {
			if ok, err := e.svc.IsPublisher(ctx, tc.key, d); err != nil || ok != tc.want {
				t.Errorf("IsPublisher(%s) = %v, %v; want %v", tc.key, ok, err, tc.want)
			}
		}
		if ok, err := e.svc.IsPublisher(ctx, builder.id, sha256Of("something else")); err != nil || ok {
			t.Errorf("IsPublisher of a digest it did not attest = %v, %v", ok, err)
		}
		for _, tc := range []struct {
			signer envelope.Signer
			ok     bool
		}{{stranger.signer, false}, {builder.signer, true}} {
			_, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: d.String()},
				Reason: revocation.ReasonWithdrawn}, tc.signer)
			if (err == nil) != tc.ok {
				t.Errorf("revocation: %v, want allowed=%v", err, tc.ok)
			}
		}
	})
}
