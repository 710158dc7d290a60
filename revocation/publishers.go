package revocation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// evidencePage bounds the log entries read per query to find who
// published a digest.
const evidencePage = 100

// IsPublisher reports whether key k is a publisher of any of ds, trustd's
// one definition of "publisher of a digest": revocation authority over a
// digest and the right to respond to votes on it (feedback) both rest on
// it. The publisher of d is whoever published it first in this log:
//   - when the first publication is TUF targets metadata (of a top-level or
//     delegated targets role) listing d, the keys signing that role's
//     current metadata: a key rotated out of the role loses it, its
//     successor gains it;
//   - when it is an OpenPGP manifest listing d, published through pgplog,
//     the certificate that signed it.
//
// Anyone may list bytes they did not make, in a TUF repository or a
// manifest of their own; listed after the first publication they make
// that key a mirror of d, not its publisher, with no say over a release
// that is not theirs. Besides, one of Config.AttestationPublishers is a
// publisher of every digest it attested, whenever: the operator named it.
//
// Only records appended by the path recordtype gives their type count
// (TUF metadata written by tufstore, manifests by pgplog): a record of
// those types that a caller forged, or an older trustd let in, publishes
// nothing. Whether k is revoked is the caller's question.
func (s *Service) IsPublisher(ctx context.Context, k string, ds ...digest.Digest) (bool, error) {
	if k == "" || len(ds) == 0 {
		return false, nil
	}
	if slices.Contains(s.cfg.AttestationPublishers, k) {
		if ok, err := s.signedEvidence(ctx, ds, k, "", recordtype.Attestation); err != nil || ok {
			return ok, err
		}
	}
	for _, d := range ds {
		p, err := s.firstPublication(ctx, d)
		if err != nil {
			return false, err
		}
		if ok, err := s.publishes(ctx, p, k); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// publication is the first record in the log that published a digest.
type publication struct {
	// entry is the evidence row of the record (nil: never published).
	entry *store.Evidence
	// role is the TUF role whose metadata it is (version 0), when TUF.
	role *tufstore.Descriptor
}

// firstPublication finds the first publication of d: the earliest of the
// TUF targets metadata tufstore published listing d, the OpenPGP
// manifests pgplog published listing d and the attestations of d by a
// configured attestation publisher.
func (s *Service) firstPublication(ctx context.Context, d digest.Digest) (publication, error) {
	ds := []digest.Digest{d}
	byOwner := func(e store.Evidence) bool { return recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) }
	first, err := s.earliest(ctx, store.EvidenceQuery{Digests: ds, PredicateType: tufstore.PredicateType}, byOwner)
	if err != nil {
		return publication{}, err
	}
	candidates := []*store.Evidence{first}
	manifest, err := s.earliest(ctx, store.EvidenceQuery{Digests: ds, PredicateType: pgplog.ManifestPredicateType},
		func(e store.Evidence) bool { return byOwner(e) && len(e.SignerKeyIDs) == 1 })
	if err != nil {
		return publication{}, err
	}
	candidates = append(candidates, manifest)
	for _, k := range s.cfg.AttestationPublishers {
		att, err := s.earliest(ctx, store.EvidenceQuery{Digests: ds, SignerKeyID: k},
			func(e store.Evidence) bool { return recordtype.Attestation(e.PayloadType, e.PredicateType) })
		if err != nil {
			return publication{}, err
		}
		candidates = append(candidates, att)
	}
	var p publication
	for _, c := range candidates {
		if c != nil && (p.entry == nil || c.Seq < p.entry.Seq) {
			p.entry = c
		}
	}
	if p.entry == nil || p.entry != first {
		return p, nil
	}
	st, err := s.store.Statement(ctx, first.Seq)
	if err != nil {
		return publication{}, fmt.Errorf("revocation: TUF entry %d: %w", first.Seq, err)
	}
	role, err := tufstore.Describe(st)
	if err != nil {
		return publication{}, fmt.Errorf("revocation: TUF entry %d: %w", first.Seq, err)
	}
	role.Version = 0
	p.role = &role
	return p, nil
}

// earliest returns the oldest evidence row q finds that counts, nil if
// none does.
func (s *Service) earliest(ctx context.Context, q store.EvidenceQuery, counts func(store.Evidence) bool) (*store.Evidence, error) {
	var found *store.Evidence
	q.Limit = evidencePage
	for {
		ev, err := s.store.Evidence(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("revocation: publication of %s: %w", q.Digests[0], err)
		}
		for i := range ev {
			if counts(ev[i]) && (found == nil || ev[i].Seq < found.Seq) {
				found = &ev[i]
			}
		}
		if len(ev) < evidencePage {
			return found, nil
		}
		q.BeforeSeq = ev[len(ev)-1].Seq
	}
}

// publishes reports whether key k is the publisher p names: a key signing
// the current metadata of its TUF role, or its manifest's signer. (A
// first publication by an attestation publisher names nobody else.)
func (s *Service) publishes(ctx context.Context, p publication, k string) (bool, error) {
	switch {
	case p.entry == nil:
		return false, nil
	case p.role == nil:
		return p.entry.PredicateType == pgplog.ManifestPredicateType && p.entry.SignerKeyIDs[0] == k, nil
	}
	cur, err := s.store.TUFMetadata(ctx, p.role.Repo, p.role.Role, 0)
	if err != nil {
		return false, fmt.Errorf("revocation: TUF %s %s: %w", p.role.Repo, p.role.Role, err)
	}
	var doc struct {
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(cur, &doc); err != nil {
		return false, fmt.Errorf("revocation: TUF %s %s: %w", p.role.Repo, p.role.Role, err)
	}
	for _, sg := range doc.Signatures {
		if sg.KeyID == k {
			return true, nil
		}
	}
	return false, nil
}

// signedEvidence reports whether k signed a log entry naming any of ds
// (of predicateType, when set) that counts by its types.
func (s *Service) signedEvidence(ctx context.Context, ds []digest.Digest, k, predicateType string, counts func(payloadType, predicateType string) bool) (bool, error) {
	for before := int64(0); ; {
		ev, err := s.store.Evidence(ctx, store.EvidenceQuery{Digests: ds, PredicateType: predicateType, SignerKeyID: k,
			BeforeSeq: before, Limit: evidencePage})
		if err != nil {
			return false, fmt.Errorf("revocation: publisher of %s: %w", ds[0], err)
		}
		for _, e := range ev {
			if counts(e.PayloadType, e.PredicateType) {
				return true, nil
			}
		}
		if len(ev) < evidencePage {
			return false, nil
		}
		before = ev[len(ev)-1].Seq
	}
}
