package evidence

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
)

// Kind names one kind of evidence a Request asks for.
type Kind string

// The kinds of evidence.
const (
	// KindEntries: every log entry naming the digests, with its signers
	// (threshold requirements).
	KindEntries Kind = "entries"
	// KindTUF: the TUF metadata of the requested roles, with what a TUF
	// client needs to verify them from a pinned root.
	KindTUF Kind = "tuf"
	// KindPGP: OpenPGP manifest lines naming the digests, their signers'
	// certificates, and the chain decision for each requested root set.
	KindPGP Kind = "pgp"
	// KindAttestations: attestations naming the digests, with their
	// indexed fields.
	KindAttestations Kind = "attestations"
	// KindRevocations: the revocation state of the digests, of every
	// signer and statement the other evidence names, and of the extra
	// targets a Request lists.
	KindRevocations Kind = "revocations"
	// KindReputation: vote figures, globally or per trust set.
	KindReputation Kind = "reputation"
	// KindPublishers: who publishes the digests (revocation.Service's one
	// definition), with the alias claims that link other digests.
	KindPublishers Kind = "publishers"
)

// Kinds lists every kind, in the order a bundle is assembled.
var Kinds = []Kind{KindEntries, KindTUF, KindPGP, KindAttestations, KindRevocations, KindReputation, KindPublishers}

// Bounds of a request: what one call may ask the server to gather.
const (
	MaxDigests        = 8
	MaxRoles          = 16
	MaxRootSets       = 16
	MaxRoots          = 64
	MaxPredicateTypes = 16
	MaxTrustSets      = 8
	MaxTrustSet       = 64
	MaxExtraTargets   = 64
	MaxSigners        = 64
	// MaxEntries bounds the log entries naming the digests that a bundle
	// carries, newest first; Bundle.Truncated says when more exist.
	MaxEntries = 500
	// MaxBundleBytes bounds the signed bytes one bundle carries. The
	// entries naming the digests stop at half of it (Truncated); the
	// evidence a policy needs beyond that fails the request with
	// ErrTooLarge.
	MaxBundleBytes = 32 << 20
)

// ErrInvalidRequest reports a malformed or oversized Request.
var ErrInvalidRequest = errors.New("invalid evidence request")

// ErrTooLarge reports evidence larger than one bundle carries
// (MaxBundleBytes).
var ErrTooLarge = errors.New("evidence too large")

// RoleRef names a TUF targets role of a repository.
type RoleRef struct {
	Repo, Role string
}

// Request says which evidence to gather about the bytes known by Digests.
type Request struct {
	// Digests are the digests of the bytes (the verifier computed them);
	// at least one, sha256 first by convention.
	Digests []digest.Digest
	// Kinds are the kinds to gather; none means every kind.
	Kinds []Kind
	// At is when the evidence is judged (revocations in force, chain
	// decisions); zero means when it is gathered.
	At time.Time
	// TUFRoles are the roles KindTUF reads.
	TUFRoles []RoleRef
	// PGPRoots are the pinned root sets KindPGP decides chains against.
	PGPRoots [][]string
	// PredicateTypes restricts KindAttestations; none means every type.
	PredicateTypes []string
	// TrustSets are the voter sets KindReputation aggregates over; an
	// empty set means every voter. None means the global figures only.
	TrustSets [][]string
	// Tokens, Keys and Statements are further targets whose revocation
	// state KindRevocations reports (a token's id, its key and signers,
	// its input statements by envelope digest).
	Tokens     []string
	Keys       []string
	Statements []digest.Digest
	// Signers are the signers a policy names (key ids, OpenPGP
	// fingerprints, Sigstore signer ids): KindEntries and
	// KindAttestations gather their newest entries naming the digests
	// besides the newest of anyone's. Anyone may log entries naming any
	// digest; without this, enough of them would crowd the named
	// signers' evidence out of a bundle, and a stranger could fail
	// someone else's verify.
	Signers []string
	// EntriesBefore and EntriesLimit page KindEntries: only entries older
	// than EntriesBefore (when positive), at most EntriesLimit of them
	// (0: MaxEntries), newest first. A page never splits an entry.
	EntriesBefore uint64
	EntriesLimit  int
}

// Wants reports whether r asks for kind k.
func (r Request) Wants(k Kind) bool { return len(r.Kinds) == 0 || slices.Contains(r.Kinds, k) }

// Validate checks r's bounds and fields, naming the field at fault.
func (r Request) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("evidence: %s: %w: %s", field, ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case len(r.Digests) == 0:
		return bad("digests", "at least one digest is required")
	case len(r.Digests) > MaxDigests:
		return bad("digests", "%d digests, the limit is %d", len(r.Digests), MaxDigests)
	case len(r.TUFRoles) > MaxRoles:
		return bad("tuf_roles", "%d roles, the limit is %d", len(r.TUFRoles), MaxRoles)
	case len(r.PGPRoots) > MaxRootSets:
		return bad("pgp_roots", "%d root sets, the limit is %d", len(r.PGPRoots), MaxRootSets)
	case len(r.PredicateTypes) > MaxPredicateTypes:
		return bad("predicate_types", "%d types, the limit is %d", len(r.PredicateTypes), MaxPredicateTypes)
	case len(r.TrustSets) > MaxTrustSets:
		return bad("trust_sets", "%d sets, the limit is %d", len(r.TrustSets), MaxTrustSets)
	case r.EntriesLimit < 0 || r.EntriesLimit > MaxEntries:
		return bad("entries_limit", "%d entries, want 0 to %d", r.EntriesLimit, MaxEntries)
	case len(r.Signers) > MaxSigners:
		return bad("signers", "%d signers, the limit is %d", len(r.Signers), MaxSigners)
	case len(r.Tokens)+len(r.Keys)+len(r.Statements) > MaxExtraTargets:
		return bad("tokens", "%d extra revocation targets, the limit is %d", len(r.Tokens)+len(r.Keys)+len(r.Statements), MaxExtraTargets)
	}
	for i, k := range r.Kinds {
		if !slices.Contains(Kinds, k) {
			return bad(fmt.Sprintf("kinds[%d]", i), "unknown kind %q (known: %v)", k, Kinds)
		}
	}
	for i, rr := range r.TUFRoles {
		if rr.Repo == "" || rr.Role == "" {
			return bad(fmt.Sprintf("tuf_roles[%d]", i), "repository and role are required")
		}
	}
	for i, roots := range r.PGPRoots {
		if len(roots) == 0 || len(roots) > MaxRoots {
			return bad(fmt.Sprintf("pgp_roots[%d]", i), "want 1 to %d root fingerprints, got %d", MaxRoots, len(roots))
		}
	}
	for i, ts := range r.TrustSets {
		if len(ts) > MaxTrustSet {
			return bad(fmt.Sprintf("trust_sets[%d]", i), "%d keys, the limit is %d", len(ts), MaxTrustSet)
		}
	}
	for i, k := range r.Signers {
		if k == "" {
			return bad(fmt.Sprintf("signers[%d]", i), "empty signer")
		}
	}
	return nil
}

// RequestFor is the request that gathers everything p's requirements can
// ask about the bytes known by ds: the roles its TUF requirements name,
// the root sets of its OpenPGP requirements, the predicate types of its
// attestation requirements, the signers its attestation and threshold
// requirements name (the first MaxSigners; a Sigstore identity whose
// subject is a pattern names none), the trust sets of its reputation
// requirements, the roles or root sets its name requirements read, the
// log entries when a threshold needs them, and
// revocations always (a revocation in force fails every verdict).
func RequestFor(p *policy.Policy, ds []digest.Digest) Request {
	r := Request{Digests: slices.Clone(ds), Kinds: []Kind{KindRevocations}}
	add := func(k Kind) {
		if !slices.Contains(r.Kinds, k) {
			r.Kinds = append(r.Kinds, k)
		}
	}
	signer := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(r.Signers, id) && len(r.Signers) < MaxSigners {
				r.Signers = append(r.Signers, id)
			}
		}
	}
	// A keyless identity names one signer when its subject pattern is a
	// literal (a dot in it matching itself above all); a pattern matches
	// signers no query can list.
	identity := func(id policy.Identity) {
		if bare := strings.ReplaceAll(id.Subject, ".", ""); regexp.QuoteMeta(bare) == bare {
			signer(policy.SigstoreIdentity(id).SignerID())
		}
	}
	var walk func(q *policy.Requirement)
	walk = func(q *policy.Requirement) {
		for i := range q.All {
			walk(&q.All[i])
		}
		for i := range q.Any {
			walk(&q.Any[i])
		}
		switch {
		case q.TUF != nil:
			add(KindTUF)
			role := q.TUF.Role
			if role == "" {
				role = "targets"
			}
			if rr := (RoleRef{q.TUF.Repo, role}); !slices.Contains(r.TUFRoles, rr) {
				r.TUFRoles = append(r.TUFRoles, rr)
			}
		case q.PGP != nil:
			add(KindPGP)
			if !slices.ContainsFunc(r.PGPRoots, func(s []string) bool { return slices.Equal(s, q.PGP.Roots) }) {
				r.PGPRoots = append(r.PGPRoots, slices.Clone(q.PGP.Roots))
			}
		case q.Attestation != nil:
			add(KindAttestations)
			if !slices.Contains(r.PredicateTypes, q.Attestation.PredicateType) {
				r.PredicateTypes = append(r.PredicateTypes, q.Attestation.PredicateType)
			}
			signer(q.Attestation.Signers...)
			for _, id := range q.Attestation.Identities {
				identity(id)
			}
		case q.Reputation != nil:
			add(KindReputation)
			if !slices.ContainsFunc(r.TrustSets, func(s []string) bool { return slices.Equal(s, q.Reputation.TrustSet) }) {
				r.TrustSets = append(r.TrustSets, slices.Clone(q.Reputation.TrustSet))
			}
		case q.Threshold != nil:
			add(KindEntries)
			for _, ref := range q.Threshold.Signers {
				signer(ref.Key, ref.PGP)
				if ref.Sigstore != nil {
					identity(*ref.Sigstore)
				}
			}
		case q.Name != nil:
			// A name is bound by a TUF target of the role (the whole role,
			// so a name bound to other bytes shows) or by a manifest line
			// whose chain the roots decide.
			if t := q.Name.TUF; t != nil {
				add(KindTUF)
				role := t.Role
				if role == "" {
					role = "targets"
				}
				if rr := (RoleRef{t.Repo, role}); !slices.Contains(r.TUFRoles, rr) {
					r.TUFRoles = append(r.TUFRoles, rr)
				}
			}
			if p := q.Name.PGP; p != nil {
				add(KindPGP)
				if !slices.ContainsFunc(r.PGPRoots, func(s []string) bool { return slices.Equal(s, p.Roots) }) {
					r.PGPRoots = append(r.PGPRoots, slices.Clone(p.Roots))
				}
			}
		}
	}
	walk(&p.Require)
	return r
}

// Bundle is the evidence about some digests at one time, as the server
// holds it: log entries with their signed bytes, and the items that cite
// them by sequence number.
type Bundle struct {
	// Digests are the digests asked about.
	Digests []digest.Digest
	// At is when the evidence was judged.
	At time.Time
	// Kinds are the kinds the server gathered; a kind asked for but
	// missing here is one the server does not serve (its evidence is
	// unavailable, not empty).
	Kinds []Kind
	// Log is the signed checkpoint every entry's proof leads to; nil when
	// the bundle was built in process, without proofs.
	Log *Checkpoint
	// Entries are the log entries the items cite, each once, by Seq.
	Entries []Entry
	// Truncated is true when more entries name the digests than a bundle
	// carries (MaxEntries).
	Truncated bool
	// Keys are the registered keys that signed the entries (OpenPGP
	// certificates and DSSE keys), so their signatures can be checked.
	Keys []Key

	TUF []TUFRepo
	PGP []PGPSignature
	// PGPProblems are manifests naming the digests whose signature the
	// server could not verify now (an expired or since-revoked subkey):
	// OpenPGP requirements are undecided while any is unexplained.
	PGPProblems  []PGPProblem
	Decisions    []PGPDecision
	Attestations []Attestation
	// RevocationHead is the newest revocation event's log sequence
	// number: the number of the revocation list a client syncing at At
	// gets, which a token records.
	RevocationHead uint64
	// Revocations hold one state per target checked, revoked or not.
	Revocations []Revocation
	Reputation  []Reputation
	Publishers  []Publisher
	AliasClaims []AliasClaim
	// PredicateTypes are the types Attestations was restricted to; none
	// means every type.
	PredicateTypes []string
}

// Checkpoint is a signed checkpoint of the log: Size entries under the
// signed note Signed, made with the key VerifierKey names.
type Checkpoint struct {
	Signed      []byte
	VerifierKey string
	Size        uint64
}

// Entry is one log entry, its signed bytes exactly as logged (the leaf
// whose RFC 6962 hash is in the tree), with what the log indexes about it.
type Entry struct {
	Seq uint64
	// Envelope is the leaf: a DSSE envelope, a Sigstore bundle, a
	// manifest or revocation record, or TUF metadata.
	Envelope      []byte
	PayloadType   string
	PredicateType string
	// SignerKeyIDs are the key ids (or Sigstore signer ids) whose
	// signatures the log verified when it accepted the entry.
	SignerKeyIDs []string
	RecordedAt   time.Time
	// Digests are the digests of the request the entry names (empty for
	// entries cited for other reasons: TUF metadata, chain links,
	// revocations).
	Digests []digest.Digest
	// Proof is the entry's inclusion proof in the tree of Log.Size.
	Proof [][]byte
}

// EnvelopeDigest is the sha256 digest of the entry's signed bytes: how a
// statement is named in revocations and token inputs.
func (e Entry) EnvelopeDigest() digest.Digest { return sha256Of(e.Envelope) }

// sha256Of is the sha256 digest of data.
func sha256Of(data []byte) digest.Digest {
	sum := sha256.Sum256(data)
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

// Input is the entry as a policy input (trustd:log/SEQ).
func (e Entry) Input() policy.Input {
	return policy.Input{URI: fmt.Sprintf("trustd:log/%d", e.Seq), Digest: e.EnvelopeDigest()}
}

// Key is a registered key: its id, type and encoded public key (an
// OpenPGP certificate for type pgp).
type Key struct {
	ID        string
	Type      string
	PublicKey []byte
}

// TUFRepo is the TUF metadata of one repository that the requested roles
// need: every root version, the current timestamp and snapshot, the
// targets role and the delegated roles on the way to each requested role,
// each a log entry cited by Seq.
type TUFRepo struct {
	Repo  string
	Files []TUFFile
	// Roles are the requested roles of this repository.
	Roles []string
	// Missing explains a requested role the repository does not have.
	Missing map[string]string
}

// TUFFile is one metadata file: role, version and the log entry holding
// its bytes verbatim.
type TUFFile struct {
	Role    string
	Version int64
	Seq     uint64
}

// Name is the file's consistent-snapshot name (VERSION.ROLE.json; the
// timestamp is timestamp.json).
func (f TUFFile) Name() string {
	if f.Role == "timestamp" {
		return "timestamp.json"
	}
	return fmt.Sprintf("%d.%s.json", f.Version, f.Role)
}

// PGPSignature is a line of a published OpenPGP manifest naming one of the
// digests: the manifest is log entry Seq, signed by key Signer of the
// certificate Primary at SignedAt.
type PGPSignature struct {
	Seq      uint64
	Digest   digest.Digest
	Name     string
	Signer   string
	Primary  string
	SignedAt time.Time
}

// PGPProblem is a manifest (log entry Seq) the server could not read as
// signed lines, and why.
type PGPProblem struct {
	Seq    uint64
	Reason string
}

// PGPDecision is the chain decision for one signature and one pinned root
// set: may Signer sign for Name at SignedAt, given Roots.
type PGPDecision struct {
	Roots    []string
	Name     string
	Signer   string
	SignedAt time.Time
	// Observed is when the log first recorded the manifest: the decision
	// judges the signature at the later of SignedAt and Observed (the one
	// time rule).
	Observed time.Time
	Allowed  bool
	// Root and Links are the chain when allowed: root first, each link a
	// delegation or rotation statement (a log entry, cited by Seq).
	Root  string
	Links []PGPLink
	// Refusal is the refusal code when not allowed, RefusalSeq the
	// statement at fault (0: none) and Detail the reason.
	Refusal    string
	RefusalSeq uint64
	Detail     string
	// Error, when set, says the decision could not be made (a malformed
	// root fingerprint): the requirement is undecided.
	Error string
}

// PGPLink is one step of a chain: From passes authority to To by the
// statement at log entry Seq.
type PGPLink struct {
	Kind     string
	From, To string
	Seq      uint64
}

// Attestation is a log entry (Seq) naming one of the digests as an
// attestation: its signer ids (key ids, OpenPGP fingerprints, Sigstore
// signer ids), the fields trustd indexed from its predicate, and, when
// trustd counts it as revoked, why.
type Attestation struct {
	Seq           uint64
	Digest        digest.Digest
	PredicateType string
	Signers       []string
	Index         *policy.AttestationIndex
	Revoked       string
}

// Target kinds of revocations.
const (
	TargetDigest    = "digest"
	TargetKey       = "key"
	TargetStatement = "statement"
	TargetToken     = "token"
)

// Actions of a revocation state.
const (
	ActionRevoke    = "revoke"
	ActionReinstate = "reinstate"
)

// Revocation is the revocation state of one target at the bundle's time:
// State is nil when the target was checked and never revoked; InForce says
// whether the state voids what is used at At.
type Revocation struct {
	Kind string
	ID   string
	// State is the target's current revocation or reinstatement.
	State *RevocationState
	// InForce is true when State voids the target's use at At.
	InForce bool
}

// RevocationState is a revocation or reinstatement: who, why, from when,
// and the log entry that says so (a revocation statement, or an OpenPGP
// revocation certificate or rotation for a key).
type RevocationState struct {
	Action     string
	Reason     string
	Effective  time.Time
	Revokers   []string
	Seq        uint64
	RecordedAt time.Time
}

// Reputation is the vote figures of the digests over one trust set
// (empty: every voter): the like/dislike axis's score (its Wilson lower
// bound) and voter counts.
type Reputation struct {
	TrustSet           []string
	Score              float64
	Positive, Negative int64
	// Error, when set, says the figures could not be computed for this
	// trust set (an invalid trust root): the requirement is undecided.
	Error string
}

// Publisher is a key that publishes Digest (revocation.Service.IsPublisher,
// the one definition), found through the log entry Seq. When Digest is not
// one of the request's digests, Claim is the alias claim that links it.
type Publisher struct {
	Key    string
	Digest digest.Digest
	Seq    uint64
	Claim  *AliasClaim
}

// AliasClaim is signed evidence that several digests name the same bytes:
// a statement (log entry Seq) or a TUF target (Reference).
type AliasClaim struct {
	Source    string
	Reference string
	Seq       uint64
	Signers   []string
	Digests   []digest.Digest
	ClaimedAt time.Time
}
