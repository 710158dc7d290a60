package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
)

// TestDifferential plays seeded random histories against an in-process
// trustd and a replica over the same store and keys, on each backend:
// publish attestations, TUF targets (a new targets version each time) and
// OpenPGP manifests signed by a delegated key; rotate that key; revoke
// and reinstate digests, tokens, keys (the token key, the attester's, the
// OpenPGP keys, also with gpg's revocation certificates) and statements
// (attestations, manifests) with every reason at effective times past,
// present and a few seconds ahead; issue tokens that expire within
// seconds; sync the offline revocation list (full or delta, from either
// server). After each step, for every artifact the step touched (and for
// all every diffFullCheck steps), the revocation lookup, online verify,
// token issuance, offline verify with the synced list, the subject view
// and key show must agree (see compare); offline may differ only when the
// state changed after the list it holds (the staleness its list number
// declares). The clock is the wall clock (trustd has no injectable one):
// a seed always draws the same steps, but a comparison that straddles a
// future effective time or a token's expiry is made again once it has
// passed. A failure names the seed and step; -v logs every step.
// TRUSTD_DIFF_SEEDS and TRUSTD_DIFF_STEPS size the run (make
// test-differential runs the issue's 20 × 200); the seeds run in
// parallel.
func TestDifferential(t *testing.T) {
	seeds, steps := envInt(t, "TRUSTD_DIFF_SEEDS", 3), envInt(t, "TRUSTD_DIFF_STEPS", 50)
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			stats := map[string]int{}
			var mu sync.Mutex
			// The seeds run in parallel (go test -parallel, default
			// GOMAXPROCS), each with a store and servers of its own.
			t.Run("seeds", func(t *testing.T) {
				for seed := range uint64(seeds) {
					t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
						t.Parallel()
						own := map[string]int{}
						newDiffRun(t, b, seed, own).play(t, steps)
						mu.Lock()
						defer mu.Unlock()
						for k, n := range own {
							stats[k] += n
						}
					})
				}
			})
			// A run that stops exercising something shows: the default
			// size reaches every outcome.
			for _, k := range []string{"online pass", "online fail", "issued", "refused", "offline compared", "token revoked",
				"tuf publish", "pgp publish", "pgp rotate", "pgp revoke", "key compared", "future revocation", "token expired", "statement revoked", "subject compared"} {
				// (len(stats) == 0: the backend skipped, no history ran.)
				if !t.Failed() && len(stats) > 0 && seeds*steps >= 150 && stats[k] == 0 {
					t.Errorf("the histories never exercised %q: %v", k, stats)
				}
			}
		})
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// diffTokenTTL is the lifetime of the tokens the histories issue: short, so
// tokens expire while a history plays.
const diffTokenTTL = 2 * time.Second

// diffRepo is the TUF repository the histories publish targets in.
const diffRepo = "acme/app"

// diffMaxEvidence bounds the attestations of an artifact and the
// manifests listing it that a history publishes.
const diffMaxEvidence = 4

// diffArtifact is one file the history judges, with the token beside it.
type diffArtifact struct {
	file    string // the bytes with the token beside them
	bare    string // the same bytes alone
	digest  string
	content []byte
	token   string // id of the token beside file; "" when none
	expires time.Time
	// relies are the revocation targets the token relies on: its key,
	// the signers and input statements it names.
	relies     [][2]string
	statements []string // envelope digests of the attestations published
	manifests  int      // how many manifests list it
	attestSeqs []uint64 // and their log entries, in the same order
}

// diffManifest is an OpenPGP manifest the history published.
type diffManifest struct {
	envelope string // envelope digest of its log entry
	signer   *pgp.KeySigner
}

type diffRun struct {
	attester   envelope.Signer
	attesterID string
	statements trustv1.StatementServiceClient
	f          *revFixture
	c          *client.Client
	seed       uint64
	rng        *rand.Rand
	pol        *policy.Policy
	arts       []*diffArtifact
	cache      *revocation.Cache
	cacheDir   string
	changeSeq  uint64 // log seq of the last revocation event
	// base is the run's clock for past effective times: a seed draws the
	// same predicates whenever it runs, so which submissions repeat an
	// earlier statement (the log keeps one entry for identical bytes)
	// does not depend on the wall clock. Future effective times are the
	// wall clock's, so they fall due while the history plays.
	base   time.Time
	synced bool
	// stats count what the histories of a backend exercised, so a run
	// that stops exercising something shows.
	stats map[string]int

	tufc    trustv1.TUFServiceClient
	repo    *tuftest.Repo
	targets []byte // the current targets metadata; nil before the first
	pgpc    trustv1.PGPServiceClient
	subject trustv1.SubjectServiceClient
	pgpRoot *pgp.KeySigner
	// pgpKeys are the delegated OpenPGP key and the keys it was rotated
	// to, in order: the last signs manifests.
	pgpKeys   []*pgp.KeySigner
	manifests []diffManifest
	// replica is a second trustd over the same store and keys: syncs
	// fetch lists from either.
	replica *revFixture
	// boundaries are the times at which the state changes without a
	// step: future effective times and token expiries.
	boundaries []diffBoundary
	// touched are the artifacts whose evidence the last step changed, or
	// all of them (touchedAll): check compares those, and every artifact
	// every diffFullCheck steps.
	touched    map[*diffArtifact]bool
	touchedAll bool
	lastCheck  time.Time
}

// diffBoundary is a time at which the state of one artifact (or of all,
// art nil) changes without a step.
type diffBoundary struct {
	at  time.Time
	art *diffArtifact
}

// diffFullCheck is how often (in steps) check compares every artifact,
// not only those the steps since touched. An artifact's answers depend
// only on the evidence about its digest, on what every artifact shares
// (keys, rotations, the offline list; a step changing those touches all)
// and on the clock (boundaries touch what they concern), so this only
// guards against changes the generator does not expect.
const diffFullCheck = 8

// touch marks the artifacts the step changed the evidence of; no
// artifact means all.
func (r *diffRun) touch(arts ...*diffArtifact) {
	if len(arts) == 0 {
		r.touchedAll = true
	}
	for _, a := range arts {
		r.touched[a] = true
	}
}

func newDiffRun(t *testing.T, b teststore.Backend, seed uint64, stats map[string]int) *diffRun {
	ctx := context.Background()
	st := b.Open(t)
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(st).Add(ctx, pub.Encode(), "attester"); err != nil {
		t.Fatal(err)
	}
	attester, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The delegated key is pgp/testdata's Ed25519 key, for which gpg made
	// revocation certificates with every reason.
	pgpDev, err := pgp.NewKeySigner(pgpFixture(t, "ed25519.sec.asc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pgpRoot := diffPGPKey(t, "root")
	tmpl, err := os.ReadFile(filepath.Join("testdata", "differential", "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pols := strings.NewReplacer("ATTESTER", pub.ID, "PGPROOT", pgpRoot.Certificate().Fingerprint, "TUFREPO", diffRepo).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(pols), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog, err := policy.LoadCatalog(policy.CatalogSources{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	f, online, replica := newDiffFixture(t, st, catalog)
	c, err := client.New(f.conn.Target(), client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The token key is registered, so it can be revoked like any key.
	if _, _, err := keys.NewRegistry(f.store).Add(context.Background(), f.tokenKey.Encode(), "token"); err != nil {
		t.Fatal(err)
	}
	r := &diffRun{attester: attester, attesterID: pub.ID, statements: trustv1.NewStatementServiceClient(f.conn), base: time.Now().UTC().Truncate(time.Minute),
		f: f, c: c, seed: seed, rng: rand.New(rand.NewPCG(seed, 14)), pol: diffPolicy(t, dir), cacheDir: t.TempDir(), stats: stats,
		tufc: trustv1.NewTUFServiceClient(f.conn), pgpc: trustv1.NewPGPServiceClient(f.conn), subject: trustv1.NewSubjectServiceClient(f.conn),
		pgpRoot: pgpRoot, pgpKeys: []*pgp.KeySigner{pgpDev}, replica: replica, touched: map[*diffArtifact]bool{}}
	// The TUF repository, and the OpenPGP root delegating every name to
	// the dev key.
	r.repo = tuftest.NewRepo(t, diffRepo, online)
	if _, err := r.tufc.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: diffRepo, Root: r.repo.RootV1}); err != nil {
		t.Fatal(err)
	}
	r.registerPGP(t, pgpRoot, "pgp-root")
	r.registerPGP(t, pgpDev, "pgp-dev")
	deleg := pgp.Delegation{Delegator: pgpRoot.Certificate().Fingerprint, Delegate: pgpDev.Certificate().Fingerprint, Scope: []string{"**"},
		Until: time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)}
	if _, err := r.submitPGP(t, pgp.DelegationPredicateType, deleg, pgpDev, pgpRoot); err != nil {
		t.Fatalf("delegate to the dev key: %v", err)
	}
	// Each artifact's bytes lie twice: bare, and with the last token
	// issued for them beside them.
	dir = t.TempDir()
	for _, sub := range []string{"bare", "tok"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		a := &diffArtifact{file: filepath.Join(dir, "tok", fmt.Sprintf("app-%d.tar", i)), bare: filepath.Join(dir, "bare", fmt.Sprintf("app-%d.tar", i)),
			content: fmt.Appendf(nil, "seed %d artifact %d", seed, i)}
		for _, file := range []string{a.file, a.bare} {
			if err := os.WriteFile(file, a.content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		art, err := client.Resolve(ctx, a.file, client.ResolveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a.digest = art.Digests[0].String()
		r.arts = append(r.arts, a)
	}
	if r.cache, err = revocation.OpenCache(r.cacheDir, time.Hour); err != nil {
		t.Fatal(err)
	}
	return r
}

// newDiffFixture is newRevFixtureHolding for the differential test: the
// security authority may also revoke tokens (a token issuer), tokens live
// diffTokenTTL, and the TUF online keys are returned to build
// repositories with, and a replica: a second trustd over the same store
// and keys, whose revocation lists the offline list is synced from too
// (its fixture has only rev and listKey).
func newDiffFixture(t *testing.T, st store.Store, catalog *policy.Catalog) (*revFixture, *tuf.OnlineKeys, *revFixture) {
	t.Helper()
	ctx := context.Background()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(st).Add(ctx, pub.Encode(), "authority"); err != nil {
		t.Fatal(err)
	}
	authority, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	sk := newStack(t, st, revocation.Config{SecurityAuthority: []string{pub.ID}, TokenIssuers: []string{pub.ID}}, nil, nil)
	sk.opts.TokenPolicies, sk.opts.TokenTTL = catalog, diffTokenTTL
	conn := serveDiff(t, sk.opts)
	// A second trustd over the same store and keys, serving revocation
	// lists from a cache of its own.
	replica := sk.opts
	replica.RevocationLists = sk.replicaLists()
	return &revFixture{store: st, conn: conn, rev: trustv1.NewRevocationServiceClient(conn), authority: authority, authID: pub.ID, listKey: sk.listKey,
			tokens: trustv1.NewTokenServiceClient(conn), tokenKey: sk.tokenKey, tufState: sk.tufState}, sk.opts.TUFKeys,
		&revFixture{rev: trustv1.NewRevocationServiceClient(serveDiff(t, replica)), listKey: sk.listKey}
}

// serveDiff serves a trustd with opts on a loopback port until the test
// ends, and returns a connection to it.
func serveDiff(t *testing.T, opts server.Options) *grpc.ClientConn {
	t.Helper()
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// diffPGPKey makes an Ed25519 OpenPGP key with a signing subkey.
func diffPGPKey(t *testing.T, name string) *pgp.KeySigner {
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
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := pgp.NewKeySigner(sec.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// registerPGP registers an OpenPGP certificate through the key service.
func (r *diffRun) registerPGP(t *testing.T, k *pgp.KeySigner, label string) {
	t.Helper()
	if _, err := trustv1.NewKeyServiceClient(r.f.conn).AddKey(context.Background(), &trustv1.AddKeyRequest{PublicKey: k.Certificate().Encode(), Label: label}); err != nil {
		t.Fatalf("register %s: %v", label, err)
	}
}

// submitPGP submits an OpenPGP authority statement (a delegation or a
// rotation) about subject's certificate, signed by signers.
func (r *diffRun) submitPGP(t *testing.T, predicateType string, predicate any, subject *pgp.KeySigner, signers ...envelope.Signer) (*trustv1.SubmitResponse, error) {
	t.Helper()
	pred, err := json.Marshal(predicate)
	if err != nil {
		t.Fatal(err)
	}
	ks := pgplog.KeySubject(subject.Certificate())
	payload, err := envelope.NewStatement(predicateType, pred, envelope.Subject{Name: ks.Name, Digests: ks.Digests})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return r.statements.Submit(context.Background(), &trustv1.SubmitRequest{Envelope: raw})
}

// diffPolicy is the policy "diff" as a verifier reads it from the file
// trustd holds.
func diffPolicy(t *testing.T, dir string) *policy.Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := policy.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Policy("diff")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// diffReasons are every reason a revocation gives: hard (compromised,
// malicious, other: unspecified) and soft (superseded, retired, withdrawn).
var diffReasons = []revocation.Reason{revocation.ReasonCompromised, revocation.ReasonMalicious, revocation.ReasonSuperseded,
	revocation.ReasonRetired, revocation.ReasonWithdrawn, revocation.ReasonOther}

func (r *diffRun) play(t *testing.T, steps int) {
	for step := range steps {
		what := r.step(t, step)
		if testing.Verbose() {
			t.Logf("seed %d step %d: %s", r.seed, step, what)
		}
		now := time.Now()
		for _, b := range r.boundaries {
			if b.at.After(r.lastCheck.Add(-time.Second)) && !b.at.After(now) {
				if b.art == nil {
					r.touch()
				} else {
					r.touch(b.art)
				}
			}
		}
		arts := r.arts
		if !r.touchedAll && step%diffFullCheck != 0 {
			arts = nil
			for _, a := range r.arts {
				if r.touched[a] {
					arts = append(arts, a)
				}
			}
		}
		r.lastCheck = now
		r.check(t, step, what, arts)
		if t.Failed() {
			return
		}
		clear(r.touched)
		r.touchedAll = false
	}
	// A last comparison once every token has expired (at most
	// diffTokenTTL away), so each history judges expired tokens.
	var last time.Time
	for _, a := range r.arts {
		if a.token != "" && a.expires.After(last) {
			last = a.expires
		}
	}
	if time.Until(last) > 0 {
		time.Sleep(time.Until(last.Add(100 * time.Millisecond)))
	}
	r.check(t, steps, "every token expired", r.arts)
	t.Logf("seed %d: %d steps: %v", r.seed, steps, r.stats)
}

// future is a wall-clock time a few whole seconds ahead, recorded as a
// boundary of art (nil: of every artifact).
func (r *diffRun) future(art *diffArtifact) time.Time {
	e := time.Now().UTC().Truncate(time.Second).Add(time.Duration(1+r.rng.IntN(4)) * time.Second)
	r.boundaries = append(r.boundaries, diffBoundary{e, art})
	return e
}

// step draws and plays one step, and says what it did.
func (r *diffRun) step(t *testing.T, step int) string {
	ctx := context.Background()
	a := r.arts[r.rng.IntN(len(r.arts))]
	// The evidence about an artifact is bounded (diffMaxEvidence), so a
	// step costs about the same at step 200 as at step 1.
	switch n := r.rng.IntN(17); {
	case n < 2 && len(a.statements) < diffMaxEvidence: // publish an attestation of the artifact
		d, err := digest.Parse(a.digest)
		if err != nil {
			t.Fatal(err)
		}
		stmt, err := envelope.NewStatement("https://example.com/test-result/v1", fmt.Appendf(nil, `{"n":%d}`, len(a.statements)),
			envelope.Subject{Name: filepath.Base(a.file), Digests: []digest.Digest{d}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, r.attester)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := r.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
		if err != nil {
			r.fatalf(t, step, "publish an attestation of %s: %v", a.file, err)
		}
		a.statements = append(a.statements, sub.GetEntry().GetEnvelopeDigest())
		a.attestSeqs = append(a.attestSeqs, sub.GetEntry().GetSeq())
		r.touch(a)
		return fmt.Sprintf("attest %s (log seq %d)", filepath.Base(a.file), sub.GetEntry().GetSeq())
	case n >= 2 && n < 5: // issue a token and put it beside the file
		r.touch(a)
		resp, err := r.f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{a.digest}, PolicyName: "diff"})
		if err != nil {
			r.fatalf(t, step, "issue token for %s: %v", a.file, err)
		}
		if !resp.GetIssued() {
			return "issue token (refused) for " + filepath.Base(a.file)
		}
		if err := os.WriteFile(client.SidecarPath(a.file), resp.GetToken(), 0o644); err != nil {
			t.Fatal(err)
		}
		a.token = token.ID(resp.GetToken())
		ver, err := token.NewVerifier(ctx, token.Keys{r.f.tokenKey})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ver.Verify(ctx, resp.GetToken())
		if err != nil {
			r.fatalf(t, step, "the token issued does not verify: %v", err)
		}
		a.expires = tok.Claims.Expires
		r.boundaries = append(r.boundaries, diffBoundary{a.expires, a})
		a.relies = [][2]string{{string(revocation.KindKey), tok.KeyID}}
		for _, k := range tok.Claims.Signers {
			a.relies = append(a.relies, [2]string{string(revocation.KindKey), k})
		}
		for _, in := range tok.Claims.Inputs {
			a.relies = append(a.relies, [2]string{string(revocation.KindStatement), in.Digest.String()})
		}
		return fmt.Sprintf("issue token for %s (expires %s, relies on %v)", filepath.Base(a.file), a.expires.Format(time.RFC3339Nano), a.relies)
	case n == 5: // sync the offline list: one to three fetches in a row, each full or a delta, from trustd or its replica
		var did []string
		r.touch()
		for range 1 + r.rng.IntN(3) {
			var since int64
			if num, ok := r.cache.Number(); ok && r.rng.IntN(2) == 0 {
				since = num
			}
			from, name := r.f, "trustd"
			if r.rng.IntN(2) == 0 {
				from, name = r.replica, "its replica"
			}
			v, _ := from.fetch(t, since)
			if err := r.cache.Apply(v); err != nil {
				r.fatalf(t, step, "apply list since %d from %s (after %v): %v", since, name, did, err)
			}
			did = append(did, fmt.Sprintf("since %d from %s (list %d issued %s)", since, name, v.Info.Number, v.Info.Issued.Format(time.RFC3339Nano)))
		}
		r.synced = true
		return "sync " + strings.Join(did, ", then ")
	case n == 6: // publish the artifact as a target: a new targets version
		name := filepath.Base(a.file)
		r.touch() // a new targets version: every target's evidence
		doc := r.repo.SignTargets(t, r.targets, name, a.content)
		resp, err := r.tufc.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: diffRepo, Role: "targets", Metadata: doc})
		if err != nil {
			r.fatalf(t, step, "publish %s in %s: %v", name, diffRepo, err)
		}
		r.targets = doc
		r.stats["tuf publish"]++
		return fmt.Sprintf("tuf publish %s in %s (%d metadata published)", name, diffRepo, len(resp.GetResult().GetPublished()))
	case n >= 7 && n < 9 && a.manifests < diffMaxEvidence: // publish a manifest signed by the delegated key
		return r.publishManifest(t, step, a)
	case n == 9 && len(r.pgpKeys) <= 3: // rotate the delegated key (thrice at most)
		return r.rotate(t, step)
	case n == 16 && r.rng.IntN(3) == 0: // rarely (it ends the first delegated key's chains): revoke it with a gpg revocation certificate
		return r.pgpRevoke(t, step)
	default:
		return r.revoke(t, step, a)
	}
}

// diffPGPRevocations are gpg's revocation certificates for the fixture
// key, one per reason (pgp/testdata/README.md).
var diffPGPRevocations = []string{"rev-none.asc", "rev-compromised.asc", "rev-superseded.asc", "rev-retired.asc"}

// pgpRevoke submits one of gpg's revocation certificates of the first
// delegated key (trustctl pgp revoke).
func (r *diffRun) pgpRevoke(t *testing.T, step int) string {
	file := diffPGPRevocations[r.rng.IntN(len(diffPGPRevocations))]
	r.touch()
	resp, err := r.pgpc.Revoke(context.Background(), &trustv1.RevokeRequest{Revocation: pgpFixture(t, file)})
	if err != nil {
		r.fatalf(t, step, "pgp revoke %s: %v", file, err)
	}
	r.stats["pgp revoke"]++
	return fmt.Sprintf("pgp revoke %s with %s (reason %q, hard %v, log seq %d, created %v)", resp.GetFingerprint(), file, resp.GetReason(), resp.GetHard(), resp.GetEntry().GetSeq(), resp.GetCreated())
}

// publishManifest publishes a SHA256SUMS manifest listing a (and sometimes
// another artifact), signed by the delegated OpenPGP key in use.
func (r *diffRun) publishManifest(t *testing.T, step int, a *diffArtifact) string {
	var m strings.Builder
	for _, x := range []*diffArtifact{a, r.arts[r.rng.IntN(len(r.arts))]} {
		if x != a && x.manifests >= diffMaxEvidence {
			break
		}
		x.manifests++
		r.touch(x)
		d, err := digest.Parse(x.digest)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&m, "%s  %s\n", hex.EncodeToString(d.Bytes()), filepath.Base(x.file))
		if r.rng.IntN(2) == 0 {
			break
		}
	}
	signer := r.pgpKeys[len(r.pgpKeys)-1]
	sig, err := signer.Sign(context.Background(), []byte(m.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.pgpc.PublishManifest(context.Background(), &trustv1.PublishManifestRequest{Name: "SHA256SUMS", Manifest: []byte(m.String()), Signature: sig})
	what := fmt.Sprintf("pgp publish %q signed by %s", m.String(), signer.Certificate().Fingerprint)
	if err != nil {
		// A revoked key's manifest may be refused; nothing changed.
		return what + " (refused: " + err.Error() + ")"
	}
	r.manifests = append(r.manifests, diffManifest{envelope: resp.GetEntry().GetEnvelopeDigest(), signer: signer})
	r.stats["pgp publish"]++
	return fmt.Sprintf("%s (log seq %d)", what, resp.GetEntry().GetSeq())
}

// rotate rotates the delegated OpenPGP key to a new one, effective now or
// a few seconds ahead; the new key signs the manifests from then on.
func (r *diffRun) rotate(t *testing.T, step int) string {
	old, next := r.pgpKeys[len(r.pgpKeys)-1], diffPGPKey(t, fmt.Sprint("dev", len(r.pgpKeys)))
	r.registerPGP(t, next, fmt.Sprint("pgp-dev-", len(r.pgpKeys)))
	eff := time.Now().UTC().Truncate(time.Second)
	if r.rng.IntN(2) == 0 {
		eff = r.future(nil)
	}
	r.touch()
	rot := pgp.Rotation{Old: old.Certificate().Fingerprint, New: next.Certificate().Fingerprint, Effective: eff}
	sub, err := r.submitPGP(t, pgp.RotationPredicateType, rot, next, old, next)
	what := fmt.Sprintf("pgp rotate %s to %s effective %s", rot.Old, rot.New, eff.Format(time.RFC3339))
	if err != nil {
		// A revoked key cannot rotate; nothing changed.
		return what + " (refused: " + err.Error() + ")"
	}
	r.pgpKeys = append(r.pgpKeys, next)
	r.stats["pgp rotate"]++
	return fmt.Sprintf("%s (log seq %d)", what, sub.GetEntry().GetSeq())
}

// revoke revokes or reinstates a target, signed by a key entitled to: the
// security authority for digests, keys and tokens (or a key itself), a
// statement's signer for a statement.
func (r *diffRun) revoke(t *testing.T, step int, a *diffArtifact) string {
	ctx := context.Background()
	kind, id := revocation.KindDigest, a.digest
	var signer envelope.Signer = r.f.authority
	affected := a // the artifact the revocation concerns; nil: all
	switch k := r.rng.IntN(15); {
	case k <= 1 && a.token != "":
		kind, id = revocation.KindToken, a.token
	case k == 2:
		kind, id, affected = revocation.KindKey, r.f.tokenKey.ID, nil
	case k == 3 && r.rng.IntN(2) == 0: // rarely: it voids every attestation
		kind, id, affected = revocation.KindKey, r.attesterID, nil
		if r.rng.IntN(2) == 0 {
			signer = r.attester
		}
	case k >= 4 && k <= 5 && len(a.statements) > 0:
		kind, id, signer = revocation.KindStatement, a.statements[r.rng.IntN(len(a.statements))], r.attester
	case k >= 6 && k <= 7:
		keys := append([]*pgp.KeySigner{r.pgpRoot}, r.pgpKeys...)
		if r.rng.IntN(3) != 0 { // the root more rarely
			keys = keys[1:]
		}
		pk := keys[r.rng.IntN(len(keys))]
		kind, id, affected = revocation.KindKey, pk.Certificate().Fingerprint, nil
		if r.rng.IntN(2) == 0 {
			signer = pk
		}
	case k == 8 && len(r.manifests) > 0:
		m := r.manifests[r.rng.IntN(len(r.manifests))]
		kind, id, signer, affected = revocation.KindStatement, m.envelope, m.signer, nil
	}
	if affected == nil {
		r.touch()
	} else {
		r.touch(affected)
	}
	action := revocation.ActionRevoke
	if r.rng.IntN(5) < 2 {
		action = revocation.ActionReinstate
	}
	reason := diffReasons[r.rng.IntN(len(diffReasons))]
	eff := r.base // now, some time before, or a few seconds ahead
	switch r.rng.IntN(4) {
	case 0, 1:
		eff = eff.Add(-time.Duration(1+r.rng.IntN(120)) * time.Minute)
	case 2:
		eff = r.future(affected)
	}
	p := revocation.Predicate{Action: action, Target: revocation.Target{Kind: kind, ID: id}, Reason: reason, Effective: eff}
	sub, err := r.f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: r.f.sign(t, p, signer)})
	what := fmt.Sprintf("%s %s %s reason %q effective %s signed by %s", action, kind, id, p.Reason, eff.Format(time.RFC3339), signer)
	if err != nil {
		// A reinstatement of what is not revoked is refused; nothing changed.
		return what + " (refused: " + err.Error() + ")"
	}
	if action == revocation.ActionRevoke && eff.After(time.Now()) {
		r.stats["future revocation"]++
	}
	if action == revocation.ActionRevoke && kind == revocation.KindStatement {
		r.stats["statement revoked"]++
	}
	// Identical bytes (a predicate drawn twice) answer the entry
	// already logged, and change nothing.
	seq := sub.GetEntry().GetSeq()
	r.changeSeq = max(r.changeSeq, seq)
	return fmt.Sprintf("%s (log seq %d)", what, seq)
}

// check compares every path's answer for every artifact (compare). The
// wall clock runs on, so when a comparison fails and a future effective
// time or a token's expiry fell inside it, it is made again once that
// time has passed; only a failure that stands is reported.
func (r *diffRun) check(t *testing.T, step int, what string, arts []*diffArtifact) {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		errs := r.compare(t, step, what, arts)
		end := time.Now()
		if len(errs) == 0 {
			return
		}
		var crossed time.Time
		for _, bd := range r.boundaries {
			b := bd.at
			// (A second's slack: times in the log and lists are kept
			// to the microsecond or the second.)
			if !b.Before(start.Add(-time.Second)) && !b.After(end.Add(time.Second)) && b.After(crossed) {
				crossed = b
			}
		}
		if crossed.IsZero() || attempt >= 2 {
			for _, e := range errs {
				r.errorf(t, step, "%s", e)
			}
			return
		}
		r.stats["compared again"]++
		time.Sleep(time.Until(crossed.Add(1100 * time.Millisecond)))
	}
}

// compare compares every path's answer for the artifacts arts, and says
// how they disagree:
//   - token issuance and online verify of the bare bytes evaluate the same
//     evidence with the same evaluator, so they agree exactly;
//   - the digest revoked (by the lookup) passes nowhere;
//   - an unexpired token revoked, or its key, or a signer or input
//     statement it names revoked (a key: hard), fails online and offline
//     verify of the bytes with the token (deny-overrides: an any branch
//     cannot outvote it); an expired token passes nothing;
//   - a passing verdict relies on no key revoked hard (reliedKeys);
//   - offline verify with a list as fresh as the last change agrees with
//     online verify of the bytes with the token wherever the token is what
//     decides: a token alone passes offline only if it passes online, and
//     what online passes through the token alone passes offline;
//   - the subject view agrees with the lookup (subjectAgrees);
//   - after a full comparison, key show agrees with the lookup for every
//     OpenPGP key (keyAgrees).
func (r *diffRun) compare(t *testing.T, step int, what string, arts []*diffArtifact) []string {
	ctx := context.Background()
	var errs []string
	num, _ := r.cache.Number()
	fresh := r.synced && uint64(num) >= r.changeSeq
	for _, a := range arts {
		digestRevoked := r.lookup(t, step, revocation.KindDigest, a.digest)
		reliedRevoked := false
		if a.token != "" {
			reliedRevoked = r.lookup(t, step, revocation.KindToken, a.token)
			for _, rel := range a.relies {
				reliedRevoked = reliedRevoked || r.voids(t, step, revocation.Kind(rel[0]), rel[1])
			}
		}
		verify := func(file string, online bool) policy.Verdict {
			opts := client.VerifyOptions{Policy: r.pol, TokenKeys: token.Keys{r.f.tokenKey}}
			if online {
				opts.Client = r.c
			} else {
				opts.Revocations = r.cache
			}
			res, err := client.Verify(ctx, file, opts)
			if err != nil {
				r.fatalf(t, step, "verify %s (online %v): %v", file, online, err)
			}
			return res.Verdict
		}
		bare, offline := verify(a.bare, true), verify(a.file, false)
		withToken := bare // no token beside the file: the same bytes, the same answer
		if a.token != "" {
			withToken = verify(a.file, true)
		}
		resp, err := r.f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{a.digest}, PolicyName: "diff"})
		if err != nil {
			r.fatalf(t, step, "issue token for %s: %v", a.file, err)
		}
		expired := a.token != "" && !time.Now().Before(a.expires)
		verdicts := func() string {
			return fmt.Sprintf("after %s:\n lookup: digest revoked %v, token or what it relies on revoked %v (token %q, expired %v, relies on %v)\n issue: %v\n online, bare: %s\n online, with token: %s\n offline (list %d, last change %d): %s",
				what, digestRevoked, reliedRevoked, a.token, expired, a.relies, resp.GetIssued(), summary(bare), summary(withToken), num, r.changeSeq, summary(offline))
		}
		pass := func(v policy.Verdict) bool { return v.Outcome == policy.Pass }
		r.count(pass(bare), "online pass", "online fail")
		if !pass(bare) {
			r.stats["online fail: "+string(bare.Result.Reason)]++
		}
		r.count(resp.GetIssued(), "issued", "refused")
		if reliedRevoked && !digestRevoked {
			r.stats["token revoked"]++
		}
		if expired {
			r.stats["token expired"]++
		}
		name := filepath.Base(a.file)
		if resp.GetIssued() != pass(bare) {
			errs = append(errs, fmt.Sprintf("%s: token issuance and online verify disagree, %s", name, verdicts()))
		}
		if digestRevoked && (pass(bare) || pass(withToken) || resp.GetIssued() || fresh && pass(offline)) {
			errs = append(errs, fmt.Sprintf("%s: the digest is revoked and a path passes it, %s", name, verdicts()))
		}
		// (An expired token is relied on by nothing: its revocation
		// does not fail what passes without it.)
		if reliedRevoked && !expired && (pass(withToken) || fresh && pass(offline)) {
			errs = append(errs, fmt.Sprintf("%s: the token or what it relies on is revoked and verify passes, %s", name, verdicts()))
		}
		if expired && !pass(bare) && (pass(withToken) || pass(offline)) {
			errs = append(errs, fmt.Sprintf("%s: the token expired and verify passes through it, %s", name, verdicts()))
		}
		for _, v := range []policy.Verdict{bare, withToken} {
			if !pass(v) {
				continue
			}
			for _, k := range reliedKeys(v) {
				if r.voids(t, step, revocation.KindKey, k) {
					errs = append(errs, fmt.Sprintf("%s: a passing verdict relies on key %s, revoked hard, %s", name, k, verdicts()))
				}
			}
		}
		if e := r.subjectAgrees(t, step, a); e != "" {
			errs = append(errs, fmt.Sprintf("%s: the subject view and the revocation lookup disagree: %s; after %s", name, e, what))
		}
		if !fresh {
			continue
		}
		r.stats["offline compared"]++
		if pass(offline) && !pass(withToken) {
			errs = append(errs, fmt.Sprintf("%s: offline verify with a fresh list passes what online fails, %s", name, verdicts()))
		}
		if pass(withToken) && !pass(bare) && !pass(offline) {
			errs = append(errs, fmt.Sprintf("%s: online passes through the token, offline with a fresh list does not, %s", name, verdicts()))
		}
	}
	for _, k := range append([]*pgp.KeySigner{r.pgpRoot}, r.pgpKeys...) {
		if len(arts) < len(r.arts) {
			break // no step since the last full comparison changed the keys
		}
		if e := r.keyAgrees(t, step, k.Certificate().Fingerprint); e != "" {
			errs = append(errs, fmt.Sprintf("OpenPGP key %s: key show and the revocation lookup disagree: %s; after %s", k.Certificate().Fingerprint, e, what))
		}
	}
	return errs
}

// keyAgrees compares what key show (GetKey) says of an OpenPGP key's state
// with the revocation lookup of the key: one revocation state, whatever
// the source (a revocation statement, a gpg revocation certificate, a
// rotation). It says how they disagree, or "" when they agree.
func (r *diffRun) keyAgrees(t *testing.T, step int, fpr string) string {
	ctx := context.Background()
	k, err := trustv1.NewKeyServiceClient(r.f.conn).GetKey(ctx, &trustv1.GetKeyRequest{KeyId: fpr})
	if err != nil {
		r.fatalf(t, step, "key show %s: %v", fpr, err)
	}
	lk, err := r.f.rev.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: string(revocation.KindKey), Id: fpr})
	if err != nil {
		r.fatalf(t, step, "lookup key %s: %v", fpr, err)
	}
	st := k.GetKey().GetPgp().GetStatus()
	r.stats["key compared"]++
	revoked := st.GetState() == string(pgp.StateRevoked) || st.GetState() == string(pgp.StateSuperseded)
	if revoked != lk.GetInForce() {
		return fmt.Sprintf("key show: %s; lookup: in force %v, %v", st.GetSummary(), lk.GetInForce(), lk.GetRevocation())
	}
	return ""
}

// reliedKeys are the keys a verdict relies on: the signers it counted, and
// the keys of the OpenPGP chains of the pgp requirements it passed (the
// delegator and delegate of each delegation, both keys of each rotation),
// as its evidence cites them ("rotation OLD → NEW (statement seq N)").
func reliedKeys(v policy.Verdict) []string {
	keys := slices.Clone(v.Signers)
	var walk func(r policy.Result)
	walk = func(r policy.Result) {
		if r.Outcome != policy.Pass {
			return
		}
		if r.Kind == "pgp" {
			for _, e := range r.Evidence {
				if f := strings.Fields(e); len(f) >= 4 && (f[0] == "delegation" || f[0] == "rotation") && f[2] == "→" {
					keys = append(keys, f[1], f[3])
				}
			}
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(v.Result)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// subjectAgrees compares the subject view (GetSubject, one fact per log
// entry with its status) of a's digest with the revocation lookup: the
// queried digest carries the revocation the lookup holds (in force or
// effective later), the same log entry; each attestation of a is a fact,
// REVOKED when its statement revocation is in force; a fact REVOKED has
// its statement, or a key that signed it, revoked. It says how they
// disagree, or "" when they agree.
func (r *diffRun) subjectAgrees(t *testing.T, step int, a *diffArtifact) string {
	ctx := context.Background()
	resp, err := r.subject.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: a.digest, EvidenceLimit: 1000})
	if status.Code(err) == codes.NotFound {
		return "" // nothing names the digest yet
	}
	if err != nil {
		r.fatalf(t, step, "subject %s: %v", a.digest, err)
	}
	r.stats["subject compared"]++
	var bad []string
	lk, err := r.f.rev.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: string(revocation.KindDigest), Id: a.digest})
	if err != nil {
		r.fatalf(t, step, "lookup digest %s: %v", a.digest, err)
	}
	var queried *trustv1.Revocation
	for _, al := range resp.GetSubject().GetAliases() {
		if al.GetQueried() {
			queried = al.GetRevocation()
		}
	}
	revoked := func(rv *trustv1.Revocation) bool { return rv.GetAction() == string(revocation.ActionRevoke) }
	if revoked(queried) != revoked(lk.GetRevocation()) || revoked(queried) && queried.GetSeq() != lk.GetRevocation().GetSeq() {
		bad = append(bad, fmt.Sprintf("the subject view's digest revocation is %v, the lookup's %v", queried, lk.GetRevocation()))
	}
	marked := map[uint64]bool{}
	listed := map[uint64]bool{}
	for _, f := range resp.GetSubject().GetFacts() {
		listed[f.GetSeq()] = true
		marked[f.GetSeq()] = f.GetStatus() == trustv1.FactStatus_FACT_STATUS_REVOKED
	}
	keyRevoked := r.lookup(t, step, revocation.KindKey, r.attesterID) || r.hasRevocation(t, step, revocation.KindKey, r.attesterID)
	for i, seq := range a.attestSeqs {
		stmtRevoked := r.lookup(t, step, revocation.KindStatement, a.statements[i])
		switch {
		case !listed[seq]:
			bad = append(bad, fmt.Sprintf("attestation %d is not listed", seq))
		case stmtRevoked && !marked[seq]:
			bad = append(bad, fmt.Sprintf("attestation %d's statement is revoked, the subject view does not mark it", seq))
		case marked[seq] && !stmtRevoked && !keyRevoked:
			bad = append(bad, fmt.Sprintf("attestation %d is marked revoked, but neither its statement nor its signer is", seq))
		}
	}
	return strings.Join(bad, "; ")
}

func (r *diffRun) count(c bool, yes, no string) {
	if c {
		r.stats[yes]++
	} else {
		r.stats[no]++
	}
}

// lookup is the revocation service's answer: in force now.
func (r *diffRun) lookup(t *testing.T, step int, kind revocation.Kind, id string) bool {
	resp, err := r.f.rev.LookupRevocation(context.Background(), &trustv1.LookupRevocationRequest{Kind: string(kind), Id: id})
	if err != nil {
		r.fatalf(t, step, "lookup %s %s: %v", kind, id, err)
	}
	return resp.GetInForce()
}

// voids reports whether the lookup's revocation of the target voids what
// a token relies on for certain: a statement's or a token's in force, a
// key's when hard (a soft one voids only what was observed from its
// effective time on, which a token's claims do not tell the test).
func (r *diffRun) voids(t *testing.T, step int, kind revocation.Kind, id string) bool {
	resp, err := r.f.rev.LookupRevocation(context.Background(), &trustv1.LookupRevocationRequest{Kind: string(kind), Id: id})
	if err != nil {
		r.fatalf(t, step, "lookup %s %s: %v", kind, id, err)
	}
	if kind == revocation.KindKey && !timerule.Hard(resp.GetRevocation().GetReason()) {
		return false
	}
	return resp.GetInForce()
}

// hasRevocation reports whether the lookup holds a revocation of the
// target at all, in force now or not (a soft one effective later).
func (r *diffRun) hasRevocation(t *testing.T, step int, kind revocation.Kind, id string) bool {
	resp, err := r.f.rev.LookupRevocation(context.Background(), &trustv1.LookupRevocationRequest{Kind: string(kind), Id: id})
	if err != nil {
		r.fatalf(t, step, "lookup %s %s: %v", kind, id, err)
	}
	return resp.GetRevocation().GetAction() == string(revocation.ActionRevoke)
}

func summary(v policy.Verdict) string {
	var b strings.Builder
	_ = v.WriteText(&b)
	return string(v.Outcome) + "\n" + b.String()
}

func (r *diffRun) fatalf(t *testing.T, step int, format string, args ...any) {
	t.Helper()
	t.Fatalf("seed %d step %d: %s", r.seed, step, fmt.Sprintf(format, args...))
}

func (r *diffRun) errorf(t *testing.T, step int, format string, args ...any) {
	t.Helper()
	t.Errorf("seed %d step %d: %s", r.seed, step, fmt.Sprintf(format, args...))
}

// TestSyncFullAfterDelta is what the differential test found (seeds 1
// and 16 of make test-differential at 200 steps): a full sync (trustctl
// revocations sync --full) after a delta sync of the same list number was
// refused as a rollback, because the server's cached snapshot of that
// number had been issued before the delta, and revocation.Cache.Apply
// refuses a same-numbered list issued earlier. The server now signs the
// snapshot again when a delta was served after it.
func TestSyncFullAfterDelta(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newRevFixture(t, b.Open(t))
			p := revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindDigest, ID: "sha256:" + strings.Repeat("ab", 32)},
				Reason: revocation.ReasonMalicious, Effective: time.Now().UTC().Truncate(time.Second)}
			if _, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: f.sign(t, p, f.authority)}); err != nil {
				t.Fatal(err)
			}
			c, err := revocation.OpenCache(t.TempDir(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			full, _ := f.fetch(t, 0)
			if err := c.Apply(full); err != nil {
				t.Fatal(err)
			}
			num, _ := c.Number()
			time.Sleep(10 * time.Millisecond) // the delta is issued after the snapshot
			delta, _ := f.fetch(t, num)
			if err := c.Apply(delta); err != nil {
				t.Fatalf("delta since %d: %v", num, err)
			}
			again, _ := f.fetch(t, 0)
			if again.Info.Number != num {
				t.Fatalf("full list %d, want %d", again.Info.Number, num)
			}
			if err := c.Apply(again); err != nil {
				t.Errorf("full sync after a delta of the same number: %v", err)
			}
			if n, _ := c.Number(); n != num {
				t.Errorf("the cache holds list %d after the full sync, want %d", n, num)
			}
			if e, err := c.Check(revocation.KindDigest, p.Target.ID); err != nil || e == nil {
				t.Errorf("after the syncs the cache answers %v, %v; want the digest revoked", e, err)
			}
		})
	}
}
