package tuf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
)

// Default online-role lifetimes.
const (
	DefaultSnapshotExpiry  = 7 * 24 * time.Hour
	DefaultTimestampExpiry = 24 * time.Hour
	// DefaultMaxDelegations is the number of roles go-tuf's updater visits
	// at most when it looks for a target.
	DefaultMaxDelegations = 32
)

// Config tunes a Service. Zero values take the defaults.
type Config struct {
	// Now is the clock (default time.Now); tests set a fake one.
	Now func() time.Time
	// SnapshotExpiry and TimestampExpiry are the lifetimes of newly signed
	// snapshot and timestamp metadata.
	SnapshotExpiry, TimestampExpiry time.Duration
	// SnapshotRefresh and TimestampRefresh: Refresh re-signs a role once
	// less than this remains before it expires (default: half its expiry).
	SnapshotRefresh, TimestampRefresh time.Duration
	// MaxUploadBytes and MaxDepth bound one uploaded document before it is
	// parsed (defaults DefaultMaxUploadBytes and DefaultMaxDepth).
	MaxUploadBytes, MaxDepth int
	// MaxDelegations is the client's delegation walk limit that target
	// reachability is checked against (default DefaultMaxDelegations).
	MaxDelegations int
	// Creation says who may create a repository with Init (the zero value:
	// anyone, any name outside trustd/). trustd configures it.
	Creation CreationPolicy
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SnapshotExpiry <= 0 {
		c.SnapshotExpiry = DefaultSnapshotExpiry
	}
	if c.TimestampExpiry <= 0 {
		c.TimestampExpiry = DefaultTimestampExpiry
	}
	if c.SnapshotRefresh <= 0 {
		c.SnapshotRefresh = c.SnapshotExpiry / 2
	}
	if c.TimestampRefresh <= 0 {
		c.TimestampRefresh = c.TimestampExpiry / 2
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxDelegations <= 0 {
		c.MaxDelegations = DefaultMaxDelegations
	}
	return c
}

// Service is trustd's TUF repository logic: it verifies uploaded metadata as
// a TUF client would, keeps under-threshold proposals pending, and publishes
// accepted metadata with new snapshot and timestamp signed by its online
// keys, through a State. Safe for concurrent use; concurrent publishes to
// one repository are serialised by State.Apply's compare-and-swap (the loser
// gets ErrConflict and may retry).
type Service struct {
	st   State
	keys *OnlineKeys
	cfg  Config

	mu     sync.Mutex
	dcache map[string]delegEntry
}

// New returns a Service over st signing with keys.
func New(st State, keys *OnlineKeys, cfg Config) (*Service, error) {
	if st == nil || keys == nil {
		return nil, errors.New("tuf: new service: a State and OnlineKeys are required")
	}
	if err := cfg.Creation.Validate(); err != nil {
		return nil, fmt.Errorf("tuf: new service: creation policy: %w", err)
	}
	return &Service{st: st, keys: keys, cfg: cfg.withDefaults(), dcache: map[string]delegEntry{}}, nil
}

var repoNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63}){0,3}$`)

// ValidRepoName checks a repository name: one to four '/'-separated
// segments of lower-case letters, digits and "._-", each starting with a
// letter or digit ("acme/images").
func ValidRepoName(name string) error {
	if !repoNameRE.MatchString(name) || strings.Contains(name, "..") {
		return &Error{Op: "repo name", Field: "repo", Kind: ErrMalformed,
			Reason: fmt.Sprintf("%q: want 1-4 '/'-separated segments of [a-z0-9._-], each starting with a letter or digit", trunc(name))}
	}
	return nil
}

// File-name and role helpers.

// Result is the outcome of Init, Upload or AddSignatures: what was published
// (to append to the log and index), or the pending proposal's status.
type Result struct {
	Repo    string
	Role    string
	Version int64
	// Published lists every file written, in order: the role, then the new
	// snapshot and timestamp. Empty when the proposal was kept pending.
	Published []File
	// Pending describes the proposal when it was kept pending because its
	// signatures do not yet meet the threshold.
	Pending *PendingStatus
	// SignedBy lists the key ids whose signatures verified.
	SignedBy []string
	// Targets lists every target added or changed by a published targets
	// role, for the digest index; Removed lists target paths it dropped.
	Targets []TargetRecord
	Removed []string
}

// TargetRecord is one published target, for indexing subjects: its hashes
// become alias digests with the role as provenance.
type TargetRecord struct {
	Name    string
	Length  int64
	Digests []digest.Digest // sha256 first, then sha512 if present
	Custom  json.RawMessage // the target's custom field, if any
	Role    string          // the targets role that signed it
	Version int64           // that role's version
	KeyIDs  []string        // the keys whose signatures on the role verified
}

// PendingStatus describes a proposal collecting signatures.
type PendingStatus struct {
	Role    string
	Version int64
	Expires time.Time
	// SignedDigest is the hex SHA-256 of the canonical JSON of the signed
	// part: what every key holder signs.
	SignedDigest string
	// Thresholds lists each threshold the proposal must meet (one for a
	// targets role per delegating role, two for a new root: the current
	// root's and its own).
	Thresholds []ThresholdStatus
	// Problem says why the proposal cannot be published as is (obsolete
	// version, expired, delegation changed) or what else it waits for (a
	// root that changes the targets keys and the targets version signed by
	// them are published together); empty if nothing.
	Problem string
}

// ThresholdStatus is one threshold of a pending proposal.
type ThresholdStatus struct {
	Authority string   // "root v3, role root", "targets v7, delegation releases"
	Threshold int      // signatures needed
	KeyIDs    []string // keys that may sign
	Signed    []string // keys that have signed (valid signatures)
	Missing   []string // keys that have not signed yet
}

// Status describes one repository.
type Status struct {
	Repo      string
	Root      RoleStatus
	Timestamp *RoleStatus // nil until the first targets is published
	Snapshot  *RoleStatus
	// Targets lists the top-level targets and every delegated role in the
	// current snapshot, by name (Expires is set for "targets" only).
	Targets []RoleStatus
	Pending []PendingStatus
}

// RoleStatus is the published state of one role.
type RoleStatus struct {
	Role    string
	Version int64
	Expires time.Time
}

// trusted is the current published state of a repository.
type trusted struct {
	root        *metadata.Metadata[metadata.RootType]
	snapshot    *metadata.Metadata[metadata.SnapshotType] // nil before the first targets
	snapshotRaw []byte
	timestamp   *metadata.Metadata[metadata.TimestampType]
}

func (s *Service) load(ctx context.Context, op, repo string) (*trusted, error) {
	raw, err := s.st.Get(ctx, repo, metadata.ROOT, 0)
	if isNotFound(err) {
		return nil, &Error{Op: op, Repo: repo, Kind: ErrUnknownRepo, Reason: "no such repository (Init creates it)"}
	}
	if err != nil {
		return nil, &Error{Op: op, Repo: repo, Kind: ErrNotFound, Reason: "load root", Err: err}
	}
	t := &trusted{}
	if t.root, err = (&metadata.Metadata[metadata.RootType]{}).FromBytes(raw); err != nil {
		return nil, fmt.Errorf("tuf: %s %s: stored root: %w", op, repo, err)
	}
	raw, err = s.st.Get(ctx, repo, metadata.SNAPSHOT, 0)
	switch {
	case isNotFound(err):
		return t, nil
	case err != nil:
		return nil, fmt.Errorf("tuf: %s %s: load snapshot: %w", op, repo, err)
	}
	if t.snapshot, err = (&metadata.Metadata[metadata.SnapshotType]{}).FromBytes(raw); err != nil {
		return nil, fmt.Errorf("tuf: %s %s: stored snapshot: %w", op, repo, err)
	}
	t.snapshotRaw = raw
	if raw, err = s.st.Get(ctx, repo, metadata.TIMESTAMP, 0); err != nil {
		return nil, fmt.Errorf("tuf: %s %s: load timestamp: %w", op, repo, err)
	}
	if t.timestamp, err = (&metadata.Metadata[metadata.TimestampType]{}).FromBytes(raw); err != nil {
		return nil, fmt.Errorf("tuf: %s %s: stored timestamp: %w", op, repo, err)
	}
	return t, nil
}

// Init creates repository repo from its root version 1, signed by a
// threshold of its own root keys. The root must use consistent snapshots,
// accepted key types, distinct keys, and name trustd's online keys (and only
// those) for snapshot and timestamp; it must not have expired. Nothing else
// is published until the first targets upload.
//
// The creation policy (Config.Creation) must allow repo for root v1's
// verified signers, and names under trustd/ are refused whatever it says
// (ErrNotAuthorized): trustd creates those itself with InitReserved.
func (s *Service) Init(ctx context.Context, repo string, rootJSON []byte) (*Result, error) {
	if err := ValidRepoName(repo); err != nil {
		return nil, err
	}
	if Reserved(repo) {
		return nil, s.cfg.Creation.Check(repo, nil)
	}
	return s.initRepo(ctx, repo, rootJSON, func(signers []string) error { return s.cfg.Creation.Check(repo, signers) })
}

// InitReserved creates one of trustd's own repositories (a name under
// trustd/) as Init does, without a creation policy. Only trustd itself
// calls it, at start; no request reaches it. Any other name is
// ErrNotAuthorized.
func (s *Service) InitReserved(ctx context.Context, repo string, rootJSON []byte) (*Result, error) {
	if err := ValidRepoName(repo); err != nil {
		return nil, err
	}
	if !Reserved(repo) {
		return nil, &Error{Op: "init reserved", Repo: repo, Field: "repo", Kind: ErrNotAuthorized,
			Reason: fmt.Sprintf("not one of trustd's own names (%s/…): create it with Init", ReservedNamespace)}
	}
	return s.initRepo(ctx, repo, rootJSON, nil)
}

// initRepo is Init once the name is judged; allow, if set, judges root v1's
// verified signers before anything is stored.
func (s *Service) initRepo(ctx context.Context, repo string, rootJSON []byte, allow func(signers []string) error) (*Result, error) {
	const op = "init"
	fail := func(f *fault) error { return opError(op, repo, metadata.ROOT, ErrMalformed, f) }
	if f := prescan(rootJSON, s.cfg.MaxUploadBytes, s.cfg.MaxDepth); f != nil {
		return nil, fail(f)
	}
	if _, err := s.st.Get(ctx, repo, metadata.ROOT, 1); err == nil {
		return nil, &Error{Op: op, Repo: repo, Kind: ErrRepoExists, Reason: "root v1 is already published; rotate the root instead"}
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("tuf: %s %s: %w", op, repo, err)
	}
	md, _, h, f := parseDoc[metadata.RootType](rootJSON, metadata.ROOT)
	if f != nil {
		return nil, fail(f)
	}
	if h.Version != 1 {
		return nil, fail(newFault(ErrVersion, "signed.version", fmt.Sprintf("%d, want 1: a repository starts at root v1", h.Version)))
	}
	if f := checkExpiry(md.Signed.Expires, s.cfg.Now()); f != nil {
		return nil, fail(f)
	}
	if f := checkRoot(&md.Signed, s.keys); f != nil {
		return nil, fail(f)
	}
	auths := []authority{rootAuthority(md, metadata.ROOT)}
	ev, f := evaluate(md, md.Signatures, auths)
	if f != nil {
		return nil, fail(f)
	}
	if !ev.met {
		return nil, fail(newFault(ErrThreshold, "signatures", fmt.Sprintf("%d valid of the %d root v1 needs: collect every signature offline, then Init",
			ev.counts[0], auths[0].threshold)))
	}
	if err := gate(md, auths); err != nil {
		return nil, fail(&fault{field: "signatures", reason: "threshold check", kind: ErrThreshold, err: err})
	}
	if allow != nil {
		if err := allow(ev.valid); err != nil {
			return nil, err
		}
	}
	files := []File{{Role: metadata.ROOT, Version: 1, Data: bytes.Clone(rootJSON)}}
	if err := s.st.Apply(ctx, Change{Repo: repo, Publish: files}); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, &Error{Op: op, Repo: repo, Kind: ErrRepoExists, Reason: "created concurrently", Err: err}
		}
		return nil, fmt.Errorf("tuf: %s %s: %w", op, repo, err)
	}
	return &Result{Repo: repo, Role: metadata.ROOT, Version: 1, Published: files, SignedBy: ev.valid}, nil
}

// Upload verifies signed metadata for role ("root", "targets" or a delegated
// targets role) exactly as a TUF client would against the current trusted
// metadata, then publishes it with a new snapshot and timestamp in one
// State.Apply. Metadata valid in every respect but signed by fewer keys than
// the threshold is kept pending (Result.Pending); signatures uploaded for a
// pending proposal with the same signed content are merged into it.
//
// Checks: size and depth limits, strict well-formed JSON (no duplicate
// keys), _type, spec_version 1.x, version = current + 1, expiry in the
// future, accepted key types, no duplicate key ids, delegations well formed,
// every target path inside the role's delegation and reached by the client's
// delegation walk, every signature by an authorised key and valid, and the
// threshold of every delegating role (for a root: the current root's and its
// own). On any error nothing is stored.
func (s *Service) Upload(ctx context.Context, repo, role string, signedJSON []byte) (*Result, error) {
	const op = "upload"
	if f := prescan(signedJSON, s.cfg.MaxUploadBytes, s.cfg.MaxDepth); f != nil {
		return nil, opError(op, repo, role, ErrMalformed, f)
	}
	switch role {
	case metadata.ROOT:
		return s.submitRoot(ctx, op, repo, signedJSON, nil, false)
	case metadata.SNAPSHOT, metadata.TIMESTAMP:
		return nil, &Error{Op: op, Repo: repo, Role: role, Field: "role", Kind: ErrUnknownRole,
			Reason: "snapshot and timestamp are signed by trustd's online keys; they cannot be uploaded"}
	case metadata.TARGETS:
	default:
		if f := checkRoleName("role", role); f != nil {
			return nil, opError(op, repo, role, ErrUnknownRole, &fault{field: "role", reason: f.reason, kind: ErrUnknownRole})
		}
	}
	return s.submitTargets(ctx, op, repo, role, signedJSON, nil, false)
}

// AddSignatures adds key holders' signatures to a pending proposal for role
// at version, verifying each, and publishes it once its thresholds are met.
// proposal names it by its signed digest (PendingStatus.SignedDigest) or a
// unique prefix of at least 8 hex digits; empty means the only one pending
// for that role and version (ErrAmbiguous when there are several).
// Signatures by keys that already signed are ignored.
func (s *Service) AddSignatures(ctx context.Context, repo, role string, version int64, proposal string, sigs []metadata.Signature) (*Result, error) {
	const op = "add signatures"
	p, err := s.selectPending(ctx, op, repo, role, version, proposal)
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, &Error{Op: op, Repo: repo, Role: role, Field: "signatures", Kind: ErrMalformed, Reason: "none given"}
	}
	seen := map[string]int{}
	for i, sg := range sigs {
		fld := fmt.Sprintf("signatures[%d]", i)
		if len(sg.KeyID) != 64 || !isHex(sg.KeyID) {
			return nil, &Error{Op: op, Repo: repo, Role: role, Field: fld + ".keyid", Kind: ErrMalformed, Reason: fmt.Sprintf("%q is not a TUF key id (64 hex digits)", trunc(sg.KeyID))}
		}
		if j, dup := seen[sg.KeyID]; dup {
			return nil, &Error{Op: op, Repo: repo, Role: role, Field: fld + ".keyid", Kind: ErrDuplicateKeyID, Reason: fmt.Sprintf("key %s already signs in signatures[%d]", sg.KeyID, j)}
		}
		seen[sg.KeyID] = i
		if len(sg.Signature) == 0 || len(sg.Signature)*2 > maxSignatureHex {
			return nil, &Error{Op: op, Repo: repo, Role: role, Field: fld + ".sig", Kind: ErrMalformed, Reason: "empty or too long"}
		}
	}
	merged, err := mergeSignatures(p.Data, sigs)
	if err != nil {
		return nil, opError(op, repo, role, nil, err)
	}
	if f := prescan(merged, s.cfg.MaxUploadBytes, s.cfg.MaxDepth); f != nil {
		return nil, opError(op, repo, role, ErrMalformed, f)
	}
	if role == metadata.ROOT {
		return s.submitRoot(ctx, op, repo, merged, p, false)
	}
	return s.submitTargets(ctx, op, repo, role, merged, p, false)
}

// MinProposalPrefix is the fewest hex digits of a signed digest that name
// a pending proposal.
const MinProposalPrefix = 8

// Proposal returns the pending proposal for role at version that proposal
// names (see AddSignatures): ErrNotFound if none, ErrAmbiguous if proposal
// is empty or a prefix and several match, ErrMalformed if it is not hex.
func (s *Service) Proposal(ctx context.Context, repo, role string, version int64, proposal string) (*Pending, error) {
	return s.selectPending(ctx, "proposal", repo, role, version, proposal)
}

// ProposalDigest returns the hex SHA-256 of the canonical JSON of a
// metadata document's signed part: the key of a pending proposal, the same
// for every signature it collects.
func ProposalDigest(doc []byte) (string, error) {
	var h struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(doc, &h); err != nil {
		return "", fmt.Errorf("tuf: proposal digest: %w: %w", ErrMalformed, err)
	}
	var (
		signed any
		err    error
	)
	switch h.Signed.Type {
	case metadata.ROOT:
		signed, err = parsedSigned[metadata.RootType](doc)
	case metadata.TARGETS:
		signed, err = parsedSigned[metadata.TargetsType](doc)
	default:
		return "", fmt.Errorf("tuf: proposal digest: signed._type %q: %w: want root or targets", trunc(h.Signed.Type), ErrMalformed)
	}
	if err != nil {
		return "", fmt.Errorf("tuf: proposal digest: %w: %w", ErrMalformed, err)
	}
	d := signedDigest(signed)
	if d == "" {
		return "", fmt.Errorf("tuf: proposal digest: %w: the signed part has no canonical JSON form", ErrMalformed)
	}
	return d, nil
}

func parsedSigned[T metadata.Roles](doc []byte) (any, error) {
	md, err := (&metadata.Metadata[T]{}).FromBytes(doc)
	if err != nil {
		return nil, err
	}
	return md.Signed, nil
}

// pendingFor lists the pending proposals for role at version.
func (s *Service) pendingFor(ctx context.Context, op, repo, role string, version int64) ([]Pending, error) {
	all, err := s.st.Pending(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("tuf: %s %s: list pending: %w", op, repo, err)
	}
	var out []Pending
	for _, p := range all {
		if p.Role == role && p.Version == version {
			out = append(out, p)
		}
	}
	return out, nil
}

// selectPending returns the pending proposal for role at version that
// proposal (a signed digest or a prefix of one, or empty) names.
func (s *Service) selectPending(ctx context.Context, op, repo, role string, version int64, proposal string) (*Pending, error) {
	proposal = strings.ToLower(proposal)
	if proposal != "" && (len(proposal) < MinProposalPrefix || len(proposal) > 64 || !isHex(proposal)) {
		return nil, &Error{Op: op, Repo: repo, Role: role, Field: "proposal", Kind: ErrMalformed,
			Reason: fmt.Sprintf("%q: want the proposal's signed digest or a prefix of it, %d to 64 hex digits", trunc(proposal), MinProposalPrefix)}
	}
	all, err := s.pendingFor(ctx, op, repo, role, version)
	if err != nil {
		return nil, err
	}
	var match []Pending
	for _, p := range all {
		if strings.HasPrefix(p.Digest, proposal) {
			match = append(match, p)
		}
	}
	switch {
	case len(match) == 1:
		return &match[0], nil
	case len(match) == 0 && proposal == "":
		return nil, &Error{Op: op, Repo: repo, Role: role, Kind: ErrNotFound, Reason: fmt.Sprintf("no pending proposal for %s v%d", role, version)}
	case len(match) == 0:
		return nil, &Error{Op: op, Repo: repo, Role: role, Field: "proposal", Kind: ErrNotFound,
			Reason: fmt.Sprintf("no pending proposal for %s v%d has signed digest %s… (%d pending)", role, version, proposal, len(all))}
	}
	ds := make([]string, len(match))
	for i, p := range match {
		ds[i] = p.Digest[:min(len(p.Digest), 16)]
	}
	return nil, &Error{Op: op, Repo: repo, Role: role, Field: "proposal", Kind: ErrAmbiguous,
		Reason: fmt.Sprintf("%d proposals for %s v%d are pending (signed digests %s); name one by its signed digest", len(match), role, version, strings.Join(ds, ", "))}
}

// mergeSignatures returns doc with extra signatures appended; keys that
// already signed keep their signature. The signed part stays verbatim.
func mergeSignatures(doc []byte, extra []metadata.Signature) ([]byte, error) {
	raw, f := decodeOuter(doc)
	if f != nil {
		return nil, f
	}
	have := map[string]bool{}
	for _, sg := range raw.Signatures {
		have[sg.KeyID] = true
	}
	for _, sg := range extra {
		if !have[sg.KeyID] {
			have[sg.KeyID] = true
			raw.Signatures = append(raw.Signatures, rawSig{KeyID: sg.KeyID, Sig: hex.EncodeToString(sg.Signature)})
		}
	}
	return json.Marshal(raw)
}

// submission is a parsed, checked and evaluated document.
type submission[T metadata.Roles] struct {
	md       *metadata.Metadata[T]
	data     []byte
	version  int64
	digest   string // the signed digest: the proposal's key
	auths    []authority
	ev       evaluation
	existing *Pending // the pending proposal with this signed content, if any
	drop     []PendingKey
}

// collect parses data, runs check (version, expiry, content, authorities),
// merges it with the pending proposal of the same signed content, if any
// (another content is another proposal), and evaluates the signatures.
// pend is the proposal AddSignatures extends (data already merged).
func collect[T metadata.Roles](ctx context.Context, s *Service, repo, role, wantType string, data []byte, pend *Pending,
	check func(md *metadata.Metadata[T], h header) ([]authority, error)) (*submission[T], error) {
	md, _, h, f := parseDoc[T](data, wantType)
	if f != nil {
		return nil, f
	}
	auths, err := check(md, h)
	if err != nil {
		return nil, err
	}
	sub := &submission[T]{md: md, data: data, version: h.Version, digest: signedDigest(md.Signed), auths: auths, existing: pend}
	if sub.digest == "" {
		return nil, &fault{field: "signed", reason: "has no canonical JSON form (floats are not allowed)", kind: ErrMalformed}
	}
	if pend != nil && pend.Digest != sub.digest {
		return nil, fmt.Errorf("pending %s v%d: stored under digest %s, its signed part has %s", role, h.Version, pend.Digest, sub.digest)
	}
	all, err := s.st.Pending(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("list pending: %w", err)
	}
	for i := range all {
		p := &all[i]
		if p.Role != role || p.Version > h.Version {
			continue
		}
		if k := (PendingKey{p.Role, p.Version}); !slices.Contains(sub.drop, k) {
			sub.drop = append(sub.drop, k)
		}
		if pend == nil && p.Version == h.Version && p.Digest == sub.digest {
			sub.existing = p
		}
	}
	if pend == nil && sub.existing != nil {
		merged, err := mergeSignatures(sub.existing.Data, md.Signatures)
		if err != nil {
			return nil, err
		}
		if md, _, _, f = parseDoc[T](merged, wantType); f != nil {
			return nil, f
		}
		sub.md, sub.data = md, merged
	}
	ev, f := evaluate(sub.md, sub.md.Signatures, auths)
	if f != nil {
		return nil, f
	}
	if len(ev.valid) == 0 {
		return nil, newFault(ErrThreshold, "signatures", fmt.Sprintf("no signatures: %s", needs(auths)))
	}
	sub.ev = ev
	return sub, nil
}

func needs(auths []authority) string {
	parts := make([]string, len(auths))
	for i, a := range auths {
		parts[i] = fmt.Sprintf("%s needs %d of %d keys", a.name, a.threshold, len(a.keyIDs))
	}
	return strings.Join(parts, ", and ")
}

func signedDigest(signed any) string {
	c, err := cjson.EncodeCanonical(signed)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:])
}

func pendingStatus(role string, version int64, expires time.Time, signed any, auths []authority, ev evaluation) *PendingStatus {
	ps := &PendingStatus{Role: role, Version: version, Expires: expires, SignedDigest: signedDigest(signed)}
	valid := map[string]bool{}
	for _, id := range ev.valid {
		valid[id] = true
	}
	for _, a := range auths {
		ts := ThresholdStatus{Authority: a.name, Threshold: a.threshold, KeyIDs: append([]string(nil), a.keyIDs...)}
		for _, id := range a.keyIDs {
			if valid[id] {
				ts.Signed = append(ts.Signed, id)
			} else {
				ts.Missing = append(ts.Missing, id)
			}
		}
		ps.Thresholds = append(ps.Thresholds, ts)
	}
	return ps
}

// pendingOrGate settles a verified submission that may be under
// threshold: under it, the submission is kept (or dry-run reported) as
// pending and its result returned; at or over it, go-tuf's own delegate
// check must pass too. A nil result and error mean "publish it".
func pendingOrGate[T metadata.Roles](ctx context.Context, s *Service, op, repo, role string, sub *submission[T], expires time.Time, signed any, dry bool) (*Result, error) {
	if !sub.ev.met {
		ps := pendingStatus(role, sub.version, expires, signed, sub.auths, sub.ev)
		return s.keepPending(ctx, op, repo, role, sub.version, sub.digest, sub.data, sub.existing, ps, sub.ev.valid, dry)
	}
	if err := gate(sub.md, sub.auths); err != nil {
		return nil, opError(op, repo, role, ErrThreshold, &fault{field: "signatures", reason: "threshold check", kind: ErrThreshold, err: err})
	}
	return nil, nil
}

// keepPending stores an under-threshold proposal under its signed digest,
// beside any other proposal for the same role and version.
func (s *Service) keepPending(ctx context.Context, op, repo, role string, version int64, digest string, data []byte, existing *Pending, ps *PendingStatus, signedBy []string, dry bool) (*Result, error) {
	res := &Result{Repo: repo, Role: role, Version: version, Pending: ps, SignedBy: signedBy}
	if dry {
		return res, nil
	}
	w := PendingWrite{Pending: Pending{Role: role, Version: version, Digest: digest, Data: data}}
	if existing != nil {
		w.Expect = existing.Data
	}
	if err := s.st.Apply(ctx, Change{Repo: repo, PutPending: []PendingWrite{w}}); err != nil {
		return nil, s.applyError(op, repo, role, err)
	}
	return res, nil
}

func (s *Service) applyError(op, repo, role string, err error) error {
	if errors.Is(err, ErrConflict) {
		return &Error{Op: op, Repo: repo, Role: role, Kind: ErrConflict, Reason: "the repository changed meanwhile; retry", Err: err}
	}
	return fmt.Errorf("tuf: %s %s %s: %w", op, repo, role, err)
}

// submitTargets handles the top-level targets role and delegated roles.
func (s *Service) submitTargets(ctx context.Context, op, repo, role string, data []byte, pend *Pending, dry bool) (*Result, error) {
	t, err := s.load(ctx, op, repo)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var parents []delegator
	prev := metaVersion(t.snapshot, role)
	var next *Pending // a pending root whose targets keys sign this version
	sub, err := collect(ctx, s, repo, role, metadata.TARGETS, data, pend, func(md *metadata.Metadata[metadata.TargetsType], h header) ([]authority, error) {
		var auths []authority
		if role == metadata.TARGETS {
			auths = []authority{rootAuthority(t.root, metadata.TARGETS)}
			nr, np, err := s.nextRoot(ctx, repo, t.root, md.Signatures)
			if err != nil {
				return nil, err
			}
			if nr != nil {
				auths, next = []authority{rootAuthority(nr, metadata.TARGETS)}, np
			}
		} else {
			var err error
			if parents, err = s.delegators(ctx, repo, t.snapshot, role); err != nil {
				return nil, err
			}
			if len(parents) == 0 {
				return nil, newFault(ErrUnknownRole, "role", fmt.Sprintf("no published targets metadata delegates to %q", role))
			}
			for _, p := range parents {
				auths = append(auths, p.authority(role))
			}
		}
		if f := checkVersion(role, h.Version, prev); f != nil {
			return nil, f
		}
		if f := checkExpiry(md.Signed.Expires, now); f != nil {
			return nil, f
		}
		if f := checkTargets(&md.Signed); f != nil {
			return nil, f
		}
		if role != metadata.TARGETS {
			if err := s.checkPaths(ctx, repo, t.snapshot, role, &md.Signed, parents); err != nil {
				return nil, err
			}
		}
		return auths, nil
	})
	if err != nil {
		return nil, opError(op, repo, role, nil, err)
	}
	md := sub.md
	if next != nil {
		return s.companionTargets(ctx, op, repo, sub, next, dry)
	}
	if res, err := pendingOrGate(ctx, s, op, repo, role, sub, md.Signed.Expires, md.Signed, dry); res != nil || err != nil {
		return res, err
	}
	res := &Result{Repo: repo, Role: role, Version: sub.version, SignedBy: sub.ev.valid}
	if dry {
		return res, nil
	}
	files := []File{{Role: role, Version: sub.version, Data: bytes.Clone(sub.data)}}
	online, err := s.signOnline(t, t.root, map[string]int64{role: sub.version}, true, now)
	if err != nil {
		return nil, opError(op, repo, role, ErrOnlineKey, err)
	}
	files = append(files, online...)
	if err := s.st.Apply(ctx, Change{Repo: repo, Publish: files, DropPending: sub.drop}); err != nil {
		return nil, s.applyError(op, repo, role, err)
	}
	s.remember(repo, role, sub.version, md.Signed.Delegations)
	res.Published = files
	res.Targets, res.Removed, err = s.diffTargets(ctx, repo, role, prev, md, sub.ev.valid)
	if err != nil {
		return nil, fmt.Errorf("tuf: %s %s %s: published, but listing its targets failed: %w", op, repo, role, err)
	}
	return res, nil
}

func checkVersion(role string, got, prev int64) *fault {
	if got == prev+1 {
		return nil
	}
	why := "versions may not skip"
	if got <= prev {
		why = "a rollback or replay"
	}
	if prev == 0 {
		return newFault(ErrVersion, "signed.version", fmt.Sprintf("%d, want 1: %s has no published version yet", got, role))
	}
	return newFault(ErrVersion, "signed.version", fmt.Sprintf("%d, want %d: current %s is v%d (%s)", got, prev+1, role, prev, why))
}

// submitRoot handles a new root version: a rotation.
func (s *Service) submitRoot(ctx context.Context, op, repo string, data []byte, pend *Pending, dry bool) (*Result, error) {
	const role = metadata.ROOT
	t, err := s.load(ctx, op, repo)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	cur := t.root.Signed.Version
	sub, err := collect(ctx, s, repo, role, metadata.ROOT, data, pend, func(md *metadata.Metadata[metadata.RootType], h header) ([]authority, error) {
		if f := checkVersion(role, h.Version, cur); f != nil {
			return nil, f
		}
		if f := checkExpiry(md.Signed.Expires, now); f != nil {
			return nil, f
		}
		if f := checkRoot(&md.Signed, s.keys); f != nil {
			return nil, f
		}
		return []authority{rootAuthority(t.root, metadata.ROOT), rootAuthority(md, metadata.ROOT)}, nil
	})
	if err != nil {
		return nil, opError(op, repo, role, nil, err)
	}
	// A proposal no current root key signs vouches for nothing: kept, it
	// would only let a stranger crowd the ceremony.
	if sub.ev.counts[0] == 0 {
		return nil, &Error{Op: op, Repo: repo, Role: role, Field: "signatures", Kind: ErrNotAuthorized,
			Reason: fmt.Sprintf("no root key of the current root v%d signs it (root keys %s): a root proposal is accepted only with at least one of their signatures",
				cur, strings.Join(t.root.Signed.Roles[metadata.ROOT].KeyIDs, ", "))}
	}
	md := sub.md
	if res, err := pendingOrGate(ctx, s, op, repo, role, sub, md.Signed.Expires, md.Signed, dry); res != nil || err != nil {
		return res, err
	}
	// The published targets must stay valid under the new root's targets
	// keys, as a client checks it right after updating its root; a root that
	// changes them is published together with the next targets version,
	// signed by its new targets keys (kept pending until then).
	var changed map[string]int64
	var companion *metadata.Metadata[metadata.TargetsType]
	var companionData []byte
	if v := metaVersion(t.snapshot, metadata.TARGETS); v > 0 {
		raw, err := s.st.Get(ctx, repo, metadata.TARGETS, v)
		if err != nil {
			return nil, fmt.Errorf("tuf: %s %s: load targets v%d: %w", op, repo, v, err)
		}
		tg, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("tuf: %s %s: stored targets v%d: %w", op, repo, v, err)
		}
		if md.VerifyDelegate(metadata.TARGETS, tg) != nil {
			if companion, companionData, err = s.companionFor(ctx, repo, md, v+1, now); err != nil {
				return nil, fmt.Errorf("tuf: %s %s: %w", op, repo, err)
			}
			if companion == nil {
				ps := pendingStatus(role, sub.version, md.Signed.Expires, md.Signed, sub.auths, sub.ev)
				ps.Problem = fmt.Sprintf("root v%d changes the targets keys, so clients would reject the published targets v%d: it is published together with targets v%d signed by a threshold of its targets keys (upload or sign one, e.g. 'trustctl sign ... --key NEW_TARGETS_KEY')",
					sub.version, v, v+1)
				return s.keepPending(ctx, op, repo, role, sub.version, sub.digest, sub.data, sub.existing, ps, sub.ev.valid, dry)
			}
			changed = map[string]int64{metadata.TARGETS: v + 1}
		}
	}
	res := &Result{Repo: repo, Role: role, Version: sub.version, SignedBy: sub.ev.valid}
	if dry {
		return res, nil
	}
	files := []File{{Role: role, Version: sub.version, Data: bytes.Clone(sub.data)}}
	drop := sub.drop
	if companion != nil {
		files = append(files, File{Role: metadata.TARGETS, Version: companion.Signed.Version, Data: companionData})
		drop = append(drop, PendingKey{Role: metadata.TARGETS, Version: companion.Signed.Version})
	}
	if t.snapshot != nil {
		online, err := s.signOnline(t, md, changed, true, now)
		if err != nil {
			return nil, opError(op, repo, role, ErrOnlineKey, err)
		}
		files = append(files, online...)
	}
	if err := s.st.Apply(ctx, Change{Repo: repo, Publish: files, DropPending: drop}); err != nil {
		return nil, s.applyError(op, repo, role, err)
	}
	if companion != nil {
		s.remember(repo, metadata.TARGETS, companion.Signed.Version, companion.Signed.Delegations)
	}
	res.Published = files
	return res, nil
}

// nextRoot returns a pending root proposal for the version after cur (and
// its parsed form) that names targets keys cur does not, with some
// signature in sigs by one of those: a targets version meant to be
// published with that root (the first such proposal, by digest). Otherwise
// it returns nils.
func (s *Service) nextRoot(ctx context.Context, repo string, cur *metadata.Metadata[metadata.RootType], sigs []metadata.Signature) (*metadata.Metadata[metadata.RootType], *Pending, error) {
	curKeys := cur.Signed.Roles[metadata.TARGETS].KeyIDs
	var newKey bool
	for _, sg := range sigs {
		if !slices.Contains(curKeys, sg.KeyID) {
			newKey = true
		}
	}
	if !newKey {
		return nil, nil, nil
	}
	ps, err := s.pendingFor(ctx, "targets", repo, metadata.ROOT, cur.Signed.Version+1)
	if err != nil {
		return nil, nil, err
	}
	for i := range ps {
		p := &ps[i]
		nr, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(p.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("pending root v%d: %w", p.Version, err)
		}
		nextKeys := nr.Signed.Roles[metadata.TARGETS].KeyIDs
		for _, sg := range sigs {
			if !slices.Contains(curKeys, sg.KeyID) && slices.Contains(nextKeys, sg.KeyID) {
				return nr, p, nil
			}
		}
	}
	return nil, nil, nil
}

// companionTargets keeps a targets version signed by a pending root's new
// targets keys pending beside that root, and publishes both once the root's
// thresholds and its own are met.
func (s *Service) companionTargets(ctx context.Context, op, repo string, sub *submission[metadata.TargetsType], root *Pending, dry bool) (*Result, error) {
	md := sub.md
	ps := pendingStatus(metadata.TARGETS, sub.version, md.Signed.Expires, md.Signed, sub.auths, sub.ev)
	ps.Problem = fmt.Sprintf("signed for the pending root v%d, which changes the targets keys: published together with it", root.Version)
	res, err := s.keepPending(ctx, op, repo, metadata.TARGETS, sub.version, sub.digest, sub.data, sub.existing, ps, sub.ev.valid, dry)
	if err != nil || dry || !sub.ev.met {
		return res, err
	}
	ready, err := s.submitRoot(ctx, op, repo, root.Data, root, true)
	if err != nil || ready.Pending != nil {
		return res, nil // the root still needs signatures: both stay pending
	}
	return s.submitRoot(ctx, op, repo, root.Data, root, false)
}

// companionFor returns a pending targets proposal at version that meets
// the threshold of root's targets keys and has not expired (the first by
// digest), else nil.
func (s *Service) companionFor(ctx context.Context, repo string, root *metadata.Metadata[metadata.RootType], version int64, now time.Time) (*metadata.Metadata[metadata.TargetsType], []byte, error) {
	ps, err := s.pendingFor(ctx, "root", repo, metadata.TARGETS, version)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range ps {
		tg, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(p.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("pending targets v%d: %w", version, err)
		}
		if tg.Signed.Version == version && tg.Signed.Expires.After(now) && root.VerifyDelegate(metadata.TARGETS, tg) == nil {
			return tg, bytes.Clone(p.Data), nil
		}
	}
	return nil, nil, nil
}

// signOnline makes the next snapshot (when newSnapshot: with the changed
// role versions applied) and the next timestamp, signed with the online keys
// root names.
func (s *Service) signOnline(t *trusted, root *metadata.Metadata[metadata.RootType], changed map[string]int64, newSnapshot bool, now time.Time) ([]File, error) {
	var files []File
	snapRaw, snapVersion := t.snapshotRaw, metaVersionOf(t.snapshot)
	if newSnapshot || t.snapshot == nil {
		snap := metadata.Snapshot(expiry(now, s.cfg.SnapshotExpiry))
		snap.Signed.Meta = map[string]*metadata.MetaFiles{}
		if t.snapshot != nil {
			for k, v := range t.snapshot.Signed.Meta {
				c := *v
				snap.Signed.Meta[k] = &c
			}
		}
		for role, v := range changed {
			snap.Signed.Meta[role+".json"] = &metadata.MetaFiles{Version: v}
		}
		snap.Signed.Version = snapVersion + 1
		raw, err := signOnlineRole(s.keys, snap, root, metadata.SNAPSHOT)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Role: metadata.SNAPSHOT, Version: snap.Signed.Version, Data: raw})
		snapRaw, snapVersion = raw, snap.Signed.Version
	}
	ts := metadata.Timestamp(expiry(now, s.cfg.TimestampExpiry))
	sum := sha256.Sum256(snapRaw)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: snapVersion, Length: int64(len(snapRaw)), Hashes: metadata.Hashes{"sha256": sum[:]},
	}}
	ts.Signed.Version = 1
	if t.timestamp != nil {
		ts.Signed.Version = t.timestamp.Signed.Version + 1
	}
	raw, err := signOnlineRole(s.keys, ts, root, metadata.TIMESTAMP)
	if err != nil {
		return nil, err
	}
	return append(files, File{Role: metadata.TIMESTAMP, Version: ts.Signed.Version, Data: raw}), nil
}

func metaVersionOf(snap *metadata.Metadata[metadata.SnapshotType]) int64 {
	if snap == nil {
		return 0
	}
	return snap.Signed.Version
}

func expiry(now time.Time, d time.Duration) time.Time {
	return expiresAt(now.Add(d))
}

// signOnlineRole signs md with every online key root lists for role and
// returns its JSON.
func signOnlineRole[T metadata.Roles](keys *OnlineKeys, md *metadata.Metadata[T], root *metadata.Metadata[metadata.RootType], role string) ([]byte, error) {
	for _, id := range root.Signed.Roles[role].KeyIDs {
		signer, ok := keys.signer(role, id)
		if !ok {
			return nil, &fault{field: "signed.roles." + role, kind: ErrOnlineKey,
				reason: fmt.Sprintf("root v%d names %s key %s, which trustd does not hold", root.Signed.Version, role, id), err: errNoSigner}
		}
		if _, err := md.Sign(signer); err != nil {
			return nil, fmt.Errorf("sign %s with %s: %w", role, id, err)
		}
	}
	return md.ToBytes(false)
}

// Refresh re-signs the timestamp of repo, and the snapshot too, when they
// expire within their refresh windows of now (Config.TimestampRefresh,
// Config.SnapshotRefresh). It returns the files published, none if nothing
// was due or the repository has no timestamp yet.
func (s *Service) Refresh(ctx context.Context, repo string, now time.Time) ([]File, error) {
	const op = "refresh"
	t, err := s.load(ctx, op, repo)
	if err != nil {
		return nil, err
	}
	if t.timestamp == nil {
		return nil, nil
	}
	snapDue := t.snapshot.Signed.Expires.Sub(now) < s.cfg.SnapshotRefresh
	tsDue := t.timestamp.Signed.Expires.Sub(now) < s.cfg.TimestampRefresh
	if !snapDue && !tsDue {
		return nil, nil
	}
	files, err := s.signOnline(t, t.root, nil, snapDue, now)
	if err != nil {
		return nil, opError(op, repo, "", ErrOnlineKey, err)
	}
	if err := s.st.Apply(ctx, Change{Repo: repo, Publish: files}); err != nil {
		return nil, s.applyError(op, repo, "", err)
	}
	return files, nil
}

// Metadata returns the metadata file name of repo as served in the TUF
// HTTP layout with consistent snapshots: "N.root.json", "timestamp.json",
// "N.snapshot.json", "N.targets.json", "N.ROLE.json" ("2.bins-0a.json").
// "root.json" and "ROLE.json" give the latest version. A missing file gives
// ErrNotFound (HTTP 404, which ends a client's root walk).
func (s *Service) Metadata(ctx context.Context, repo, name string) ([]byte, error) {
	const op = "metadata"
	role, version, ok := ParseFileName(name)
	if !ok {
		return nil, &Error{Op: op, Repo: repo, Field: "name", Kind: ErrNotFound, Reason: fmt.Sprintf("%q is not a TUF metadata file name", trunc(name))}
	}
	data, err := s.st.Get(ctx, repo, role, version)
	if isNotFound(err) {
		return nil, &Error{Op: op, Repo: repo, Role: role, Kind: ErrNotFound, Reason: fmt.Sprintf("no %s", name), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("tuf: %s %s %s: %w", op, repo, name, err)
	}
	return data, nil
}

// ParseFileName splits a TUF metadata file name into role and version (0:
// unversioned, the latest): "3.root.json" → (root, 3), "timestamp.json" →
// (timestamp, 0), "2.bins-0a.json" → (bins-0a, 2).
func ParseFileName(name string) (role string, version int64, ok bool) {
	base, found := strings.CutSuffix(name, ".json")
	if !found || base == "" {
		return "", 0, false
	}
	if v, rest, cut := strings.Cut(base, "."); cut && v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return "", 0, false
		}
		version, base = n, rest
	}
	if base == metadata.ROOT || base == metadata.TARGETS || base == metadata.SNAPSHOT || base == metadata.TIMESTAMP {
		return base, version, true
	}
	if checkRoleName("", base) != nil {
		return "", 0, false
	}
	return base, version, true
}

// Status describes repo: published versions and expiries, and every pending
// proposal with who has signed and what is missing.
func (s *Service) Status(ctx context.Context, repo string) (*Status, error) {
	const op = "status"
	t, err := s.load(ctx, op, repo)
	if err != nil {
		return nil, err
	}
	st := &Status{Repo: repo, Root: RoleStatus{Role: metadata.ROOT, Version: t.root.Signed.Version, Expires: t.root.Signed.Expires}}
	if t.snapshot != nil {
		st.Snapshot = &RoleStatus{Role: metadata.SNAPSHOT, Version: t.snapshot.Signed.Version, Expires: t.snapshot.Signed.Expires}
		st.Timestamp = &RoleStatus{Role: metadata.TIMESTAMP, Version: t.timestamp.Signed.Version, Expires: t.timestamp.Signed.Expires}
		for name, m := range t.snapshot.Signed.Meta {
			rs := RoleStatus{Role: strings.TrimSuffix(name, ".json"), Version: m.Version}
			if rs.Role == metadata.TARGETS {
				if raw, err := s.st.Get(ctx, repo, metadata.TARGETS, m.Version); err == nil {
					var h struct {
						Signed header `json:"signed"`
					}
					if json.Unmarshal(raw, &h) == nil {
						rs.Expires, _ = time.Parse(ExpiresLayout, h.Signed.Expires)
					}
				}
			}
			st.Targets = append(st.Targets, rs)
		}
		sort.Slice(st.Targets, func(i, j int) bool { return st.Targets[i].Role < st.Targets[j].Role })
	}
	pend, err := s.st.Pending(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("tuf: %s %s: list pending: %w", op, repo, err)
	}
	for i := range pend {
		p := &pend[i]
		var res *Result
		if p.Role == metadata.ROOT {
			res, err = s.submitRoot(ctx, op, repo, p.Data, p, true)
		} else {
			res, err = s.submitTargets(ctx, op, repo, p.Role, p.Data, p, true)
		}
		switch {
		case err != nil:
			st.Pending = append(st.Pending, PendingStatus{Role: p.Role, Version: p.Version, SignedDigest: p.Digest, Problem: err.Error()})
		case res.Pending != nil:
			st.Pending = append(st.Pending, *res.Pending)
		default:
			st.Pending = append(st.Pending, PendingStatus{Role: p.Role, Version: p.Version, SignedDigest: p.Digest,
				Problem: "its thresholds are met but it is not published; add any signature to publish it"})
		}
	}
	return st, nil
}

// diffTargets lists the targets md adds or changes relative to role's
// version prev, and those it removes.
func (s *Service) diffTargets(ctx context.Context, repo, role string, prev int64, md *metadata.Metadata[metadata.TargetsType], keyIDs []string) ([]TargetRecord, []string, error) {
	type lightTarget struct {
		Length int64             `json:"length"`
		Hashes map[string]string `json:"hashes"`
		Custom json.RawMessage   `json:"custom"`
	}
	var old map[string]lightTarget
	if prev > 0 {
		raw, err := s.st.Get(ctx, repo, role, prev)
		if err != nil {
			return nil, nil, err
		}
		var doc struct {
			Signed struct {
				Targets map[string]lightTarget `json:"targets"`
			} `json:"signed"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, nil, err
		}
		old = doc.Signed.Targets
	}
	same := func(o lightTarget, tf *metadata.TargetFiles) bool {
		if o.Length != tf.Length || len(o.Hashes) != len(tf.Hashes) || (tf.Custom == nil) != (o.Custom == nil) {
			return false
		}
		for alg, h := range o.Hashes {
			if hex.EncodeToString(tf.Hashes[alg]) != strings.ToLower(h) {
				return false
			}
		}
		return tf.Custom == nil || bytes.Equal(compactJSON(o.Custom), compactJSON(*tf.Custom))
	}
	var recs []TargetRecord
	for name, tf := range md.Signed.Targets {
		if o, ok := old[name]; ok && same(o, tf) {
			continue
		}
		rec := TargetRecord{Name: name, Length: tf.Length, Role: role, Version: md.Signed.Version, KeyIDs: keyIDs}
		if tf.Custom != nil {
			rec.Custom = bytes.Clone(*tf.Custom)
		}
		for _, alg := range []string{"sha256", "sha512"} {
			if sum, ok := tf.Hashes[alg]; ok {
				d, err := digest.New(digest.Algorithm(alg), sum)
				if err != nil {
					return nil, nil, fmt.Errorf("target %q hash %s: %w", name, alg, err)
				}
				rec.Digests = append(rec.Digests, d)
			}
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	var removed []string
	for name := range old {
		if _, ok := md.Signed.Targets[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	return recs, removed, nil
}

// compactJSON returns data without insignificant whitespace.
func compactJSON(data []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return data
	}
	return b.Bytes()
}
