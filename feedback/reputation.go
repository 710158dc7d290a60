package feedback

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
	"github.com/trustd-dev/trustd/tufstore"
)

// Query bounds.
const (
	DefaultDepth  = 3
	MaxDepth      = 8
	MaxTrustRoots = 64
	// MaxAttestationSigners bounds the keys whose attestations may link
	// aliases; the store reads their claims by key.
	MaxAttestationSigners = 64
	MaxMinPaths           = 16
	DefaultResponseLimit  = 20
	MaxResponseLimit      = 200
)

// Query asks for the reputation of a digest.
type Query struct {
	Digest digest.Digest
	// AttestationSigners are keys whose in-toto attestations the caller
	// accepts as asserting alias links (TUF targets and OpenPGP manifests
	// count when the publisher of the digests wrote them; other signers
	// never do).
	AttestationSigners []string
	// TrustRoots, when set, count only voters reachable from these keys
	// through trust statements within Depth, weighted by level.
	TrustRoots []string
	// Depth is the number of trust statements a path may chain (default 3).
	Depth int
	// VerifiedOnly counts only voters bound to a verified identity.
	VerifiedOnly bool
	// MinPaths, with trust roots, counts only voters reached by at least
	// this many vertex-disjoint trust paths from the roots through reached
	// identities (roots always qualify).
	MinPaths int
	// HalfLife, when set, weighs a vote by 0.5^(age/HalfLife).
	HalfLife time.Duration
	// ResponseLimit bounds the responses returned (default 20).
	ResponseLimit int
}

// Axis holds the figures of one axis (like/dislike or trust/distrust).
type Axis struct {
	// Positive and Negative count the voters.
	Positive, Negative int64
	// PositiveWeight and NegativeWeight sum their weights (equal to the
	// counts without trust roots or half-life).
	PositiveWeight, NegativeWeight float64
	// Score is the lower bound of the 95% Wilson score interval of the
	// positive share: it ranks by confidence, not raw ratio.
	Score float64
}

// Alias is a digest whose votes count for the queried one, with the claim
// that links it (none for the queried digest itself).
type Alias struct {
	Digest       digest.Digest
	Source       store.ClaimSource
	Reference    string
	SignerKeyIDs []string
}

// Reputation is the answer to a Query.
type Reputation struct {
	Digest  digest.Digest
	Aliases []Alias
	Quality Axis
	Trust   Axis
	// Voters counts distinct voters with a counted vote on either axis.
	Voters     int64
	LastVoteAt time.Time
	// WebOfTrust is true when trust roots restricted the voters; Reached
	// is then the number of identities reached (roots included).
	WebOfTrust bool
	Reached    int
	Responses  []store.FeedbackResponse
}

// WilsonLowerBound is the lower bound of the 95% Wilson score interval for
// pos positive out of pos+neg (weighted) observations; 0 when there are
// none.
func WilsonLowerBound(pos, neg float64) float64 {
	n := pos + neg
	if n <= 0 {
		return 0
	}
	const z = 1.959963984540054
	p := pos / n
	return max(0, (p+z*z/(2*n)-z*math.Sqrt((p*(1-p)+z*z/(4*n))/n))/(1+z*z/n))
}

func (q *Query) check() error {
	bad := func(field, reason string) error {
		return inputerr.New("feedback: reputation", field, ErrInvalidQuery, reason)
	}
	switch {
	case q.Digest.IsZero():
		return bad("digest", "required")
	case len(q.AttestationSigners) > MaxAttestationSigners:
		return bad("attestation_signers", fmt.Sprintf("%d keys, at most %d", len(q.AttestationSigners), MaxAttestationSigners))
	case len(q.TrustRoots) > MaxTrustRoots:
		return bad("trust_roots", fmt.Sprintf("%d roots, at most %d", len(q.TrustRoots), MaxTrustRoots))
	case q.Depth < 0 || q.Depth > MaxDepth:
		return bad("depth", fmt.Sprintf("%d is outside 0..%d", q.Depth, MaxDepth))
	case q.MinPaths < 0 || q.MinPaths > MaxMinPaths:
		return bad("min_paths", fmt.Sprintf("%d is outside 0..%d", q.MinPaths, MaxMinPaths))
	case q.MinPaths > 0 && len(q.TrustRoots) == 0:
		return bad("min_paths", "needs trust roots")
	case q.HalfLife < 0:
		return bad("half_life", "negative")
	case q.ResponseLimit < 0 || q.ResponseLimit > MaxResponseLimit:
		return bad("response_limit", fmt.Sprintf("%d is outside 0..%d", q.ResponseLimit, MaxResponseLimit))
	}
	if slices.Contains(q.TrustRoots, "") {
		return bad("trust_roots", "empty key id")
	}
	if q.Depth == 0 {
		q.Depth = DefaultDepth
	}
	if q.ResponseLimit == 0 {
		q.ResponseLimit = DefaultResponseLimit
	}
	return nil
}

// Reputation answers q. Without trust roots or Sybil controls, and when no
// publisher links an alias, it reads the digest's totals (less the votes of
// revoked voters, read by key); otherwise it reads the vote rows of the
// digests involved (restricted to the reached identities under trust
// roots when the digests have many votes).
func (s *Service) Reputation(ctx context.Context, q Query) (Reputation, error) {
	if err := q.check(); err != nil {
		return Reputation{}, err
	}
	aliases, err := s.aliases(ctx, q.Digest, q.AttestationSigners)
	if err != nil {
		return Reputation{}, err
	}
	rep := Reputation{Digest: q.Digest, Aliases: aliases}
	ds := make([]digest.Digest, len(aliases))
	for i, a := range aliases {
		ds[i] = a.Digest
	}
	if q.VerifiedOnly && s.opts.Identities == nil {
		return Reputation{}, inputerr.New("feedback: reputation", "verified_only", ErrNoIdentities, "this server cannot tell verified identities")
	}

	if len(q.TrustRoots) == 0 && len(ds) == 1 && !q.VerifiedOnly && q.HalfLife == 0 {
		var revoked map[string]time.Time
		if s.opts.Revocations != nil {
			if revoked, err = s.opts.Revocations.RevokedKeys(ctx); err != nil {
				return Reputation{}, fmt.Errorf("feedback: revoked keys: %w", err)
			}
		}
		if err := s.fromTotals(ctx, &rep, ds[0], revoked); err != nil {
			return Reputation{}, err
		}
	} else {
		var (
			web    map[string]*node
			paths  *pathCounter
			voters []string
		)
		if len(q.TrustRoots) > 0 {
			var es edges
			if web, es, err = s.web(ctx, q.TrustRoots, q.Depth); err != nil {
				return Reputation{}, err
			}
			if q.MinPaths > 0 {
				paths = newPathCounter(web, es)
			}
			rep.WebOfTrust, rep.Reached = true, len(web)
			if voters, err = s.votersToRead(ctx, ds, web); err != nil {
				return Reputation{}, err
			}
		}
		votes, err := s.votes(ctx, ds, voters)
		if err != nil {
			return Reputation{}, fmt.Errorf("feedback: reputation of %s: %w", q.Digest, err)
		}
		if err := s.tally(ctx, &rep, q, votes, web, paths); err != nil {
			return Reputation{}, err
		}
	}
	if rep.Responses, err = s.store.FeedbackResponses(ctx, ds, q.ResponseLimit); err != nil {
		return Reputation{}, fmt.Errorf("feedback: responses to %s: %w", q.Digest, err)
	}
	return rep, nil
}

// maxVotesReadWhole is how many votes digests may have for a web-of-trust
// query to read them all whatever the roots: one read, cached until the
// log grows, serves every root.
const maxVotesReadWhole = 50_000

// votersToRead returns the reached identities whose votes on ds to read,
// or nil (read every vote on ds and filter them here) when the digests
// have few votes compared with the identities reached, or few at all: one
// scan of a few rows beats many lookups by voter, and it is cached.
func (s *Service) votersToRead(ctx context.Context, ds []digest.Digest, web map[string]*node) ([]string, error) {
	var votes int64
	for _, d := range ds {
		t, err := s.store.VoteTotals(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("feedback: totals of %s: %w", d, err)
		}
		votes += t.Likes + t.Dislikes + t.Trusts + t.Distrusts
	}
	if votes <= 4*int64(len(web)) || votes <= maxVotesReadWhole {
		return nil, nil
	}
	voters := make([]string, 0, len(web))
	for k := range web {
		voters = append(voters, k)
	}
	sort.Strings(voters)
	return voters, nil
}

// fromTotals fills rep from d's totals, less the counted votes of revoked
// voters (read by primary key, voter by voter).
func (s *Service) fromTotals(ctx context.Context, rep *Reputation, d digest.Digest, revoked map[string]time.Time) error {
	t, err := s.store.VoteTotals(ctx, d)
	if err != nil {
		return fmt.Errorf("feedback: reputation of %s: %w", d, err)
	}
	if len(revoked) > 0 && t.Voters > 0 {
		keys := make([]string, 0, len(revoked))
		for k := range revoked {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vs, err := s.store.Votes(ctx, []digest.Digest{d}, keys)
		if err != nil {
			return fmt.Errorf("feedback: reputation of %s: %w", d, err)
		}
		dropped := map[string]bool{}
		for _, v := range vs {
			if v.Value != 0 && voids(revoked[v.VoterKeyID], v.RecordedAt) {
				addTo(&t, v.Axis, v.Value, -1)
				dropped[v.VoterKeyID] = true
			}
		}
		// A dropped voter stops counting only if no vote of theirs remains.
		for _, v := range vs {
			if v.Value != 0 && !voids(revoked[v.VoterKeyID], v.RecordedAt) {
				delete(dropped, v.VoterKeyID)
			}
		}
		t.Voters -= int64(len(dropped))
	}
	rep.Quality = axisOf(float64(t.Likes), float64(t.Dislikes))
	rep.Quality.Positive, rep.Quality.Negative = t.Likes, t.Dislikes
	rep.Trust = axisOf(float64(t.Trusts), float64(t.Distrusts))
	rep.Trust.Positive, rep.Trust.Negative = t.Trusts, t.Distrusts
	rep.Voters, rep.LastVoteAt = t.Voters, t.LastVoteAt
	return nil
}

func axisOf(pos, neg float64) Axis {
	return Axis{PositiveWeight: pos, NegativeWeight: neg, Score: WilsonLowerBound(pos, neg)}
}

// currentVotes returns each voter's newest vote per axis across the
// digests of votes (aliases), by voter and axis.
func currentVotes(votes []store.Vote) []store.Vote {
	type key struct{ voter, axis string }
	current := map[key]store.Vote{}
	for _, v := range votes {
		k := key{v.VoterKeyID, v.Axis}
		if old, ok := current[k]; !ok || newer(v, old) {
			current[k] = v
		}
	}
	out := make([]store.Vote, 0, len(current))
	for _, v := range current {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].VoterKeyID < out[j].VoterKeyID || out[i].VoterKeyID == out[j].VoterKeyID && out[i].Axis < out[j].Axis
	})
	return out
}

// tally counts current (currentVotes: once per voter and axis, the newest across aliases),
// weighted by the web of trust and half-life, without withdrawn votes,
// revoked voters' later votes, unverified voters when asked, or voters
// with too few independent paths.
func (s *Service) tally(ctx context.Context, rep *Reputation, q Query, current []store.Vote, web map[string]*node, paths *pathCounter) error {
	verified := map[string]bool{}
	independent := map[string]bool{}
	revocations := map[string]revokedKey{}
	counted := make(map[string]bool, len(current))
	// Voters' revocations and identities, read for all of them at once
	// where the services can, and then looked up in the answers as they
	// are (no copy: at 10,000 voters, filling maps took a third of a
	// query).
	var (
		bulkRevoked  map[string]time.Time
		bulkVerified map[string]bool
	)
	bulkIDs, _ := s.opts.Identities.(BulkIdentities)
	bulkRevs, _ := s.opts.Revocations.(BulkRevocations)
	if bulkRevs != nil || (q.VerifiedOnly && bulkIDs != nil) {
		var voters []string
		for _, v := range current {
			if v.Value != 0 && (len(voters) == 0 || voters[len(voters)-1] != v.VoterKeyID) {
				voters = append(voters, v.VoterKeyID)
			}
		}
		var err error
		if bulkRevs != nil && len(voters) > 0 {
			if bulkRevoked, err = bulkRevs.KeysRevokedAt(ctx, voters); err != nil {
				return fmt.Errorf("feedback: revocation of voters: %w", err)
			}
		}
		if q.VerifiedOnly && bulkIDs != nil && len(voters) > 0 {
			if bulkVerified, err = bulkIDs.VerifiedKeys(ctx, voters); err != nil {
				return fmt.Errorf("feedback: identities of voters: %w", err)
			}
		}
	}
	var qual, trust Axis
	now := s.opts.Now()
	for _, v := range current {
		if v.Value == 0 {
			continue
		}
		if bulkRevoked != nil {
			if from, ok := bulkRevoked[v.VoterKeyID]; ok && voids(from, v.RecordedAt) {
				continue
			}
		} else if r, err := s.revokedAt(ctx, revocations, v.VoterKeyID); err != nil {
			return err
		} else if r.revoked && voids(r.from, v.RecordedAt) {
			continue
		}
		w := 1.0
		if web != nil {
			n := web[v.VoterKeyID]
			if n == nil || n.weight <= 0 {
				continue
			}
			if paths != nil {
				ok, seen := independent[v.VoterKeyID]
				if !seen {
					ok = paths.atLeast(v.VoterKeyID, q.MinPaths)
					independent[v.VoterKeyID] = ok
				}
				if !ok {
					continue
				}
			}
			w = n.weight
		}
		if q.VerifiedOnly && bulkVerified != nil {
			if !bulkVerified[v.VoterKeyID] {
				continue
			}
		} else if q.VerifiedOnly {
			ok, seen := verified[v.VoterKeyID]
			if !seen {
				var err error
				if ok, err = s.opts.Identities.Verified(ctx, v.VoterKeyID); err != nil {
					return fmt.Errorf("feedback: identity of %s: %w", v.VoterKeyID, err)
				}
				verified[v.VoterKeyID] = ok
			}
			if !ok {
				continue
			}
		}
		if q.HalfLife > 0 {
			if age := now.Sub(v.VotedAt); age > 0 {
				w *= math.Exp2(-float64(age) / float64(q.HalfLife))
			}
		}
		ax := &qual
		if v.Axis == AxisTrust {
			ax = &trust
		}
		if v.Value > 0 {
			ax.Positive++
			ax.PositiveWeight += w
		} else {
			ax.Negative++
			ax.NegativeWeight += w
		}
		counted[v.VoterKeyID] = true
		if v.VotedAt.After(rep.LastVoteAt) {
			rep.LastVoteAt = v.VotedAt
		}
	}
	qual.Score = WilsonLowerBound(qual.PositiveWeight, qual.NegativeWeight)
	trust.Score = WilsonLowerBound(trust.PositiveWeight, trust.NegativeWeight)
	rep.Quality, rep.Trust, rep.Voters = qual, trust, int64(len(counted))
	return nil
}

// revokedKey is a voter key's revocation: from when its votes stop
// counting (the zero time for a hard revocation: all of them).
type revokedKey struct {
	from    time.Time
	revoked bool
}

// voids reports whether a revocation whose votes stop counting from from
// (zero: every vote, a hard revocation) voids a vote the log recorded at
// recorded: the one time rule (timerule.Voids), a vote being judged at
// when the log observed it.
func voids(from, recorded time.Time) bool {
	return timerule.Voids(timerule.Revocation{Hard: from.IsZero(), Effective: from}, recorded, recorded)
}

// revokedAt returns keyID's revocation, asking Revocations once per key
// and query.
func (s *Service) revokedAt(ctx context.Context, cache map[string]revokedKey, keyID string) (revokedKey, error) {
	if s.opts.Revocations == nil {
		return revokedKey{}, nil
	}
	if r, ok := cache[keyID]; ok {
		return r, nil
	}
	at, revoked, err := s.opts.Revocations.KeyRevokedAt(ctx, keyID)
	if err != nil {
		return revokedKey{}, fmt.Errorf("feedback: revocation of %s: %w", keyID, err)
	}
	r := revokedKey{from: at, revoked: revoked}
	cache[keyID] = r
	return r, nil
}

// aliases returns d and the digests linked to it one hop away: by a
// record of a publisher of both (TUF targets metadata tufstore published
// or an OpenPGP manifest pgplog published, written by the publisher by the
// first-publication rule of Options.Publishers), or by an attestation of
// one of attestationSigners. Claims by anyone else (a mirror's target
// listing d beside other bytes, an attacker's attestation, a voter's own
// multi-digest vote) link nothing.
func (s *Service) aliases(ctx context.Context, d digest.Digest, attestationSigners []string) ([]Alias, error) {
	out := []Alias{{Digest: d}}
	// Only a publication's claim or a named signer's can link anything:
	// the store reads no others, however many strangers logged.
	claims, err := s.store.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{d}, Publications: true, SignedBy: attestationSigners})
	if err != nil {
		return nil, fmt.Errorf("feedback: aliases of %s: %w", d, err)
	}
	kinds := make([]claimKind, len(claims))
	var records []store.EntryMeta
	for i, c := range claims {
		if kinds[i] = claimKindOf(c, attestationSigners); kinds[i] == publisherRecord {
			records = append(records, c.Meta())
		}
	}
	// Which records d's publisher wrote, asked once for all of them.
	ofD := map[int64]bool{}
	if len(records) > 0 && s.opts.Publishers != nil {
		seqs, err := s.opts.Publishers.WrittenByPublisher(ctx, d, records...)
		if err != nil {
			return nil, fmt.Errorf("feedback: aliases of %s: %w", d, err)
		}
		for _, seq := range seqs {
			ofD[seq] = true
		}
	}
	seen := map[digest.Digest]bool{d: true}
	for i, c := range claims {
		if kinds[i] == noClaim || kinds[i] == publisherRecord && !ofD[c.StatementSeq] {
			continue
		}
		for _, cd := range c.Digests {
			if seen[cd] {
				continue
			}
			if kinds[i] == publisherRecord {
				// The publisher of d vouches for d, not for bytes someone
				// else published first: the record must be cd's
				// publisher's too.
				seqs, err := s.opts.Publishers.WrittenByPublisher(ctx, cd, c.Meta())
				if err != nil {
					return nil, fmt.Errorf("feedback: aliases of %s: %w", d, err)
				}
				if len(seqs) == 0 {
					continue
				}
			}
			seen[cd] = true
			out = append(out, Alias{Digest: cd, Source: c.Source, Reference: c.Reference, SignerKeyIDs: c.SignerKeyIDs})
		}
	}
	return out, nil
}

// claimKind says what an alias claim needs to count.
type claimKind int

const (
	// noClaim links nothing.
	noClaim claimKind = iota
	// publisherRecord links digests whose publisher wrote it.
	publisherRecord
	// namedAttestation is an attestation by a signer the caller named: it
	// links whatever it lists.
	namedAttestation
)

// claimKindOf classifies c by the log entry that made it. A record counts
// by the path that appended it: TUF metadata that tufstore published or a
// manifest pgplog published may be a publisher's (a forged record of those
// types is not), an attestation counts when the caller named a signer;
// a claim with no log entry behind it proves nobody made it.
func claimKindOf(c store.AliasClaim, attestationSigners []string) claimKind {
	// The claim carries its entry's types (no entry: none), so weighing
	// it reads nothing more: claims are many where a stranger wants them.
	if c.StatementSeq <= 0 || c.PayloadType == "" {
		return noClaim
	}
	switch {
	case recordtype.Publication(c.PayloadType, c.PredicateType):
		return publisherRecord
	case c.PredicateType == tufstore.PredicateType, c.PredicateType == pgplog.ManifestPredicateType:
		return noClaim
	case !recordtype.Attestation(c.PayloadType, c.PredicateType):
		return noClaim
	}
	for _, k := range c.SignerKeyIDs {
		if slices.Contains(attestationSigners, k) {
			return namedAttestation
		}
	}
	return noClaim
}
