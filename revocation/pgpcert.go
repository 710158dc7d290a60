package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// PGPReason maps an OpenPGP revocation's reason code onto the reasons of
// revocation statements, keeping its strength (timerule.Hard): key
// superseded (1) is superseded and key retired (3) retired, both soft;
// key compromised (2) is compromised; no reason, user id no longer valid
// and any unknown code are other, which is hard.
func PGPReason(r pgp.Revocation) Reason {
	if !r.HasReason {
		return ReasonOther
	}
	switch r.Reason {
	case pgp.ReasonSuperseded:
		return ReasonSuperseded
	case pgp.ReasonRetired:
		return ReasonRetired
	case pgp.ReasonCompromised:
		return ReasonCompromised
	}
	return ReasonOther
}

// indexPGP is the Indexer of OpenPGP revocation certificates (pgplog's
// recordtype.PGPRevocation records): the certificate is verified again,
// inside the append's transaction, against the registered certificate that
// the entry names as its signer, and recorded in the one revocation index
// as a revocation of the revoked key (the primary key, or the subkey a
// subkey revocation names) for its reason (PGPReason), effective at the
// revocation signature's creation time, by that certificate, under the
// entry's log sequence number. From then on revocations lookup and list,
// the signed offline lists, policies and tokens see it like any
// revocation statement.
func (s *Service) indexPGP(ctx context.Context, w store.Writer, entry store.Statement) error {
	rev, err := verifyPGPEntry(ctx, w, entry)
	if err != nil {
		return fmt.Errorf("revocation: index OpenPGP revocation %d: %w", entry.Seq, err)
	}
	primary := entry.SignerKeyIDs[0]
	return put(ctx, w, Record{Target: Target{Kind: KindKey, ID: rev.Fingerprint}, Action: ActionRevoke, Reason: PGPReason(rev),
		Effective: rev.Created.UTC(), Revokers: []string{primary}, Seq: entry.Seq, RecordedAt: entry.RecordedAt})
}

// indexRotation is the Indexer of OpenPGP rotations
// (pgp.RotationPredicateType, signed by both keys, and the key transition
// statements pgplog imports, recordtype.PGPTransition): once the chain
// verifier counts the rotation (its facts compiled inside the append's
// transaction, so the rotation's own signatures are judged as every chain
// decision judges them), the old key is recorded in the one revocation
// index as superseded from the rotation's effective time, by the keys that
// signed it, under the entry's log sequence number. A rotation the
// verifier does not count (a signature by a key already revoked, say)
// supersedes nothing and indexes nothing.
func (s *Service) indexRotation(ctx context.Context, w store.Writer, entry store.Statement) error {
	var rot pgp.Rotation
	if entry.PredicateType == recordtype.PGPTransition {
		// A clearsigned key transition statement pgplog imported; the
		// graph below verifies its signatures as a rotation fact.
		if !recordtype.WrittenByOwner(entry.PayloadType, entry.PredicateType) {
			return nil
		}
		r, err := pgp.ParseTransitionRecord(entry.Envelope)
		if err != nil {
			return fmt.Errorf("revocation: index key transition %d: %w", entry.Seq, err)
		}
		rot = r
	} else {
		st, err := envelope.ParseStatement(entry.PayloadType, entry.Payload, envelope.DefaultLimits())
		if err != nil {
			return fmt.Errorf("revocation: index rotation %d: %w", entry.Seq, err)
		}
		if rot, err = pgp.ParseRotation(st.Predicate); err != nil {
			return fmt.Errorf("revocation: index rotation %d: %w", entry.Seq, err)
		}
	}
	g, err := pgplog.New(w, nil).Graph(ctx)
	if err != nil {
		return fmt.Errorf("revocation: index rotation %d: %w", entry.Seq, err)
	}
	status, err := g.Status(rot.Old, rot.Effective)
	if err != nil || status.State != pgp.StateSuperseded || status.SupersededBy != rot.New {
		return nil // not a supersession the chain verifier counts
	}
	return put(ctx, w, Record{Target: Target{Kind: KindKey, ID: rot.Old}, Action: ActionRevoke, Reason: ReasonSuperseded,
		Effective: rot.Effective.UTC(), Revokers: entry.SignerKeyIDs, Seq: entry.Seq, RecordedAt: entry.RecordedAt})
}

// verifyPGPEntry checks a logged OpenPGP revocation certificate: written
// by pgplog's path, signed by one registered certificate, verifying
// against it.
func verifyPGPEntry(ctx context.Context, r store.Reader, entry store.Statement) (pgp.Revocation, error) {
	if !recordtype.Genuine(entry.PayloadType, entry.PredicateType) {
		return pgp.Revocation{}, fmt.Errorf("%w: payload type %s is not the one pgplog writes", ErrInvalid, entry.PayloadType)
	}
	if len(entry.SignerKeyIDs) != 1 {
		return pgp.Revocation{}, fmt.Errorf("%w: %d signers, want the revoked certificate alone", ErrInvalid, len(entry.SignerKeyIDs))
	}
	var rec pgplog.RevocationRecord
	if err := json.Unmarshal(entry.Envelope, &rec); err != nil {
		return pgp.Revocation{}, fmt.Errorf("%w: not a revocation record: %w", ErrInvalid, err)
	}
	primary := entry.SignerKeyIDs[0]
	k, err := r.Key(ctx, primary)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.Type != pgp.KeyType) {
		return pgp.Revocation{}, fmt.Errorf("%w: certificate %s is not registered", ErrInvalid, primary)
	}
	if err != nil {
		return pgp.Revocation{}, fmt.Errorf("certificate %s: %w", primary, err)
	}
	cert, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return pgp.Revocation{}, fmt.Errorf("stored certificate %s: %w", primary, err)
	}
	rev, err := pgp.VerifyRevocation(cert, rec.Revocation)
	if err != nil {
		return pgp.Revocation{}, err
	}
	return rev, nil
}

// put records event in the index and sets its target's current state
// (Merge), in the transaction w.
func put(ctx context.Context, w store.Writer, ev Record) error {
	if ev.RecordedAt.IsZero() {
		ev.RecordedAt = time.Now().UTC()
	}
	key := ev.Target.Key()
	var cur *Record
	switch got, err := w.Revocation(ctx, key[:]); {
	case err == nil:
		r := fromStore(got)
		cur = &r
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("revocation: index %d: %w", ev.Seq, err)
	}
	if err := w.PutRevocation(ctx, ev.toStore(), Merge(cur, ev).toStore()); err != nil {
		return fmt.Errorf("revocation: index %d: %w", ev.Seq, err)
	}
	return nil
}

// IndexLoggedOpenPGP brings the revocation index up to date with the
// OpenPGP revocation certificates and rotations in the log: each one
// logged before this trustd indexed them (an older database) is indexed
// now, in log order, in one transaction each; one already indexed is left
// alone. It returns how many it indexed. trustd runs it at start, so
// lookups, lists and policies never miss a revocation an older version
// logged. (An offline cache that synced deltas before the upgrade gets
// them with its next snapshot: a delta covers newer log entries only.)
func (s *Service) IndexLoggedOpenPGP(ctx context.Context, st store.Store) (int, error) {
	n := 0
	for _, source := range []struct {
		predicateType string
		index         func(context.Context, store.Writer, store.Statement) error
	}{
		{recordtype.PGPRevocation, s.indexPGP},
		{pgp.RotationPredicateType, s.indexRotation},
		{recordtype.PGPTransition, s.indexRotation},
	} {
		for after := int64(0); ; {
			entries, err := st.StatementsByPredicate(ctx, source.predicateType, after, evidencePage)
			if err != nil {
				return n, fmt.Errorf("revocation: %s: %w", source.predicateType, err)
			}
			for _, e := range entries {
				after = e.Seq
				if !recordtype.Genuine(e.PayloadType, e.PredicateType) {
					continue // a forged row of an older database: no revocation
				}
				evs, err := st.RevocationEvents(ctx, e.Seq-1, e.Seq, 1)
				if err != nil {
					return n, fmt.Errorf("revocation: %s %d: %w", source.predicateType, e.Seq, err)
				}
				if len(evs) > 0 {
					continue
				}
				indexed := false
				err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
					before, err := w.RevocationHead(ctx)
					if err != nil {
						return err
					}
					if err := source.index(ctx, w, e); err != nil {
						return err
					}
					after, err := w.RevocationHead(ctx)
					indexed = after != before
					return err
				})
				if err != nil {
					return n, err
				}
				if indexed {
					n++
				}
			}
			if len(entries) < evidencePage {
				break
			}
		}
	}
	return n, nil
}

// KeyStatus is OpenPGP key fpr's state at now as key show tells it, read
// from the one revocation state: the certificate's own state (its
// revocation certificates, expiry and rotations, from the log through
// Config.PGP), or revoked when the index holds a revocation of the key in
// force at now that the certificate's state does not show (a revocation
// statement: trustctl revoke key FPR). Without Config.PGP it is valid
// unless the index revokes the key.
func (s *Service) KeyStatus(ctx context.Context, fpr string, now time.Time) (pgp.Status, error) {
	st := pgp.Status{State: pgp.StateValid}
	if s.cfg.PGP != nil {
		var err error
		if st, err = s.cfg.PGP.Status(ctx, fpr, now); err != nil {
			return pgp.Status{}, err
		}
	}
	if st.State == pgp.StateRevoked {
		return st, nil
	}
	r, err := s.lookup(ctx, Target{Kind: KindKey, ID: fpr})
	if err != nil || r == nil || !r.InForce(now) {
		return st, err
	}
	text := fmt.Sprintf("%s, by revocation statement log entry %d", r.Reason, r.Seq)
	if len(r.Revokers) > 0 {
		text += " signed by " + strings.Join(r.Revokers, ", ")
	}
	rev := &pgp.Revocation{Fingerprint: fpr, Text: text, Created: r.Effective, Hard: r.Reason.Hard()}
	switch r.Reason {
	case ReasonSuperseded:
		rev.Reason, rev.HasReason = pgp.ReasonSuperseded, true
	case ReasonRetired:
		rev.Reason, rev.HasReason = pgp.ReasonRetired, true
	case ReasonCompromised:
		rev.Reason, rev.HasReason = pgp.ReasonCompromised, true
	}
	return pgp.Status{State: pgp.StateRevoked, Since: r.Effective, Revocation: rev}, nil
}
