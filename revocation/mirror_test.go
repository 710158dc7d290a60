package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestMirrorIsNotPublisher: anyone may list bytes they did not make, in a
// TUF repository or an OpenPGP manifest of their own, but listing a
// release after it was published makes them a mirror, not its publisher:
// no authority to revoke it (which would fail every verdict on it) and, by
// the same IsPublisher, no right to respond to votes on it. The first
// publication of a digest decides (the stranger's own first release is
// the stranger's); a configured attestation publisher counts whenever it
// attested, since the operator named it.
func TestMirrorIsNotPublisher(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		builder := e.key(t)
		e = newEnvOn(t, e, revocation.Config{AttestationPublishers: []string{builder.id}})
		owner, ownerMeta := e.tufKey(t)
		stranger, strangerMeta := e.tufKey(t)
		ownerPGP, ownerCI := e.pgpKey(t, "owner"), e.pgpKey(t, "owner-ci")
		strangerPGP, accomplice := e.pgpKey(t, "stranger"), e.pgpKey(t, "accomplice")
		e.delegate(t, ownerPGP, ownerCI, "**", e.now.Add(24*time.Hour))
		e.delegate(t, strangerPGP, accomplice, "**", e.now.Add(24*time.Hour))
		manifest := func(k *pgp.KeySigner, name string, files map[string]string) {
			t.Helper()
			var m strings.Builder
			for file, content := range files {
				fmt.Fprintf(&m, "%s  %s\n", sha256Of(content).Hex(), file)
			}
			sig, err := k.Sign(ctx, []byte(m.String()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: name, Data: []byte(m.String()), Signature: sig}); err != nil {
				t.Fatalf("publish %s: %v", name, err)
			}
		}

		// The owner publishes one release through TUF, one in a manifest;
		// the stranger publishes a release of its own.
		e.tufPublish(t, "acme/app", ownerMeta, "app.tar.gz", []byte("tuf release"))
		manifest(ownerPGP, "SHA256SUMS", map[string]string{"app-2.tar.gz": "pgp release"})
		e.tufPublish(t, "stranger/tool", strangerMeta, "tool.tar.gz", []byte("stranger's release"))
		// Then the stranger lists the owner's releases under its own name,
		// in repositories and a manifest; the builder attests them.
		e.tufPublish(t, "mirror/app", strangerMeta, "app.tar.gz", []byte("tuf release"))
		e.tufPublish(t, "mirror/app-2", strangerMeta, "app-2.tar.gz", []byte("pgp release"))
		manifest(strangerPGP, "MIRROR-SUMS", map[string]string{"app.tar.gz": "tuf release", "app-2.tar.gz": "pgp release"})
		e.attest(t, "tuf release", builder.signer)
		e.attest(t, "pgp release", builder.signer)

		publisher := func(k string, content string) bool {
			t.Helper()
			ok, err := e.svc.IsPublisher(ctx, k, sha256Of(content))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		revoke := func(content string, signer envelope.Signer) error {
			_, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: sha256Of(content).String()},
				Reason: revocation.ReasonMalicious}, signer)
			return err
		}
		fpr := func(k *pgp.KeySigner) string { return k.Certificate().Fingerprint }
		for _, release := range []string{"tuf release", "pgp release"} {
			for who, k := range map[string]string{"the stranger's TUF key": stranger.id, "the stranger's OpenPGP key": fpr(strangerPGP)} {
				if publisher(k, release) {
					t.Errorf("%s is a publisher of the owner's %s it listed later", who, release)
				}
			}
			if !publisher(builder.id, release) {
				t.Errorf("the configured attestation publisher is not a publisher of the %s it attested", release)
			}
			for who, s := range map[string]envelope.Signer{"the stranger's TUF key": stranger.signer, "the stranger's OpenPGP key": strangerPGP,
				"the stranger's OpenPGP delegate": accomplice} {
				if err := revoke(release, s); !errors.Is(err, revocation.ErrUnauthorized) {
					t.Errorf("%s revoking the owner's %s = %v, want ErrUnauthorized", who, release, err)
				}
			}
		}
		if !publisher(owner.id, "tuf release") || !publisher(fpr(ownerPGP), "pgp release") {
			t.Error("the owner is not the publisher of its own releases")
		}
		if publisher(owner.id, "pgp release") || publisher(fpr(ownerPGP), "tuf release") {
			t.Error("a key of the owner's is a publisher of a release it did not publish")
		}
		if !publisher(stranger.id, "stranger's release") {
			t.Error("the stranger is not the publisher of its own first release")
		}
		for name, err := range map[string]error{
			"the owner's TUF key":          revoke("tuf release", owner.signer),
			"the owner's OpenPGP key":      revoke("pgp release", ownerPGP),
			"the owner's OpenPGP delegate": revoke("pgp release", ownerCI),
		} {
			if err != nil {
				t.Errorf("%s revoking its own release: %v", name, err)
			}
		}
	})
}
