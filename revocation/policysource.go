package revocation

import (
	"context"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/policy"
)

// queryTargets lists the targets of a policy's revocation query, in the
// order digests, keys, statements, tokens.
func queryTargets(q policy.RevocationQuery) []Target {
	var out []Target
	for _, d := range q.Digests {
		out = append(out, Target{Kind: KindDigest, ID: d.String()})
	}
	for _, k := range q.Keys {
		out = append(out, Target{Kind: KindKey, ID: k})
	}
	for _, d := range q.Statements {
		out = append(out, Target{Kind: KindStatement, ID: d.String()})
	}
	for _, id := range q.Tokens {
		out = append(out, Target{Kind: KindToken, ID: id})
	}
	return out
}

func policyRevoked(kind Kind, id string, seq int64, reason Reason, effective time.Time) policy.Revoked {
	return policy.Revoked{Kind: string(kind), ID: id, Seq: uint64(seq), Reason: string(reason), Effective: effective}
}

// PolicySource returns the cache as the revocation evidence of offline
// verification: the cached list's number and issue time (the policy
// judges its age), and the cached revocations of the targets asked about
// (the evaluator applies the time rule). A list past its expiry or older
// than MaxStaleness is stale evidence (policy.ErrStaleEvidence): absence
// from it proves nothing; an empty cache is an error wrapping ErrNoCache
// and policy.ErrNoRevocationState (sync first).
func (c *Cache) PolicySource() policy.RevocationSource { return cacheSource{c} }

type cacheSource struct{ c *Cache }

func (src cacheSource) Revocations(_ context.Context, q policy.RevocationQuery) (policy.RevocationStatus, error) {
	c := src.c
	if !c.has {
		return policy.RevocationStatus{}, fmt.Errorf("revocation: %w in %s (%w): run trustctl revocations sync", ErrNoCache, c.dir, policy.ErrNoRevocationState)
	}
	now := c.Now()
	if now.After(c.state.Expires) {
		return policy.RevocationStatus{}, fmt.Errorf("%w: cached revocation list %d expired %s; run trustctl revocations sync", policy.ErrStaleEvidence, c.state.Number, ts(c.state.Expires))
	}
	if now.Sub(c.state.Issued) > c.MaxStaleness {
		return policy.RevocationStatus{}, fmt.Errorf("%w: cached revocation list %d was issued %s, more than %s ago; run trustctl revocations sync",
			policy.ErrStaleEvidence, c.state.Number, ts(c.state.Issued), c.MaxStaleness)
	}
	st := policy.RevocationStatus{ListSeq: uint64(c.state.Number), ListTime: c.state.Issued}
	for _, t := range queryTargets(q) {
		if e, ok := c.find(t.Key()); ok && e.Action == ActionRevoke {
			st.Revoked = append(st.Revoked, policyRevoked(t.Kind, t.ID, e.Seq, e.Reason, e.Effective))
		}
	}
	return st, nil
}
