// Package evidencesvc is the server side of package evidence: it reads the
// store and asks the existing services (OpenPGP chains, attestations,
// revocations, reputation, publishers) to assemble the evidence about some
// digests at a time, with inclusion proofs against one signed checkpoint
// when the evidence leaves the server. trustd's GetEvidence answers with
// it, and token issuance evaluates policies over it in process.
package evidencesvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// maxTUFFiles bounds the metadata files one repository contributes (root
// versions and the delegated roles searched).
const maxTUFFiles = 256

// Builder assembles evidence. Store is required; a nil service leaves its
// kinds out of every bundle (their requirements are then undecided).
type Builder struct {
	Store store.Reader
	// Log signs the checkpoint and proves the entries of bundles built
	// with proofs.
	Log *statement.Log
	// TUF serves KindTUF from the store's TUF repositories.
	TUF bool
	// PGP serves KindPGP: manifests and chain decisions.
	PGP *pgplog.Service
	// Attest serves KindAttestations.
	Attest *attest.Service
	// Revocation serves KindRevocations and KindPublishers.
	Revocation *revocation.Service
	// Feedback serves KindReputation.
	Feedback *feedback.Service
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	cache cache
}

// Kinds are the kinds b serves.
func (b *Builder) Kinds() []evidence.Kind {
	out := []evidence.Kind{evidence.KindEntries}
	if b.TUF {
		out = append(out, evidence.KindTUF)
	}
	if b.PGP != nil {
		out = append(out, evidence.KindPGP)
	}
	if b.Attest != nil {
		out = append(out, evidence.KindAttestations)
	}
	if b.Revocation != nil {
		out = append(out, evidence.KindRevocations)
	}
	if b.Feedback != nil {
		out = append(out, evidence.KindReputation)
	}
	if b.Revocation != nil {
		out = append(out, evidence.KindPublishers)
	}
	return out
}

// build is one bundle under construction.
type build struct {
	b      *Builder
	req    evidence.Request
	at     time.Time
	out    *evidence.Bundle
	prove  bool
	byseq  map[uint64]*evidence.Entry
	keys   map[string]bool
	checks map[[2]string]bool
	// reliedOn are the entries a policy may rely on (and so whose
	// revocation and signers' revocations matter): those naming the
	// digests, manifests, attestations, chain links, publishers' entries,
	// the metadata files of the requested TUF roles; not the other TUF
	// files (root, timestamp, snapshot, roles on the way) or the
	// revocation statements cited in support.
	reliedOn map[uint64]bool
	// tufKeys are the keys of every signature on the requested TUF
	// roles' metadata (evidence.TUFSigners), whose revocation state a
	// verdict relying on a role needs.
	tufKeys []string
	// size is the signed bytes cited so far.
	size int
	// attRevs are the attestations (indexes in out.Attestations) whose
	// revocation is still to be judged, and states the revocation states
	// read for the bundle (nil until read).
	attRevs []int
	states  *revocation.States
	// ahead is what was read ahead in one store read (nil: nothing).
	ahead *readAhead
}

// Build assembles the evidence req asks for. With prove, the bundle
// carries a checkpoint signed after every read and each entry's inclusion
// proof in its tree, and the keys that signed the entries: what a client
// needs to check it (evidence.Verify). Without, it is for evaluation in
// process. Errors: evidence.ErrInvalidRequest, and store errors.
func (b *Builder) Build(ctx context.Context, req evidence.Request, prove bool) (*evidence.Bundle, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	at := req.At
	if at.IsZero() {
		at = now()
	}
	at = at.UTC()
	bd := &build{b: b, req: req, at: at, prove: prove, byseq: map[uint64]*evidence.Entry{}, keys: map[string]bool{}, checks: map[[2]string]bool{}, reliedOn: map[uint64]bool{},
		out: &evidence.Bundle{Digests: slices.Clone(req.Digests), At: at, PredicateTypes: slices.Clone(req.PredicateTypes)}}
	for _, k := range b.Kinds() {
		if req.Wants(k) {
			bd.out.Kinds = append(bd.out.Kinds, k)
		}
	}
	if err := bd.readAhead(ctx); err != nil {
		return nil, err
	}
	steps := []struct {
		kind evidence.Kind
		fn   func(context.Context) error
	}{
		{evidence.KindEntries, bd.entries},
		{evidence.KindTUF, bd.tuf},
		{evidence.KindPGP, bd.pgp},
		{evidence.KindAttestations, bd.attestations},
		{evidence.KindReputation, bd.reputation},
		{evidence.KindPublishers, bd.publishers},
		// Last: the revocation state of everything the others cite.
		{evidence.KindRevocations, bd.revocations},
	}
	for _, st := range steps {
		if !slices.Contains(bd.out.Kinds, st.kind) {
			continue
		}
		if err := st.fn(ctx); err != nil {
			return nil, err
		}
	}
	if err := bd.attestationRevocations(ctx); err != nil {
		return nil, err
	}
	for _, e := range bd.byseq {
		bd.out.Entries = append(bd.out.Entries, *e)
	}
	sort.Slice(bd.out.Entries, func(i, j int) bool { return bd.out.Entries[i].Seq < bd.out.Entries[j].Seq })
	if prove {
		if err := bd.proofs(ctx); err != nil {
			return nil, err
		}
	}
	return bd.out, nil
}

// rely cites log entry seq as evidence a policy may rely on (see
// build.reliedOn).
func (bd *build) rely(ctx context.Context, seq int64, d *digest.Digest) (*evidence.Entry, error) {
	bd.reliedOn[uint64(seq)] = true
	return bd.cite(ctx, seq, d)
}

// cite adds log entry seq to the bundle (once), noting that it names d
// when d is set, and returns it.
func (bd *build) cite(ctx context.Context, seq int64, d *digest.Digest) (*evidence.Entry, error) {
	e, ok := bd.byseq[uint64(seq)]
	if !ok {
		st, err := bd.statement(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("evidence: log entry %d: %w", seq, err)
		}
		if bd.size += len(st.Envelope); bd.size > evidence.MaxBundleBytes {
			return nil, fmt.Errorf("evidence: %w: more than %d bytes of signed evidence about %s", evidence.ErrTooLarge, evidence.MaxBundleBytes, bd.req.Digests[0])
		}
		e = &evidence.Entry{Seq: uint64(st.Seq), Envelope: st.Envelope, PayloadType: st.PayloadType, PredicateType: st.PredicateType,
			SignerKeyIDs: st.SignerKeyIDs, RecordedAt: st.RecordedAt.UTC()}
		bd.byseq[e.Seq] = e
		// The signers' keys, so a client can verify the entry: a DSSE
		// statement's, or both certificates of a key transition statement.
		transition := st.PredicateType == recordtype.PGPTransition && recordtype.WrittenByOwner(st.PayloadType, st.PredicateType)
		if bd.prove && (st.PayloadType == recordtype.PayloadTypeInToto || transition) {
			for _, k := range st.SignerKeyIDs {
				if err := bd.key(ctx, k); err != nil {
					return nil, err
				}
			}
		}
	}
	if d != nil && !slices.Contains(e.Digests, *d) {
		e.Digests = append(e.Digests, *d)
	}
	return e, nil
}

// key adds registered key id to the bundle (once), for signatures to be
// checked; a Sigstore signer id is no registered key.
func (bd *build) key(ctx context.Context, id string) error {
	if bd.keys[id] {
		return nil
	}
	bd.keys[id] = true
	if strings.HasPrefix(id, "sigstore:") {
		return nil
	}
	k, err := bd.b.keyOf(ctx, id)
	if err != nil {
		return fmt.Errorf("evidence: key %s: %w", id, err)
	}
	bd.out.Keys = append(bd.out.Keys, evidence.Key{ID: k.ID, Type: k.Type, PublicKey: k.PublicKey})
	return nil
}

// naming returns the log entries naming the request's digests (of one
// predicate type, when set), newest first, at most limit, and whether
// more exist.
func (bd *build) naming(ctx context.Context, predicateType string, limit int) ([]store.Evidence, bool, error) {
	ev, err := bd.b.Store.Evidence(ctx, store.EvidenceQuery{Digests: bd.req.Digests, PredicateType: predicateType, Limit: limit + 1})
	if err != nil {
		return nil, false, fmt.Errorf("evidence: entries naming %s: %w", bd.req.Digests[0], err)
	}
	if len(ev) > limit {
		return ev[:limit], true, nil
	}
	return ev, false, nil
}

// seqsOf are the sequence numbers of ev.
func seqsOf(ev []store.Evidence) []int64 {
	out := make([]int64, len(ev))
	for i, e := range ev {
		out[i] = e.Seq
	}
	return out
}

// entries cites the log entries naming the digests (KindEntries), newest
// first: the page the request selects (EntriesBefore, EntriesLimit
// entries, MaxEntries by default), never splitting one entry's rows
// (one per digest it names).
func (bd *build) entries(ctx context.Context) error {
	limit := bd.req.EntriesLimit
	if limit <= 0 {
		limit = evidence.MaxEntries
	}
	// An entry has at most one row per digest asked about, so this many
	// rows hold the first limit entries whole, and one more row shows
	// whether another entry follows.
	rows := limit*len(bd.req.Digests) + 1
	ev, ok := bd.evidenceRows(rows)
	if !ok {
		var err error
		ev, err = bd.b.Store.Evidence(ctx, store.EvidenceQuery{Digests: bd.req.Digests, BeforeSeq: int64(bd.req.EntriesBefore), Limit: rows})
		if err != nil {
			return fmt.Errorf("evidence: entries naming %s: %w", bd.req.Digests[0], err)
		}
	}
	seen := 0
	for i, e := range ev {
		if i == 0 || e.Seq != ev[i-1].Seq {
			if seen == limit {
				bd.out.Truncated = true
				ev = ev[:i]
				break
			}
			seen++
		}
	}
	if err := bd.prefetch(ctx, seqsOf(ev)); err != nil {
		return err
	}
	for i, e := range ev {
		if bd.size > evidence.MaxBundleBytes/2 && (i == 0 || e.Seq != ev[i-1].Seq) {
			// The newest entries fill half a bundle; the rest is left for
			// the evidence the requirements name.
			bd.out.Truncated = true
			break
		}
		if _, err := bd.rely(ctx, e.Seq, &e.Digest); err != nil {
			return err
		}
	}
	if bd.req.EntriesBefore != 0 {
		return nil // a later page: the first carried the signers'
	}
	// The named signers' own entries, however many others logged since.
	for _, k := range bd.req.Signers {
		ev, err := bd.b.Store.Evidence(ctx, store.EvidenceQuery{Digests: bd.req.Digests, SignerKeyID: k, Limit: signerPage})
		if err != nil {
			return fmt.Errorf("evidence: entries of %s naming %s: %w", k, bd.req.Digests[0], err)
		}
		for _, e := range ev {
			if _, err := bd.rely(ctx, e.Seq, &e.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// signerPage bounds the entries (and the attestations of each type) of
// one named signer (Request.Signers) a bundle gathers besides the newest
// of anyone's.
const signerPage = 16

// pgp cites the OpenPGP manifests listing the digests, each manifest's
// lines naming them (its signature verified with the registered
// certificate), and the chain decision of every line for every root set.
func (bd *build) pgp(ctx context.Context) error {
	ev, _, err := bd.naming(ctx, pgplog.ManifestPredicateType, evidence.MaxEntries)
	if err != nil {
		return err
	}
	// The manifests of the named signers, and of the pinned roots and
	// the certificates their delegations and rotations reach (the first
	// MaxSigners in all), however many others published since.
	signers := slices.Clone(bd.req.Signers)
	for _, roots := range bd.req.PGPRoots {
		reach, err := bd.b.PGP.Reachable(ctx, roots, evidence.MaxSigners)
		if err != nil {
			return fmt.Errorf("evidence: certificates the roots %v reach: %w", roots, err)
		}
		for _, k := range reach {
			if !slices.Contains(signers, k) {
				signers = append(signers, k)
			}
		}
	}
	for _, k := range signers[:min(len(signers), evidence.MaxSigners)] {
		own, err := bd.b.Store.Evidence(ctx, store.EvidenceQuery{Digests: bd.req.Digests, PredicateType: pgplog.ManifestPredicateType, SignerKeyID: k, Limit: signerPage})
		if err != nil {
			return fmt.Errorf("evidence: manifests of %s naming %s: %w", k, bd.req.Digests[0], err)
		}
		ev = append(ev, own...)
	}
	if err := bd.prefetch(ctx, seqsOf(ev)); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, row := range ev {
		// Only manifests pgplog published count; a forged record of the
		// manifest type (an old database's) is no signature.
		if seen[row.Seq] || len(row.SignerKeyIDs) == 0 || !recordtype.WrittenByOwner(row.PayloadType, row.PredicateType) {
			continue
		}
		seen[row.Seq] = true
		e, err := bd.rely(ctx, row.Seq, nil)
		if err != nil {
			return err
		}
		primary := row.SignerKeyIDs[0]
		k, err := bd.b.keyOf(ctx, primary)
		if err != nil {
			return fmt.Errorf("evidence: manifest %d: certificate %s: %w", row.Seq, primary, err)
		}
		lines, err := evidence.ManifestLines(e.Envelope, k.PublicKey)
		if err != nil {
			// Verified when published; no longer verifiable now (a key
			// expired, a subkey revoked): the OpenPGP requirement is
			// undecided and says why, the other evidence stands.
			bd.out.PGPProblems = append(bd.out.PGPProblems, evidence.PGPProblem{Seq: uint64(row.Seq), Reason: err.Error()})
			continue
		}
		if bd.prove {
			if err := bd.key(ctx, primary); err != nil {
				return err
			}
		}
		for _, l := range lines {
			if !slices.Contains(bd.req.Digests, l.Digest) {
				continue
			}
			l.Seq = uint64(row.Seq)
			bd.out.PGP = append(bd.out.PGP, l)
			e.Digests = appendNew(e.Digests, l.Digest)
			for _, roots := range bd.req.PGPRoots {
				if err := bd.decide(ctx, l, e.RecordedAt, roots); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func appendNew[T comparable](list []T, v T) []T {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// decide records the chain decision for a manifest line and a root set,
// citing the statements of its links. The signature is judged by the one
// time rule at the later of its claimed time and observed, when the log
// first recorded the manifest (so a superseded key cannot backdate), as
// the evaluator asks (policy.PGPSource.PGPDecide).
func (bd *build) decide(ctx context.Context, l evidence.PGPSignature, observed time.Time, roots []string) error {
	for _, d := range bd.out.Decisions {
		if d.Name == l.Name && d.Signer == l.Signer && d.SignedAt.Equal(l.SignedAt) && d.Observed.Equal(observed) && slices.Equal(d.Roots, roots) {
			return nil
		}
	}
	d := evidence.PGPDecision{Roots: slices.Clone(roots), Name: l.Name, Signer: l.Signer, SignedAt: l.SignedAt, Observed: observed}
	chain, err := bd.b.PGP.Decide(ctx, pgplog.Query{Name: l.Name, Signer: l.Signer, SignedAt: l.SignedAt, Observed: observed, Roots: roots})
	var ref *pgp.Refusal
	switch {
	case errors.As(err, &ref):
		d.Refusal, d.RefusalSeq, d.Detail = string(ref.Code), seqOf(ref.Statement), ref.Detail
	case errors.Is(err, pgplog.ErrInvalidQuery):
		d.Error = err.Error()
	case err != nil:
		return fmt.Errorf("evidence: chain of %s for %s: %w", l.Signer, l.Name, err)
	default:
		d.Allowed, d.Root = true, chain.Root
		for _, link := range chain.Links {
			seq := seqOf(link.Statement)
			d.Links = append(d.Links, evidence.PGPLink{Kind: string(link.Kind), From: link.From, To: link.To, Seq: seq})
			if seq != 0 {
				if _, err := bd.rely(ctx, int64(seq), nil); err != nil {
					return err
				}
			}
		}
	}
	bd.out.Decisions = append(bd.out.Decisions, d)
	return nil
}

// seqOf turns a fact ID (pgplog.StatementID) back into a sequence number.
func seqOf(id string) uint64 {
	var n uint64
	if _, err := fmt.Sscan(id, &n); err != nil {
		return 0
	}
	return n
}

// attestations cites the attestations naming the digests, of the
// requested predicate types (every type when none is), with the index and
// revocation state the attestation service gives them.
func (bd *build) attestations(ctx context.Context) error {
	types := bd.req.PredicateTypes
	if len(types) == 0 {
		types = []string{""}
	}
	seen := map[[2]string]bool{}
	for _, d := range bd.req.Digests {
		for _, pt := range types {
			// With a revocation service, the revocation of what is listed
			// is judged with the bundle's other states, read at once
			// (attestationRevocations).
			skip := bd.b.Revocation != nil
			list, ok := bd.attestationsOf(d, pt)
			if !ok || !skip {
				var err error
				list, _, err = bd.b.Attest.List(ctx, attest.Query{Digest: d, PredicateType: pt, PageSize: evidence.MaxEntries, SkipRevocations: skip})
				if err != nil {
					return fmt.Errorf("evidence: attestations of %s: %w", d, err)
				}
			}
			// The named signers' own, however many others attested since.
			for _, k := range bd.req.Signers {
				own, _, err := bd.b.Attest.List(ctx, attest.Query{Digest: d, PredicateType: pt, SignerID: k, PageSize: signerPage, SkipRevocations: skip})
				if err != nil {
					return fmt.Errorf("evidence: attestations of %s by %s: %w", d, k, err)
				}
				list = append(list, own...)
			}
			seqs := make([]int64, len(list))
			for i, a := range list {
				seqs[i] = a.Seq
			}
			if err := bd.prefetch(ctx, seqs); err != nil {
				return err
			}
			for _, a := range list {
				key := [2]string{fmt.Sprint(a.Seq), d.String()}
				if seen[key] {
					continue
				}
				seen[key] = true
				if _, err := bd.rely(ctx, a.Seq, &d); err != nil {
					return err
				}
				item := evidence.Attestation{Seq: uint64(a.Seq), Digest: d, PredicateType: a.PredicateType, Signers: a.SignerIDs, Index: attest.IndexFields(a.Index)}
				if a.Revoked {
					item.Revoked = a.RevokedWhy
					if item.Revoked == "" {
						item.Revoked = "revoked"
					}
				}
				if skip {
					bd.attRevs = append(bd.attRevs, len(bd.out.Attestations))
				}
				bd.out.Attestations = append(bd.out.Attestations, item)
			}
		}
	}
	return nil
}

// reputation reads the vote figures of the first digest over each trust
// set (every voter when none is asked for).
func (bd *build) reputation(ctx context.Context) error {
	sets := bd.req.TrustSets
	if len(sets) == 0 {
		sets = [][]string{nil}
	}
	for _, ts := range sets {
		rep, err := bd.b.Feedback.Reputation(ctx, feedback.Query{Digest: bd.req.Digests[0], TrustRoots: ts})
		if errors.Is(err, feedback.ErrInvalidQuery) {
			bd.out.Reputation = append(bd.out.Reputation, evidence.Reputation{TrustSet: slices.Clone(ts), Error: err.Error()})
			continue
		}
		if err != nil {
			return fmt.Errorf("evidence: reputation of %s: %w", bd.req.Digests[0], err)
		}
		q := rep.Quality
		bd.out.Reputation = append(bd.out.Reputation, evidence.Reputation{TrustSet: slices.Clone(ts), Score: q.Score, Positive: q.Positive, Negative: q.Negative})
	}
	return nil
}

// tuf cites, for every repository a requested role is in, what a TUF
// client needs to verify the roles from a pinned root: every root
// version, the current timestamp, the snapshot it names, and the targets
// role and the delegated roles on the way to each requested role at the
// versions the snapshot names. A role that cannot be read is reported as
// missing, with why.
func (bd *build) tuf(ctx context.Context) error {
	var repos []string
	byRepo := map[string][]string{}
	for _, rr := range bd.req.TUFRoles {
		if _, ok := byRepo[rr.Repo]; !ok {
			repos = append(repos, rr.Repo)
		}
		byRepo[rr.Repo] = appendNew(byRepo[rr.Repo], rr.Role)
	}
	for _, repo := range repos {
		r, err := bd.tufRepo(ctx, repo, byRepo[repo])
		if err != nil {
			return err
		}
		if err := bd.relyOnRoles(ctx, r); err != nil {
			return err
		}
		bd.out.TUF = append(bd.out.TUF, r)
	}
	return nil
}

// relyOnRoles marks the metadata file of each requested role a repository
// has as relied on, and the keys of every signature it carries
// (evidence.TUFSigners, what the client's TUF source names): a verdict
// relying on the role relies on both, so their revocation state is part
// of the evidence (deny-overrides).
func (bd *build) relyOnRoles(ctx context.Context, r evidence.TUFRepo) error {
	for _, role := range r.Roles {
		if _, missing := r.Missing[role]; missing {
			continue
		}
		for _, f := range r.Files {
			if f.Role != role {
				continue
			}
			e, err := bd.rely(ctx, int64(f.Seq), nil)
			if err != nil {
				return err
			}
			signers, err := evidence.TUFSigners(e.Envelope)
			if err != nil {
				return fmt.Errorf("evidence: TUF %s %s: %w", r.Repo, f.Name(), err)
			}
			for _, k := range signers {
				bd.tufKeys = appendNew(bd.tufKeys, k)
			}
		}
	}
	return nil
}

// tufRepo gathers one repository's files for roles.
func (bd *build) tufRepo(ctx context.Context, repo string, roles []string) (evidence.TUFRepo, error) {
	r := evidence.TUFRepo{Repo: repo, Roles: roles, Missing: map[string]string{}}
	missing := func(why string) evidence.TUFRepo {
		for _, role := range roles {
			r.Missing[role] = why
		}
		r.Files = nil
		return r
	}
	files := map[string]bool{}
	add := func(role string, version int64) ([]byte, error) {
		// A published version never changes: its bytes and log entry
		// are read once. The latest timestamp is read every time.
		cached, ok := tufFile{}, false
		if version > 0 {
			cached, ok = bd.b.tufFileOf(tufKey{repo, role, version})
		}
		data := cached.data
		if !ok {
			var err error
			if data, err = bd.b.Store.TUFMetadata(ctx, repo, role, version); err != nil {
				return nil, err
			}
		}
		f := evidence.TUFFile{Role: role, Version: version}
		if version == 0 {
			var err error
			if f.Version, err = versionOf(data); err != nil {
				return nil, fmt.Errorf("evidence: TUF %s %s: %w", repo, role, err)
			}
			cached, ok = bd.b.tufFileOf(tufKey{repo, role, f.Version})
			ok = ok && bytes.Equal(cached.data, data)
		}
		if files[f.Name()] {
			return data, nil
		}
		if len(files) >= maxTUFFiles {
			return nil, fmt.Errorf("evidence: TUF %s: more than %d metadata files needed", repo, maxTUFFiles)
		}
		seq := cached.seq
		if !ok {
			var err error
			if seq, err = bd.b.Store.StatementSeqByEnvelope(ctx, digestOf(data)); err != nil {
				return nil, fmt.Errorf("evidence: TUF %s %s: its log entry: %w", repo, f.Name(), err)
			}
			bd.b.keepTUFFile(tufKey{repo, role, f.Version}, tufFile{seq: seq, data: data})
		}
		if _, err := bd.cite(ctx, seq, nil); err != nil {
			return nil, err
		}
		f.Seq = uint64(seq)
		files[f.Name()] = true
		r.Files = append(r.Files, f)
		return data, nil
	}
	for v := int64(1); ; v++ {
		_, err := add(metadata.ROOT, v)
		if errors.Is(err, store.ErrNotFound) {
			if v == 1 {
				return missing("the repository does not exist"), nil
			}
			break
		}
		if err != nil {
			return evidence.TUFRepo{}, err
		}
	}
	tsData, err := add(metadata.TIMESTAMP, 0)
	if errors.Is(err, store.ErrNotFound) {
		return missing("the repository has no timestamp"), nil
	} else if err != nil {
		return evidence.TUFRepo{}, err
	}
	ts, err := metadata.Timestamp().FromBytes(tsData)
	if err != nil {
		return evidence.TUFRepo{}, fmt.Errorf("evidence: TUF %s timestamp: %w", repo, err)
	}
	snapMeta, ok := ts.Signed.Meta["snapshot.json"]
	if !ok {
		return missing("the timestamp names no snapshot"), nil
	}
	snapData, err := add(metadata.SNAPSHOT, snapMeta.Version)
	if err != nil {
		return evidence.TUFRepo{}, err
	}
	snap, err := metadata.Snapshot().FromBytes(snapData)
	if err != nil {
		return evidence.TUFRepo{}, fmt.Errorf("evidence: TUF %s snapshot: %w", repo, err)
	}
	load := func(role string) (*metadata.Metadata[metadata.TargetsType], error) {
		m, ok := snap.Signed.Meta[role+".json"]
		if !ok {
			return nil, nil
		}
		data, err := add(role, m.Version)
		if err != nil {
			return nil, err
		}
		return metadata.Targets().FromBytes(data)
	}
	top, err := load(metadata.TARGETS)
	if err != nil {
		return evidence.TUFRepo{}, fmt.Errorf("evidence: TUF %s targets: %w", repo, err)
	}
	if top == nil {
		return missing("the snapshot names no targets role"), nil
	}
	for _, role := range roles {
		if role == metadata.TARGETS {
			continue
		}
		found, err := bd.findRole(load, top, role)
		if err != nil {
			return evidence.TUFRepo{}, fmt.Errorf("evidence: TUF %s role %s: %w", repo, role, err)
		}
		if !found {
			r.Missing[role] = fmt.Sprintf("role %s is not delegated in the repository", role)
		}
	}
	return r, nil
}

// findRole searches breadth-first below targets for role, loading the
// delegated roles it passes (as a TUF client would).
func (bd *build) findRole(load func(string) (*metadata.Metadata[metadata.TargetsType], error), top *metadata.Metadata[metadata.TargetsType], role string) (bool, error) {
	type item struct {
		md    *metadata.Metadata[metadata.TargetsType]
		depth int
	}
	queue := []item{{top, 0}}
	seen := map[string]bool{metadata.TARGETS: true}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if it.md.Signed.Delegations == nil || it.depth >= evidence.MaxDelegationDepth {
			continue
		}
		for _, child := range evidence.DelegatedChildren(it.md.Signed.Delegations, role) {
			if seen[child] {
				continue
			}
			seen[child] = true
			md, err := load(child)
			if err != nil {
				return false, err
			}
			if md == nil {
				continue
			}
			if child == role {
				return true, nil
			}
			queue = append(queue, item{md, it.depth + 1})
		}
	}
	return false, nil
}

// versionOf reads the version of TUF metadata.
func versionOf(data []byte) (int64, error) {
	var doc struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Signed.Version < 1 {
		return 0, fmt.Errorf("metadata without a version: %v", err)
	}
	return doc.Signed.Version, nil
}
