package revocation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestPolicySources: the server's live index and a client's synced cache
// give a deploy policy the same answer about the same digests and keys,
// numbered by the same list; the cache reports its issue time (the policy
// judges its age), refuses to answer when empty or expired, and checks a
// token's targets.
func TestPolicySources(t *testing.T) {
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
				out = append(out, r.What+" "+r.Reason)
			}
			return out
		}
		wantGood := []string(nil)
		wantBad := []string{"digest " + bad.String() + " malicious", "key " + compromised.id + " compromised"}

		live := e.svc.PolicySource()
		for _, tc := range []struct {
			ds         []digest.Digest
			signers    []string
			statements []digest.Digest
			want       []string
		}{
			{[]digest.Digest{good}, []string{signer.id}, []digest.Digest{kept}, wantGood},
			{[]digest.Digest{good, bad}, []string{signer.id, compromised.id}, nil, wantBad},
			{[]digest.Digest{good}, nil, []digest.Digest{kept, withdrawn}, []string{"statement " + withdrawn.String() + " withdrawn"}},
		} {
			st, err := live.Revocations(ctx, tc.ds, tc.signers, tc.statements)
			if err != nil || st.ListSeq != uint64(head) || !slices.Equal(what(st), tc.want) || !st.ListTime.Equal(e.now) {
				t.Errorf("live %v %v: %+v, %v; want %v at list %d", tc.ds, tc.signers, st, err, tc.want, head)
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
		if _, err := cached.Revocations(ctx, []digest.Digest{good}, nil, nil); !errors.Is(err, revocation.ErrNoCache) {
			t.Errorf("empty cache: %v, want ErrNoCache", err)
		}
		if err := c.Apply(v); err != nil {
			t.Fatal(err)
		}
		st, err := cached.Revocations(ctx, []digest.Digest{good, bad}, []string{signer.id, compromised.id}, nil)
		if err != nil || st.ListSeq != uint64(head) || !st.ListTime.Equal(v.Info.Issued) || !slices.Equal(what(st), wantBad) {
			t.Errorf("cache: %+v, %v; want %v at list %d", st, err, wantBad, head)
		}
		if st, err := cached.Revocations(ctx, []digest.Digest{good}, []string{signer.id}, []digest.Digest{kept}); err != nil || len(st.Revoked) != 0 {
			t.Errorf("cache, good: %+v, %v", st, err)
		}
		if st, err := cached.Revocations(ctx, []digest.Digest{good}, nil, []digest.Digest{kept, withdrawn}); err != nil || !slices.Equal(what(st), []string{"statement " + withdrawn.String() + " withdrawn"}) {
			t.Errorf("cache, withdrawn statement: %+v, %v", st, err)
		}
		got, err := c.FirstRevoked([]revocation.CheckTarget{{Kind: revocation.KindKey, ID: signer.id}, {Kind: revocation.KindToken, ID: "sha256:" + good.Hex()}})
		if err != nil || !strings.Contains(got, "token sha256:"+good.Hex()+": revoked (withdrawn)") {
			t.Errorf("FirstRevoked(token) = %q, %v", got, err)
		}
		if got, err := c.FirstRevoked([]revocation.CheckTarget{{Kind: revocation.KindKey, ID: signer.id}, {Kind: revocation.KindDigest, ID: good.String()}}); err != nil || got != "" {
			t.Errorf("FirstRevoked(nothing revoked) = %q, %v", got, err)
		}

		// Past the list's expiry the cache proves nothing.
		c.Now = func() time.Time { return v.Info.Expires.Add(time.Second) }
		if _, err := cached.Revocations(ctx, []digest.Digest{good}, nil, nil); !errors.Is(err, policy.ErrStaleEvidence) {
			t.Errorf("expired cache: %v, want ErrStaleEvidence", err)
		}
		if _, err := c.FirstRevoked([]revocation.CheckTarget{{Kind: revocation.KindDigest, ID: good.String()}}); !errors.Is(err, revocation.ErrStale) {
			t.Errorf("expired cache, token check: %v, want ErrStale", err)
		}
	})
}
