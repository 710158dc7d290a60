package revocation_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestCachePolicySource: a client's synced cache gives a deploy policy
// the answer the server's live index (Service.Lookup) gives about the same
// digests, keys, statements and tokens, numbered by the same list; the
// cache reports its issue time (the policy judges its age) and refuses to
// answer when empty, expired or older than its maximum staleness.
func TestCachePolicySource(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}, TokenIssuers: []string{authority.id}})
		good, bad := sha256Of("good bytes"), sha256Of("bad bytes")
		signer, compromised := e.key(t), e.key(t)
		for _, p := range []revocation.Predicate{
			{Target: revocation.Target{Kind: revocation.KindDigest, ID: bad.String()}, Reason: revocation.ReasonMalicious},
			{Target: revocation.Target{Kind: revocation.KindKey, ID: compromised.id}, Reason: revocation.ReasonCompromised},
			{Target: revocation.Target{Kind: revocation.KindToken, ID: "sha256:" + good.Hex()}, Reason: revocation.ReasonWithdrawn},
		} {
			if _, err := e.revoke(t, p, authority.signer); err != nil {
				t.Fatal(err)
			}
		}
		// A statement its signer withdrew.
		withdrawn := e.attest(t, "withdrawn", signer.signer).EnvelopeDigest
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: withdrawn.String()}, Reason: revocation.ReasonWithdrawn}, signer.signer); err != nil {
			t.Fatal(err)
		}
		kept := e.attest(t, "kept", signer.signer).EnvelopeDigest
		head, err := e.store.RevocationHead(ctx)
		if err != nil || head == 0 {
			t.Fatalf("head %d, %v", head, err)
		}
		what := func(st policy.RevocationStatus) []string {
			var out []string
			for _, r := range st.Revoked {
				out = append(out, r.Kind+" "+r.ID+" "+r.Reason)
			}
			return out
		}
		wantGood := []string(nil)
		wantBad := []string{"digest " + bad.String() + " malicious", "key " + compromised.id + " compromised"}

		revokedToken := "sha256:" + good.Hex()
		queries := []struct {
			q    policy.RevocationQuery
			want []string
		}{
			{policy.RevocationQuery{Digests: []digest.Digest{good}, Keys: []string{signer.id}, Statements: []digest.Digest{kept}, Tokens: []string{"sha256:6c67163bbed989f232b31acc4f04df54b31285bfc01bd022c735b71e041a4754"}}, wantGood},
			{policy.RevocationQuery{Digests: []digest.Digest{good, bad}, Keys: []string{signer.id, compromised.id}}, wantBad},
			{policy.RevocationQuery{Digests: []digest.Digest{good}, Statements: []digest.Digest{kept, withdrawn}}, []string{"statement " + withdrawn.String() + " withdrawn"}},
			{policy.RevocationQuery{Digests: []digest.Digest{good}, Tokens: []string{revokedToken}}, []string{"token " + revokedToken + " withdrawn"}},
		}
		// The live index says the same of every target queried.
		for _, tc := range queries {
			var live []string
			for _, tg := range targetsOf(tc.q) {
				r, err := e.svc.Lookup(ctx, tg)
				if err != nil {
					t.Fatal(err)
				}
				if r != nil && r.Action == revocation.ActionRevoke {
					live = append(live, string(tg.Kind)+" "+tg.ID+" "+string(r.Reason))
				}
			}
			if !slices.Equal(live, tc.want) {
				t.Errorf("live %+v: %v, want %v", tc.q, live, tc.want)
			}
		}

		// The client's cache, from the snapshot a sync fetches.
		listSigner, listPub := listKey(t)
		snap, err := revocation.NewPublisher(e.store, listSigner, time.Hour).Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := verify(t, snap, listPub)
		c, err := revocation.OpenCache(t.TempDir(), 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cached := c.PolicySource()
		if _, err := cached.Revocations(ctx, policy.RevocationQuery{Digests: []digest.Digest{good}}); !errors.Is(err, revocation.ErrNoCache) {
			t.Errorf("empty cache: %v, want ErrNoCache", err)
		}
		if err := c.Apply(v); err != nil {
			t.Fatal(err)
		}
		for _, tc := range queries {
			st, err := cached.Revocations(ctx, tc.q)
			if err != nil || st.ListSeq != uint64(head) || !st.ListTime.Equal(v.Info.Issued) || !slices.Equal(what(st), tc.want) {
				t.Errorf("cache %+v: %+v, %v; want %v at list %d", tc.q, st, err, tc.want, head)
			}
		}

		// Past the list's expiry, or older than the cache's maximum
		// staleness, the cache proves nothing.
		issued := v.Info.Issued
		c.MaxStaleness = 10 * time.Minute
		for _, now := range []time.Time{v.Info.Expires.Add(time.Second), issued.Add(c.MaxStaleness + time.Second)} {
			c.Now = func() time.Time { return now }
			if _, err := cached.Revocations(ctx, policy.RevocationQuery{Digests: []digest.Digest{good}}); !errors.Is(err, policy.ErrStaleEvidence) {
				t.Errorf("cache at %s: %v, want ErrStaleEvidence", now, err)
			}
		}
	})
}

// targetsOf lists the targets of a query in the order the cache answers:
// digests, keys, statements, tokens.
func targetsOf(q policy.RevocationQuery) []revocation.Target {
	var out []revocation.Target
	for _, d := range q.Digests {
		out = append(out, revocation.Target{Kind: revocation.KindDigest, ID: d.String()})
	}
	for _, k := range q.Keys {
		out = append(out, revocation.Target{Kind: revocation.KindKey, ID: k})
	}
	for _, d := range q.Statements {
		out = append(out, revocation.Target{Kind: revocation.KindStatement, ID: d.String()})
	}
	for _, id := range q.Tokens {
		out = append(out, revocation.Target{Kind: revocation.KindToken, ID: id})
	}
	return out
}
