package web_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/gpgtest"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/subject"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
)

// Payloads put into every untrusted field the fixture writes (subject
// names, predicate fields, vote reasons, responses, revocation
// comments): each would run script or break out of an attribute if a page
// printed it unescaped. A page that ran one sets window.__pwned.
const (
	xssScript = `<script>window.__pwned=1</script>`
	xssAttr   = `"'><img src=x onerror="window.__pwned=1">`
)

// xssFragments are what must never appear verbatim in a page.
var xssFragments = []string{"<script>window", `<img src=x`, `onerror="window`}

// fixture is a trustd with every kind of evidence about artifact A (two
// digests linked by a statement and a TUF target, a statement, a SLSA
// provenance attestation, a TUF target, votes on both axes with reasons
// and a publisher's response), a revoked artifact B, a TUF repository with
// a pending ceremony, all carrying the payloads above.
type fixture struct {
	srv       *httptest.Server
	a256      digest.Digest
	a512      digest.Digest
	b256      digest.Digest
	c256      digest.Digest
	d256      digest.Digest
	publisher string
	authority string
	repo      string
	// pgp is the OpenPGP certificate that signed a manifest of A.
	pgp string
	// retired is a key the security authority retired.
	retired string
	// missing is the key that still must sign the pending targets v2.
	missing string
}

type signer struct {
	id string
	s  envelope.Signer
}

func newKey(t testing.TB, st store.Store, label string) signer {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(st).Add(context.Background(), pub.Encode(), label); err != nil {
		t.Fatalf("register key %q: %v", label, err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: pub.ID, s: s}
}

func sha(content string) (digest.Digest, digest.Digest) {
	s256 := sha256.Sum256([]byte(content))
	d256, _ := digest.New(digest.SHA256, s256[:])
	s512 := sha512.Sum512([]byte(content))
	d512, _ := digest.New(digest.SHA512, s512[:])
	return d256, d512
}

func newFixture(t testing.TB, st store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	authority := newKey(t, st, "security-team")
	publisher := newKey(t, st, "acme-release")
	voter := newKey(t, st, "alice")
	voter2 := newKey(t, st, "voter2")

	pgp := pgplog.New(st, nil)
	rev := revocation.New(st, revocation.Config{SecurityAuthority: []string{authority.id}, AttestationPublishers: []string{publisher.id}, PGP: pgp})
	fb := feedback.New(st, feedback.Options{Revocations: rev, Publishers: rev})
	locs := location.New(st, location.Options{Publishers: rev, Revocations: rev})
	skey, vkey, err := tlog.GenerateLogKey("web-test-log")
	if err != nil {
		t.Fatal(err)
	}
	validators := pgplog.Validators(st)
	maps.Copy(validators, fb.Validators())
	maps.Copy(validators, rev.Validators())
	maps.Copy(validators, attest.Validators(0))
	maps.Copy(validators, locs.Validators())
	indexers := fb.Indexers()
	maps.Copy(indexers, locs.Indexers())
	maps.Copy(indexers, rev.Indexers())
	maps.Copy(indexers, attest.Indexers())
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: indexers})
	if err != nil {
		t.Fatal(err)
	}
	tufSvc, tufState, online := tuftest.NewService(t, st, l)
	dir := t.TempDir()
	listSigner, listKey, err := revocation.LoadListKey(filepath.Join(dir, "list.key"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := revocation.NewKeyPublisher(tufSvc, tufState, online, filepath.Join(dir, "keys-repo"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TUF: tufSvc, TUFState: tufState, TUFKeys: online, Revocation: rev, RevocationLists: revocation.NewLists(revocation.NewPublisher(st, listSigner, time.Hour), kp, listKey),
		Feedback: fb, Locations: locs})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: httptest.NewServer(srv.HTTPHandler()), publisher: publisher.id, authority: authority.id, repo: "acme/app"}
	t.Cleanup(f.srv.Close)
	f.a256, f.a512 = sha("artifact-a")
	f.b256, _ = sha("artifact-b")

	submit := func(stmt []byte, s signer) store.Statement {
		t.Helper()
		env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, s.s)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		e, _, err := l.Submit(ctx, raw)
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		return e
	}
	stmt := func(pt string, pred any, name string, ds ...digest.Digest) []byte {
		t.Helper()
		raw, _ := json.Marshal(pred)
		s, err := envelope.NewStatement(pt, raw, envelope.Subject{Name: name, Digests: ds})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A release statement naming both digests (an alias claim), and a
	// SLSA provenance whose indexed fields carry the payloads.
	submit(stmt("https://example.com/release/v1", map[string]string{"note": xssScript}, "app "+xssAttr, f.a256, f.a512), publisher)
	submit(stmt(attest.PredicateSLSAProvenanceV1, map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://example.com/build/" + xssAttr,
			"externalParameters": map[string]any{"source": map[string]any{"uri": "git+https://example.com/" + xssScript}}},
		"runDetails": map[string]any{"builder": map[string]any{"id": "https://ci.example.com/" + xssScript}},
	}, "app", f.a256), publisher)

	// An OpenPGP manifest listing artifact A, signed by a certificate
	// whose user id carries a payload.
	h := gpgtest.New(t)
	fpr := h.GenKey("Mallory " + xssScript + " <m@example.com>")
	if _, _, err := keys.NewRegistry(st).Add(ctx, h.Run(nil, "--armor", "--export", fpr), "mallory"); err != nil {
		t.Fatal(err)
	}
	sums := []byte(f.a256.Hex() + "  app.tar\n")
	sig := h.Run(sums, "--detach-sign", "--armor", "-u", fpr)
	if _, err := pgplog.New(st, l).PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: sig}); err != nil {
		t.Fatalf("publish manifest: %v", err)
	}
	f.pgp = fpr

	// Where to fetch it, claimed by its publisher.
	loc, err := envelope.NewStatement(location.PredicateType, json.RawMessage(`{"uri":"https://downloads.example.com/app.tar?v=%22%3E%3Cscript%3E"}`),
		envelope.Subject{Name: "app.tar", Digests: []digest.Digest{f.a256, f.a512}})
	if err != nil {
		t.Fatal(err)
	}
	submit(loc, publisher)

	// A TUF repository listing artifact A whose targets role needs two
	// of two keys, and a targets v2 signed by one of them: pending.
	rootKey, tk1, tk2 := tuftest.NewKey(t), tuftest.NewKey(t), tuftest.NewKey(t)
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 1, Expires: time.Now().Add(365 * 24 * time.Hour),
		Root: tuf.KeySet{Keys: []*metadata.Key{rootKey.Key}, Threshold: 1}, Targets: tuf.KeySet{Keys: []*metadata.Key{tk1.Key, tk2.Key}, Threshold: 2},
		Snapshot: tuf.Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	rootV1, err := tuf.Sign(md, rootKey.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tufSvc.Init(ctx, f.repo, rootV1); err != nil {
		t.Fatal(err)
	}
	repo := &tuftest.Repo{Name: f.repo, Root: rootKey, Targets: tk1, RootV1: rootV1}
	v1 := repo.SignTargets(t, nil, "app.tar", []byte("artifact-a"), tk1.Signer, tk2.Signer)
	if _, err := tufSvc.Upload(ctx, f.repo, metadata.TARGETS, v1); err != nil {
		t.Fatal(err)
	}
	v2 := repo.SignTargets(t, v1, "app-2.tar", []byte("artifact-a2"), tk1.Signer)
	if res, err := tufSvc.Upload(ctx, f.repo, metadata.TARGETS, v2); err != nil || res.Pending == nil {
		t.Fatalf("pending targets v2: %+v, %v", res, err)
	}
	f.missing = tk2.ID

	// Votes on both axes with reasons, and the publisher's response.
	now := time.Now().UTC().Truncate(time.Second)
	subj := envelope.Subject{Name: "app", Digests: []digest.Digest{f.a256}}
	vote := func(s signer, p feedback.VotePredicate) store.Statement {
		t.Helper()
		raw, err := feedback.VoteStatement(subj, p)
		if err != nil {
			t.Fatal(err)
		}
		return submit(raw, s)
	}
	vote(voter, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Dislike, Reason: "first try " + xssAttr, Timestamp: now.Add(-3 * time.Hour)})
	liked := vote(voter, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Like, Reason: "works " + xssScript, Timestamp: now.Add(-2 * time.Hour)})
	vote(voter2, feedback.VotePredicate{Axis: feedback.AxisTrust, Value: feedback.Distrust, Reason: "unsigned source " + xssAttr, Timestamp: now.Add(-time.Hour)})
	raw, err := feedback.ResponseStatement(subj, feedback.ResponsePredicate{InReplyTo: liked.EnvelopeDigest.String(), Text: "thanks " + xssScript, Timestamp: now})
	if err != nil {
		t.Fatal(err)
	}
	submit(raw, publisher)

	// Artifact B: published, then revoked by the security authority.
	submit(stmt("https://example.com/release/v1", map[string]string{}, "b", f.b256), publisher)
	rs, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindDigest, ID: f.b256.String()},
		Reason: revocation.ReasonMalicious, Effective: now.Add(-time.Minute), Comment: "backdoor " + xssScript})
	if err != nil {
		t.Fatal(err)
	}
	submit(rs, authority)

	// voter2's key retired by the security authority.
	rk, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindKey, ID: voter2.id},
		Reason: revocation.ReasonRetired, Effective: now.Add(time.Hour), Comment: "rotated " + xssAttr})
	if err != nil {
		t.Fatal(err)
	}
	submit(rk, authority)
	f.retired = voter2.id

	// Artifact D: its publisher's release revoked by the publisher, then
	// a stranger's statement about it.
	stranger := newKey(t, st, "stranger")
	f.d256, _ = sha("artifact-d")
	release := submit(stmt("https://example.com/release/v1", map[string]string{}, "d", f.d256), publisher)
	wd, err := revocation.NewStatement(revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindStatement, ID: release.EnvelopeDigest.String()},
		Reason: revocation.ReasonCompromised, Effective: now.Add(-time.Minute), Comment: "built from a poisoned cache"})
	if err != nil {
		t.Fatal(err)
	}
	submit(wd, publisher)
	submit(stmt("https://example.com/scan/v1", map[string]string{"result": "clean"}, "d", f.d256), stranger)

	// Artifact C: a stranger's flood of alias claims, two more than a
	// lookup shows.
	f.c256, _ = sha("artifact-c")
	for i := range subject.MaxClaims + 2 {
		_, other := sha(fmt.Sprint("flood-", i))
		submit(stmt("https://example.com/scan/v1", map[string]string{}, "c", f.c256, other), stranger)
	}
	return f
}
