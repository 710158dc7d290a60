// Package store defines the storage contract every trustd backend fulfils:
// subjects and their digests, alias claims with provenance, registered keys
// and the append-only statement log. Backends live in store/postgres and
// store/sqlite and are held to one conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
)

// Errors callers branch on. Backends wrap driver errors into these so that
// nothing above store/ sees pgx or SQLite types.
var (
	// ErrNotFound means the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write collides with an existing, different record
	// under the same identity (for example another key under the same key id).
	ErrConflict = errors.New("conflict with an existing record")
	// ErrInvalid means the record handed to the store is malformed; nothing
	// was written.
	ErrInvalid = errors.New("invalid record")
	// ErrUnavailable means the backend could not be reached or failed in a
	// way that a retry may fix.
	ErrUnavailable = errors.New("store unavailable")
	// ErrSignedBefore means an entry's signer logged the same signed
	// payload (Statement.SignedDigest) in another entry, which does not
	// have all of this one's signers: nothing was stored.
	ErrSignedBefore = errors.New("signed payload logged before")
)

// Subject is one artifact, known by one or more digests: those that one
// record (the first to name any of them) introduced together. A later
// record naming a known digest beside others links them by its alias
// claim (see AliasClaim) and adds nothing to the subject.
type Subject struct {
	ID        int64
	CreatedAt time.Time
	// Digests are the digests recorded under this subject, in the order
	// they were first seen.
	Digests []digest.Digest
}

// ClaimSource says what kind of signed evidence asserted an alias link.
type ClaimSource string

// Claim sources known to trustd.
const (
	// ClaimStatement is an in-toto statement whose subject listed several
	// digests of the same bytes.
	ClaimStatement ClaimSource = "statement"
	// ClaimTUFTarget is a TUF target whose hashes listed several algorithms.
	ClaimTUFTarget ClaimSource = "tuf-target"
)

// Valid reports whether s is a known claim source.
func (s ClaimSource) Valid() bool {
	return s == ClaimStatement || s == ClaimTUFTarget
}

// AliasClaim records that a signer asserted several digests name the same
// bytes. trustd never sees the bytes, so the link is only as good as its
// signer: readers label whatever they reach through it with the claim.
type AliasClaim struct {
	// ID numbers a claim AddAliasClaim stored; a statement's claim, read
	// from its subject, has none (0).
	ID int64
	// Source and Reference identify the evidence that made the claim; the
	// pair is unique, so recording the same claim twice is a no-op.
	Source    ClaimSource
	Reference string
	// StatementSeq is the log entry holding the signed claim, or 0 when the
	// claim comes from elsewhere (a TUF target).
	StatementSeq int64
	// SignerKeyIDs are the keys whose signatures carry the claim.
	SignerKeyIDs []string
	// PayloadType and PredicateType are those of log entry StatementSeq
	// (empty without one), read with the claim, so a reader can tell what
	// kind of record makes it without reading each entry again.
	PayloadType, PredicateType string
	Digests                    []digest.Digest
	ClaimedAt                  time.Time
}

// Meta returns what c says of the log entry that makes it (Seq 0 and
// no types when none does).
func (c AliasClaim) Meta() EntryMeta {
	return EntryMeta{Seq: c.StatementSeq, PayloadType: c.PayloadType, PredicateType: c.PredicateType, SignerKeyIDs: c.SignerKeyIDs}
}

// Key is a registered public key. Registering grants nothing: authority comes
// from delegations, TUF roles and policy.
type Key struct {
	ID        string
	Type      string
	PublicKey []byte
	Label     string
	CreatedAt time.Time
}

// PGPKey indexes one key (the primary key or a subkey) of a registered
// OpenPGP certificate, so that a signature's issuer resolves to the
// certificate, whose registry key id is its primary fingerprint.
type PGPKey struct {
	// Fingerprint is the key's fingerprint, lowercase hex.
	Fingerprint string
	// KeyID is the key's 64-bit key id as 16 lowercase hex digits.
	KeyID string
	// Primary is the certificate's primary fingerprint: a registered key id.
	// A primary key is indexed under itself.
	Primary string
}

// StatementSubject is one artifact a statement is about: an in-toto subject
// with its name and its digests (several when it lists several algorithms).
type StatementSubject struct {
	Name    string
	Digests []digest.Digest
}

// Statement is one accepted signed statement, kept verbatim.
type Statement struct {
	// Seq is the global, gapless log sequence number, assigned on append.
	Seq int64
	// EnvelopeDigest identifies the envelope bytes; appending the same
	// envelope twice returns the first entry.
	EnvelopeDigest digest.Digest
	// SignedDigest, when not zero, identifies what the signatures sign
	// apart from how the envelope encodes it (envelope.PAEDigest of a DSSE
	// payload): each signer logs it once. An entry whose signers all
	// logged it in one earlier entry is that entry (a re-encoded copy);
	// one whose signers logged it elsewhere, or not all of them, is
	// refused (ErrSignedBefore). The append paths set it; reads leave it
	// zero.
	SignedDigest  digest.Digest
	PayloadType   string
	PredicateType string
	Envelope      []byte
	Payload       []byte
	SignerKeyIDs  []string
	Subjects      []StatementSubject
	RecordedAt    time.Time
	// Publication marks an entry that publishes the digests it lists
	// (recordtype.Publication, which the append path decides): its
	// subjects' alias claims are kept apart from everyone's, for the
	// readers ClaimQuery.Publications serves. Reads leave it false.
	Publication bool
}

// Evidence is a log entry that names one of the digests a lookup asked
// about.
type Evidence struct {
	Seq int64
	// PayloadType is the stored payload type, which tells the path that
	// appended the entry (see recordtype.Origin).
	PayloadType   string
	PredicateType string
	SignerKeyIDs  []string
	// Digest is the digest the statement names.
	Digest     digest.Digest
	RecordedAt time.Time
}

// EntryMeta is what a reader judges a log entry by without reading it:
// its sequence number, the types that tell which path appended it, and
// its signers. Evidence rows and alias claims carry it, so weighing many
// of them (a stranger may log as many as they like) reads nothing more.
type EntryMeta struct {
	Seq                        int64
	PayloadType, PredicateType string
	SignerKeyIDs               []string
}

// Meta returns what e says of its log entry.
func (e Evidence) Meta() EntryMeta {
	return EntryMeta{Seq: e.Seq, PayloadType: e.PayloadType, PredicateType: e.PredicateType, SignerKeyIDs: e.SignerKeyIDs}
}

// EvidenceQuery selects log entries naming some digests.
type EvidenceQuery struct {
	// Digests are the digests asked about; at least one.
	Digests []digest.Digest
	// PredicateType, when set, keeps only statements of that type.
	PredicateType string
	// SignerKeyID, when set, keeps only statements that key signed.
	SignerKeyID string
	// BeforeSeq, when positive, keeps only entries older than it (paging).
	BeforeSeq int64
	// AfterSeq, when positive, keeps only entries newer than it (paging
	// OldestFirst).
	AfterSeq int64
	// OldestFirst returns the oldest entries first, not the newest: a
	// search for the first entry that counts ends at it, instead of
	// reading past every later one.
	OldestFirst bool
	// Limit bounds the number of entries returned.
	Limit int
}

// EvidencePage selects a page of a subject's evidence, newest first.
type EvidencePage struct {
	// BeforeSeq, when positive, keeps only entries older than it (the
	// last entry of the previous page).
	BeforeSeq int64
	// Limit bounds the evidence rows returned; 0 returns none.
	Limit int
	// Claims bounds the statements' alias claims read, as ClaimQuery.Limit
	// does; 0 reads them all.
	Claims int
}

// SubjectView is the stored material of one subject lookup.
type SubjectView struct {
	Subject Subject
	Claims  []AliasClaim
	// ClaimCount counts every claim naming the subject's digests, those
	// EvidencePage.Claims left out included.
	ClaimCount int
	Evidence   []Evidence
}

// ClaimQuery selects among the alias claims naming some digests. Anyone
// may log a statement whose subject lists someone's digest beside
// another, so those are as many as strangers like; a reader takes the
// ones it can use, and the store reads no others.
type ClaimQuery struct {
	// Digests are the digests asked about.
	Digests []digest.Digest
	// Publications and SignedBy, when either is set, keep only the claims
	// AddAliasClaim stored, those of publications (when Publications; see
	// Statement.Publication) and those of entries one of SignedBy
	// signed: what can link digests for a reader that trusts publishers
	// and the keys it names. A stranger's flood adds none of them.
	Publications bool
	SignedBy     []string
	// Limit, when positive, bounds the statements' claims returned:
	// publications' first, then the oldest. Stored claims all come.
	Limit int
}

// LogNode is a stored node of the statement log's Merkle tree.
type LogNode struct {
	ID   compact.NodeID
	Hash []byte
}

// LogTip is the end of the log as an appender that wrote its last entries
// knows it: the next entry's sequence number and the right edge of the
// tree of the entries before it (the nodes compact.RangeNodes(0, Next-1)
// names, in that order). Those nodes fix the tree's root and every node a
// later append computes, so an appender holding the tip can plan its
// append without reading the log.
type LogTip struct {
	Next int64
	Edge []LogNode
	// After, when not 0, is the first sequence number of the append,
	// planned against a tip itself and still committing, that leaves this
	// tip: an append planned against this one takes the log lock after
	// that append's commit (or failure), not before.
	After int64
}

// TUFFile is one published TUF metadata file of a repository, kept
// verbatim.
type TUFFile struct {
	Role    string
	Version int64
	Data    []byte
}

// TUFPending is a TUF metadata proposal collecting signatures. Several may
// be pending for one role and version, each keyed by Digest (the hex
// SHA-256 of its signed part, which the tuf package computes).
type TUFPending struct {
	Role    string
	Version int64
	// Digest is the proposal's key; empty on rows written before proposals
	// were keyed (the reader computes it, and the next update stores it).
	Digest string
	Data   []byte
}

// TUFRef names one version of a TUF role's metadata.
type TUFRef struct {
	Repo, Role string
	Version    int64
}

// TUFReader reads TUF repositories: published metadata and pending
// proposals.
type TUFReader interface {
	// TUFMetadata returns the bytes of repo's published role at version,
	// exactly as published; version 0 means the highest published version.
	// Errors: ErrNotFound (also when the repository does not exist).
	TUFMetadata(ctx context.Context, repo, role string, version int64) ([]byte, error)
	// TUFMetadataDigests returns, in one read, the sha256 (hex) of each
	// published version refs name, leaving out those not published: what
	// tells whether a log entry is a published file (its envelope digest)
	// without reading the files.
	TUFMetadataDigests(ctx context.Context, refs []TUFRef) (map[TUFRef]string, error)
	// TUFPending returns every pending proposal of repo, by role, version
	// and digest; none is not an error.
	TUFPending(ctx context.Context, repo string) ([]TUFPending, error)
	// TUFRepos returns the name of every repository (one with a published
	// root), in name order.
	TUFRepos(ctx context.Context) ([]string, error)
}

// TUFWriter writes TUF repositories inside a transaction.
type TUFWriter interface {
	// PublishTUF inserts published files. A (repo, role, version) that
	// already exists is ErrConflict: that uniqueness is the
	// compare-and-swap that stops two concurrent publishes from both
	// winning. Published files are never changed afterwards.
	PublishTUF(ctx context.Context, repo string, files []TUFFile) error
	// PutTUFPending inserts (expect nil) or replaces (expect the stored
	// bytes) the pending proposal for p's role, version and digest (a
	// digest is required). ErrConflict when expect is nil and that proposal
	// exists, or when its stored bytes are not expect (or there are none).
	// A row stored with an empty digest and exactly expect is replaced too,
	// and gets p's digest.
	PutTUFPending(ctx context.Context, repo string, p TUFPending, expect []byte) error
	// DropTUFPending deletes every pending proposal for role and version,
	// whatever its digest; none is ignored.
	DropTUFPending(ctx context.Context, repo, role string, version int64) error
}

// Vote is the current vote of one voter (a registered key) on one digest
// along one axis, as the feedback indexer keeps it.
type Vote struct {
	VoterKeyID string
	Digest     digest.Digest
	Axis       string
	// Value is +1 or -1, or 0 once the voter withdrew the vote.
	Value int
	// VotedAt is the signed time of the vote; a vote replaces another only
	// when it is later (Seq breaks ties).
	VotedAt    time.Time
	Seq        int64
	RecordedAt time.Time
}

// VoteTotals are the counts of standing votes on one digest; Voters counts
// distinct voters with a standing vote on either axis.
type VoteTotals struct {
	Likes, Dislikes, Trusts, Distrusts, Voters int64
	// LastVoteAt is the latest signed time of a vote counted (zero when
	// none).
	LastVoteAt time.Time
}

// VoteDelta is a change to one digest's vote totals (see
// FeedbackWriter.PutVotes).
type VoteDelta struct {
	Digest digest.Digest
	Delta  VoteTotals
}

// TrustEdge is the current trust statement of one identity about another.
type TrustEdge struct {
	TrusterKeyID, TrusteeKeyID string
	// Level is 3 (high), 2 (medium), 1 (low), -1 (distrust) or 0
	// (withdrawn).
	Level    int
	StatedAt time.Time
	Seq      int64
}

// TrustEdgeVersion is one trust statement in the web of trust versioned
// by log sequence: the edge stood after every log entry from Seq up to,
// not including, SupersededAtSeq (0: it still stands; equal to Seq: it
// never stood, a statement signed earlier than the one standing).
type TrustEdgeVersion struct {
	TrustEdge
	SupersededAtSeq int64
}

// IdentityBinding is one side's signature on a well-formed, genuine
// Sigstore identity binding statement (package identity): Signer is the
// bound key (KeyID) or the Sigstore identity (Identity, its signer id).
type IdentityBinding struct {
	Signer     string
	Seq        int64
	KeyID      string
	Identity   string
	RecordedAt time.Time
}

// Derived tables that entries logged before they existed are replayed
// into at start (see FeedbackReader.DerivedBackfill).
const (
	BackfillTrustEdgeVersions = "trust_edge_versions"
	BackfillIdentityBindings  = "identity_bindings"
	// BackfillSignedDigests is Statement.SignedDigest of the entries
	// logged before it was recorded (see Writer.SetSignedDigest).
	BackfillSignedDigests = "signed_digests"
)

// FeedbackResponse is a publisher's signed response to a vote on a digest
// or to the digest's reputation.
type FeedbackResponse struct {
	Seq            int64
	Digest         digest.Digest
	PublisherKeyID string
	// InReplyTo is the envelope digest of the vote answered, or "".
	InReplyTo   string
	Body        string
	RespondedAt time.Time
}

// FeedbackProvenance records that log entry Seq was imported from another
// instance's log, identified only by what the importer verified: the
// log's note verifier key, and the checkpoint signed by it (tree size and
// root hash) in which entry SourceSeq of that log was proven included.
type FeedbackProvenance struct {
	Seq            int64
	VerifierKey    string
	CheckpointSize uint64
	CheckpointHash []byte
	SourceSeq      int64
	ImportedAt     time.Time
}

// FeedbackReader reads the tables the feedback indexer maintains.
type FeedbackReader interface {
	// Votes returns the vote rows (withdrawn ones included) on any of ds,
	// restricted to voters when voters is not nil, ordered by digest,
	// axis and voter.
	Votes(ctx context.Context, ds []digest.Digest, voters []string) ([]Vote, error)
	// VoteTotals returns the totals of d; all zero when nobody voted.
	VoteTotals(ctx context.Context, d digest.Digest) (VoteTotals, error)
	// TrustEdges returns the current trust edges stated by any of
	// trusters, withdrawn ones (Level 0) included, by truster and trustee.
	TrustEdges(ctx context.Context, trusters []string) ([]TrustEdge, error)
	// TrustEdgeVersions returns every version of the edge (truster,
	// trustee), by Seq.
	TrustEdgeVersions(ctx context.Context, truster, trustee string) ([]TrustEdgeVersion, error)
	// TrustEdgesAt returns the edges that stood after log entry seq
	// (withdrawn ones included), by truster and trustee: the web of trust
	// as of that log size.
	TrustEdgesAt(ctx context.Context, seq int64) ([]TrustEdge, error)
	// TrustEdgesSince returns the current edges whose statement is a log
	// entry after afterSeq (every current edge for 0), by Seq: what a web
	// compiled at afterSeq must apply to be current.
	TrustEdgesSince(ctx context.Context, afterSeq int64) ([]TrustEdge, error)
	// IdentityBindings returns the identity binding rows signed by any of
	// signers, by signer and newest (highest Seq) first.
	IdentityBindings(ctx context.Context, signers []string) ([]IdentityBinding, error)
	// DerivedBackfill returns up to which log entry the derived table name
	// (Backfill…) still has entries to replay from the log; 0 when none.
	DerivedBackfill(ctx context.Context, name string) (int64, error)
	// FeedbackResponses returns up to limit responses on any of ds,
	// newest first.
	FeedbackResponses(ctx context.Context, ds []digest.Digest, limit int) ([]FeedbackResponse, error)
	// FeedbackProvenance returns where entry seq was imported from; none
	// when it was submitted here.
	FeedbackProvenance(ctx context.Context, seq int64) ([]FeedbackProvenance, error)
	// StatementSeqByEnvelope returns the sequence number of the log entry
	// whose envelope has digest d. Errors: ErrNotFound.
	StatementSeqByEnvelope(ctx context.Context, d digest.Digest) (int64, error)
	// SignedSince counts the log entries of the given predicate types that
	// keyID signed and that were recorded at or after since.
	SignedSince(ctx context.Context, keyID string, predicateTypes []string, since time.Time) (int64, error)
}

// FeedbackWriter writes the feedback tables inside a transaction.
type FeedbackWriter interface {
	// PutVotes inserts or replaces the vote row of (Digest, Axis,
	// VoterKeyID) of each of votes (whose digests must be recorded) and
	// adds each of totals' counts to its digest's totals (creating them,
	// raising LastVoteAt when later), in one round trip where the backend
	// can: the feedback indexer writes a group-committed batch's votes with
	// it. At most one vote per (Digest, Axis, VoterKeyID) and one delta per
	// digest (else ErrInvalid); nothing is written on error.
	PutVotes(ctx context.Context, votes []Vote, totals []VoteDelta) error
	// ReadVotesAhead announces the Votes read (of ds, by voters; nil:
	// all) that will follow the transaction's next append, so the
	// append's first round trip makes it: until PutVotes, Votes on some of
	// ds by some of voters is answered from it without a round trip. The
	// vote indexer calls it before a batch is appended (see
	// statement.ReadAhead).
	ReadVotesAhead(ds []digest.Digest, voters []string)
	// PutTrustEdge inserts or replaces the edge (TrusterKeyID,
	// TrusteeKeyID).
	PutTrustEdge(ctx context.Context, e TrustEdge) error
	// PutTrustEdgeVersion inserts or replaces (by Seq) the version v.
	PutTrustEdgeVersion(ctx context.Context, v TrustEdgeVersion) error
	// PutIdentityBinding records b; the same (Signer, Seq) again is a
	// no-op.
	PutIdentityBinding(ctx context.Context, b IdentityBinding) error
	// SetDerivedBackfill records that derived table name still has the
	// log entries up to through to replay (0: none).
	SetDerivedBackfill(ctx context.Context, name string, through int64) error
	// AddFeedbackResponse records r; the same (Digest, Seq) again is a
	// no-op.
	AddFeedbackResponse(ctx context.Context, r FeedbackResponse) error
	// AddFeedbackProvenance records p; the same (Seq, VerifierKey) again
	// is a no-op.
	AddFeedbackProvenance(ctx context.Context, p FeedbackProvenance) error
}

// RevocationRecord is one revocation or reinstatement of a target, as
// derived from its log entry: an event of the history, or (with the seq of
// the event that made it) the current state of the target.
type RevocationRecord struct {
	// TargetKey is revocation.TargetKey(Kind, TargetID): 32 bytes.
	TargetKey []byte
	Kind      string
	TargetID  string
	// Action is "revoke" or "reinstate".
	Action    string
	Reason    string
	Effective time.Time
	// Revokers are the key ids that signed the statement.
	Revokers   []string
	Seq        int64
	RecordedAt time.Time
}

// RevocationReader reads the revocation index (see RevocationRecord).
type RevocationReader interface {
	// Revocation returns the current state of the target with this key.
	// Errors: ErrNotFound when it was never revoked.
	Revocation(ctx context.Context, targetKey []byte) (RevocationRecord, error)
	// RevocationEvents returns up to limit events with seq above afterSeq
	// and at most uptoSeq (0: no bound), oldest first.
	RevocationEvents(ctx context.Context, afterSeq, uptoSeq int64, limit int) ([]RevocationRecord, error)
	// ActiveRevocations returns up to limit current states whose action is
	// revoke, with seq above afterSeq and at most uptoSeq (0: no bound), in
	// seq order (the order they were written in, so mostly the table's).
	ActiveRevocations(ctx context.Context, afterSeq, uptoSeq int64, limit int) ([]RevocationRecord, error)
	// RevocationsOfKind returns up to limit current states of one target
	// kind whose action is revoke, with target ids above afterID, in
	// target id order.
	RevocationsOfKind(ctx context.Context, kind, afterID string, limit int) ([]RevocationRecord, error)
	// RevocationsOf returns the current states of the targets with these
	// keys in one read: those that have one (a target never revoked has
	// none and is left out), in no particular order; and the revocation
	// head (RevocationHead) read in the same statement as the states (the
	// first of them, when so many keys are asked for that they take
	// several), so every revocation up to the head is in the states.
	RevocationsOf(ctx context.Context, targetKeys [][]byte) ([]RevocationRecord, int64, error)
	// RevocationHead returns the highest event seq, 0 when there is none.
	RevocationHead(ctx context.Context) (int64, error)
	// StatementByEnvelope returns the log entry whose envelope has digest
	// d (its EnvelopeDigest). Errors: ErrNotFound.
	StatementByEnvelope(ctx context.Context, d digest.Digest) (Statement, error)
}

// RevocationWriter writes the revocation index inside the transaction that
// appends the revocation's log entry.
type RevocationWriter interface {
	// PutRevocation records event and sets the target's current state to
	// current (inserted or replaced). An event seq already recorded is
	// ErrConflict; a malformed record ErrInvalid.
	PutRevocation(ctx context.Context, event, current RevocationRecord) error
}

// Attestation is what trustd indexes from the predicate of an attestation
// whose predicate type it understands (SLSA provenance, SBOMs, SLSA VSAs),
// so that a policy can ask "built by builder X from repository Y" without
// parsing every predicate. Empty fields were absent from the predicate.
type Attestation struct {
	// Seq is the log entry of the attestation.
	Seq                int64
	BuilderID          string
	BuildType          string
	SourceRepository   string
	SourceRef          string
	DocumentName       string
	DocumentVersion    string
	VerifierID         string
	VerificationResult string
}

// AttestationEntry is one log entry naming a digest, as an attestation
// listing shows it: the entry's metadata and, when its predicate type is
// one trustd indexes, the index.
type AttestationEntry struct {
	Seq           int64
	PayloadType   string
	PredicateType string
	SignerKeyIDs  []string
	// SubjectName is the name the entry gives the subject with Digest.
	SubjectName string
	Digest      digest.Digest
	RecordedAt  time.Time
	// EnvelopeDigest identifies the entry's signed bytes.
	EnvelopeDigest digest.Digest
	// Index is nil for opaque predicate types.
	Index *Attestation
}

// AttestationQuery selects the log entries naming one digest.
type AttestationQuery struct {
	Digest digest.Digest
	// PredicateType and SignerKeyID, when set, filter the entries.
	PredicateType string
	SignerKeyID   string
	// BeforeSeq, when positive, keeps only entries older than it (paging).
	BeforeSeq int64
	// AfterSeq, when positive, keeps only entries newer than it (paging
	// OldestFirst).
	AfterSeq int64
	// OldestFirst returns the oldest entries first, not the newest: a
	// search for the first entry that counts ends at it, instead of
	// reading past every later one.
	OldestFirst bool
	// Limit bounds the number of entries returned.
	Limit int
}

// LayoutLink records that log entry Seq is an in-toto link for step Step
// of the in-toto layout at log entry LayoutSeq, signed by KeyID (the
// in-toto key id of a functionary key the layout lists).
type LayoutLink struct {
	LayoutSeq int64
	Step      string
	Seq       int64
	KeyID     string
}

// AttestReader reads the attestation index.
type AttestReader interface {
	// Attestations returns the log entries naming q.Digest, newest first,
	// with their attestation index where there is one.
	Attestations(ctx context.Context, q AttestationQuery) ([]AttestationEntry, error)
	// Attestation returns the index of the entry seq. Errors: ErrNotFound
	// when the entry has none (an opaque predicate type, or no such entry).
	Attestation(ctx context.Context, seq int64) (Attestation, error)
	// LayoutLinks returns up to limit links recorded for the layout at
	// layoutSeq, by step and sequence number.
	LayoutLinks(ctx context.Context, layoutSeq int64, limit int) ([]LayoutLink, error)
}

// AttestWriter writes the attestation index inside a transaction.
type AttestWriter interface {
	// PutAttestation stores the index of an entry; storing it again is a
	// no-op. Errors: ErrInvalid (no such entry).
	PutAttestation(ctx context.Context, a Attestation) error
	// PutLayoutLink records a link of a layout; recording it again is a
	// no-op. Errors: ErrInvalid (an empty step or key id, no such entry).
	PutLayoutLink(ctx context.Context, l LayoutLink) error
}

// Location is one row of the location index: log entry Seq (a location
// claim signed by KeyID) says the artifact with digest Digest is available
// at URI.
type Location struct {
	Seq    int64
	Digest digest.Digest
	URI    string
	KeyID  string
}

// LocationReader reads the location index.
type LocationReader interface {
	// Locations returns up to limit rows naming any of ds, oldest first.
	Locations(ctx context.Context, ds []digest.Digest, limit int) ([]Location, error)
	// LocationCount returns how many rows name d.
	LocationCount(ctx context.Context, d digest.Digest) (int64, error)
	// SharedLocations returns up to limit digests, in canonical order and
	// after `after` (zero: from the start), that both keyA and keyB claim
	// a location of.
	SharedLocations(ctx context.Context, keyA, keyB string, after digest.Digest, limit int) ([]digest.Digest, error)
}

// LocationWriter writes the location index inside a transaction.
type LocationWriter interface {
	// PutLocation stores a row; storing it again is a no-op.
	// Errors: ErrInvalid (no such entry, an empty field).
	PutLocation(ctx context.Context, l Location) error
}

// Reader is the read side of the store.
type Reader interface {
	TUFReader
	FeedbackReader
	RevocationReader
	AttestReader
	LocationReader

	// SubjectByDigest returns the subject that d is recorded under.
	// Errors: ErrNotFound.
	SubjectByDigest(ctx context.Context, d digest.Digest) (Subject, error)
	// AliasClaims returns the claims q selects among those naming at least
	// one of its digests, oldest first: those AddAliasClaim stored and
	// those of logged statements.
	AliasClaims(ctx context.Context, q ClaimQuery) ([]AliasClaim, error)
	// SubjectView reads in one go what a lookup of d shows: the subject of
	// d, the alias claims naming any of its digests, and up to page.Limit
	// evidence rows (newest first, older than page.BeforeSeq when set)
	// naming any digest of the subject or of those claims (claims are
	// followed one hop, no further). Errors: ErrNotFound when d is unknown.
	SubjectView(ctx context.Context, d digest.Digest, page EvidencePage) (SubjectView, error)
	// Key returns a registered key. Errors: ErrNotFound.
	Key(ctx context.Context, id string) (Key, error)
	// KeysByID returns the registered keys with these ids in one read, in
	// id order, leaving out ids not registered.
	KeysByID(ctx context.Context, ids []string) ([]Key, error)
	// Keys returns up to limit registered keys with ids after `after`, in id
	// order.
	Keys(ctx context.Context, after string, limit int) ([]Key, error)
	// KeyCount returns how many keys of keyType are registered.
	KeyCount(ctx context.Context, keyType string) (int64, error)
	// KeyByLabel returns the key whose label is label, ignoring ASCII
	// case. Errors: ErrNotFound, also for the empty label (no label).
	KeyByLabel(ctx context.Context, label string) (Key, error)
	// KeyByAlias returns the key registered with alias as another id (an
	// in-toto key id, see PutKeyAliases). Errors: ErrNotFound.
	KeyByAlias(ctx context.Context, alias string) (Key, error)
	// Statement returns the log entry with sequence number seq.
	// Errors: ErrNotFound.
	Statement(ctx context.Context, seq int64) (Statement, error)
	// StatementsBySeq returns the log entries with these sequence numbers
	// in one read, in sequence order, leaving out those that do not exist.
	// Subjects are not filled in; with envelopes false neither are
	// Envelope and Payload (what a revocation check needs, cheaply read).
	StatementsBySeq(ctx context.Context, seqs []int64, envelopes bool) ([]Statement, error)
	// StatementPayloads returns the log entries with these sequence
	// numbers in one read, as StatementsBySeq does, with their payloads
	// but not their envelopes: trustd's own records keep what it knows
	// about them (a TUF entry's repository, role and version) in a small
	// payload beside a large envelope.
	StatementPayloads(ctx context.Context, seqs []int64) ([]Statement, error)
	// Evidence returns the log entries naming any of q.Digests, newest first,
	// one per (entry, digest) pair.
	Evidence(ctx context.Context, q EvidenceQuery) ([]Evidence, error)
	// StatementsByPredicate returns up to limit log entries of one
	// predicate type with sequence numbers above afterSeq, oldest first
	// (paging: pass the last Seq seen). Subjects are not filled in.
	StatementsByPredicate(ctx context.Context, predicateType string, afterSeq int64, limit int) ([]Statement, error)
	// SignedBefore reports whether any of keyIDs logged the signed payload
	// d (Statement.SignedDigest) in an entry.
	SignedBefore(ctx context.Context, d digest.Digest, keyIDs []string) (bool, error)
	// StatementsAfter returns up to limit log entries of any type with
	// sequence numbers above afterSeq, oldest first, as
	// StatementsByPredicate does.
	StatementsAfter(ctx context.Context, afterSeq int64, limit int) ([]Statement, error)
	// PGPKey returns the index entry of an OpenPGP key by fingerprint.
	// Errors: ErrNotFound.
	PGPKey(ctx context.Context, fingerprint string) (PGPKey, error)
	// PGPKeysByKeyID returns the index entries of every OpenPGP key with a
	// 64-bit key id (16 lowercase hex digits), by primary and fingerprint.
	// Key ids can collide, so there may be several.
	PGPKeysByKeyID(ctx context.Context, keyID string) ([]PGPKey, error)
	// LogSize returns the number of entries in the statement log.
	LogSize(ctx context.Context) (uint64, error)
	// LogNodes returns the hashes of the given tree nodes, in order.
	// Errors: ErrNotFound when any is missing.
	LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
	// LogVerifierKey returns the verifier key of the log's checkpoints as
	// recorded by SetLogVerifierKey. Errors: ErrNotFound when none is.
	LogVerifierKey(ctx context.Context) (string, error)
	// LogCosignatures returns the witness cosignatures stored for the
	// checkpoint of treeSize, by witness key.
	LogCosignatures(ctx context.Context, treeSize uint64) ([]LogCosignature, error)
	// LatestLogCosignature returns the cosignature of the largest tree size
	// stored for witness (its verifier key). Errors: ErrNotFound.
	LatestLogCosignature(ctx context.Context, witness string) (LogCosignature, error)
	// DigestLookup reads what an evidence lookup of some digests needs in
	// one round trip (on PostgreSQL one statement, so one snapshot): see
	// DigestLookupQuery and DigestLookup.
	DigestLookup(ctx context.Context, q DigestLookupQuery) (DigestLookup, error)
}

// DigestLookupQuery selects what DigestLookup reads.
type DigestLookupQuery struct {
	// Digests are the digests looked up; at least one.
	Digests []digest.Digest
	// Limit bounds the rows naming the digests (one per entry, digest and
	// subject naming it), newest first, as Evidence and Attestations
	// order them.
	Limit int
	// TargetKeys are revocation target keys whose states are read besides
	// those DigestLookup derives from the entries (the digests' own, for
	// instance).
	TargetKeys [][]byte
	// NodeLevels is how many of the lowest levels of the log tree to read
	// the inclusion-path nodes of for every statement returned (0: none).
	NodeLevels int
}

// DigestLookup is what an evidence lookup of some digests reads from the
// store at once.
type DigestLookup struct {
	// Naming are the rows naming the digests, newest first, one per
	// (entry, digest, subject), with the attestation index when the entry
	// has one (as Attestations returns them), at most Limit.
	Naming []AttestationEntry
	// Statements are, with their envelopes (no payloads, which the
	// envelopes hold, and no subjects), the entries of Naming and the
	// revocation statements of Revocations, in sequence order.
	Statements []Statement
	// Revocations are the current states of TargetKeys, of every signer
	// of an entry in Naming (kind "key") and of every such entry itself
	// (kind "statement", by envelope digest); targets never revoked have
	// none.
	Revocations []RevocationRecord
	// RevocationHead is the newest revocation event (RevocationHead): every
	// state in Revocations is at least this new.
	RevocationHead int64
	// LogSize is the number of log entries (LogSize), at least the
	// sequence number of every statement returned.
	LogSize uint64
	// Nodes are the stored tree nodes below level NodeLevels that are
	// siblings on the path from a statement's leaf to the root of the
	// tree of LogSize (the lower part of its inclusion proof), in no
	// particular order. A sibling not yet complete is not among them.
	Nodes []LogNode
}

// Writer is the read-write view inside one transaction.
type Writer interface {
	Reader
	TUFWriter
	FeedbackWriter
	RevocationWriter
	AttestWriter
	LocationWriter
	// PutKey registers k. Registering the same key again is a no-op that
	// returns the stored record (with its first label); another key under
	// the same id, or a label another key holds (ignoring ASCII case), is
	// ErrConflict.
	PutKey(ctx context.Context, k Key) (Key, error)
	// PutKeyAliases records aliases as other ids of the registered key
	// keyID (the key ids in-toto computes for it). An alias equal to keyID
	// is skipped and one already recorded for keyID is a no-op; an alias
	// that is another key's id or alias is ErrConflict, an unregistered
	// keyID or an empty alias ErrInvalid.
	PutKeyAliases(ctx context.Context, keyID string, aliases []string) error
	// ReplaceKeyMaterial sets the public key of registered key id to next
	// when it is prev (a compare-and-swap, so of two concurrent updates
	// one fails instead of losing the other's packets). Only an OpenPGP
	// certificate grows this way, by a merge that keeps every packet of
	// prev, with every change in the log (pgplog.UpdateCertificate).
	// Errors: ErrNotFound, ErrConflict (the stored key is not prev),
	// ErrInvalid (empty next).
	ReplaceKeyMaterial(ctx context.Context, id string, prev, next []byte) error
	// AppendStatement adds s to the log and indexes it under every digest of
	// every subject. The digests of one statement subject are placed as
	// AddAliasClaim places them, and when there are several the subject is
	// an alias claim (source ClaimStatement, reference "SEQ/INDEX", signed
	// by s's signers, claimed when recorded), read from the subject.
	// Appending an envelope already in the log returns the original entry
	// and false, and so does one whose SignedDigest its signers all logged
	// in one entry. Errors: ErrInvalid, ErrSignedBefore.
	AppendStatement(ctx context.Context, s Statement) (Statement, bool, error)
	// AppendStatements appends several statements in order, as
	// AppendStatement would one by one, in a number of round trips that
	// does not grow with len(sts). It returns each entry and whether it was
	// new; an envelope given twice is appended once.
	AppendStatements(ctx context.Context, sts []Statement) ([]Statement, []bool, error)
	// AppendStatementsAt is AppendStatements for an appender that knows
	// the log's tip, and so need not hold the log lock while it reads: the
	// new entries are numbered from tip.Next, and the lock is taken, and
	// the tip checked, with the transaction's writes, where a backend can
	// send them together (PostgreSQL: in the round trip that commits). The
	// reads before it (known envelopes and digests) may so miss what a
	// concurrent append is writing; such an append's envelope or digest
	// makes this one fail on its unique key. When the log's tip is not
	// tip, the transaction fails with ErrConflict and stores nothing.
	AppendStatementsAt(ctx context.Context, sts []Statement, tip LogTip) ([]Statement, []bool, error)
	// SetSignedDigest records d as the SignedDigest of log entry seq, which
	// was logged without one, for each of its signers that has not logged
	// d in an earlier entry, and reports whether all of them were (false:
	// the entry repeats a payload an earlier entry holds). The backfill of
	// entries logged before signed digests were recorded calls it, in log
	// order. Errors: ErrNotFound (no such entry).
	SetSignedDigest(ctx context.Context, seq int64, d digest.Digest) (bool, error)
	// AddAliasClaim records c. Digests not yet known share one new subject;
	// digests already known stay in theirs, so a claim never merges
	// subjects nor adds to one (anyone's claim could name anyone's
	// digest). The same
	// (Source, Reference) again returns the stored claim and false. Only
	// appending a statement makes a ClaimStatement claim; AddAliasClaim
	// refuses one. Errors: ErrInvalid, ErrConflict (same identity,
	// different content).
	AddAliasClaim(ctx context.Context, c AliasClaim) (AliasClaim, bool, error)
	// PutPGPKeys indexes the keys of a registered OpenPGP certificate.
	// Indexing a key again under the same primary is a no-op; under another
	// primary it is ErrConflict. Every Primary must be a registered key id
	// and every field set, else ErrInvalid.
	PutPGPKeys(ctx context.Context, keys []PGPKey) error
	// PutLogNodes stores completed tree nodes. Nodes are immutable: storing
	// a node again with the same hash is a no-op, with another hash
	// ErrConflict (from the call, or where the backend sends the writes
	// with the commit, PostgreSQL, from the transaction).
	PutLogNodes(ctx context.Context, nodes []LogNode) error
	// SetLogVerifierKey records key as the verifier key of the log's
	// checkpoints when the recorded key is expect ("" when none is
	// recorded yet): a compare-and-swap, so of two replicas racing to
	// record their keys one wins, and a planned rotation names the key it
	// replaces. Recording the key already recorded is a no-op.
	// Errors: ErrConflict (another key is recorded), ErrInvalid (empty key).
	SetLogVerifierKey(ctx context.Context, key, expect string) error
	// PutLogCosignature stores a verified witness cosignature. Storing one
	// for a witness and size already stored keeps the first (a no-op) when
	// the root hash is the same, and is ErrConflict when it differs.
	// Errors: ErrInvalid (a field missing).
	PutLogCosignature(ctx context.Context, c LogCosignature) error
}

// LogCosignature is a witness's cosignature (C2SP tlog-cosignature) of the
// log's checkpoint of one tree size, verified before it is stored.
type LogCosignature struct {
	// Witness is the witness's cosignature/v1 verifier key.
	Witness string
	// TreeSize and RootHash name the checkpoint cosigned.
	TreeSize uint64
	RootHash []byte
	// Line is the note signature line, "— name base64\n".
	Line string
	// SignedAt is the cosignature's timestamp; RecordedAt when trustd
	// stored it.
	SignedAt   time.Time
	RecordedAt time.Time
}

// Store is a trustd backend.
type Store interface {
	Reader
	// Update runs fn in one transaction: it commits when fn returns nil and
	// rolls back otherwise, so nothing partial is stored.
	Update(ctx context.Context, fn func(ctx context.Context, w Writer) error) error
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}
