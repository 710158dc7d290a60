package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TestDifferential plays seeded random histories against an in-process
// trustd on each backend: revoke and reinstate digests, tokens and the
// token key with every reason at various effective times, issue tokens
// under a server-held policy, sync the offline revocation list. After each
// step, for every artifact, the revocation lookup, online verify, token
// issuance and offline verify with the synced list must give the same
// answer; offline may differ only when the state changed after the list it
// holds (the staleness its list number declares). A failure names the
// seed and step. TRUSTD_DIFF_SEEDS and TRUSTD_DIFF_STEPS size the run
// (make test-differential runs the issue's 20 × 200).
func TestDifferential(t *testing.T) {
	seeds, steps := envInt(t, "TRUSTD_DIFF_SEEDS", 3), envInt(t, "TRUSTD_DIFF_STEPS", 50)
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for seed := range uint64(seeds) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					newDiffRun(t, b, seed).play(t, steps)
				})
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
	file   string
	digest string
	token  string // id of the token beside the file; "" when none
}

type diffRun struct {
	f         *revFixture
	c         *client.Client
	seed      uint64
	rng       *rand.Rand
	pol       *policy.Policy
	arts      []*diffArtifact
	cache     *revocation.Cache
	cacheDir  string
	changeSeq uint64 // log seq of the last revocation event
	// base is the run's clock for effective times: a seed draws the same
	// predicates whenever it runs, so which submissions repeat an
	// earlier statement (the log keeps one entry for identical bytes)
	// does not depend on the wall clock.
	base   time.Time
	synced bool
	// stats count what the history exercised, so a run that stops
	// exercising something shows in the log.
	stats map[string]int
}

func newDiffRun(t *testing.T, b teststore.Backend, seed uint64) *diffRun {
	dir := filepath.Join("testdata", "differential")
	catalog, err := policy.LoadCatalog(policy.CatalogSources{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	f := newRevFixtureHolding(t, b.Open(t), catalog, nil, nil)
	c, err := client.New(f.conn.Target(), client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The token key is registered, so it can be revoked like any key.
	if _, _, err := keys.NewRegistry(f.store).Add(context.Background(), f.tokenKey.Encode(), "token"); err != nil {
		t.Fatal(err)
	}
	r := &diffRun{base: time.Now().UTC().Truncate(time.Minute), f: f, c: c, seed: seed, rng: rand.New(rand.NewPCG(seed, 14)), pol: diffPolicy(t, dir), cacheDir: t.TempDir(), stats: map[string]int{}}
	dir = t.TempDir()
	for i := range 3 {
		file := filepath.Join(dir, fmt.Sprintf("app-%d.tar", i))
		if err := os.WriteFile(file, fmt.Appendf(nil, "seed %d artifact %d", seed, i), 0o644); err != nil {
			t.Fatal(err)
		}
		art, err := client.Resolve(context.Background(), file, client.ResolveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.arts = append(r.arts, &diffArtifact{file: file, digest: art.Digests[0].String()})
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
	t.Logf("seed %d: %d steps, %v", r.seed, steps, r.stats)
	for _, k := range []string{"online revoked", "online pass", "issued", "refused", "offline compared", "offline revoked", "token revoked"} {
		if steps >= 50 && r.stats[k] == 0 {
			t.Errorf("seed %d: the history never exercised %q: %v", r.seed, k, r.stats)
		}
	}
}

// step draws and plays one step, and says what it did.
func (r *diffRun) step(t *testing.T, step int) string {
	ctx := context.Background()
	a := r.arts[r.rng.IntN(len(r.arts))]
	switch n := r.rng.IntN(10); {
	case n < 3: // issue a token and put it beside the file
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
		return "issue token for " + filepath.Base(a.file)
	case n < 4: // sync the offline list (a delta once it holds one)
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
		switch k := r.rng.IntN(6); {
		case k == 0 && a.token != "":
			kind, id = revocation.KindToken, a.token
		case k == 1:
			kind, id = revocation.KindKey, r.f.tokenKey.ID
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

// check compares every path's answer for every artifact.
func (r *diffRun) check(t *testing.T, step int, what string) {
	ctx := context.Background()
	num, _ := r.cache.Number()
	fresh := r.synced && uint64(num) >= r.changeSeq
	for _, a := range r.arts {
		revoked := r.lookup(t, step, revocation.KindDigest, a.digest) || r.lookup(t, step, revocation.KindKey, r.f.tokenKey.ID) && a.token != "" ||
			a.token != "" && r.lookup(t, step, revocation.KindToken, a.token)
		digestRevoked := r.lookup(t, step, revocation.KindDigest, a.digest)

		online, err := client.Verify(ctx, a.file, client.VerifyOptions{Policy: r.pol, Client: r.c, TokenKeys: token.Keys{r.f.tokenKey}})
		if err != nil {
			r.fatalf(t, step, "online verify %s: %v", a.file, err)
		}
		resp, err := r.f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{a.digest}, PolicyName: "diff"})
		if err != nil {
			r.fatalf(t, step, "issue token for %s: %v", a.file, err)
		}
		offline, err := client.Verify(ctx, a.file, client.VerifyOptions{Policy: r.pol, Revocations: r.cache, TokenKeys: token.Keys{r.f.tokenKey}})
		if err != nil {
			r.fatalf(t, step, "offline verify %s: %v", a.file, err)
		}
		verdicts := func() string {
			return fmt.Sprintf("after %s:\n lookup: revoked %v (digest %v)\n online: %s\n issue: %v\n offline (list %d, last change %d): %s",
				what, revoked, digestRevoked, summary(online.Verdict), resp.GetIssued(), num, r.changeSeq, summary(offline.Verdict))
		}
		r.count(online.Verdict.Outcome == policy.Pass, "online pass", "online revoked")
		r.count(resp.GetIssued(), "issued", "refused")
		if fresh {
			r.stats["offline compared"]++
			if offline.Verdict.Outcome != policy.Pass {
				r.stats["offline revoked"]++
			}
		}
		if a.token != "" && revoked && !digestRevoked {
			r.stats["token revoked"]++
		}
		if got := online.Verdict.Outcome == policy.Pass; got == revoked {
			r.errorf(t, step, "%s: online verify disagrees with the lookup, %s", filepath.Base(a.file), verdicts())
		}
		if resp.GetIssued() == digestRevoked {
			r.errorf(t, step, "%s: token issuance disagrees with the lookup, %s", filepath.Base(a.file), verdicts())
		}
		if fresh && offline.Verdict.Outcome != online.Verdict.Outcome {
			r.errorf(t, step, "%s: offline verify with a fresh list disagrees with online, %s", filepath.Base(a.file), verdicts())
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
