// Package timerule is trustd's one rule for time: when a revocation voids a
// signature, when something that ends (a key's expiry, a delegation's end,
// a rotation) stops a signature counting, and which time a signature is
// judged at. Every path that judges a signature calls it: subject, the
// OpenPGP chain decisions (pgp verify --at), policies and token issuance,
// the offline revocation lists and the web view. It imports nothing of
// trustd, so the pure packages (pgp, policy) can use it too.
//
// The rule:
//   - A hard revocation (compromised, malicious, no or an unknown reason)
//     voids every signature the key made, whenever it was made or
//     observed.
//   - A soft revocation (superseded, retired, withdrawn) effective at E
//     voids what was first observed in the log at or after E.
//   - A signature's own claimed time is never taken as earlier than when
//     the log first observed it, so a superseded key cannot backdate: a
//     signature is judged at the later of its claimed and observed times
//     (At). Something not yet in the log is observed now.
//   - Rotations and the end of a delegation follow the soft rule (they void
//     what was observed at or after their time), and expiry is judged at
//     the same time (Ended).
//
// A revocation of the thing itself (a digest, a statement, a token) is
// judged at the time of use: InForce.
package timerule

import "time"

// Help states the rule for people, word for word as every help text that
// depends on it (trustctl subject, pgp verify, revoke, pgp revoke,
// revocations, token issue, verify, policy) prints it: one paragraph,
// wrapped for a terminal.
const Help = `Time rule (the same for every command, policy, token and offline list): a
hard revocation (compromised, malicious, other, or no reason) voids every
signature the key made, whenever it was made or observed. A soft revocation
(superseded, retired, withdrawn) effective at E voids what the log first
observed at or after E. A signature's claimed time is never taken as
earlier than when the log first observed it, so a superseded key cannot
backdate. Rotations and the end of a delegation follow the soft rule, and
expiry is judged at the observed time. A revoked digest, statement or token
is revoked from E on, or at once when the revocation is hard.`

// Reasons a revocation can give that are soft: everything else (compromised,
// malicious, no reason, an unknown reason) is hard. The names are
// revocation statements' reasons; OpenPGP's reason codes map onto them
// (superseded 1, retired 3; compromised 2 and no reason 0 are hard).
const (
	Superseded = "superseded"
	Retired    = "retired"
	Withdrawn  = "withdrawn"
)

// Hard reports whether a revocation for reason voids every signature,
// whenever made: every reason but superseded, retired and withdrawn. An
// unknown reason is hard, so a reason trustd does not know never weakens a
// revocation.
func Hard(reason string) bool {
	switch reason {
	case Superseded, Retired, Withdrawn:
		return false
	}
	return true
}

// Revocation is what the rule needs of a revocation: whether it is hard,
// and from when a soft one applies.
type Revocation struct {
	Hard      bool
	Effective time.Time
}

// At is the time a signature is judged at: its claimed time (signed), but
// never earlier than when the log first observed it. A zero observed time
// means the caller knows no observation: the claimed time stands alone,
// which only a caller that observes the signature at that very time (the
// one appending it) may rely on; every other caller passes the time it
// first saw the signature, or now.
func At(signed, observed time.Time) time.Time {
	if observed.After(signed) {
		return observed
	}
	return signed
}

// Voids reports whether revocation r voids a signature claiming to be made
// at signed and first observed in the log at observed: always when r is
// hard, else when the signature is judged (At) at or after r's effective
// time.
func Voids(r Revocation, signed, observed time.Time) bool {
	return r.Hard || !At(signed, observed).Before(r.Effective)
}

// InForce reports whether revocation r of a thing itself (a digest, a
// statement, a token, or a key as used now) holds at now: always when
// hard, else from its effective time on. It is Voids for a use at now.
func InForce(r Revocation, now time.Time) bool { return Voids(r, now, now) }

// Ended reports whether something that ends at end (a key's expiry, a
// delegation's end, a rotation's effective time) stops a signature made at
// signed and observed at observed counting: the signature is judged (At)
// at or after end. A zero end never ends.
func Ended(end, signed, observed time.Time) bool {
	return !end.IsZero() && !At(signed, observed).Before(end)
}
