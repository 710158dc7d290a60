package pgplog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
)

// factsPage is how many keys or log entries one store read returns while
// assembling facts.
const factsPage = 500

// StatementID is the fact ID of the log entry with sequence number seq, as
// chain links and refusals name it.
func StatementID(seq int64) string { return strconv.FormatInt(seq, 10) }

// Facts assembles everything pgp.Decide judges by: every registered
// OpenPGP certificate, and every delegation, rotation (DSSE rotation
// statements and imported key transition statements alike) and revocation
// in the log, each with its log sequence number as ID and its recorded time as
// observed time. A logged statement whose signatures no longer verify
// against the registered certificates is kept without them, so the chain
// verifier refuses it as unsigned rather than ignoring it.
func (s *Service) Facts(ctx context.Context) (pgp.Facts, error) {
	var f pgp.Facts
	certs := map[string]*pgp.Certificate{}
	for after := ""; ; {
		ks, err := s.store.Keys(ctx, after, factsPage)
		if err != nil {
			return pgp.Facts{}, fmt.Errorf("pgplog: facts: keys: %w", err)
		}
		for _, k := range ks {
			if k.Type != pgp.KeyType {
				continue
			}
			c, err := pgp.ParseCertificate(k.PublicKey)
			if err != nil {
				return pgp.Facts{}, fmt.Errorf("pgplog: facts: stored certificate %s: %w", k.ID, err)
			}
			certs[c.Fingerprint] = c
			f.Certificates = append(f.Certificates, c)
		}
		if len(ks) < factsPage {
			break
		}
		after = ks[len(ks)-1].ID
	}
	lookup := func(fpr string) (*pgp.Certificate, bool) { c, ok := certs[fpr]; return c, ok }

	err := s.each(ctx, pgp.DelegationPredicateType, func(st store.Statement) error {
		pred, sigs, err := statementFact(st, lookup)
		if err != nil {
			return err
		}
		d, err := pgp.ParseDelegation(pred)
		if err != nil {
			return fmt.Errorf("pgplog: facts: delegation %d: %w", st.Seq, err)
		}
		fact := pgp.DelegationFact{Delegation: d, ID: StatementID(st.Seq), Observed: st.RecordedAt}
		for _, si := range sigs {
			if si.Primary == d.Delegator {
				fact.Signature = si
			}
		}
		f.Delegations = append(f.Delegations, fact)
		return nil
	})
	if err != nil {
		return pgp.Facts{}, err
	}
	err = s.each(ctx, pgp.RotationPredicateType, func(st store.Statement) error {
		pred, sigs, err := statementFact(st, lookup)
		if err != nil {
			return err
		}
		r, err := pgp.ParseRotation(pred)
		if err != nil {
			return fmt.Errorf("pgplog: facts: rotation %d: %w", st.Seq, err)
		}
		f.Rotations = append(f.Rotations, pgp.RotationFact{Rotation: r, ID: StatementID(st.Seq), Signatures: sigs, Observed: st.RecordedAt})
		return nil
	})
	if err != nil {
		return pgp.Facts{}, err
	}
	err = s.each(ctx, TransitionPredicateType, func(st store.Statement) error {
		fact, err := transitionFact(st, lookup)
		if err != nil {
			return err
		}
		f.Rotations = append(f.Rotations, fact)
		return nil
	})
	if err != nil {
		return pgp.Facts{}, err
	}
	err = s.each(ctx, RevocationPredicateType, func(st store.Statement) error {
		var rec RevocationRecord
		if err := json.Unmarshal(st.Envelope, &rec); err != nil {
			return fmt.Errorf("pgplog: facts: revocation %d: stored record: %w", st.Seq, err)
		}
		if len(st.SignerKeyIDs) != 1 {
			return fmt.Errorf("pgplog: facts: revocation %d: stored with %d signers, want 1", st.Seq, len(st.SignerKeyIDs))
		}
		c, ok := certs[st.SignerKeyIDs[0]]
		if !ok {
			return fmt.Errorf("pgplog: facts: revocation %d: certificate %s is not registered", st.Seq, st.SignerKeyIDs[0])
		}
		r, err := pgp.VerifyRevocation(c, rec.Revocation)
		if err != nil {
			return fmt.Errorf("pgplog: facts: revocation %d: %w", st.Seq, err)
		}
		f.Revocations = append(f.Revocations, pgp.RevocationFact{Revocation: r, ID: StatementID(st.Seq), Observed: st.RecordedAt})
		return nil
	})
	if err != nil {
		return pgp.Facts{}, err
	}
	return f, nil
}

// Graph returns the compiled current facts (see Facts). The compiled graph
// is kept until the log grows or another OpenPGP key is registered, so a
// decision costs two counts and the graph walk rather than a rebuild.
func (s *Service) Graph(ctx context.Context) (*pgp.Graph, error) {
	size, err := s.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgplog: facts: %w", err)
	}
	keys, err := s.store.KeyCount(ctx, pgp.KeyType)
	if err != nil {
		return nil, fmt.Errorf("pgplog: facts: %w", err)
	}
	at := [2]int64{int64(size), keys}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.graph != nil && s.graphAt == at {
		return s.graph, nil
	}
	f, err := s.Facts(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := s.indexedRevocations(ctx, f.Certificates)
	if err != nil {
		return nil, err
	}
	f.Revocations = append(f.Revocations, idx...)
	g, err := pgp.Compile(f)
	if err != nil {
		return nil, fmt.Errorf("pgplog: compile facts: %w", err)
	}
	s.graph, s.graphAt = g, at
	return g, nil
}

// Reachable returns roots and the primary keys the log's valid
// delegations and rotations reach from them, at most max (pgp.Graph.Reachable):
// the certificates whose manifests a decision against roots may allow.
func (s *Service) Reachable(ctx context.Context, roots []string, max int) ([]string, error) {
	g, err := s.Graph(ctx)
	if err != nil {
		return nil, err
	}
	return g.Reachable(roots, max), nil
}

// Status is a registered OpenPGP key's state at a time, counting the
// certificate's own revocations and expiry and the revocations and
// rotations in the log.
func (s *Service) Status(ctx context.Context, fingerprint string, at time.Time) (pgp.Status, error) {
	g, err := s.Graph(ctx)
	if err != nil {
		return pgp.Status{}, err
	}
	st, err := g.Status(fingerprint, at)
	if err != nil {
		return pgp.Status{}, fmt.Errorf("pgplog: status of %s: %w", fingerprint, err)
	}
	return st, nil
}

// each calls fn for every log entry of a predicate type that reached the
// log by the path recordtype gives the type (delegations and rotations
// through Submit, revocation certificates through Revoke), oldest first.
// A forged row of the type (one an older trustd let in by another path)
// is skipped: it is neither a fact nor a reason to fail every decision.
func (s *Service) each(ctx context.Context, predicateType string, fn func(store.Statement) error) error {
	for after := int64(0); ; {
		sts, err := s.store.StatementsByPredicate(ctx, predicateType, after, factsPage)
		if err != nil {
			return fmt.Errorf("pgplog: facts: %s: %w", predicateType, err)
		}
		for _, st := range sts {
			if !recordtype.Genuine(st.PayloadType, st.PredicateType) {
				continue
			}
			if err := fn(st); err != nil {
				return err
			}
		}
		if len(sts) < factsPage {
			return nil
		}
		after = sts[len(sts)-1].Seq
	}
}

// statementFact decodes a logged DSSE statement: its predicate and the
// OpenPGP signatures on it that verify (none when any fails).
func statementFact(st store.Statement, certs func(string) (*pgp.Certificate, bool)) (json.RawMessage, []pgp.SignatureInfo, error) {
	var env dsse.Envelope
	if err := json.Unmarshal(st.Envelope, &env); err != nil {
		return nil, nil, fmt.Errorf("pgplog: facts: statement %d: stored envelope: %w", st.Seq, err)
	}
	parsed, err := envelope.ParseStatement(st.PayloadType, st.Payload, envelope.DefaultLimits())
	if err != nil {
		return nil, nil, fmt.Errorf("pgplog: facts: statement %d: %w", st.Seq, err)
	}
	sigs, err := pgp.VerifyEnvelope(&env, certs)
	if err != nil {
		sigs = nil
	}
	return parsed.Predicate, sigs, nil
}

// indexedRevocations returns, as revocation facts, the revocations in
// force or scheduled in trustd's one revocation index of the registered
// OpenPGP keys that came from revocation statements (trustctl revoke key
// FPR): the chain decisions count them like the key holder's own
// revocation certificates, so a key the security authority revoked as
// compromised cannot sign, delegate or rotate its authority away. (The
// index's records of OpenPGP revocation certificates and rotations are
// facts already.)
func (s *Service) indexedRevocations(ctx context.Context, certs []*pgp.Certificate) ([]pgp.RevocationFact, error) {
	registered := map[string]bool{}
	for _, c := range certs {
		registered[c.Fingerprint] = true
	}
	var out []pgp.RevocationFact
	for after := ""; ; {
		recs, err := s.store.RevocationsOfKind(ctx, "key", after, factsPage)
		if err != nil {
			return nil, fmt.Errorf("pgplog: facts: key revocations: %w", err)
		}
		for _, r := range recs {
			if !registered[r.TargetID] || r.Action != "revoke" {
				continue
			}
			st, err := s.store.Statement(ctx, r.Seq)
			if err != nil {
				return nil, fmt.Errorf("pgplog: facts: key revocation %d: %w", r.Seq, err)
			}
			if st.PredicateType != recordtype.Revocation || !recordtype.Genuine(st.PayloadType, st.PredicateType) {
				continue
			}
			rev := pgp.Revocation{Fingerprint: r.TargetID, Primary: r.TargetID, Text: "revocation statement: " + r.Reason,
				Created: r.Effective, Hard: timerule.Hard(r.Reason), Verified: true}
			switch r.Reason {
			case timerule.Superseded:
				rev.Reason, rev.HasReason = pgp.ReasonSuperseded, true
			case timerule.Retired:
				rev.Reason, rev.HasReason = pgp.ReasonRetired, true
			case "compromised":
				rev.Reason, rev.HasReason = pgp.ReasonCompromised, true
			}
			out = append(out, pgp.RevocationFact{Revocation: rev, ID: StatementID(r.Seq), Observed: r.RecordedAt})
		}
		if len(recs) < factsPage {
			return out, nil
		}
		after = recs[len(recs)-1].TargetID
	}
}
