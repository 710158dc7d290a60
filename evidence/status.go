package evidence

import (
	"time"

	"github.com/trustd-dev/trustd/timerule"
)

// Statuses of a fact (a log entry) at a bundle's time.
const (
	// StatusValid: nothing revokes the entry or its signers.
	StatusValid = "valid"
	// StatusRevoked: a revocation voids it now: of the statement itself
	// (in force at the bundle's time), or of a signer's key (voiding the
	// signature at the time the log first observed it).
	StatusRevoked = "revoked"
	// StatusSuperseded: the entry still counts, but a soft revocation or
	// rotation of a signer's key (or a withdrawal of the statement not yet
	// effective) stops what comes after it.
	StatusSuperseded = "superseded"
	// StatusReinstated: the entry counts; a revocation of it or of a
	// signer was reinstated.
	StatusReinstated = "reinstated"
	// StatusUnknown: the evidence holds no revocation state (the server
	// serves no revocations), so nothing is known either way.
	StatusUnknown = "unknown"
)

// FactStatus is the status of one log entry at the bundle's time, and the
// revocation state that decides it (nil when valid or unknown).
type FactStatus struct {
	Status string
	By     *Revocation
}

// Status judges log entry seq at the set's time with the revocation state
// the policy evaluator reads (Set.Sources) and the one time rule
// (package timerule), exactly as the evaluator judges what it relies on:
// a revocation of the statement holds from its effective time
// (timerule.InForce at the bundle's time); a signer's key revocation voids
// the signature when the rule voids a signature first observed when the
// log recorded the entry (timerule.Voids; a signature is never judged
// earlier than observed). Any voiding revocation revokes the entry
// (deny-overrides); else a revocation that does not void it makes it
// superseded, and a reinstatement reinstated. ok is false when the set
// holds no entry seq.
func (s *Set) Status(seq uint64) (st FactStatus, ok bool) {
	e, ok := s.entries[seq]
	if !ok {
		return FactStatus{}, false
	}
	if !s.has(KindRevocations) {
		return FactStatus{Status: StatusUnknown}, true
	}
	var superseded, reinstated *Revocation
	judge := func(kind, id string, voids func(timerule.Revocation) bool) bool {
		r, ok := s.Revocation(kind, id)
		if !ok || r.State == nil {
			return false
		}
		if r.State.Action != ActionRevoke {
			if reinstated == nil {
				reinstated = &r
			}
			return false
		}
		if voids(timerule.Revocation{Hard: timerule.Hard(r.State.Reason), Effective: r.State.Effective}) {
			st = FactStatus{Status: StatusRevoked, By: &r}
			return true
		}
		if superseded == nil {
			superseded = &r
		}
		return false
	}
	at := s.b.At
	if judge(TargetStatement, e.EnvelopeDigest().String(), func(r timerule.Revocation) bool { return timerule.InForce(r, at) }) {
		return st, true
	}
	observed := e.RecordedAt
	for _, k := range e.SignerKeyIDs {
		if judge(TargetKey, k, func(r timerule.Revocation) bool { return timerule.Voids(r, time.Time{}, observed) }) {
			return st, true
		}
	}
	switch {
	case superseded != nil:
		return FactStatus{Status: StatusSuperseded, By: superseded}, true
	case reinstated != nil:
		return FactStatus{Status: StatusReinstated, By: reinstated}, true
	}
	return FactStatus{Status: StatusValid}, true
}
