package revocation

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
)

// PolicySource returns s as the revocation evidence of deploy policies
// (trustd's IssueToken): the live revocation index, numbered by its newest
// event, which is the number of the revocation list a client syncing now
// gets; a token records it. A signer key counts as revoked when a
// revocation of it is in force now, including OpenPGP revocation
// certificates and rotations (KeyRevoked).
func (s *Service) PolicySource() policy.RevocationSource { return serviceSource{s} }

type serviceSource struct{ s *Service }

func (src serviceSource) Revocations(ctx context.Context, ds []digest.Digest, signers []string, statements []digest.Digest) (policy.RevocationStatus, error) {
	s := src.s
	head, err := s.store.RevocationHead(ctx)
	if err != nil {
		return policy.RevocationStatus{}, fmt.Errorf("revocation: head: %w", err)
	}
	now := s.cfg.Now()
	st := policy.RevocationStatus{ListSeq: uint64(head), ListTime: now}
	for _, d := range ds {
		r, err := s.DigestRevoked(ctx, d)
		if err != nil {
			return policy.RevocationStatus{}, err
		}
		if r != nil {
			st.Revoked = append(st.Revoked, policy.Revoked{What: "digest " + d.String(), Seq: uint64(r.Seq), Reason: string(r.Reason)})
		}
	}
	for _, k := range signers {
		r, err := s.KeyRevoked(ctx, k, now)
		if err != nil {
			return policy.RevocationStatus{}, err
		}
		if r != nil && r.Voids(now) {
			st.Revoked = append(st.Revoked, policy.Revoked{What: "key " + k, Seq: uint64(r.Seq), Reason: string(r.Reason)})
		}
	}
	for _, d := range statements {
		r, err := s.lookup(ctx, Target{Kind: KindStatement, ID: d.String()})
		if err != nil {
			return policy.RevocationStatus{}, err
		}
		if r != nil && r.Voids(now) {
			st.Revoked = append(st.Revoked, policy.Revoked{What: "statement " + d.String(), Seq: uint64(r.Seq), Reason: string(r.Reason)})
		}
	}
	return st, nil
}

// PolicySource returns the cache as the revocation evidence of offline
// verification: the cached list's number and issue time (the policy
// judges its age), and the cached revocations in force now of the digests
// and signer keys. A list past its expiry is stale evidence
// (policy.ErrStaleEvidence); an empty cache is an error (sync first).
func (c *Cache) PolicySource() policy.RevocationSource { return cacheSource{c} }

type cacheSource struct{ c *Cache }

func (src cacheSource) Revocations(_ context.Context, ds []digest.Digest, signers []string, statements []digest.Digest) (policy.RevocationStatus, error) {
	c := src.c
	if !c.has {
		return policy.RevocationStatus{}, fmt.Errorf("revocation: %w in %s: run trustctl revocations sync", ErrNoCache, c.dir)
	}
	now := c.Now()
	if now.After(c.state.Expires) {
		return policy.RevocationStatus{}, fmt.Errorf("%w: cached revocation list %d expired %s", policy.ErrStaleEvidence, c.state.Number, ts(c.state.Expires))
	}
	st := policy.RevocationStatus{ListSeq: uint64(c.state.Number), ListTime: c.state.Issued}
	add := func(kind Kind, id string) {
		if e, ok := c.find(TargetKey(kind, id)); ok && e.Voids(now) {
			st.Revoked = append(st.Revoked, policy.Revoked{What: string(kind) + " " + id, Seq: uint64(e.Seq), Reason: string(e.Reason)})
		}
	}
	for _, d := range ds {
		add(KindDigest, d.String())
	}
	for _, k := range signers {
		add(KindKey, k)
	}
	for _, d := range statements {
		add(KindStatement, d.String())
	}
	return st, nil
}

// CheckTarget is one thing a token check asks the cache about.
type CheckTarget struct {
	Kind Kind
	ID   string
}

// FirstRevoked returns the first of targets the cache holds a revocation
// in force now for, as "KIND ID: revoked (REASON) …, log entry N", or ""
// when none is revoked. Errors: ErrNoCache, ErrStale when the cached list
// is older than MaxStaleness or expired (absence proves nothing then).
func (c *Cache) FirstRevoked(targets []CheckTarget) (string, error) {
	now := c.Now()
	for _, t := range targets {
		e, err := c.Check(t.Kind, t.ID)
		if err != nil {
			return "", err
		}
		if e != nil && e.Voids(now) {
			return fmt.Sprintf("%s %s: revoked (%s) effective %s by %s, log entry %d", t.Kind, t.ID, e.Reason, ts(e.Effective), e.Revoker, e.Seq), nil
		}
	}
	return "", nil
}
