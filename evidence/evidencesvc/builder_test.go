package evidencesvc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// predicateType is the attestations' type in these tests.
const predicateType = "https://example.com/test-result/v1"

// env is a store with a log wired as trustd wires it, the services the
// builder asks, and what the tests published.
type env struct {
	store   store.Store
	log     *statement.Log
	vkey    string
	builder *evidencesvc.Builder
	rev     *revocation.Service
	tuf     *tuf.Service
	online  *tuf.OnlineKeys
	pgp     *pgplog.Service
	keys    *keys.Registry
}

func newEnv(t testing.TB, st store.Store) *env { return newEnvTB(t, st) }

// newEnvTB is newEnv for tests and benchmarks.
func newEnvTB(t testing.TB, st store.Store) *env {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, vkey: vkey, keys: keys.NewRegistry(st)}
	e.rev = revocation.New(st, revocation.Config{PGP: pgplog.New(st, nil)})
	fb := feedback.New(st, feedback.Options{Revocations: e.rev, Publishers: e.rev})
	validators := pgplog.Validators(st)
	maps.Copy(validators, fb.Validators())
	maps.Copy(validators, e.rev.Validators())
	maps.Copy(validators, attest.Validators(0))
	indexers := fb.Indexers()
	maps.Copy(indexers, e.rev.Indexers())
	maps.Copy(indexers, attest.Indexers())
	if e.log, err = statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: indexers}); err != nil {
		t.Fatal(err)
	}
	e.pgp = pgplog.New(st, e.log)
	e.online = tuftest.OnlineKeys(t)
	state, err := tufstore.New(st, e.log)
	if err != nil {
		t.Fatal(err)
	}
	if e.tuf, err = tuf.New(state, e.online, tuf.Config{}); err != nil {
		t.Fatal(err)
	}
	e.builder = &evidencesvc.Builder{Store: st, Log: e.log, TUF: true, PGP: e.pgp,
		Attest: attest.New(st, e.log, attest.Options{Revocations: e.rev.AttestationView()}), Revocation: e.rev, Feedback: fb}
	return e
}

// key generates and registers an ed25519 key.
func (e *env) key(t testing.TB) (envelope.Signer, string) {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), pub.Encode(), ""); err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub.ID
}

// submit signs stmt with signer and submits it.
func (e *env) submit(t testing.TB, stmt []byte, signer envelope.Signer) store.Statement {
	t.Helper()
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, stmt, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := e.log.Submit(context.Background(), raw)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return st
}

func sha256Digest(data []byte) digest.Digest {
	sum := sha256.Sum256(data)
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "pgp", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// world is what publish made: the artifact's digest, the keys and the
// OpenPGP manifest's digest and signer.
type world struct {
	app        digest.Digest
	attester   string
	signer     envelope.Signer
	attested   store.Statement
	hello      digest.Digest
	pgpPrimary string
	repo       string
	targetsKey string
	tufRepo    *tuftest.Repo
	content    []byte
}

// publish makes evidence of every kind: a TUF target and an attestation
// for app, an OpenPGP manifest listing hello.bin.
func (e *env) publish(t testing.TB) world {
	t.Helper()
	ctx := context.Background()
	content := []byte("app release bytes")
	w := world{app: sha256Digest(content), repo: "acme/app"}
	signer, id := e.key(t)
	w.attester, w.signer = id, signer
	stmt, err := envelope.NewStatement(predicateType, json.RawMessage(`{"tests":"passed"}`), envelope.Subject{Name: "app.tar", Digests: []digest.Digest{w.app}})
	if err != nil {
		t.Fatal(err)
	}
	w.attested = e.submit(t, stmt, signer)

	r := tuftest.NewRepo(t, w.repo, e.online)
	w.targetsKey, w.tufRepo, w.content = r.Targets.ID, r, content
	if _, err := e.tuf.Init(ctx, r.Name, r.RootV1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tuf.Upload(ctx, r.Name, "targets", r.SignTargets(t, nil, "app.tar", content)); err != nil {
		t.Fatal(err)
	}

	cert, _, err := e.keys.Add(ctx, fixture(t, "ed25519.asc"), "")
	if err != nil {
		t.Fatal(err)
	}
	w.pgpPrimary = cert.PGP.Fingerprint
	if _, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: fixture(t, "SHA256SUMS"), Signature: fixture(t, "SHA256SUMS.ed25519.gpg")}); err != nil {
		t.Fatal(err)
	}
	if w.hello, err = digest.Parse("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"); err != nil {
		t.Fatal(err)
	}
	return w
}

// appPolicy requires every kind of evidence about app.
func appPolicy(w world) *policy.Policy {
	return &policy.Policy{Name: "app", Require: policy.Requirement{All: []policy.Requirement{
		{TUF: &policy.TUFRequirement{Repo: w.repo, Role: "targets", Target: "app.tar"}},
		{Attestation: &policy.AttestationRequirement{PredicateType: predicateType, Min: 1, Signers: []string{w.attester}}},
		{Threshold: &policy.ThresholdRequirement{K: 1, Signers: []policy.SignerRef{{Key: w.attester}}}},
		{Reputation: &policy.ReputationRequirement{MinVotes: 0}},
		{Revocation: &policy.RevocationRequirement{}},
	}}}
}

// helloPolicy requires the OpenPGP manifest's signer to be a pinned root.
func helloPolicy(w world) *policy.Policy {
	return &policy.Policy{Name: "hello", Require: policy.Requirement{All: []policy.Requirement{
		{PGP: &policy.PGPRequirement{Roots: []string{w.pgpPrimary}, Name: "hello.bin"}},
		{Revocation: &policy.RevocationRequirement{}},
	}}}
}

// evaluate evaluates p over s at now.
func evaluate(s *evidence.Set, p *policy.Policy, ds []digest.Digest, roots map[string][]byte) policy.Verdict {
	now := time.Now()
	clock := func() time.Time { return now }
	ev := &policy.Evaluator{Sources: s.Sources(evidence.SourceOptions{TUFRoots: roots, Now: clock}), Now: clock}
	v := ev.Evaluate(context.Background(), p, "", ds)
	v.EvaluatedAt = time.Time{}
	return v
}

// verdictCase is one policy evaluated over some digests.
type verdictCase struct {
	name   string
	p      *policy.Policy
	ds     []digest.Digest
	roots  map[string][]byte
	want   policy.Outcome
	reason policy.Reason
}

// TestBuildVerifyEvaluate: on both backends, the evidence built with
// proofs verifies against the log key, and the policy evaluator gives the
// same verdict over it as over the evidence built in process (token
// issuance's), for every kind of evidence; a revocation in the log shows
// in both.
func TestBuildVerifyEvaluate(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			w := e.publish(t)
			root, err := e.tuf.Metadata(ctx, w.repo, "1.root.json")
			if err != nil {
				t.Fatal(err)
			}
			check := func(t *testing.T, tc verdictCase) {
				t.Helper()
				req := evidence.RequestFor(tc.p, tc.ds)
				inProcess, err := e.builder.Build(ctx, req, false)
				if err != nil {
					t.Fatal(err)
				}
				if inProcess.Log != nil {
					t.Error("evidence built in process carries a checkpoint")
				}
				proven, err := e.builder.Build(ctx, req, true)
				if err != nil {
					t.Fatal(err)
				}
				set, err := evidence.Verify(ctx, proven, evidence.VerifyOptions{LogKey: e.vkey, Digests: tc.ds})
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				online, local := evaluate(set, tc.p, tc.ds, tc.roots), evaluate(evidence.NewSet(inProcess), tc.p, tc.ds, tc.roots)
				var a, b bytes.Buffer
				_ = online.WriteText(&a)
				_ = local.WriteText(&b)
				if a.String() != b.String() {
					t.Errorf("verdicts differ:\nverified evidence:\n%s\nin process:\n%s", a.String(), b.String())
				}
				if online.Outcome != tc.want || (tc.reason != "" && !strings.Contains(a.String(), "["+string(tc.reason)+"]")) {
					t.Errorf("outcome %s, want %s (%s):\n%s", online.Outcome, tc.want, tc.reason, a.String())
				}
			}
			for _, tc := range []verdictCase{
				{"every kind", appPolicy(w), []digest.Digest{w.app}, nil, policy.Pass, ""},
				{"TUF from a pinned root", appPolicy(w), []digest.Digest{w.app}, map[string][]byte{w.repo: root}, policy.Pass, ""},
				{"OpenPGP manifest and chain", helloPolicy(w), []digest.Digest{w.hello}, nil, policy.Pass, ""},
				{"other bytes", appPolicy(w), []digest.Digest{w.hello}, nil, policy.Fail, policy.ReasonUnsigned},
			} {
				t.Run(tc.name, func(t *testing.T) { check(t, tc) })
			}
			// The attester withdraws its attestation: the attestation no
			// longer counts, and the threshold that relied on it is voided.
			stmt, err := revocation.NewStatement(revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: w.attested.EnvelopeDigest.String()},
				Action: revocation.ActionRevoke, Reason: revocation.ReasonWithdrawn, Effective: time.Now().Add(-time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			e.submit(t, stmt, w.signer)
			t.Run("withdrawn attestation", func(t *testing.T) {
				check(t, verdictCase{"", appPolicy(w), []digest.Digest{w.app}, nil, policy.Fail, policy.ReasonRevoked})
			})
		})
	}
}

// clone deep-copies a bundle.
func clone(t *testing.T, b *evidence.Bundle) *evidence.Bundle {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out evidence.Bundle
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestVerifyRefusesTampering: a server (or anyone on the way) that alters
// what the evidence says, or cites what it does not hold, is caught by the
// client's check, whatever it alters.
func TestVerifyRefusesTampering(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	w := e.publish(t)
	p := appPolicy(w)
	p.Require.All = append(p.Require.All, helloPolicy(w).Require.All...)
	ds := []digest.Digest{w.app, w.hello}
	good, err := e.builder.Build(ctx, evidence.RequestFor(p, ds), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(good.PGP) == 0 || len(good.Attestations) == 0 || len(good.TUF) == 0 || len(good.Keys) < 2 {
		t.Fatalf("the bundle lacks a kind: %d manifest lines, %d attestations, %d TUF repositories, %d keys", len(good.PGP), len(good.Attestations), len(good.TUF), len(good.Keys))
	}
	opts := evidence.VerifyOptions{LogKey: e.vkey, Digests: ds}
	if _, err := evidence.Verify(ctx, good, opts); err != nil {
		t.Fatalf("untouched bundle: %v", err)
	}
	_, otherKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	entryOf := func(b *evidence.Bundle, seq uint64) *evidence.Entry {
		for i := range b.Entries {
			if b.Entries[i].Seq == seq {
				return &b.Entries[i]
			}
		}
		t.Fatalf("no entry %d", seq)
		return nil
	}
	for _, tc := range []struct {
		name   string
		opts   func(o *evidence.VerifyOptions)
		tamper func(b *evidence.Bundle)
	}{
		{"another log key", func(o *evidence.VerifyOptions) { o.LogKey = otherKey }, nil},
		{"other digests asked", func(o *evidence.VerifyOptions) { o.Digests = ds[:1] }, nil},
		{"no checkpoint", nil, func(b *evidence.Bundle) { b.Log = nil }},
		{"checkpoint size", nil, func(b *evidence.Bundle) { b.Log.Size++ }},
		{"entry bytes", nil, func(b *evidence.Bundle) { b.Entries[0].Envelope = append(b.Entries[0].Envelope, ' ') }},
		{"proof hash", nil, func(b *evidence.Bundle) {
			for i := range b.Entries {
				if len(b.Entries[i].Proof) > 0 {
					b.Entries[i].Proof[0][0] ^= 1
					return
				}
			}
		}},
		{"entry beyond the tree", nil, func(b *evidence.Bundle) { b.Entries[len(b.Entries)-1].Seq = b.Log.Size + 1 }},
		{"entry twice", nil, func(b *evidence.Bundle) { b.Entries = append(b.Entries, b.Entries[0]) }},
		{"signer the log did not verify", nil, func(b *evidence.Bundle) {
			entryOf(b, b.Attestations[0].Seq).SignerKeyIDs = []string{"another-key"}
		}},
		{"attestation signers", nil, func(b *evidence.Bundle) { b.Attestations[0].Signers = []string{"another-key"} }},
		{"attestation type", nil, func(b *evidence.Bundle) { b.Attestations[0].PredicateType = "https://example.com/other/v1" }},
		{"attestation cites an absent entry", nil, func(b *evidence.Bundle) { b.Attestations[0].Seq = b.Log.Size + 5 }},
		{"signing key missing", nil, func(b *evidence.Bundle) { b.Keys = nil }},
		{"manifest line name", nil, func(b *evidence.Bundle) { b.PGP[0].Name = "evil.bin" }},
		{"manifest line digest", nil, func(b *evidence.Bundle) { b.PGP[0].Digest = w.app }},
		{"manifest signing time", nil, func(b *evidence.Bundle) { b.PGP[0].SignedAt = b.PGP[0].SignedAt.Add(time.Hour) }},
		{"manifest cited as an attestation", nil, func(b *evidence.Bundle) { b.PGP[0].Seq = b.Attestations[0].Seq }},
		{"TUF file as another role", nil, func(b *evidence.Bundle) {
			f := &b.TUF[0].Files[len(b.TUF[0].Files)-1]
			f.Role = "snapshot"
		}},
		{"TUF file version", nil, func(b *evidence.Bundle) { b.TUF[0].Files[0].Version++ }},
		{"entry cited for a digest not asked", nil, func(b *evidence.Bundle) {
			entryOf(b, b.Attestations[0].Seq).Digests = []digest.Digest{sha256Digest([]byte("other"))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, o := clone(t, good), opts
			if tc.tamper != nil {
				tc.tamper(b)
			}
			if tc.opts != nil {
				tc.opts(&o)
			}
			if _, err := evidence.Verify(ctx, b, o); !errors.Is(err, evidence.ErrUnverified) {
				t.Errorf("Verify = %v, want ErrUnverified", err)
			}
		})
	}
}

// TestTUFDelegatedRole: the evidence for a delegated role carries the way
// down to it, so a client verifies it from the pinned root with go-tuf;
// a role that is not delegated, a repository not asked about and another
// repository's root are each an error, never a pass.
func TestTUFDelegatedRole(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	r := tuftest.NewRepo(t, "acme/images", e.online)
	if _, err := e.tuf.Init(ctx, r.Name, r.RootV1); err != nil {
		t.Fatal(err)
	}
	// targets delegates app/* to the role "releases", held by another key.
	rel := tuftest.NewKey(t)
	top, err := tuf.NextTargets(nil, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	top.Signed.Delegations = &metadata.Delegations{
		Keys:  map[string]*metadata.Key{rel.ID: rel.Key},
		Roles: []metadata.DelegatedRole{{Name: "releases", KeyIDs: []string{rel.ID}, Threshold: 1, Paths: []string{"app/*"}}},
	}
	topDoc, err := tuf.Sign(top, r.Targets.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tuf.Upload(ctx, r.Name, "targets", topDoc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tuf.Upload(ctx, r.Name, "releases", r.SignTargets(t, nil, "app/app-1.0.tar.gz", []byte("app"), rel.Signer)); err != nil {
		t.Fatal(err)
	}
	d := sha256Digest([]byte("app"))
	req := evidence.Request{Digests: []digest.Digest{d}, Kinds: []evidence.Kind{evidence.KindTUF},
		TUFRoles: []evidence.RoleRef{{Repo: r.Name, Role: "releases"}, {Repo: r.Name, Role: "targets"}, {Repo: r.Name, Role: "nightlies"}, {Repo: "acme/none", Role: "targets"}}}
	b, err := e.builder.Build(ctx, req, true)
	if err != nil {
		t.Fatal(err)
	}
	set, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: e.vkey, Digests: req.Digests})
	if err != nil {
		t.Fatal(err)
	}
	for _, pinned := range []bool{true, false} {
		var roots map[string][]byte
		if pinned {
			roots = map[string][]byte{r.Name: r.RootV1}
		}
		src := set.Sources(evidence.SourceOptions{TUFRoots: roots}).TUF
		role, err := src.TUFRole(ctx, r.Name, "releases")
		if err != nil {
			t.Fatal(err)
		}
		if role.Verified != pinned || role.Version != 1 || len(role.Targets["app/app-1.0.tar.gz"]) != 2 || role.Input.URI != "trustd:tuf/acme/images/1.releases.json" {
			t.Errorf("pinned %v: releases: %+v", pinned, role)
		}
		if role, err := src.TUFRole(ctx, r.Name, "targets"); err != nil || len(role.Targets) != 0 || role.Version != 1 {
			t.Errorf("pinned %v: targets: %+v %v", pinned, role, err)
		}
		if _, err := src.TUFRole(ctx, r.Name, "nightlies"); err == nil || !strings.Contains(err.Error(), "not delegated") {
			t.Errorf("pinned %v: undelegated role: %v", pinned, err)
		}
		if _, err := src.TUFRole(ctx, "acme/none", "targets"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("pinned %v: missing repository: %v", pinned, err)
		}
		if _, err := src.TUFRole(ctx, "acme/other", "targets"); err == nil || !strings.Contains(err.Error(), "not asked for") {
			t.Errorf("pinned %v: repository not asked about: %v", pinned, err)
		}
	}
	// A root that is not this repository's: the update fails.
	other := tuftest.NewRepo(t, "acme/other", e.online)
	if _, err := set.Sources(evidence.SourceOptions{TUFRoots: map[string][]byte{r.Name: other.RootV1}}).TUF.TUFRole(ctx, r.Name, "releases"); err == nil {
		t.Error("metadata verified under another repository's root")
	}
}

// TestForgedRecordsSkipped: log entries of trustd's own types that trustd
// did not write (an OpenPGP manifest or TUF metadata stored as an in-toto
// statement by an older server) are neither OpenPGP signatures nor
// signatures for thresholds, though the evidence carries and proves them;
// the signer's genuine attestation counts.
func TestForgedRecordsSkipped(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	w := e.publish(t)
	stranger, strangerID := e.key(t)
	for _, pt := range []string{recordtype.PGPManifest, recordtype.TUFMetadata} {
		stmt, err := envelope.NewStatement(pt, json.RawMessage(`{"forged":true}`), envelope.Subject{Name: "app.tar", Digests: []digest.Digest{w.app}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, stranger)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		teststore.AppendUnchecked(t, e.store, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: pt, Envelope: raw, Payload: stmt,
			SignerKeyIDs: []string{strangerID}, Subjects: []store.StatementSubject{{Name: "app.tar", Digests: []digest.Digest{w.app}}}})
	}
	req := evidence.Request{Digests: []digest.Digest{w.app}, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindPGP}, PGPRoots: [][]string{{strangerID}}}
	b, err := e.builder.Build(ctx, req, true)
	if err != nil {
		t.Fatal(err)
	}
	set, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: e.vkey, Digests: req.Digests})
	if err != nil {
		t.Fatal(err)
	}
	src := set.Sources(evidence.SourceOptions{})
	if sigs, err := src.PGP.PGPSignatures(ctx, req.Digests); err != nil || len(sigs) != 0 {
		t.Errorf("PGPSignatures = %+v, %v; want none", sigs, err)
	}
	all, err := src.Signers.Signatures(ctx, req.Digests)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range all {
		ids = append(ids, s.ID)
		if s.ID == strangerID {
			t.Errorf("a forged record counts as %s's signature (entry %d)", strangerID, s.Seq)
		}
	}
	if !slices.Contains(ids, w.attester) {
		t.Errorf("signers %v: the genuine attestation by %s is missing", ids, w.attester)
	}
}

// TestUnverifiableManifest: a manifest in the log whose signature no
// longer verifies leaves OpenPGP requirements undecided, naming it, and
// spoils nothing else: the bundle still verifies, the other evidence
// stands.
func TestUnverifiableManifest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	w := e.publish(t)
	sums := bytes.Replace(fixture(t, "SHA256SUMS"), []byte("empty.txt"), []byte("other.txt"), 1)
	rec, err := json.Marshal(pgp.ManifestRecord{Name: "SHA256SUMS", Manifest: sums, Signature: fixture(t, "SHA256SUMS.ed25519.gpg")})
	if err != nil {
		t.Fatal(err)
	}
	bad := teststore.AppendUnchecked(t, e.store, store.Statement{PayloadType: recordtype.PGPManifestPayloadType, PredicateType: recordtype.PGPManifest,
		Envelope: rec, Payload: []byte("{}"), SignerKeyIDs: []string{w.pgpPrimary},
		Subjects: []store.StatementSubject{{Name: "hello.bin", Digests: []digest.Digest{w.hello}}}})
	p := helloPolicy(w)
	b, err := e.builder.Build(ctx, evidence.RequestFor(p, []digest.Digest{w.hello}), true)
	if err != nil {
		t.Fatal(err)
	}
	set, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: e.vkey, Digests: []digest.Digest{w.hello}})
	if err != nil {
		t.Fatal(err)
	}
	v := evaluate(set, p, []digest.Digest{w.hello}, nil)
	var out bytes.Buffer
	_ = v.WriteText(&out)
	if v.Outcome != policy.Undecided || !strings.Contains(out.String(), fmt.Sprintf("manifest seq %d", bad.Seq)) || !strings.Contains(out.String(), "✓ revocation") {
		t.Errorf("verdict:\n%s", out.String())
	}
}

// TestPublishers: the publishers of a digest are found by the one
// definition (revocation.Service.IsPublisher): the key of the TUF targets
// role that lists it, the OpenPGP key of the manifest that lists it, not
// an attester; a publisher of an alias is labelled with the claim that
// links it.
func TestPublishers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	w := e.publish(t)
	for _, tc := range []struct {
		name string
		d    digest.Digest
		want string
	}{{"TUF target", w.app, w.targetsKey}, {"OpenPGP manifest", w.hello, w.pgpPrimary}} {
		t.Run(tc.name, func(t *testing.T) {
			req := evidence.Request{Digests: []digest.Digest{tc.d}, Kinds: []evidence.Kind{evidence.KindPublishers}}
			b, err := e.builder.Build(ctx, req, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: e.vkey, Digests: req.Digests}); err != nil {
				t.Fatal(err)
			}
			var direct []string
			for _, p := range b.Publishers {
				if p.Key == w.attester {
					t.Errorf("the attester %s counts as a publisher", p.Key)
				}
				if p.Digest == tc.d && p.Claim == nil {
					direct = append(direct, p.Key)
				} else if p.Digest != tc.d && p.Claim == nil {
					t.Errorf("publisher %s of alias %s without the claim that links it", p.Key, p.Digest)
				}
			}
			if !slices.Equal(direct, []string{tc.want}) {
				t.Errorf("publishers %v, want %s", direct, tc.want)
			}
		})
	}
	// app's TUF target lists sha256 and sha512: the targets key publishes
	// the alias too, through the claim its metadata entry makes.
	b, err := e.builder.Build(ctx, evidence.Request{Digests: []digest.Digest{w.app}, Kinds: []evidence.Kind{evidence.KindPublishers}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var viaClaim bool
	for _, p := range b.Publishers {
		viaClaim = viaClaim || (p.Digest != w.app && p.Claim != nil && p.Key == w.targetsKey && p.Claim.Seq == p.Seq)
	}
	if len(b.AliasClaims) == 0 || !viaClaim {
		t.Errorf("claims %+v, publishers %+v: want the targets key publishing the sha512 alias through the claim its metadata entry makes", b.AliasClaims, b.Publishers)
	}
}

// TestTUFRevocations: a verdict relying on a TUF targets role relies on the
// keys that signed the role's metadata and on the metadata's log entry: a
// revocation in force of either fails it REVOKED (deny-overrides, with no
// revocation requirement in the policy), over the evidence verified by a
// client (read as served or from the pinned root) and the evidence built
// in process for token issuance alike. A superseded targets key voids only
// the metadata the log first observed from its effective time on.
func TestTUFRevocations(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			tufOnly := func(w world) *policy.Policy {
				return &policy.Policy{Name: "tuf", Require: policy.Requirement{TUF: &policy.TUFRequirement{Repo: w.repo, Role: "targets", Target: "app.tar"}}}
			}
			// setup publishes the world and registers the targets key, so
			// it can sign revocations (of itself, of the metadata it signed).
			setup := func(t *testing.T) (*env, world, []byte) {
				e := newEnv(t, be.Open(t))
				w := e.publish(t)
				if _, _, err := e.keys.Add(ctx, w.tufRepo.Targets.Public.Encode(), "targets"); err != nil {
					t.Fatal(err)
				}
				root, err := e.tuf.Metadata(ctx, w.repo, "1.root.json")
				if err != nil {
					t.Fatal(err)
				}
				return e, w, root
			}
			revoke := func(t *testing.T, e *env, w world, kind revocation.Kind, id string, reason revocation.Reason, effective time.Time) {
				t.Helper()
				stmt, err := revocation.NewStatement(revocation.Predicate{Target: revocation.Target{Kind: kind, ID: id},
					Action: revocation.ActionRevoke, Reason: reason, Effective: effective})
				if err != nil {
					t.Fatal(err)
				}
				e.submit(t, stmt, w.tufRepo.Targets.Envelope)
			}
			// check evaluates tufOnly from proven and in-process evidence,
			// with and without the pinned root: all four must say want.
			check := func(t *testing.T, e *env, w world, root []byte, want policy.Outcome, reason policy.Reason) {
				t.Helper()
				p, ds := tufOnly(w), []digest.Digest{w.app}
				req := evidence.RequestFor(p, ds)
				proven, err := e.builder.Build(ctx, req, true)
				if err != nil {
					t.Fatal(err)
				}
				set, err := evidence.Verify(ctx, proven, evidence.VerifyOptions{LogKey: e.vkey, Digests: ds})
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				inProcess, err := e.builder.Build(ctx, req, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					name  string
					set   *evidence.Set
					roots map[string][]byte
				}{
					{"verified, as served", set, nil},
					{"verified, pinned root", set, map[string][]byte{w.repo: root}},
					{"in process", evidence.NewSet(inProcess), nil},
					{"in process, pinned root", evidence.NewSet(inProcess), map[string][]byte{w.repo: root}},
				} {
					v := evaluate(c.set, p, ds, c.roots)
					var out bytes.Buffer
					_ = v.WriteText(&out)
					if v.Outcome != want || (reason != "" && !slices.Contains(v.Reasons(), reason)) {
						t.Errorf("%s: outcome %s %v, want %s %s:\n%s", c.name, v.Outcome, v.Reasons(), want, reason, out.String())
					}
				}
			}
			t.Run("targets key compromised", func(t *testing.T) {
				e, w, root := setup(t)
				check(t, e, w, root, policy.Pass, "")
				revoke(t, e, w, revocation.KindKey, w.targetsKey, revocation.ReasonCompromised, time.Now())
				check(t, e, w, root, policy.Fail, policy.ReasonRevoked)
			})
			t.Run("targets metadata withdrawn", func(t *testing.T) {
				e, w, root := setup(t)
				cur, err := e.tuf.Metadata(ctx, w.repo, "targets.json")
				if err != nil {
					t.Fatal(err)
				}
				revoke(t, e, w, revocation.KindStatement, sha256Digest(cur).String(), revocation.ReasonWithdrawn, time.Now())
				check(t, e, w, root, policy.Fail, policy.ReasonRevoked)
			})
			t.Run("targets key superseded", func(t *testing.T) {
				e, w, root := setup(t)
				revoke(t, e, w, revocation.KindKey, w.targetsKey, revocation.ReasonSuperseded, time.Now())
				// Observed before the key was superseded: still good.
				check(t, e, w, root, policy.Pass, "")
				// A new version signed by the superseded key afterwards is void.
				time.Sleep(2 * time.Millisecond)
				cur, err := e.tuf.Metadata(ctx, w.repo, "targets.json")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.tuf.Upload(ctx, w.repo, "targets", w.tufRepo.SignTargets(t, cur, "other.tar", []byte("other"))); err != nil {
					t.Fatal(err)
				}
				check(t, e, w, root, policy.Fail, policy.ReasonRevoked)
			})
		})
	}
}

// TestVerifyRefusesChainLies: a server that lies about an OpenPGP chain
// decision or about when the log observed a manifest is caught by the
// client: it recomputes every allowed decision from the signed statements
// the decision cites (package pgp's one chain rule, with the one time
// rule), and refuses observed times that run backwards against the order
// the log proves. Before, the client took decisions and observed times on
// the server's word: each tampered bundle below verified, and the first
// two passed an OpenPGP requirement whose signer chains to no pinned root.
func TestVerifyRefusesChainLies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststore.Backends()[0].Open(t))
	w := e.publish(t)
	// A root the manifest's signer does not chain to: the server refuses.
	const stranger = "0123456789abcdef0123456789abcdef01234567"
	p := appPolicy(w)
	p.Require.All = append(p.Require.All, policy.Requirement{PGP: &policy.PGPRequirement{Roots: []string{stranger}, Name: "hello.bin"}})
	ds := []digest.Digest{w.app, w.hello}
	good, err := e.builder.Build(ctx, evidence.RequestFor(p, ds), true)
	if err != nil {
		t.Fatal(err)
	}
	opts := evidence.VerifyOptions{LogKey: e.vkey, Digests: ds}
	set, err := evidence.Verify(ctx, good, opts)
	if err != nil {
		t.Fatalf("untouched bundle: %v", err)
	}
	if v := evaluate(set, p, ds, nil); v.Outcome != policy.Fail {
		t.Fatalf("untouched bundle: %s %v, want the stranger root refused", v.Outcome, v.Reasons())
	}
	refused := func(b *evidence.Bundle) *evidence.PGPDecision {
		for i := range b.Decisions {
			if !b.Decisions[i].Allowed {
				return &b.Decisions[i]
			}
		}
		t.Fatal("no refused decision in the bundle")
		return nil
	}
	allow := func(d *evidence.PGPDecision) {
		d.Allowed, d.Root, d.Refusal, d.RefusalSeq, d.Detail = true, stranger, "", 0, ""
	}
	for _, tc := range []struct {
		name   string
		tamper func(b *evidence.Bundle)
	}{
		{"refusal turned into a chain from the root", func(b *evidence.Bundle) { allow(refused(b)) }},
		{"a link citing an entry that is no delegation", func(b *evidence.Bundle) {
			d := refused(b)
			allow(d)
			d.Links = []evidence.PGPLink{{Kind: "delegation", From: stranger, To: w.pgpPrimary, Seq: b.Attestations[0].Seq}}
		}},
		{"manifest observed before an earlier log entry", func(b *evidence.Bundle) {
			back := 24 * time.Hour
			for i := range b.Entries {
				if b.Entries[i].PredicateType == recordtype.PGPManifest {
					b.Entries[i].RecordedAt = b.Entries[i].RecordedAt.Add(-back)
				}
			}
			for i := range b.Decisions {
				b.Decisions[i].Observed = b.Decisions[i].Observed.Add(-back)
			}
		}},
		{"revocation recorded at another time than its entry", func(b *evidence.Bundle) {
			for i := range b.Revocations {
				if st := b.Revocations[i].State; st != nil {
					st.RecordedAt = st.RecordedAt.Add(-time.Hour)
					return
				}
			}
			// No revocation yet in this bundle: give one a state citing an entry.
			b.Revocations[0].State = &evidence.RevocationState{Action: evidence.ActionReinstate, Seq: b.Entries[0].Seq, RecordedAt: b.Entries[0].RecordedAt.Add(-time.Hour)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := clone(t, good)
			tc.tamper(b)
			if _, err := evidence.Verify(ctx, b, opts); !errors.Is(err, evidence.ErrUnverified) {
				t.Errorf("Verify = %v, want ErrUnverified", err)
			}
		})
	}
}

// many submits n attestations of one artifact signed in turn by k keys,
// revokes the first key as compromised, and returns the artifact's digest
// and the revoked key.
func (e *env) many(t testing.TB, n, k int) (digest.Digest, string) {
	t.Helper()
	app := sha256Digest([]byte("popular artifact"))
	var signers []envelope.Signer
	var ids []string
	for range k {
		s, id := e.key(t)
		signers, ids = append(signers, s), append(ids, id)
	}
	for i := range n {
		stmt, err := envelope.NewStatement(predicateType, json.RawMessage(fmt.Sprintf(`{"run":%d}`, i)), envelope.Subject{Name: "app.tar", Digests: []digest.Digest{app}})
		if err != nil {
			t.Fatal(err)
		}
		e.submit(t, stmt, signers[i%k])
	}
	e.revokeKey(t, signers[0], ids[0])
	return app, ids[0]
}

// revokeKey has the key revoke itself as compromised.
func (e *env) revokeKey(t testing.TB, signer envelope.Signer, id string) {
	t.Helper()
	stmt, err := revocation.NewStatement(revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: id},
		Action: revocation.ActionRevoke, Reason: revocation.ReasonCompromised, Effective: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	e.submit(t, stmt, signer)
}

// TestPublishersAliasFlood is the attack on GetEvidence's cost: anyone
// may log statements whose subject lists a published artifact's digest
// beside another, each of them an alias claim naming the artifact. The
// publishers of the artifact are the same however many there are, and
// finding them must not read more per claim: one question per claim let
// a stranger set what every verification of the artifact costs.
func TestPublishersAliasFlood(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			w := e.publish(t)
			counted := &teststore.Reads{Store: e.store}
			b := &evidencesvc.Builder{Store: counted, Log: e.log, TUF: true,
				Revocation: revocation.New(counted, revocation.Config{PGP: pgplog.New(counted, nil)})}
			req := evidence.Request{Digests: []digest.Digest{w.app}, Kinds: []evidence.Kind{evidence.KindPublishers}}
			build := func() ([]evidence.Publisher, int64) {
				t.Helper()
				before := counted.N()
				got, err := b.Build(ctx, req, false)
				if err != nil {
					t.Fatal(err)
				}
				return got.Publishers, counted.N() - before
			}
			stranger, _ := e.key(t)
			var claimed int
			flood := func(n int) {
				t.Helper()
				for range n {
					claimed++
					sum := sha512.Sum512(fmt.Append(nil, "flood-", claimed))
					other, err := digest.New(digest.SHA512, sum[:])
					if err != nil {
						t.Fatal(err)
					}
					stmt, err := envelope.NewStatement("https://example.com/scan/v1", json.RawMessage(`{}`),
						envelope.Subject{Name: "x", Digests: []digest.Digest{w.app, other}})
					if err != nil {
						t.Fatal(err)
					}
					e.submit(t, stmt, stranger)
				}
			}
			// One claim first, and one build to fill the builder's caches:
			// judging the first stranger's claim may read what every claim
			// shares; the next 20 must read nothing more.
			flood(1)
			build()
			want, reads := build()
			flood(20)
			got, flooded := build()
			if !slices.EqualFunc(got, want, func(a, b evidence.Publisher) bool { return a.Key == b.Key && a.Digest == b.Digest && a.Seq == b.Seq }) {
				t.Errorf("the flood changed the publishers: %+v -> %+v", want, got)
			}
			if flooded != reads {
				t.Errorf("20 more claims by a stranger took the build from %d to %d reads", reads, flooded)
			}
		})
	}
}

// TestPublishersEntryFlood: a stranger who logs more statements naming a
// release than a bundle reads leaves its publishers as they were: the
// publishers are found among the entries their keys and the TUF
// repository wrote, not among the newest entries anyone logged.
func TestPublishersEntryFlood(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			w := e.publish(t)
			req := evidence.Request{Digests: []digest.Digest{w.app}, Kinds: []evidence.Kind{evidence.KindPublishers}}
			build := func() []evidence.Publisher {
				t.Helper()
				got, err := e.builder.Build(ctx, req, false)
				if err != nil {
					t.Fatal(err)
				}
				return got.Publishers
			}
			want := build()
			if !slices.ContainsFunc(want, func(p evidence.Publisher) bool { return p.Key == w.targetsKey && p.Digest == w.app }) {
				t.Fatalf("publishers %+v; want the targets key", want)
			}
			stranger, _ := e.key(t)
			for i := range evidence.MaxEntries + 1 {
				stmt, err := envelope.NewStatement("https://example.com/scan/v1", fmt.Appendf(nil, `{"run":%d}`, i),
					envelope.Subject{Name: "app.tar", Digests: []digest.Digest{w.app}})
				if err != nil {
					t.Fatal(err)
				}
				e.submit(t, stmt, stranger)
			}
			got := build()
			if !slices.EqualFunc(got, want, func(a, b evidence.Publisher) bool { return a.Key == b.Key && a.Digest == b.Digest && a.Seq == b.Seq }) {
				t.Errorf("%d statements by a stranger changed the publishers: %+v -> %+v", evidence.MaxEntries+1, want, got)
			}
		})
	}
}

// TestVerifyEntryFlood is the attack on someone else's deploy: a stranger
// logs more statements about a release, of the very predicate type its
// policy requires, than one bundle carries. The attestation and the
// signature the policy names are still in the evidence, and the verdict,
// online and in process, still passes.
func TestVerifyEntryFlood(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			e := newEnv(t, be.Open(t))
			w := e.publish(t)
			stranger, _ := e.key(t)
			for i := range evidence.MaxEntries + 1 {
				stmt, err := envelope.NewStatement(predicateType, fmt.Appendf(nil, `{"tests":"failed","run":%d}`, i),
					envelope.Subject{Name: "app.tar", Digests: []digest.Digest{w.app}})
				if err != nil {
					t.Fatal(err)
				}
				e.submit(t, stmt, stranger)
			}
			e.mustPass(t, appPolicy(w), w.app)
		})
	}
}

// mustPass builds the evidence p asks about d, in process and with
// proofs (verified as trustctl verify does), and fails t unless p passes
// over both.
func (e *env) mustPass(t *testing.T, p *policy.Policy, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	req := evidence.RequestFor(p, []digest.Digest{d})
	for _, proofs := range []bool{false, true} {
		b, err := e.builder.Build(ctx, req, proofs)
		if err != nil {
			t.Fatal(err)
		}
		set := evidence.NewSet(b)
		if proofs {
			if set, err = evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: e.vkey, Digests: req.Digests}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		}
		if v := evaluate(set, p, req.Digests, nil); v.Outcome != policy.Pass {
			var out bytes.Buffer
			_ = v.WriteText(&out)
			t.Errorf("with proofs %v: outcome %s, want pass:\n%s", proofs, v.Outcome, out.String())
		}
	}
}

// TestVerifyManifestFlood is the same attack through OpenPGP manifests:
// a stranger registers a certificate of their own and publishes more
// manifests listing someone's release than one bundle carries. The
// manifest the pinned root signed still decides the verdict, and so does
// one signed by a certificate the root delegated to.
func TestVerifyManifestFlood(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			w := e.publish(t)
			publish := func(signer *pgp.KeySigner, sums []byte) {
				t.Helper()
				sig, err := signer.Sign(ctx, sums)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.pgp.PublishManifest(ctx, pgplog.Manifest{Name: "SHA256SUMS", Data: sums, Signature: sig}); err != nil {
					t.Fatalf("manifest: %v", err)
				}
			}
			// A release the root delegated to a build key: its manifest
			// lists release.tar, then the stranger's list it too.
			root, dev := e.pgpKey(t, "root"), e.pgpKey(t, "dev")
			release := sha256Digest([]byte("delegated release bytes"))
			deleg, err := json.Marshal(pgp.Delegation{Delegator: root.Certificate().Fingerprint, Delegate: dev.Certificate().Fingerprint,
				Scope: []string{"**"}, Until: time.Now().Add(24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			ks := pgplog.KeySubject(dev.Certificate())
			stmt, err := envelope.NewStatement(pgp.DelegationPredicateType, deleg, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
			if err != nil {
				t.Fatal(err)
			}
			e.submit(t, stmt, root)
			publish(dev, fmt.Appendf(nil, "%s  release.tar\n", release.Hex()))

			stranger := e.pgpKey(t, "stranger")
			for i := range evidence.MaxEntries + 1 {
				publish(stranger, fmt.Appendf(nil, "%s  hello.bin\n%s  release.tar\n%s  mirror-%d.txt\n", w.hello.Hex(), release.Hex(), w.app.Hex(), i))
			}
			e.mustPass(t, helloPolicy(w), w.hello)
			e.mustPass(t, &policy.Policy{Name: "delegated", Require: policy.Requirement{All: []policy.Requirement{
				{PGP: &policy.PGPRequirement{Roots: []string{root.Certificate().Fingerprint}, Name: "release.tar"}},
			}}}, release)
		})
	}
}

// pgpKey registers a new OpenPGP certificate (ed25519) and returns its
// signer.
func (e *env) pgpKey(t *testing.T, name string) *pgp.KeySigner {
	t.Helper()
	ent, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	var sec bytes.Buffer
	aw, err := armor.Encode(&sec, "PGP PRIVATE KEY BLOCK", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(aw, nil); err != nil {
		t.Fatal(err)
	}
	_ = aw.Close()
	signer, err := pgp.NewKeySigner(sec.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.keys.Add(context.Background(), signer.Certificate().Encode(), ""); err != nil {
		t.Fatal(err)
	}
	return signer
}
