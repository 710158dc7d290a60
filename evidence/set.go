package evidence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
)

// Set is a bundle's evidence, indexed for the policy evaluator. NewSet
// trusts the bundle (the server's own, built in process); Verify checks a
// fetched one first.
type Set struct {
	b       *Bundle
	entries map[uint64]Entry
	revs    map[[2]string]Revocation
}

// NewSet indexes b without checking it: for a bundle the server built
// from its own store.
func NewSet(b *Bundle) *Set {
	s := &Set{b: b, entries: make(map[uint64]Entry, len(b.Entries)), revs: make(map[[2]string]Revocation, len(b.Revocations))}
	for _, e := range b.Entries {
		s.entries[e.Seq] = e
	}
	for _, r := range b.Revocations {
		s.revs[[2]string{r.Kind, r.ID}] = r
	}
	return s
}

// Bundle returns the evidence the set indexes.
func (s *Set) Bundle() *Bundle { return s.b }

// Entry returns the log entry seq, if the evidence holds it.
func (s *Set) Entry(seq uint64) (Entry, bool) {
	e, ok := s.entries[seq]
	return e, ok
}

// Revocation returns the revocation state of the target kind:id as the
// evidence reports it; ok is false when the evidence did not check that
// target (then nothing is known about it).
func (s *Set) Revocation(kind, id string) (r Revocation, ok bool) {
	r, ok = s.revs[[2]string{kind, id}]
	return r, ok
}

// has reports whether the server gathered kind k.
func (s *Set) has(k Kind) bool { return slices.Contains(s.b.Kinds, k) }

// SourceOptions configure Sources.
type SourceOptions struct {
	// TUFRoots pins TUF roots by repository: the metadata of those
	// repositories is verified by go-tuf's client workflow from the pinned
	// root (signatures, thresholds, versions, expiry, delegations); other
	// repositories are read as the evidence holds them.
	TUFRoots map[string][]byte
	// Now is the reference time for TUF expiry; nil means time.Now.
	Now func() time.Time
}

// Sources returns the evidence as the policy evaluator's sources, one per
// kind the server gathered; a kind it did not gather has no source, so its
// requirements are undecided (or OFFLINE when evaluating offline).
// Tokens are not evidence the server holds: the caller adds its token
// source.
func (s *Set) Sources(o SourceOptions) policy.Sources {
	var out policy.Sources
	if s.has(KindTUF) {
		out.TUF = tufSource{s: s, o: o}
	}
	if s.has(KindPGP) {
		out.PGP = pgpSource{s}
	}
	if s.has(KindAttestations) {
		out.Attestations = attestationSource{s}
	}
	if s.has(KindRevocations) {
		out.Revocations = revocationSource{s}
	}
	if s.has(KindReputation) {
		out.Reputation = reputationSource{s}
	}
	if s.has(KindEntries) {
		out.Signers = signerSource{s}
	}
	return out
}

// asked reports whether any of ds is one of ds2.
func anyOf(ds, ds2 []digest.Digest) bool {
	for _, d := range ds {
		if slices.Contains(ds2, d) {
			return true
		}
	}
	return false
}

type pgpSource struct{ s *Set }

// PGPSignatures lists the manifest lines naming the bytes, each manifest
// once.
func (p pgpSource) PGPSignatures(_ context.Context, ds []digest.Digest) ([]policy.PGPSignature, error) {
	if pr := p.s.b.PGPProblems; len(pr) > 0 {
		return nil, fmt.Errorf("manifest seq %d: %s", pr[0].Seq, pr[0].Reason)
	}
	var out []policy.PGPSignature
	seen := map[uint64]bool{}
	for _, d := range ds {
		for _, sig := range p.s.b.PGP {
			if sig.Digest != d || seen[sig.Seq] {
				continue
			}
			seen[sig.Seq] = true
			ps := policy.PGPSignature{Name: sig.Name, Signer: sig.Signer, Primary: sig.Primary, Seq: sig.Seq, At: sig.SignedAt}
			if e, ok := p.s.entries[sig.Seq]; ok {
				ps.Input = e.Input()
				ps.Observed = e.RecordedAt
			}
			out = append(out, ps)
		}
	}
	return out, nil
}

// PGPDecide returns the chain decision the evidence holds for the
// signature and root set. The server made it by the one time rule with
// the manifest's observed time (its log entry's recording time), which
// the evidence also carries; a decision made for another observed time is
// not this one.
func (p pgpSource) PGPDecide(_ context.Context, name, signer string, at, observed time.Time, roots []string) (policy.PGPDecision, error) {
	for _, d := range p.s.b.Decisions {
		if d.Name != name || d.Signer != signer || !d.SignedAt.Equal(at) || !slices.Equal(d.Roots, roots) {
			continue
		}
		if !d.Observed.IsZero() && !observed.IsZero() && !d.Observed.Equal(observed) {
			continue
		}
		if d.Error != "" {
			return policy.PGPDecision{}, errors.New(d.Error)
		}
		if !d.Allowed {
			detail := d.Detail
			if d.RefusalSeq != 0 {
				detail += fmt.Sprintf(" (statement seq %d)", d.RefusalSeq)
			}
			return policy.PGPDecision{Refusal: d.Refusal, Detail: detail}, nil
		}
		out := policy.PGPDecision{Allowed: true, Chain: []string{"pinned root " + d.Root}}
		for _, l := range d.Links {
			out.Chain = append(out.Chain, fmt.Sprintf("%s %s → %s (statement seq %d)", l.Kind, l.From, l.To, l.Seq))
			if l.Kind == string(pgp.LinkRotation) {
				if out.Rotations == nil {
					out.Rotations = map[string]uint64{}
				}
				out.Rotations[l.From] = l.Seq
			}
			// The keys the log verified on the link's statement (the
			// revocation state covers them: the builder checks every
			// signer of a relied-on entry), as of its first observation.
			e, ok := p.s.entries[l.Seq]
			if !ok {
				return policy.PGPDecision{}, fmt.Errorf("the chain of %s for %s cites log entry %d, which the evidence does not hold", signer, name, l.Seq)
			}
			for _, k := range e.SignerKeyIDs {
				if out.ChainKeys == nil {
					out.ChainKeys = map[string]time.Time{}
				}
				if at, seen := out.ChainKeys[k]; !seen || e.RecordedAt.Before(at) {
					out.ChainKeys[k] = e.RecordedAt
				}
			}
		}
		return out, nil
	}
	return policy.PGPDecision{}, fmt.Errorf("the evidence holds no chain decision for %s signing %s at %s with roots %v", signer, name, at.UTC().Format(time.RFC3339), roots)
}

type attestationSource struct{ s *Set }

// Attestations lists the unrevoked attestations of predicateType naming
// the bytes, each once. A record of a type the table reserves counts only
// as its path wrote it.
func (a attestationSource) Attestations(_ context.Context, ds []digest.Digest, predicateType string) ([]policy.Attestation, error) {
	if pts := a.s.b.PredicateTypes; len(pts) > 0 && !slices.Contains(pts, predicateType) {
		return nil, fmt.Errorf("the evidence holds no attestations of type %s (not asked for)", predicateType)
	}
	var out []policy.Attestation
	seen := map[uint64]bool{}
	for _, d := range ds {
		for _, at := range a.s.b.Attestations {
			if at.Digest != d || at.PredicateType != predicateType || seen[at.Seq] || at.Revoked != "" {
				continue
			}
			e, ok := a.s.entries[at.Seq]
			if !ok || !recordtype.Genuine(e.PayloadType, e.PredicateType) {
				continue
			}
			seen[at.Seq] = true
			pa := policy.IndexedAttestation(int64(at.Seq), e.EnvelopeDigest(), at.Signers, at.Index)
			pa.Observed = e.RecordedAt // for the time rule of the revocation check
			out = append(out, pa)
		}
	}
	return out, nil
}

type revocationSource struct{ s *Set }

// Revocations returns every revocation (not reinstatement) of the queried
// targets that the evidence holds, with its reason and effective time:
// the evaluator judges them by the one time rule at the times it relied
// on each target, exactly as it judges trustd's live index and the synced
// list. A target the evidence did not check makes the answer an error
// (undecided), never a silent "not revoked".
func (r revocationSource) Revocations(_ context.Context, q policy.RevocationQuery) (policy.RevocationStatus, error) {
	st := policy.RevocationStatus{ListSeq: r.s.b.RevocationHead, ListTime: r.s.b.At}
	check := func(kind, id string) error {
		rv, ok := r.s.Revocation(kind, id)
		if !ok {
			return fmt.Errorf("the evidence does not cover the revocation state of %s %s", kind, id)
		}
		if rv.State != nil && rv.State.Action == ActionRevoke {
			st.Revoked = append(st.Revoked, policy.Revoked{Kind: kind, ID: id, Seq: rv.State.Seq, Reason: rv.State.Reason, Effective: rv.State.Effective})
		}
		return nil
	}
	for _, d := range q.Digests {
		if err := check(TargetDigest, d.String()); err != nil {
			return policy.RevocationStatus{}, err
		}
	}
	for _, k := range q.Keys {
		if err := check(TargetKey, k); err != nil {
			return policy.RevocationStatus{}, err
		}
	}
	for _, d := range q.Statements {
		if err := check(TargetStatement, d.String()); err != nil {
			return policy.RevocationStatus{}, err
		}
	}
	for _, t := range q.Tokens {
		if err := check(TargetToken, t); err != nil {
			return policy.RevocationStatus{}, err
		}
	}
	return st, nil
}

type reputationSource struct{ s *Set }

// Reputation returns the figures the evidence holds for the trust set.
func (r reputationSource) Reputation(_ context.Context, _ []digest.Digest, trustSet []string) (policy.Reputation, error) {
	for _, rep := range r.s.b.Reputation {
		if slices.Equal(rep.TrustSet, trustSet) || (len(rep.TrustSet) == 0 && len(trustSet) == 0) {
			if rep.Error != "" {
				return policy.Reputation{}, errors.New(rep.Error)
			}
			return policy.Reputation{Score: rep.Score, Votes: int(rep.Positive + rep.Negative)}, nil
		}
	}
	return policy.Reputation{}, fmt.Errorf("the evidence holds no reputation over the trust set %v", trustSet)
}

type signerSource struct{ s *Set }

// Signatures lists every signer of every log entry naming the bytes that
// counts by the record-type table, newest first: OpenPGP manifests as
// pgp, Sigstore signer ids as sigstore identities, the rest as keys.
func (g signerSource) Signatures(_ context.Context, ds []digest.Digest) ([]policy.Signature, error) {
	var out []policy.Signature
	for _, e := range slices.Backward(g.s.b.Entries) {
		if !anyOf(e.Digests, ds) || !recordtype.Genuine(e.PayloadType, e.PredicateType) {
			continue
		}
		kind := "key"
		if e.PredicateType == recordtype.PGPManifest {
			kind = "pgp"
		}
		in := e.Input()
		for _, id := range e.SignerKeyIDs {
			if ident, ok := policy.ParseSignerID(id); ok {
				out = append(out, policy.Signature{Kind: "sigstore", Identity: ident, Seq: e.Seq, Input: in, Observed: e.RecordedAt})
				continue
			}
			out = append(out, policy.Signature{Kind: kind, ID: id, Seq: e.Seq, Input: in, Observed: e.RecordedAt})
		}
	}
	return out, nil
}
