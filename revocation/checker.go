package revocation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/keyset"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
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

// rule is r as the time rule sees it.
func (r Record) rule() timerule.Revocation {
	return timerule.Revocation{Hard: r.Reason.Hard(), Effective: r.Effective}
}

// VoidsSignature reports whether r, a revocation of a key, voids a
// signature the key made claiming signed and first observed by the log at
// observed: by the one time rule (timerule.Voids), a hard reason voids
// every signature, a soft one what is judged at or after its effective
// time. A reinstatement voids nothing.
func (r Record) VoidsSignature(signed, observed time.Time) bool {
	return r.Action == ActionRevoke && timerule.Voids(r.rule(), signed, observed)
}

// InForce reports whether r holds at now for the target itself (a digest,
// statement or token in use now, or a key used now): a hard reason at
// once, a soft one from its effective time (timerule.InForce). A
// reinstatement is never in force.
func (r Record) InForce(now time.Time) bool {
	return r.Action == ActionRevoke && timerule.InForce(r.rule(), now)
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
// it is stronger (hard over soft, else an earlier effective time),
// so revoking twice is idempotent. The server's index and the offline
// cache apply events with this one function, which is why a delta applied
// to a snapshot equals the next full snapshot.
func Merge(cur *Record, event Record) Record {
	if cur == nil || cur.Action != ActionRevoke || event.Action == ActionReinstate {
		return event
	}
	switch {
	case event.Reason.Hard() && !cur.Reason.Hard():
		return event
	case cur.Reason.Hard() && !event.Reason.Hard():
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
// claiming signed and first observed by the log at observed (pass now for
// both for a signature being judged as it arrives), by the one time rule:
// the key's revocation in the index (revocation statements and OpenPGP
// revocation certificates alike), or, for an OpenPGP certificate when the
// Service has Config.PGP, a revocation inside the registered certificate
// or a rotation that superseded it, judged at the same time.
func (s *Service) KeyRevoked(ctx context.Context, keyID string, signed, observed time.Time) (*Record, error) {
	r, err := s.lookup(ctx, Target{Kind: KindKey, ID: keyID})
	if err != nil {
		return nil, err
	}
	return s.keyRevoked(ctx, r, keyID, signed, observed)
}

// keyRevoked is KeyRevoked given r, the key's state in the index (nil:
// none).
func (s *Service) keyRevoked(ctx context.Context, r *Record, keyID string, signed, observed time.Time) (*Record, error) {
	if r != nil && r.VoidsSignature(signed, observed) {
		return r, nil
	}
	if s.cfg.PGP == nil || !pgp.ValidFingerprint(keyID) {
		return nil, nil
	}
	typ, err := s.keyType(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && typ != pgp.KeyType) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revocation: key %s: %w", keyID, err)
	}
	st, err := s.cfg.PGP.Status(ctx, keyID, timerule.At(signed, observed))
	if err != nil {
		return nil, fmt.Errorf("revocation: key %s: %w", keyID, err)
	}
	out := &Record{Target: Target{Kind: KindKey, ID: keyID}, Action: ActionRevoke, Effective: st.Since, Revokers: []string{keyID}}
	switch {
	case st.State == pgp.StateRevoked && st.Revocation != nil:
		out.Reason = PGPReason(*st.Revocation)
	case st.State == pgp.StateSuperseded:
		out.Reason = ReasonSuperseded
	default:
		return nil, nil
	}
	return out, nil
}

// StatementRevoked returns the revocation that voids the log entry seq,
// whose signatures claim signedAt (the entry's recorded time when it
// claims none): a revocation of the statement itself in force now (a
// statement always predates its own withdrawal, so that is judged at the
// time of use), or else, when every one of its signers' keys is revoked
// for a signature claiming signedAt and observed when the log recorded the
// entry (the one time rule), the first signer's. A statement keeps
// counting while one signer's key is in force.
func (s *Service) StatementRevoked(ctx context.Context, seq int64, signedAt time.Time) (*Record, error) {
	out, err := s.StatementsRevoked(ctx, []StatementRef{{Seq: seq, SignedAt: signedAt}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// StatementRef names a log entry and the time its signatures claim (the
// entry's recorded time when they claim none).
type StatementRef struct {
	Seq      int64
	SignedAt time.Time
}

// StatementsRevoked is StatementRevoked for many entries at once: out[i]
// is what voids refs[i], or nil. It reads the entries' signers and the
// states of every statement and signer in two store reads (fewer when the
// entries were read before), however many entries there are.
// Errors: store.ErrNotFound (wrapped) when an entry does not exist.
func (s *Service) StatementsRevoked(ctx context.Context, refs []StatementRef) ([]*Record, error) {
	return s.statementsRevoked(ctx, refs, nil)
}

// statementsRevoked is StatementsRevoked given the entries as read from
// the store (known: Seq, EnvelopeDigest, SignerKeyIDs, RecordedAt); the
// others are read.
func (s *Service) statementsRevoked(ctx context.Context, refs []StatementRef, known []store.Statement) ([]*Record, error) {
	heads := make(map[int64]store.Statement, len(refs))
	for _, k := range known {
		heads[k.Seq] = k
	}
	var seqs []int64
	for _, r := range refs {
		if _, ok := heads[r.Seq]; !ok {
			seqs = append(seqs, r.Seq)
		}
	}
	if len(seqs) > 0 {
		read, err := s.heads(ctx, seqs)
		if err != nil {
			return nil, err
		}
		maps.Copy(heads, read)
	}
	var targets []Target
	for _, h := range heads {
		targets = append(targets, Target{Kind: KindStatement, ID: h.EnvelopeDigest.String()})
		for _, k := range h.SignerKeyIDs {
			targets = append(targets, Target{Kind: KindKey, ID: k})
		}
	}
	states, err := s.States(ctx, targets)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, len(refs))
	for i, ref := range refs {
		if out[i], err = states.StatementRevoked(ctx, heads[ref.Seq], ref.SignedAt); err != nil {
			return nil, err
		}
	}
	return out, nil
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
		if r != nil && r.InForce(now) {
			return r, nil
		}
	}
	return nil, nil
}

// TokenRevoked returns the revocation in force now of token id, or nil.
func (s *Service) TokenRevoked(ctx context.Context, id string) (*Record, error) {
	r, err := s.lookup(ctx, Target{Kind: KindToken, ID: id})
	if err != nil || r == nil || !r.InForce(s.cfg.Now()) {
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

// notBefore is from when r voids signatures (timerule.Voids): the zero
// time for a hard reason, else its effective time; a signature judged
// (timerule.At) at or after it stops counting.
func notBefore(r *Record) time.Time {
	if r.Reason.Hard() {
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
		now := s.cfg.Now()
		if r, err = s.KeyRevoked(ctx, keyID, now, now); err != nil || r == nil {
			return time.Time{}, false, err
		}
	}
	return notBefore(r), true, nil
}

// KeysRevokedAt is KeyRevokedAt for many keys at once: the revoked ones
// among keyIDs, each with from when its signatures stop counting. It reads
// the keys' index states in one store read (an OpenPGP key's certificate
// state is read as KeyRevokedAt reads it). The answer for a large set
// with no OpenPGP key in it depends on the index alone, and is kept until
// the revocation head moves; callers must not change it.
func (s *Service) KeysRevokedAt(ctx context.Context, keyIDs []string) (map[string]time.Time, error) {
	var set [24]byte
	if len(keyIDs) >= minRememberedStates {
		set = keyset.Of(keyIDs)
		head, err := s.store.RevocationHead(ctx)
		if err != nil {
			return nil, fmt.Errorf("revocation: head: %w", err)
		}
		s.memo.mu.Lock()
		kept, ok := s.memo.revokedAt[set]
		s.memo.mu.Unlock()
		if ok && kept.head == head {
			return kept.out, nil
		}
	}
	ts := make([]Target, len(keyIDs))
	for i, k := range keyIDs {
		ts[i] = Target{Kind: KindKey, ID: k}
	}
	states, err := s.States(ctx, ts)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	now := s.cfg.Now()
	keep := len(keyIDs) >= minRememberedStates
	if keep && s.cfg.PGP != nil {
		s.keyTypes(ctx, keyIDs)
	}
	for _, k := range keyIDs {
		r := states.Lookup(Target{Kind: KindKey, ID: k})
		if r == nil || r.Action != ActionRevoke {
			if keep && s.cfg.PGP != nil && pgp.ValidFingerprint(k) {
				// An OpenPGP certificate's state is judged at now.
				if typ, err := s.keyType(ctx, k); err == nil && typ == pgp.KeyType {
					keep = false
				}
			}
			if r, err = states.KeyRevoked(ctx, k, now, now); err != nil {
				return nil, err
			}
			if r == nil {
				continue
			}
		}
		out[k] = notBefore(r)
	}
	if keep {
		s.memo.mu.Lock()
		if s.memo.revokedAt == nil || len(s.memo.revokedAt) >= maxRememberedSets {
			s.memo.revokedAt = map[[24]byte]keptRevokedAt{}
		}
		s.memo.revokedAt[set] = keptRevokedAt{head: states.Head(), out: out}
		s.memo.mu.Unlock()
	}
	return out, nil
}

// keptRevokedAt is a KeysRevokedAt answer and the head it was read at.
type keptRevokedAt struct {
	head int64
	out  map[string]time.Time
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
	heads, err := v.s.heads(ctx, []int64{seq})
	if err != nil {
		return "", false, err
	}
	why, err := v.StatementsRevoked(ctx, []store.Statement{heads[seq]})
	if err != nil {
		return "", false, err
	}
	return why[0], why[0] != "", nil
}

// StatementsRevoked is StatementRevoked for many log entries in one store
// read: why[i] says why entries[i] is revoked, "" when it is not. The
// entries are as the store gave them (an attestation listing): their
// envelope digests, signers and recorded times are what is judged.
func (v AttestationView) StatementsRevoked(ctx context.Context, entries []store.Statement) ([]string, error) {
	refs := make([]StatementRef, len(entries))
	for i, e := range entries {
		refs[i] = StatementRef{Seq: e.Seq, SignedAt: e.RecordedAt}
	}
	recs, err := v.s.statementsRevoked(ctx, refs, entries)
	if err != nil {
		return nil, err
	}
	why := make([]string, len(recs))
	for i, r := range recs {
		if r != nil {
			why[i] = r.String()
		}
	}
	return why, nil
}
