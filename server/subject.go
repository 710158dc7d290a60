package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/internal/apiconv"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/subject"
	"github.com/trustd-dev/trustd/tufstore"
)

const defaultEvidenceLimit = 100

// DefaultMaxEvidencePerLookup is the most facts (log entries) one
// GetSubject returns unless Options.MaxEvidencePerLookup says otherwise
// (never more: what one evidence bundle carries); callers page through the
// rest.
const DefaultMaxEvidencePerLookup = evidence.MaxEntries

// maxLabelledKeys bounds the registered keys one lookup reads labels of;
// keys past it are shown by id alone.
const maxLabelledKeys = 64

// subjectService implements trustv1.SubjectServiceServer: the human view
// of the evidence model. Facts and their status come from the bundle
// evidencesvc.Builder assembles for token issuance and GetEvidence, judged
// by evidence.Set.Status; nothing here recomputes revocation state.
type subjectService struct {
	trustv1.UnimplementedSubjectServiceServer
	store store.Reader
	// maxEvidence bounds the facts of one response.
	maxEvidence int
	builder     *evidencesvc.Builder
}

func parseDigestField(field, s string) (digest.Digest, error) {
	if s == "" {
		return digest.Digest{}, invalidField(field, errors.New("is required"))
	}
	d, err := digest.Parse(s)
	if err != nil {
		return digest.Digest{}, invalidField(field, err)
	}
	return d, nil
}

func (s *subjectService) GetSubject(ctx context.Context, req *trustv1.GetSubjectRequest) (*trustv1.GetSubjectResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	limit := min(int(req.GetEvidenceLimit()), s.maxEvidence)
	if limit == 0 {
		limit = min(defaultEvidenceLimit, s.maxEvidence)
	}
	limit = min(limit, evidence.MaxEntries)
	var before uint64
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil || n == 0 {
			return nil, invalidField("page_token", fmt.Errorf("%q is not a token this server issued", t))
		}
		before = n
	}
	v, err := subject.Lookup(ctx, s.store, d)
	if err != nil {
		return nil, notFound(d, err)
	}
	// The queried digest first, then the subject's, then those claims
	// link (as many as one evidence request carries).
	var ds []digest.Digest
	for _, a := range v.Aliases {
		if len(ds) < evidence.MaxDigests {
			ds = append(ds, a.Digest)
		}
	}
	r := evidence.Request{Digests: ds, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindRevocations},
		EntriesBefore: before, EntriesLimit: limit}
	if req.GetAt() != nil {
		r.At = req.GetAt().AsTime()
	}
	b, err := s.builder.Build(ctx, r, false)
	if err != nil {
		return nil, err
	}
	set := evidence.NewSet(b)
	out := &trustv1.Subject{
		Id:                uint64(v.Subject.ID),
		Digest:            d.String(),
		FirstSeen:         timestamppb.New(v.Subject.CreatedAt),
		Aliases:           aliasesToProto(v.Aliases),
		EvidenceTruncated: b.Truncated,
		At:                timestamppb.New(b.At),
		OmittedClaims:     uint32(v.OmittedClaims),
	}
	for i, a := range v.Aliases {
		if rv, ok := set.Revocation(evidence.TargetDigest, a.Digest.String()); ok && rv.State != nil {
			out.Aliases[i].Revocation = apiconv.RevocationStateToProto(rv)
		}
	}
	var next uint64
	for _, e := range slices.Backward(b.Entries) {
		if len(e.Digests) == 0 {
			continue // cited in support (a revocation statement), not naming the digests on this page
		}
		out.Facts = append(out.Facts, factToProto(set, e, d, v))
		next = e.Seq
	}
	if err := s.describeTUF(ctx, r, out.Facts); err != nil {
		return nil, err
	}
	if out.KeyLabels, err = s.keyLabels(ctx, out); err != nil {
		return nil, err
	}
	resp := &trustv1.GetSubjectResponse{Subject: out}
	if b.Truncated && next > 0 {
		resp.NextPageToken = strconv.FormatUint(next, 10)
	}
	return resp, nil
}

// factToProto renders log entry e of the bundle as a fact of the lookup
// of d: the digests it names, the alias claims linking it when it names
// not d but an alias, its status by evidence.Set.Status, and, for an
// OpenPGP manifest, the manifest's name.
func factToProto(set *evidence.Set, e evidence.Entry, d digest.Digest, v subject.View) *trustv1.Fact {
	f := &trustv1.Fact{Seq: e.Seq, PayloadType: e.PayloadType, PredicateType: e.PredicateType, SignerKeyIds: e.SignerKeyIDs,
		RecordedAt: timestamppb.New(e.RecordedAt), Ignored: !recordtype.Genuine(e.PayloadType, e.PredicateType)}
	for _, ed := range e.Digests {
		f.Digests = append(f.Digests, ed.String())
	}
	if !slices.Contains(e.Digests, d) {
		alias := e.Digests[0]
		f.ViaAlias = alias.String()
		f.ViaClaims = linkingClaims(v, alias, d)
	}
	st, _ := set.Status(e.Seq)
	f.Status, f.Revocation = apiconv.FactStatusToProto(st)
	if e.PredicateType == pgplog.ManifestPredicateType && recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) {
		var rec pgp.ManifestRecord
		if json.Unmarshal(e.Envelope, &rec) == nil {
			f.Manifest = rec.Name
		}
	}
	return f
}

// linkingClaims are the alias claims that link alias to the queried d:
// those naming both, or, when none does (the link passes through another
// digest of the subject), every claim naming alias.
func linkingClaims(v subject.View, alias, d digest.Digest) []*trustv1.AliasClaim {
	var both, all []*trustv1.AliasClaim
	for _, a := range v.Aliases {
		if a.Digest != alias {
			continue
		}
		for _, c := range a.Claims {
			pc := aliasClaimToProto(c)
			all = append(all, pc)
			if slices.Contains(c.Digests, d) {
				both = append(both, pc)
			}
		}
	}
	if len(both) > 0 {
		return both
	}
	return all
}

// describeTUF places the TUF targets facts: the repository, role and
// version each entry holds (the descriptor logged beside it), the targets
// in it naming the fact's digests, and the role as the evidence holds it
// now (a second bundle of KindTUF for those roles, read through the
// evaluator's own TUF source).
func (s *subjectService) describeTUF(ctx context.Context, r evidence.Request, facts []*trustv1.Fact) error {
	var roles []evidence.RoleRef
	for _, f := range facts {
		if f.GetPredicateType() != tufstore.PredicateType || !recordtype.WrittenByOwner(f.GetPayloadType(), f.GetPredicateType()) {
			continue
		}
		st, err := s.store.Statement(ctx, int64(f.GetSeq()))
		if err != nil {
			return fmt.Errorf("subject: TUF entry %d: %w", f.GetSeq(), err)
		}
		desc, err := tufstore.Describe(st)
		if err != nil {
			continue // not published metadata: shown as an entry
		}
		f.Tuf = &trustv1.TUFTargetFact{Repo: desc.Repo, Role: desc.Role, Version: desc.Version, Targets: targetsNaming(st.Envelope, f.GetDigests())}
		if rr := (evidence.RoleRef{Repo: desc.Repo, Role: desc.Role}); !slices.Contains(roles, rr) && len(roles) < evidence.MaxRoles {
			roles = append(roles, rr)
		}
	}
	if len(roles) == 0 || !slices.Contains(s.builder.Kinds(), evidence.KindTUF) {
		return nil
	}
	tr := evidence.Request{Digests: r.Digests, Kinds: []evidence.Kind{evidence.KindTUF}, At: r.At, TUFRoles: roles}
	b, err := s.builder.Build(ctx, tr, false)
	if err != nil {
		return err
	}
	src := evidence.NewSet(b).Sources(evidence.SourceOptions{}).TUF
	for _, f := range facts {
		t := f.GetTuf()
		if t == nil || !slices.Contains(roles, evidence.RoleRef{Repo: t.Repo, Role: t.Role}) {
			continue
		}
		cur, err := src.TUFRole(ctx, t.Repo, t.Role)
		if err != nil {
			t.Missing = err.Error()
			continue
		}
		t.CurrentVersion = cur.Version
		t.ListedNow = len(t.Targets) > 0
		for _, name := range t.Targets {
			listed := false
			for _, cd := range cur.Targets[name] {
				listed = listed || slices.Contains(f.GetDigests(), cd.String())
			}
			t.ListedNow = t.ListedNow && listed
		}
	}
	return nil
}

// targetsNaming lists the targets of TUF targets metadata whose hashes
// hold one of ds, sorted.
func targetsNaming(data []byte, ds []string) []string {
	var doc struct {
		Signed struct {
			Targets map[string]struct {
				Hashes map[string]string `json:"hashes"`
			} `json:"targets"`
		} `json:"signed"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	for name, t := range doc.Signed.Targets {
		for alg, h := range t.Hashes {
			if slices.Contains(ds, alg+":"+strings.ToLower(h)) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// keyLabels reads the labels of the registered keys out names (signers,
// claim signers, revokers, revoked keys), at most maxLabelledKeys of them;
// an id that is no registered key (a Sigstore identity) has none.
func (s *subjectService) keyLabels(ctx context.Context, out *trustv1.Subject) (map[string]string, error) {
	var ids []string
	add := func(list ...string) {
		for _, id := range list {
			if id != "" && !slices.Contains(ids, id) && len(ids) < maxLabelledKeys {
				ids = append(ids, id)
			}
		}
	}
	addRev := func(r *trustv1.Revocation) {
		if r == nil {
			return
		}
		add(r.GetRevokers()...)
		if r.GetKind() == evidence.TargetKey {
			add(r.GetId())
		}
	}
	claims := func(cs []*trustv1.AliasClaim) {
		for _, c := range cs {
			add(c.GetSignerKeyIds()...)
		}
	}
	for _, a := range out.GetAliases() {
		claims(a.GetClaims())
		addRev(a.GetRevocation())
	}
	for _, f := range out.GetFacts() {
		add(f.GetSignerKeyIds()...)
		claims(f.GetViaClaims())
		addRev(f.GetRevocation())
	}
	labels := map[string]string{}
	ids = slices.DeleteFunc(ids, func(id string) bool { return strings.HasPrefix(id, "sigstore:") })
	if len(ids) == 0 {
		return labels, nil
	}
	// One read for every key not yet seen, not a round trip each (a
	// registered key never changes, so the builder keeps those it read).
	keys, err := s.builder.KeysByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("subject: keys of %s: %w", out.GetDigest(), err)
	}
	for _, k := range keys {
		if k.Label != "" {
			labels[k.ID] = k.Label
		}
	}
	return labels, nil
}

func (s *subjectService) ListAliases(ctx context.Context, req *trustv1.ListAliasesRequest) (*trustv1.ListAliasesResponse, error) {
	d, err := parseDigestField("digest", req.GetDigest())
	if err != nil {
		return nil, err
	}
	v, err := subject.Lookup(ctx, s.store, d)
	if err != nil {
		return nil, notFound(d, err)
	}
	return &trustv1.ListAliasesResponse{SubjectId: uint64(v.Subject.ID), Digest: d.String(), Aliases: aliasesToProto(v.Aliases),
		OmittedClaims: uint32(v.OmittedClaims)}, nil
}

// notFound rewords a missing subject so the message names the digest
// rather than storage internals.
func notFound(d digest.Digest, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("digest %s: no subject known: %w", d, store.ErrNotFound)
	}
	return err
}

var claimSources = map[store.ClaimSource]trustv1.ClaimSource{
	store.ClaimStatement: trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT,
	store.ClaimTUFTarget: trustv1.ClaimSource_CLAIM_SOURCE_TUF_TARGET,
}

func aliasClaimToProto(c store.AliasClaim) *trustv1.AliasClaim {
	pc := &trustv1.AliasClaim{
		Source:       claimSources[c.Source],
		Reference:    c.Reference,
		StatementSeq: uint64(c.StatementSeq),
		SignerKeyIds: c.SignerKeyIDs,
		ClaimedAt:    timestamppb.New(c.ClaimedAt),
	}
	for _, cd := range c.Digests {
		pc.Digests = append(pc.Digests, cd.String())
	}
	return pc
}

func aliasesToProto(as []subject.Alias) []*trustv1.Alias {
	out := make([]*trustv1.Alias, 0, len(as))
	for _, a := range as {
		pa := &trustv1.Alias{Digest: a.Digest.String(), Queried: a.Queried, SameSubject: a.SameSubject}
		for _, c := range a.Claims {
			pa.Claims = append(pa.Claims, aliasClaimToProto(c))
		}
		out = append(out, pa)
	}
	return out
}
