package location

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// MaxLocations bounds the locations one lookup returns (the per-digest
// cap keeps the real number far below it).
const MaxLocations = 500

// maxAliases bounds the aliases a lookup follows.
const maxAliases = 16

// Publishers is trustd's one definition of who publishes a digest
// (revocation.Service).
type Publishers interface {
	IsPublisher(ctx context.Context, k string, ds ...digest.Digest) (bool, error)
	PublisherOf(ctx context.Context, d digest.Digest) (*revocation.DigestPublisher, error)
}

// Revocations tells which claims are withdrawn (revocation.Service).
type Revocations interface {
	StatementsRevoked(ctx context.Context, refs []revocation.StatementRef) ([]*revocation.Record, error)
}

// Options configure a Service.
type Options struct {
	// Rules are what locations must satisfy at submit.
	Rules Rules
	// MaxPerDigest bounds the location claims of one digest (default
	// DefaultMaxPerDigest); a publisher's claims are never refused by it.
	MaxPerDigest int
	// Publishers and Revocations are required.
	Publishers  Publishers
	Revocations Revocations
}

// Service validates and indexes location claims and answers where an
// artifact can be fetched.
type Service struct {
	store store.Reader
	opts  Options
}

// New returns a Service reading r.
func New(r store.Reader, opts Options) *Service {
	if opts.MaxPerDigest <= 0 {
		opts.MaxPerDigest = DefaultMaxPerDigest
	}
	return &Service{store: r, opts: opts}
}

// Validators returns the validator of PredicateType, for
// statement.Options.Validators.
func (s *Service) Validators() map[string]statement.Validator {
	return map[string]statement.Validator{PredicateType: s.validate}
}

// Indexers returns the indexer of PredicateType, for
// statement.Options.Indexers: it checks the per-digest cap again inside
// the append's transaction and records the location under each digest.
func (s *Service) Indexers() map[string]statement.Indexer {
	return map[string]statement.Indexer{PredicateType: s.index}
}

func (s *Service) validate(ctx context.Context, st envelope.Statement, signers []string) error {
	if len(signers) != 1 {
		return inputerr.New(opValidate, "signatures", ErrInvalid,
			fmt.Sprintf("a location claim is signed by exactly one registered key, its claimer; %d verified", len(signers)))
	}
	c, err := Parse(st, s.opts.Rules)
	if err != nil {
		return err
	}
	return s.checkCap(ctx, s.store, c.Digests, signers[0])
}

// checkCap refuses a claim by k when one of ds already has MaxPerDigest
// location claims, unless k publishes the artifact.
func (s *Service) checkCap(ctx context.Context, r store.Reader, ds []digest.Digest, k string) error {
	for _, d := range ds {
		n, err := r.LocationCount(ctx, d)
		if err != nil {
			return fmt.Errorf("location: claims of %s: %w", d, err)
		}
		if n < int64(s.opts.MaxPerDigest) {
			continue
		}
		pub, err := s.opts.Publishers.IsPublisher(ctx, k, ds...)
		if err != nil {
			return fmt.Errorf("location: publisher of %s: %w", d, err)
		}
		if pub {
			return nil
		}
		return inputerr.New(opValidate, "subject[0].digest", ErrTooMany,
			fmt.Sprintf("%s already has %d location claims (limit %d, trustd --max-locations-per-digest); only its publisher may add more", d, n, s.opts.MaxPerDigest))
	}
	return nil
}

func (s *Service) index(ctx context.Context, w store.Writer, e store.Statement) error {
	var raw struct {
		Predicate Predicate `json:"predicate"`
	}
	if err := json.Unmarshal(e.Payload, &raw); err != nil || raw.Predicate.URI == "" || len(e.Subjects) != 1 || len(e.SignerKeyIDs) != 1 {
		return fmt.Errorf("location: index entry %d: %w: not a location claim with one subject and one signer", e.Seq, ErrInvalid)
	}
	ds := e.Subjects[0].Digests
	if err := s.checkCap(ctx, w, ds, e.SignerKeyIDs[0]); err != nil {
		return err
	}
	for _, d := range ds {
		if err := w.PutLocation(ctx, store.Location{Seq: e.Seq, Digest: d, URI: raw.Predicate.URI, KeyID: e.SignerKeyIDs[0]}); err != nil {
			return fmt.Errorf("location: index entry %d: %w", e.Seq, err)
		}
	}
	return nil
}

// Found is one location offered for an artifact.
type Found struct {
	// URI is the location as claimed; URLs the concrete addresses (see
	// URLs).
	URI  string
	URLs []string
	Kind Kind
	// KeyID signed the claim, log entry Seq, recorded at RecordedAt.
	KeyID      string
	Seq        int64
	RecordedAt time.Time
	// Name and Digests are the claim's subject.
	Name    string
	Digests []digest.Digest
	// ViaAlias is the digest of the claim that a publisher's alias claim
	// links to the queried one, zero when the claim names it.
	ViaAlias digest.Digest
}

// Result is the answer of Lookup.
type Result struct {
	// Digest is the digest asked about.
	Digest digest.Digest
	// Digests are Digest and the aliases a publisher of Digest linked to
	// it (the digests a fetch may address the bytes by).
	Digests []digest.Digest
	// Length is the length of the artifact in the newest TUF targets
	// metadata of its publisher naming it (0: none), what a fetch caps
	// the transfer at; LengthFrom says where it was read
	// ("REPO ROLE vVERSION TARGET").
	Length     int64
	LengthFrom string
	// Locations are authoritative first, then mirrors, each oldest first;
	// withdrawn (revoked) claims and claims whose signer is revoked are
	// left out.
	Locations []Found
	// Truncated is set when more claims exist than were read.
	Truncated bool
}

// Lookup returns where the artifact with digest d can be fetched: the
// location claims naming d, or naming a digest that an alias claim by a
// publisher of d links to it. A stranger's alias claim links nothing, so
// it cannot point a digest at the stranger's location. The publisher's
// own locations are authoritative, everyone else's mirrors.
func (s *Service) Lookup(ctx context.Context, d digest.Digest) (Result, error) {
	res := Result{Digest: d, Digests: []digest.Digest{d}}
	aliases, err := s.aliases(ctx, d)
	if err != nil {
		return Result{}, err
	}
	res.Digests = append(res.Digests, aliases...)
	if res.Length, res.LengthFrom, err = s.length(ctx, d); err != nil {
		return Result{}, err
	}
	rows, err := s.store.Locations(ctx, res.Digests, MaxLocations+1)
	if err != nil {
		return Result{}, fmt.Errorf("location: %s: %w", d, err)
	}
	if len(rows) > MaxLocations {
		rows, res.Truncated = rows[:MaxLocations], true
	}
	// One Found per claim, preferring the row naming d itself.
	bySeq := map[int64]*Found{}
	var seqs []int64
	for _, r := range rows {
		f := bySeq[r.Seq]
		if f == nil {
			f = &Found{URI: r.URI, KeyID: r.KeyID, Seq: r.Seq, ViaAlias: r.Digest}
			bySeq[r.Seq] = f
			seqs = append(seqs, r.Seq)
		}
		if r.Digest == d {
			f.ViaAlias = digest.Digest{}
		}
	}
	if len(seqs) == 0 {
		return res, nil
	}
	sts, err := s.store.StatementsBySeq(ctx, seqs, true)
	if err != nil {
		return Result{}, fmt.Errorf("location: claims of %s: %w", d, err)
	}
	refs := make([]revocation.StatementRef, len(sts))
	for i, st := range sts {
		refs[i] = revocation.StatementRef{Seq: st.Seq, SignedAt: st.RecordedAt}
	}
	revoked, err := s.opts.Revocations.StatementsRevoked(ctx, refs)
	if err != nil {
		return Result{}, fmt.Errorf("location: claims of %s: %w", d, err)
	}
	var auth, mirrors []Found
	for i, st := range sts {
		if revoked[i] != nil || st.PredicateType != PredicateType || !recordtype.Genuine(st.PayloadType, st.PredicateType) {
			continue
		}
		f := bySeq[st.Seq]
		var raw struct {
			Subject []struct {
				Name string `json:"name"`
			} `json:"subject"`
		}
		if json.Unmarshal(st.Payload, &raw) == nil && len(raw.Subject) == 1 {
			f.Name = raw.Subject[0].Name
		}
		for _, r := range rows {
			if r.Seq == st.Seq {
				f.Digests = append(f.Digests, r.Digest)
			}
		}
		f.RecordedAt = st.RecordedAt
		f.URLs = URLs(f.URI, f.Name, f.Digests)
		pub, err := s.opts.Publishers.IsPublisher(ctx, f.KeyID, d)
		if err != nil {
			return Result{}, fmt.Errorf("location: publisher of %s: %w", d, err)
		}
		if pub {
			f.Kind = Authoritative
			auth = append(auth, *f)
		} else {
			f.Kind = Mirror
			mirrors = append(mirrors, *f)
		}
	}
	res.Locations = append(auth, mirrors...)
	return res, nil
}

// aliases returns the digests that alias claims written by a publisher of
// d link to d, one hop: a stranger's claim links nothing.
func (s *Service) aliases(ctx context.Context, d digest.Digest) ([]digest.Digest, error) {
	// Only a publication's claim or one a publisher key signed can be the
	// publisher's: the store reads no others.
	pb, err := s.opts.Publishers.PublisherOf(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("location: aliases of %s: %w", d, err)
	}
	keys, err := pb.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("location: aliases of %s: %w", d, err)
	}
	claims, err := s.store.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{d}, Publications: true, SignedBy: keys})
	if err != nil {
		return nil, fmt.Errorf("location: aliases of %s: %w", d, err)
	}
	// Sets, not lists: a stranger may add claims at will, and lists made
	// this quadratic in their number.
	var entries []store.EntryMeta
	asked := map[int64]bool{}
	for _, c := range claims {
		if c.StatementSeq > 0 && slices.Contains(c.Digests, d) && !asked[c.StatementSeq] {
			asked[c.StatementSeq] = true
			entries = append(entries, c.Meta())
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	written, err := pb.Wrote(ctx, entries...)
	if err != nil {
		return nil, fmt.Errorf("location: aliases of %s: %w", d, err)
	}
	byPublisher := make(map[int64]bool, len(written))
	for _, seq := range written {
		byPublisher[seq] = true
	}
	var out []digest.Digest
	for _, c := range claims {
		if !byPublisher[c.StatementSeq] || !slices.Contains(c.Digests, d) {
			continue
		}
		for _, a := range c.Digests {
			if a != d && !slices.Contains(out, a) && len(out) < maxAliases {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// length reads the length of d's target in the newest TUF targets
// metadata its publisher wrote naming d: its first publication, or the
// newest TUF entry naming d that a key of the publisher's role signed.
// Anyone may list d in a repository of their own, version after version,
// so the newest TUF entries naming d could all be a mirror's.
func (s *Service) length(ctx context.Context, d digest.Digest) (int64, string, error) {
	pb, err := s.opts.Publishers.PublisherOf(ctx, d)
	if err != nil {
		return 0, "", err
	}
	ev, err := pb.Entries(ctx, tufstore.PredicateType)
	if err != nil {
		return 0, "", fmt.Errorf("location: TUF targets naming %s: %w", d, err)
	}
	var entries []store.EntryMeta
	for _, e := range ev {
		if recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) {
			entries = append(entries, e.Meta())
		}
	}
	byPublisher, err := pb.Wrote(ctx, entries...)
	if err != nil || len(byPublisher) == 0 {
		return 0, "", err
	}
	newest := slices.Max(byPublisher)
	st, err := s.store.Statement(ctx, newest)
	if err != nil {
		return 0, "", fmt.Errorf("location: TUF entry %d: %w", newest, err)
	}
	desc, err := tufstore.Describe(st)
	if err != nil {
		return 0, "", nil
	}
	var doc struct {
		Signed struct {
			Targets map[string]struct {
				Length int64             `json:"length"`
				Hashes map[string]string `json:"hashes"`
			} `json:"targets"`
		} `json:"signed"`
	}
	if json.Unmarshal(st.Envelope, &doc) != nil {
		return 0, "", nil
	}
	names := make([]string, 0, len(doc.Signed.Targets))
	for name := range doc.Signed.Targets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := doc.Signed.Targets[name]
		if strings.EqualFold(t.Hashes[string(d.Algorithm())], d.Hex()) && t.Length > 0 {
			return t.Length, fmt.Sprintf("%s %s v%d %s", desc.Repo, desc.Role, desc.Version, name), nil
		}
	}
	return 0, "", nil
}

// Shared returns up to limit digests, after `after`, that both keyA and
// keyB claim a location of and that neither claim is withdrawn for: the
// content two vendors both hold.
func (s *Service) Shared(ctx context.Context, keyA, keyB string, after digest.Digest, limit int) ([]digest.Digest, error) {
	var out []digest.Digest
	for len(out) < limit {
		ds, err := s.store.SharedLocations(ctx, keyA, keyB, after, limit)
		if err != nil {
			return nil, fmt.Errorf("location: shared by %s and %s: %w", keyA, keyB, err)
		}
		for _, d := range ds {
			ok, err := s.bothHold(ctx, d, keyA, keyB)
			if err != nil {
				return nil, err
			}
			if ok && len(out) < limit {
				out = append(out, d)
			}
		}
		if len(ds) < limit {
			break
		}
		after = ds[len(ds)-1]
	}
	return out, nil
}

// bothHold reports whether keyA and keyB each have a location claim of d
// in force (not revoked).
func (s *Service) bothHold(ctx context.Context, d digest.Digest, keyA, keyB string) (bool, error) {
	rows, err := s.store.Locations(ctx, []digest.Digest{d}, MaxLocations)
	if err != nil {
		return false, fmt.Errorf("location: %s: %w", d, err)
	}
	var refs []revocation.StatementRef
	seqs := map[int64]bool{}
	for _, r := range rows {
		if r.KeyID == keyA || r.KeyID == keyB {
			seqs[r.Seq] = true
		}
	}
	list := make([]int64, 0, len(seqs))
	for seq := range seqs {
		list = append(list, seq)
	}
	sts, err := s.store.StatementsBySeq(ctx, list, false)
	if err != nil {
		return false, fmt.Errorf("location: %s: %w", d, err)
	}
	for _, st := range sts {
		refs = append(refs, revocation.StatementRef{Seq: st.Seq, SignedAt: st.RecordedAt})
	}
	revoked, err := s.opts.Revocations.StatementsRevoked(ctx, refs)
	if err != nil {
		return false, fmt.Errorf("location: %s: %w", d, err)
	}
	var a, b bool
	for i, st := range sts {
		if revoked[i] != nil || len(st.SignerKeyIDs) != 1 {
			continue
		}
		a = a || st.SignerKeyIDs[0] == keyA
		b = b || st.SignerKeyIDs[0] == keyB
	}
	return a && b, nil
}
