package revocation

import (
	"context"
	"encoding/json"
	"errors"
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

// IsPublisher reports whether key k has publisher evidence for any of ds,
// trustd's one definition of "publisher of a digest": revocation authority
// over a digest and the right to respond to votes on it (feedback) both
// rest on it. k is a publisher of d when
//   - it signs the current metadata of a TUF targets role (top-level or
//     delegated) some published version of which listed d: a key rotated
//     out of the role loses it, its successor gains it;
//   - it is the OpenPGP certificate that signed a manifest listing d,
//     published through pgplog;
//   - it is one of Config.AttestationPublishers and signed an attestation
//     naming d.
//
// Only records appended by the path recordtype gives their type count
// (TUF metadata written by tufstore, manifests by pgplog): a record of
// those types that a caller forged, or an older trustd let in, makes
// nobody a publisher. Whether k is revoked is the caller's question.
func (s *Service) IsPublisher(ctx context.Context, k string, ds ...digest.Digest) (bool, error) {
	if k == "" || len(ds) == 0 {
		return false, nil
	}
	for _, d := range ds {
		if ok, err := s.tufPublisher(ctx, d, k); err != nil || ok {
			return ok, err
		}
	}
	if ok, err := s.signedEvidence(ctx, ds, k, pgplog.ManifestPredicateType, recordtype.WrittenByOwner); err != nil || ok {
		return ok, err
	}
	if slices.Contains(s.cfg.AttestationPublishers, k) {
		return s.signedEvidence(ctx, ds, k, "", recordtype.Attestation)
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

// tufPublisher reports whether key k signs the current metadata of a TUF
// targets role some version of which listed d.
func (s *Service) tufPublisher(ctx context.Context, d digest.Digest, k string) (bool, error) {
	seen := map[tufstore.Descriptor]bool{}
	for before := int64(0); ; {
		ev, err := s.store.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{d}, PredicateType: tufstore.PredicateType,
			BeforeSeq: before, Limit: evidencePage})
		if err != nil {
			return false, fmt.Errorf("revocation: digest %s: %w", d, err)
		}
		for _, e := range ev {
			if !recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) {
				continue // not metadata tufstore published: a forged row
			}
			st, err := s.store.Statement(ctx, e.Seq)
			if err != nil {
				return false, fmt.Errorf("revocation: TUF entry %d: %w", e.Seq, err)
			}
			role, err := tufstore.Describe(st)
			if errors.Is(err, tufstore.ErrNotTUF) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("revocation: TUF entry %d: %w", e.Seq, err)
			}
			role.Version = 0
			if seen[role] {
				continue
			}
			seen[role] = true
			cur, err := s.store.TUFMetadata(ctx, role.Repo, role.Role, 0)
			if err != nil {
				return false, fmt.Errorf("revocation: TUF %s %s: %w", role.Repo, role.Role, err)
			}
			var doc struct {
				Signatures []struct {
					KeyID string `json:"keyid"`
				} `json:"signatures"`
			}
			if err := json.Unmarshal(cur, &doc); err != nil {
				return false, fmt.Errorf("revocation: TUF %s %s: %w", role.Repo, role.Role, err)
			}
			for _, sg := range doc.Signatures {
				if sg.KeyID == k {
					return true, nil
				}
			}
		}
		if len(ev) < evidencePage {
			return false, nil
		}
		before = ev[len(ev)-1].Seq
	}
}
