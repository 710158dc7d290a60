package revocation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/store"
)

// Record is a target's revocation: who (Revokers), why (Reason), from when
// (Effective), and the log entry (Seq) that says so. As an event it is one
// revocation statement; as a state, the merge of a target's events.
type Record struct {
	Target     Target
	Action     Action
	Reason     Reason
	Effective  time.Time
	Revokers   []string
	Seq        int64
	RecordedAt time.Time
}

// Voids reports whether r makes something signed (or used) at time at stop
// counting: a revocation for a retroactive reason voids everything, any
// other from its effective time on; a reinstatement voids nothing.
func (r Record) Voids(at time.Time) bool {
	return r.Action == ActionRevoke && (r.Reason.Retroactive() || !at.Before(r.Effective))
}

// String renders r in one line: "revoked (compromised) by KEY effective T, log entry N".
func (r Record) String() string {
	verb := "revoked"
	if r.Action == ActionReinstate {
		verb = "reinstated"
	}
	s := fmt.Sprintf("%s %s (%s) effective %s", r.Target, verb, r.Reason, r.Effective.UTC().Format(time.RFC3339))
	if len(r.Revokers) > 0 {
		s += fmt.Sprintf(" by %v", r.Revokers)
	}
	if r.Seq > 0 {
		s += fmt.Sprintf(", log entry %d", r.Seq)
	}
	return s
}

// Merge returns a target's state after event, given its state cur (nil
// when it has none). A reinstatement replaces any state. A revocation
// replaces no state or a reinstatement; over a revocation it wins only if
// it is stronger (retroactive over not, else an earlier effective time),
// so revoking twice is idempotent. The server's index and the offline
// cache apply events with this one function, which is why a delta applied
// to a snapshot equals the next full snapshot.
func Merge(cur *Record, event Record) Record {
	if cur == nil || cur.Action != ActionRevoke || event.Action == ActionReinstate {
		return event
	}
	switch {
	case event.Reason.Retroactive() && !cur.Reason.Retroactive():
		return event
	case cur.Reason.Retroactive() && !event.Reason.Retroactive():
		return *cur
	case event.Effective.Before(cur.Effective):
		return event
	}
	return *cur
}

func (r Record) toStore() store.RevocationRecord {
	k := r.Target.Key()
	return store.RevocationRecord{TargetKey: k[:], Kind: string(r.Target.Kind), TargetID: r.Target.ID, Action: string(r.Action),
		Reason: string(r.Reason), Effective: r.Effective, Revokers: r.Revokers, Seq: r.Seq, RecordedAt: r.RecordedAt}
}

func fromStore(r store.RevocationRecord) Record {
	return Record{Target: Target{Kind: Kind(r.Kind), ID: r.TargetID}, Action: Action(r.Action), Reason: Reason(r.Reason),
		Effective: r.Effective, Revokers: r.Revokers, Seq: r.Seq, RecordedAt: r.RecordedAt}
}

// lookup returns t's current state, or nil when it was never revoked.
func (s *Service) lookup(ctx context.Context, t Target) (*Record, error) {
	k := t.Key()
	got, err := s.store.Revocation(ctx, k[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revocation: %s: %w", t, err)
	}
	r := fromStore(got)
	return &r, nil
}

// Lookup returns the current state of t (revoked or reinstated), or nil
// when it was never revoked.
func (s *Service) Lookup(ctx context.Context, t Target) (*Record, error) {
	id, err := CanonicalID(t.Kind, t.ID)
	if err != nil {
		return nil, err
	}
	return s.lookup(ctx, Target{Kind: t.Kind, ID: id})
}

// The Checker: other packages (attestations, votes, policy) ask whether
// what they count is revoked. Each answer is the revocation in force, or
// nil.

// KeyRevoked returns the revocation that voids a signature key keyID made
// at time at: a revocation statement about the key, or, for an OpenPGP
// certificate when the Service has Config.PGP, a logged revocation
// certificate (hard ones are retroactive) or a rotation that superseded it
// before at.
func (s *Service) KeyRevoked(ctx context.Context, keyID string, at time.Time) (*Record, error) {
	r, err := s.lookup(ctx, Target{Kind: KindKey, ID: keyID})
	if err != nil || (r != nil && r.Voids(at)) {
		return r, err
	}
	if s.cfg.PGP == nil || !pgp.ValidFingerprint(keyID) {
		return nil, nil
	}
	k, err := s.store.Key(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.Type != pgp.KeyType) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revocation: key %s: %w", keyID, err)
	}
	st, err := s.cfg.PGP.Status(ctx, keyID, at)
	if err != nil {
		return nil, fmt.Errorf("revocation: key %s: %w", keyID, err)
	}
	out := &Record{Target: Target{Kind: KindKey, ID: keyID}, Action: ActionRevoke, Effective: st.Since, Revokers: []string{keyID}}
	switch {
	case st.State == pgp.StateRevoked && st.Revocation != nil && st.Revocation.Hard:
		out.Reason = ReasonCompromised
	case st.State == pgp.StateRevoked:
		out.Reason = ReasonRetired
	case st.State == pgp.StateSuperseded:
		out.Reason = ReasonSuperseded
	default:
		return nil, nil
	}
	return out, nil
}

// StatementRevoked returns the revocation that voids the log entry seq,
// taken as signed at signedAt: a revocation of the statement itself in
// force now (a statement always predates its own withdrawal, so that is
// judged at the time of use), or else, when every one of its signers' keys
// is revoked as of signedAt, the first signer's. A statement keeps
// counting while one signer's key is in force.
func (s *Service) StatementRevoked(ctx context.Context, seq int64, signedAt time.Time) (*Record, error) {
	st, err := s.store.Statement(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("revocation: statement %d: %w", seq, err)
	}
	r, err := s.lookup(ctx, Target{Kind: KindStatement, ID: st.EnvelopeDigest.String()})
	if err != nil || (r != nil && r.Voids(s.cfg.Now())) {
		return r, err
	}
	var first *Record
	for _, k := range st.SignerKeyIDs {
		kr, err := s.KeyRevoked(ctx, k, signedAt)
		if err != nil {
			return nil, err
		}
		if kr == nil {
			return nil, nil
		}
		if first == nil {
			first = kr
		}
	}
	return first, nil
}

// DigestRevoked returns the revocation in force now of the first of ds
// that is revoked (known bad: do not deploy), or nil.
func (s *Service) DigestRevoked(ctx context.Context, ds ...digest.Digest) (*Record, error) {
	now := s.cfg.Now()
	for _, d := range ds {
		r, err := s.lookup(ctx, Target{Kind: KindDigest, ID: d.String()})
		if err != nil {
			return nil, err
		}
		if r != nil && r.Voids(now) {
			return r, nil
		}
	}
	return nil, nil
}

// TokenRevoked returns the revocation in force now of token id, or nil.
func (s *Service) TokenRevoked(ctx context.Context, id string) (*Record, error) {
	r, err := s.lookup(ctx, Target{Kind: KindToken, ID: id})
	if err != nil || r == nil || !r.Voids(s.cfg.Now()) {
		return nil, err
	}
	return r, nil
}

// History returns up to limit revocation events after log entry afterSeq,
// oldest first (trustctl revocations list --since).
func (s *Service) History(ctx context.Context, afterSeq int64, limit int) ([]Record, error) {
	evs, err := s.store.RevocationEvents(ctx, afterSeq, 0, limit)
	if err != nil {
		return nil, fmt.Errorf("revocation: history: %w", err)
	}
	out := make([]Record, len(evs))
	for i, e := range evs {
		out[i] = fromStore(e)
	}
	return out, nil
}

// DigestRevocation returns the revocation of d, in force or from a future
// effective time, or nil (for display: revoked digests are shown as such).
func (s *Service) DigestRevocation(ctx context.Context, d digest.Digest) (*Record, error) {
	r, err := s.lookup(ctx, Target{Kind: KindDigest, ID: d.String()})
	if err != nil || r == nil || r.Action != ActionRevoke {
		return nil, err
	}
	return r, nil
}

// notBefore is from when r voids signatures: the zero time for a
// retroactive reason, else its effective time.
func notBefore(r *Record) time.Time {
	if r.Reason.Retroactive() {
		return time.Time{}
	}
	return r.Effective
}

// KeyRevokedAt returns from when keyID's signatures stop counting (the
// zero time when revoked as compromised: all of them) and whether the key
// is revoked at all, counting OpenPGP revocation certificates and
// rotations in force now. It serves vote weighting (feedback).
func (s *Service) KeyRevokedAt(ctx context.Context, keyID string) (time.Time, bool, error) {
	r, err := s.lookup(ctx, Target{Kind: KindKey, ID: keyID})
	if err != nil {
		return time.Time{}, false, err
	}
	if r == nil || r.Action != ActionRevoke {
		if r, err = s.KeyRevoked(ctx, keyID, s.cfg.Now()); err != nil || r == nil {
			return time.Time{}, false, err
		}
	}
	return notBefore(r), true, nil
}

// RevokedKeys returns every key with a revocation statement in force or
// scheduled, with from when its signatures stop counting (as
// KeyRevokedAt). OpenPGP revocation certificates are not enumerated here;
// KeyRevokedAt answers for them key by key.
func (s *Service) RevokedKeys(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for after := ""; ; {
		recs, err := s.store.RevocationsOfKind(ctx, string(KindKey), after, listPage)
		if err != nil {
			return nil, fmt.Errorf("revocation: revoked keys: %w", err)
		}
		for _, rec := range recs {
			r := fromStore(rec)
			out[r.Target.ID] = notBefore(&r)
		}
		if len(recs) < listPage {
			return out, nil
		}
		after = recs[len(recs)-1].TargetID
	}
}

// AttestationView answers, in words, whether a log entry has stopped
// counting: the shape the attestation index asks in (attest.Revocations).
type AttestationView struct{ s *Service }

// AttestationView returns s as an AttestationView.
func (s *Service) AttestationView() AttestationView { return AttestationView{s: s} }

// StatementRevoked reports whether log entry seq is revoked, judging its
// signers' keys as of when trustd recorded it (see Service.StatementRevoked),
// and why: who revoked what, for which reason, from when. The signers the
// caller names are those of the stored entry, which is what is judged.
func (v AttestationView) StatementRevoked(ctx context.Context, seq int64, _ []string) (string, bool, error) {
	st, err := v.s.store.Statement(ctx, seq)
	if err != nil {
		return "", false, fmt.Errorf("revocation: statement %d: %w", seq, err)
	}
	r, err := v.s.StatementRevoked(ctx, seq, st.RecordedAt)
	if err != nil || r == nil {
		return "", false, err
	}
	return r.String(), true, nil
}
