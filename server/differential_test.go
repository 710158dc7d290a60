package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TestDifferential plays seeded random histories against an in-process
// trustd on each backend: publish attestations, revoke and reinstate
// digests, tokens, the token key, the attester's key and attestation
// statements with every reason at various effective times, issue tokens
// under a server-held policy, sync the offline revocation list (full or
// delta). After each step, for every artifact, the revocation lookup,
// online verify, token issuance and offline verify with the synced list
// must agree (see check); offline may differ only when the state changed
// after the list it holds (the staleness its list number declares). A
// failure names the seed and step; -v logs every step. TRUSTD_DIFF_SEEDS and TRUSTD_DIFF_STEPS size the run
// (make test-differential runs the issue's 20 × 200).
func TestDifferential(t *testing.T) {
	seeds, steps := envInt(t, "TRUSTD_DIFF_SEEDS", 3), envInt(t, "TRUSTD_DIFF_STEPS", 50)
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			stats := map[string]int{}
			for seed := range uint64(seeds) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					newDiffRun(t, b, seed, stats).play(t, steps)
				})
			}
			// A run that stops exercising something shows: the default
			// size reaches every outcome.
			for _, k := range []string{"online pass", "online fail", "issued", "refused", "offline compared", "token revoked"} {
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

// diffArtifact is one file the history judges, with the token beside it.
type diffArtifact struct {
	file   string // the bytes with the token beside them
	bare   string // the same bytes alone
	digest string
	token  string // id of the token beside file; "" when none
	// relies are the revocation targets the token relies on: its key,
	// the signers and input statements it names.
	relies     [][2]string
	statements []string // envelope digests of the attestations published
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
	// base is the run's clock for effective times: a seed draws the same
	// predicates whenever it runs, so which submissions repeat an
	// earlier statement (the log keeps one entry for identical bytes)
	// does not depend on the wall clock.
	base   time.Time
	synced bool
	// stats count what the histories of a backend exercised, so a run
	// that stops exercising something shows.
	stats map[string]int
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
	tmpl, err := os.ReadFile(filepath.Join("testdata", "differential", "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(strings.ReplaceAll(string(tmpl), "ATTESTER", pub.ID)), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog, err := policy.LoadCatalog(policy.CatalogSources{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	f := newRevFixtureHolding(t, st, catalog, nil, nil)
	c, err := client.New(f.conn.Target(), client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The token key is registered, so it can be revoked like any key.
	if _, _, err := keys.NewRegistry(f.store).Add(context.Background(), f.tokenKey.Encode(), "token"); err != nil {
		t.Fatal(err)
	}
	r := &diffRun{attester: attester, attesterID: pub.ID, statements: trustv1.NewStatementServiceClient(f.conn), base: time.Now().UTC().Truncate(time.Minute), f: f, c: c, seed: seed, rng: rand.New(rand.NewPCG(seed, 14)), pol: diffPolicy(t, dir), cacheDir: t.TempDir(), stats: stats}
	// Each artifact's bytes lie twice: bare, and with the last token
	// issued for them beside them.
	dir = t.TempDir()
	for _, sub := range []string{"bare", "tok"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		a := &diffArtifact{file: filepath.Join(dir, "tok", fmt.Sprintf("app-%d.tar", i)), bare: filepath.Join(dir, "bare", fmt.Sprintf("app-%d.tar", i))}
		for _, file := range []string{a.file, a.bare} {
			if err := os.WriteFile(file, fmt.Appendf(nil, "seed %d artifact %d", seed, i), 0o644); err != nil {
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

var diffReasons = []revocation.Reason{revocation.ReasonCompromised, revocation.ReasonMalicious, revocation.ReasonSuperseded,
	revocation.ReasonRetired, revocation.ReasonWithdrawn, revocation.ReasonOther}

func (r *diffRun) play(t *testing.T, steps int) {
	for step := range steps {
		what := r.step(t, step)
		if testing.Verbose() {
			t.Logf("seed %d step %d: %s", r.seed, step, what)
		}
		r.check(t, step, what)
		if t.Failed() {
			return
		}
	}
	t.Logf("seed %d: %d steps; so far %v", r.seed, steps, r.stats)
}

// step draws and plays one step, and says what it did.
func (r *diffRun) step(t *testing.T, step int) string {
	ctx := context.Background()
	a := r.arts[r.rng.IntN(len(r.arts))]
	switch n := r.rng.IntN(12); {
	case n < 2: // publish an attestation of the artifact
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
		return fmt.Sprintf("attest %s (log seq %d)", filepath.Base(a.file), sub.GetEntry().GetSeq())
	case n < 5: // issue a token and put it beside the file
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
		a.relies = [][2]string{{string(revocation.KindKey), tok.KeyID}}
		for _, k := range tok.Claims.Signers {
			a.relies = append(a.relies, [2]string{string(revocation.KindKey), k})
		}
		for _, in := range tok.Claims.Inputs {
			a.relies = append(a.relies, [2]string{string(revocation.KindStatement), in.Digest.String()})
		}
		return "issue token for " + filepath.Base(a.file)
	case n < 6: // sync the offline list (a delta once it holds one)
		var since int64
		if num, ok := r.cache.Number(); ok && r.rng.IntN(2) == 0 {
			since = num
		}
		v, _ := r.f.fetch(t, since)
		if err := r.cache.Apply(v); err != nil {
			r.fatalf(t, step, "apply list since %d: %v", since, err)
		}
		r.synced = true
		return fmt.Sprintf("sync since %d", since)
	default: // revoke or reinstate a digest, a token or the token key
		kind, id := revocation.KindDigest, a.digest
		switch k := r.rng.IntN(10); {
		case k == 0 && a.token != "":
			kind, id = revocation.KindToken, a.token
		case k == 1:
			kind, id = revocation.KindKey, r.f.tokenKey.ID
		case k == 2 && r.rng.IntN(2) == 0: // rarely: it voids every attestation
			kind, id = revocation.KindKey, r.attesterID
		case k >= 3 && k <= 4 && len(a.statements) > 0:
			kind, id = revocation.KindStatement, a.statements[r.rng.IntN(len(a.statements))]
		}
		action := revocation.ActionRevoke
		if r.rng.IntN(3) == 0 {
			action = revocation.ActionReinstate
		}
		reason := diffReasons[r.rng.IntN(len(diffReasons))]
		eff := r.base // now, or some time before
		if r.rng.IntN(2) == 0 {
			eff = eff.Add(-time.Duration(1+r.rng.IntN(120)) * time.Minute)
		}
		p := revocation.Predicate{Action: action, Target: revocation.Target{Kind: kind, ID: id}, Reason: reason, Effective: eff}
		sub, err := r.f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: r.f.sign(t, p, r.f.authority)})
		what := fmt.Sprintf("%s %s %s reason %q effective %s", action, kind, id, p.Reason, eff.Format(time.RFC3339))
		if err != nil {
			// A reinstatement of what is not revoked is refused; nothing changed.
			return what + " (refused: " + err.Error() + ")"
		}
		// Identical bytes (a predicate drawn twice) answer the entry
		// already logged, and change nothing.
		seq := sub.GetEntry().GetSeq()
		r.changeSeq = max(r.changeSeq, seq)
		return fmt.Sprintf("%s (log seq %d)", what, seq)
	}
}

// check compares every path's answer for every artifact:
//   - token issuance and online verify of the bare bytes evaluate the same
//     evidence with the same evaluator, so they agree exactly;
//   - the digest revoked (by the lookup) passes nowhere;
//   - the token, its key, or a signer or input statement it names revoked
//     fails online and offline verify of the bytes with the token
//     (deny-overrides: an any branch cannot outvote it);
//   - offline verify with a list as fresh as the last change agrees with
//     online verify of the bytes with the token wherever the token is what
//     decides: a token alone passes offline only if it passes online, and
//     what online passes through the token alone passes offline.
func (r *diffRun) check(t *testing.T, step int, what string) {
	ctx := context.Background()
	num, _ := r.cache.Number()
	fresh := r.synced && uint64(num) >= r.changeSeq
	for _, a := range r.arts {
		digestRevoked := r.lookup(t, step, revocation.KindDigest, a.digest)
		reliedRevoked := false
		if a.token != "" {
			reliedRevoked = r.lookup(t, step, revocation.KindToken, a.token)
			for _, rel := range a.relies {
				reliedRevoked = reliedRevoked || r.lookup(t, step, revocation.Kind(rel[0]), rel[1])
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
		bare, withToken, offline := verify(a.bare, true), verify(a.file, true), verify(a.file, false)
		resp, err := r.f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{a.digest}, PolicyName: "diff"})
		if err != nil {
			r.fatalf(t, step, "issue token for %s: %v", a.file, err)
		}
		verdicts := func() string {
			return fmt.Sprintf("after %s:\n lookup: digest revoked %v, token or what it relies on revoked %v (token %q, relies on %v)\n issue: %v\n online, bare: %s\n online, with token: %s\n offline (list %d, last change %d): %s",
				what, digestRevoked, reliedRevoked, a.token, a.relies, resp.GetIssued(), summary(bare), summary(withToken), num, r.changeSeq, summary(offline))
		}
		pass := func(v policy.Verdict) bool { return v.Outcome == policy.Pass }
		r.count(pass(bare), "online pass", "online fail")
		r.count(resp.GetIssued(), "issued", "refused")
		if reliedRevoked && !digestRevoked {
			r.stats["token revoked"]++
		}
		name := filepath.Base(a.file)
		if resp.GetIssued() != pass(bare) {
			r.errorf(t, step, "%s: token issuance and online verify disagree, %s", name, verdicts())
		}
		if digestRevoked && (pass(bare) || pass(withToken) || resp.GetIssued() || fresh && pass(offline)) {
			r.errorf(t, step, "%s: the digest is revoked and a path passes it, %s", name, verdicts())
		}
		if reliedRevoked && (pass(withToken) || fresh && pass(offline)) {
			r.errorf(t, step, "%s: the token or what it relies on is revoked and verify passes, %s", name, verdicts())
		}
		if !fresh {
			continue
		}
		r.stats["offline compared"]++
		if pass(offline) && !pass(withToken) {
			r.errorf(t, step, "%s: offline verify with a fresh list passes what online fails, %s", name, verdicts())
		}
		if pass(withToken) && !pass(bare) && !pass(offline) {
			r.errorf(t, step, "%s: online passes through the token, offline with a fresh list does not, %s", name, verdicts())
		}
	}
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
