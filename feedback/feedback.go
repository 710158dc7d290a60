// Package feedback keeps signed votes about digests (like/dislike and
// trust/distrust), trust statements between voters, and publishers'
// responses, and answers reputation queries over them: global totals, and
// the same figures weighted over a web of trust from the caller's roots.
// Every vote, trust statement and response is an in-toto statement in a
// DSSE envelope that goes through statement.Log.Submit; this package
// validates them before they are stored and, inside the append
// transaction, maintains the current votes and their totals, so totals
// always equal a recount. Export and Import carry the signed envelopes
// verbatim between trustd instances.
package feedback

import (
	"context"
	"errors"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// Errors callers branch on.
var (
	// ErrInvalidPredicate means a feedback predicate is malformed.
	ErrInvalidPredicate = errors.New("invalid feedback predicate")
	// ErrFutureTimestamp means a statement's signed time is later than the
	// server's clock allows.
	ErrFutureTimestamp = errors.New("timestamp in the future")
	// ErrRateLimited means the signing key submitted more feedback than the
	// rate limit allows; retry later.
	ErrRateLimited = errors.New("feedback rate limit exceeded")
	// ErrNotPublisher means a response is signed by a key that is not a
	// publisher of the digest (see Publishers).
	ErrNotPublisher = errors.New("signer is not a publisher of the subject")
	// ErrUnknownKey means a trust statement names a key that is not
	// registered.
	ErrUnknownKey = errors.New("key not registered")
	// ErrInvalidQuery means a reputation query is malformed.
	ErrInvalidQuery = errors.New("invalid reputation query")
	// ErrInvalidExport means an export document is malformed.
	ErrInvalidExport = errors.New("invalid feedback export")
	// ErrNoIdentities means a query asked for verified identities only on a
	// service with no identity verifier.
	ErrNoIdentities = errors.New("no identity verifier configured")
)

// Revocations tells which keys are revoked and from when; the revocation
// package implements it. By the one time rule (package timerule), votes
// of a revoked key that the log recorded at or after that time stop
// counting: all of them for a hard revocation, whose time is zero.
type Revocations interface {
	// KeyRevokedAt returns from when keyID's votes stop counting (the
	// zero time for a hard revocation) and whether it is revoked.
	KeyRevokedAt(ctx context.Context, keyID string) (time.Time, bool, error)
	// RevokedKeys returns every revoked key with from when its votes stop
	// counting (zero: all of them).
	RevokedKeys(ctx context.Context) (map[string]time.Time, error)
}

// BulkRevocations is a Revocations that answers for many keys at once
// (revocation.Service is one): a reputation query then reads its voters'
// revocations in one go, not voter by voter.
type BulkRevocations interface {
	// KeysRevokedAt returns the revoked keys among keyIDs, each with what
	// KeyRevokedAt returns for it.
	KeysRevokedAt(ctx context.Context, keyIDs []string) (map[string]time.Time, error)
}

// Publishers decides who published a digest: a key of the TUF targets
// role or the OpenPGP manifest that published it first (not a mirror
// listing it later), or a configured attestation signer. revocation.Service implements it, so revocation
// authority, the right to respond and alias links share one definition.
type Publishers interface {
	// IsPublisher reports whether keyID is a publisher of any of ds.
	IsPublisher(ctx context.Context, keyID string, ds ...digest.Digest) (bool, error)
	// WrittenByPublisher returns the sequence numbers of those of entries
	// that a publisher of d wrote (its TUF role's metadata, whichever key
	// signs the role now, or an entry signed by a publisher), judging
	// them by the types and signers they carry.
	WrittenByPublisher(ctx context.Context, d digest.Digest, entries ...store.EntryMeta) ([]int64, error)
}

// Identities tells which keys are bound to a verified identity (a
// Sigstore identity, or an OpenPGP key with a valid certification path),
// for queries that count verified voters only.
type Identities interface {
	Verified(ctx context.Context, keyID string) (bool, error)
}

// BulkIdentities is an Identities that answers for many keys at once
// (identity.Verifier is one): --verified-only then costs a few reads,
// not a dozen per voter.
type BulkIdentities interface {
	// VerifiedKeys reports Verified for each of keyIDs (absent: false).
	VerifiedKeys(ctx context.Context, keyIDs []string) (map[string]bool, error)
}

// RateLimit bounds the feedback statements one key may submit: at most N
// within any window Per (of server time). Zero N means no limit.
type RateLimit struct {
	N   int
	Per time.Duration
}

// Options configure a Service.
type Options struct {
	// MaxSkew is how far in the future a signed timestamp may be (default
	// five minutes).
	MaxSkew time.Duration
	// RateLimit applies to every feedback statement appended, submitted
	// here or imported: another instance's admission is no reason to let a
	// key write faster here.
	RateLimit RateLimit
	// Revocations, when set, drops votes of revoked keys; nil means no key
	// is revoked.
	Revocations Revocations
	// Identities, when set, answers which voters are verified.
	Identities Identities
	// Publishers decides who may respond to votes on a digest and whose
	// TUF targets and manifests link its aliases; nil means nobody.
	Publishers Publishers
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the part of the store this package uses.
type Store interface {
	store.Reader
	Update(ctx context.Context, fn func(ctx context.Context, w store.Writer) error) error
}

// Service validates and indexes feedback statements and answers reputation
// queries.
type Service struct {
	store Store
	opts  Options
	// graphs is the compiled current web of trust.
	graphs *graphCache
	// voteCache keeps vote rows read at the current log size.
	voteCache *voteCache
}

// New returns a Service over s.
func New(s Store, opts Options) *Service {
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: s, opts: opts, graphs: &graphCache{}, voteCache: &voteCache{}}
}

// Validators returns the statement validators of the feedback predicate
// types, for statement.Options.Validators.
func (s *Service) Validators() map[string]statement.Validator {
	return map[string]statement.Validator{
		VotePredicateType:     s.validateVote,
		TrustPredicateType:    s.validateTrust,
		ResponsePredicateType: s.validateResponse,
	}
}

// BatchIndexers returns the vote indexer in its batch form, for
// statement.Options.BatchIndexers: a group-committed batch of votes costs
// one read and one write of the vote tables, not three statements per vote.
// It replaces the per-entry vote indexer of Indexers.
func (s *Service) BatchIndexers() map[string]statement.BatchIndexer {
	return map[string]statement.BatchIndexer{VotePredicateType: s.indexVotes}
}

// ReadAheads returns, for statement.Options.ReadAheads, the batch vote
// indexer's read announced before a batch is appended, so the append's
// first round trip makes it: a batch of votes then costs the round trips
// of a batch of other statements.
func (s *Service) ReadAheads() map[string]statement.ReadAhead {
	return map[string]statement.ReadAhead{VotePredicateType: s.readVotesAhead}
}

// Indexers returns the indexers that maintain votes, totals, trust edges
// and responses, for statement.Options.Indexers.
func (s *Service) Indexers() map[string]statement.Indexer {
	return map[string]statement.Indexer{
		VotePredicateType:     s.indexVote,
		TrustPredicateType:    s.indexTrust,
		ResponsePredicateType: s.indexResponse,
	}
}
