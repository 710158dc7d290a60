package policy

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
)

// Sources are where the evaluator gets evidence, one source per kind of
// requirement. A nil source makes its requirements undecided
// (EVIDENCE_UNAVAILABLE), which is how offline verification treats
// everything but tokens. Each method receives every digest the verifier
// computed over the bytes (sha256 first).
type Sources struct {
	TUF          TUFSource
	PGP          PGPSource
	Attestations AttestationSource
	Revocations  RevocationSource
	Reputation   ReputationSource
	Signers      SignerSource
	Tokens       TokenSource
}

// With returns s with every source set in extra replacing its own: how
// callers add the sources they have (attestations, revocations,
// reputation) to the built-in ones.
func (s Sources) With(extra Sources) Sources {
	if extra.TUF != nil {
		s.TUF = extra.TUF
	}
	if extra.PGP != nil {
		s.PGP = extra.PGP
	}
	if extra.Attestations != nil {
		s.Attestations = extra.Attestations
	}
	if extra.Revocations != nil {
		s.Revocations = extra.Revocations
	}
	if extra.Reputation != nil {
		s.Reputation = extra.Reputation
	}
	if extra.Signers != nil {
		s.Signers = extra.Signers
	}
	if extra.Tokens != nil {
		s.Tokens = extra.Tokens
	}
	return s
}

// Input names a signed document the evaluation relied on, as a token's
// inputAttestations lists it: a URI (trustd:log/SEQ for log entries,
// trustd:tuf/REPO/VERSION.ROLE.json for TUF metadata) and the digest of its
// bytes.
type Input struct {
	URI    string        `json:"uri"`
	Digest digest.Digest `json:"digest"`
}

// Statement returns the log entry in names, by the sha256 digest of its
// signed bytes (how revocations name a statement): a log entry
// (trustd:log/SEQ) or TUF metadata, which the log holds verbatim
// (trustd:tuf/REPO/FILE). ok is false for anything else.
func (in Input) Statement() (d digest.Digest, ok bool) {
	if (strings.HasPrefix(in.URI, "trustd:log/") || strings.HasPrefix(in.URI, "trustd:tuf/")) && in.Digest.Algorithm() == digest.SHA256 {
		return in.Digest, true
	}
	return digest.Digest{}, false
}

// TUFRole is the current version of one targets role of a TUF repository.
type TUFRole struct {
	Repo, Role string
	Version    int64
	Expires    time.Time
	// Targets maps each target path to its digests.
	Targets map[string][]digest.Digest
	// Verified is true when a TUF client verified the role from a pinned
	// root; false when it is read as the server serves it.
	Verified bool
	// Input is the role's metadata file, if known.
	Input Input
	// Signers are the key ids whose signatures on the role's metadata
	// count for it, and Observed is when the log first recorded that
	// metadata (zero: unknown, judged as now): a verdict relying on the
	// role relies on those keys as signing at that time, so a revocation
	// of one of them (by the one time rule) fails it REVOKED.
	Signers  []string
	Observed time.Time
}

// ErrStaleEvidence, wrapped by a source's error, says the evidence exists
// but is past its expiry (TUF metadata): the requirement fails with
// STALE_METADATA rather than being undecided.
var ErrStaleEvidence = errors.New("evidence expired")

// ErrNoRevocationState, wrapped by a revocation source's error, says the
// source holds no revocation state at all (an offline cache never
// synced): there is nothing to check a verdict against, so the
// deny-overrides check is not made, and a revocation requirement is
// undecided.
var ErrNoRevocationState = errors.New("no revocation state")

// TUFSource reads a targets role as its repository currently publishes it.
type TUFSource interface {
	TUFRole(ctx context.Context, repo, role string) (*TUFRole, error)
}

// PGPSignature is an OpenPGP-signed manifest line naming the bytes.
type PGPSignature struct {
	Name    string    // the file name on the manifest line
	Signer  string    // the fingerprint of the key that signed (primary or subkey)
	Primary string    // its certificate's primary fingerprint
	Seq     uint64    // log sequence number of the manifest
	At      time.Time // the time the signature claims
	// Observed is when the log first recorded the manifest; zero when
	// unknown, which the time rule judges as now.
	Observed time.Time
	Input    Input // the manifest's log entry, if known
}

// PGPDecision is whether a key may sign for a name, given pinned roots.
type PGPDecision struct {
	Allowed bool
	Chain   []string // root first, then each link ("delegation a→b (seq 7)")
	Refusal string   // refusal code when not allowed
	Detail  string
	// ChainKeys are the keys that signed the statements of an allowed
	// chain (the root's delegation, each further delegation, both keys of
	// a rotation), each with when the log first observed the earliest
	// statement it signed there: a verdict relying on the chain relies on
	// those signatures, so a revocation voiding one (by the one time rule)
	// fails it REVOKED.
	ChainKeys map[string]time.Time
	// Rotations are the chain's rotation links, old key → the log
	// sequence of the rotation statement: the supersession that statement
	// made is what the chain passes through, so it does not void the old
	// key's signature on it (any other revocation of the old key still
	// does).
	Rotations map[string]uint64
}

// PGPSource finds manifest signatures over the bytes and decides chains.
// PGPDecide judges a signature claiming signed and first observed by the
// log at observed (zero: not yet observed, judged as now) by the one time
// rule (package timerule).
type PGPSource interface {
	PGPSignatures(ctx context.Context, ds []digest.Digest) ([]PGPSignature, error)
	PGPDecide(ctx context.Context, name, signer string, signed, observed time.Time, roots []string) (PGPDecision, error)
}

// SigstoreIdentity is the certificate identity of a keyless signature.
type SigstoreIdentity struct{ Issuer, Subject string }

// Attestation is one verified attestation about the bytes with the fields
// the attestation index extracts.
type Attestation struct {
	Seq        uint64
	Signers    []string           // key ids or OpenPGP fingerprints
	Identities []SigstoreIdentity // keyless signers
	Fields     map[string]string  // builderId, sourceRepository, …
	Input      Input              // the attestation's log entry, if known
	Observed   time.Time          // when the log recorded it; zero: unknown (judged as now)
}

// AttestationSource lists verified attestations of a predicate type.
type AttestationSource interface {
	Attestations(ctx context.Context, ds []digest.Digest, predicateType string) ([]Attestation, error)
}

// RevocationQuery names everything a verdict relies on, for the
// revocation check the evaluator makes of every verdict (deny-overrides):
// the bytes' digests, the keys whose signatures it counted, the log
// entries it relied on (statements, named by the sha256 digest of their
// envelope) and the tokens it accepted.
type RevocationQuery struct {
	Digests    []digest.Digest
	Keys       []string
	Statements []digest.Digest
	Tokens     []string
}

// Revoked is a revocation (not a reinstatement) of one target the query
// named, whether or not it is in force yet: the evaluator judges it with
// the one time rule (package timerule) against the time of use.
type Revoked struct {
	Kind      string    // digest, key, statement or token
	ID        string    // the digest, key id or fingerprint, envelope digest or token id
	Seq       uint64    // the revocation's log sequence number
	Reason    string    // compromised, malicious, superseded, retired, withdrawn, other
	Effective time.Time // from when a soft reason applies
}

// RevocationStatus is the revocation state's answer for the targets of a
// query.
type RevocationStatus struct {
	ListSeq  uint64    // sequence of the revocation list consulted (online: the newest revocation event)
	ListTime time.Time // when that list was produced (online: now)
	Revoked  []Revoked
}

// RevocationSource reads the one revocation state (trustd's live index
// online, the synced signed list offline) for the targets of q. It returns
// every revocation of them, in force or not: the evaluator applies the
// time rule. ErrStaleEvidence says the state is too old to prove absence.
type RevocationSource interface {
	Revocations(ctx context.Context, q RevocationQuery) (RevocationStatus, error)
}

// Reputation is an aggregate of votes about the bytes.
type Reputation struct {
	Score float64
	Votes int
}

// ReputationSource aggregates votes, globally (empty trust set) or over the
// voters reachable from trustSet.
type ReputationSource interface {
	Reputation(ctx context.Context, ds []digest.Digest, trustSet []string) (Reputation, error)
}

// Signature is one verified signature over evidence about the bytes.
type Signature struct {
	Kind     string // "key", "pgp" or "sigstore"
	ID       string // key id or fingerprint; empty for sigstore
	Identity SigstoreIdentity
	Seq      uint64 // log sequence number of the signed evidence
	Input    Input  // the signed evidence's log entry, if known
	// Observed is when the log recorded the evidence; zero when unknown,
	// which the time rule judges as now.
	Observed time.Time
}

// SignerSource lists who signed evidence about the bytes, for thresholds.
type SignerSource interface {
	Signatures(ctx context.Context, ds []digest.Digest) ([]Signature, error)
}

// TokenCheck is the outcome of checking the tokens found beside the bytes.
// Reason is empty when a token satisfies the policy.
type TokenCheck struct {
	ID       string
	IssuedAt time.Time
	Expires  time.Time
	Reason   Reason
	Detail   string
	// What a token that holds relies on, for the revocation check: the
	// key that signed it (a token is in no log, so it is judged as used
	// now), the signers its verdict counted (judged as observed by
	// IssuedAt) and the log entries it names as inputs.
	KeyID   string
	Signers []string
	// SignerTimes are the times the token says its signers' signatures
	// are judged at (token.Claims.SignerTimes); a signer without one, or
	// with one after IssuedAt, is judged at IssuedAt.
	SignerTimes map[string]time.Time
	Inputs      []Input
}

// TokenSource checks the tokens found beside the bytes against the digests,
// the policy (name and content digest) and the allowed age.
type TokenSource interface {
	CheckToken(ctx context.Context, ds []digest.Digest, p *Policy, maxAge time.Duration) (TokenCheck, error)
}
