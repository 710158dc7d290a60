package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/apiconv"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/tufstore"
)

// maxFacts is the facts one digest page shows (the newest; the count says
// when more exist).
const maxFacts = 200

// maxVoters is the voters the page lists.
const maxVoters = 20

// Status classes: the CSS class, and the words, of a verdict at a glance.
const (
	ClassValid      = "status-valid"
	ClassRevoked    = "status-revoked"
	ClassSuperseded = "status-superseded"
	ClassReinstated = "status-reinstated"
	ClassUnknown    = "status-unknown"
	// ClassUnvouched: facts in force, none by a publisher of the digest.
	ClassUnvouched = "status-unvouched"
)

// ownSections are the record types the digest page shows in sections of
// their own rather than among attestations.
var ownSections = []string{tufstore.PredicateType, recordtype.Revocation, recordtype.PGPManifest, recordtype.Location}

// digestPage is the digest page's data.
type digestPage struct {
	Digest    string
	Subject   *trustv1.Subject
	Truncated bool
	// Verdict is the status at a glance.
	Verdict verdict
	Labels  map[string]string
	Facts   []fact
	Aliases []*trustv1.Alias
	// Evidence of the bundle (evidencesvc.Builder, as GetEvidence).
	Bundle      *evidence.Bundle
	Publishers  []evidence.Publisher
	PGP         []evidence.PGPSignature
	Attestation []attestation
	Revocations []evidence.Revocation
	Locations   *trustv1.GetLocationsResponse
	Reputation  *trustv1.GetReputationResponse
	Quality     axisView
	Trust       axisView
	Chart       chart
	Voters      []voter
	// Responses are the publishers' responses to the reputation as a
	// whole (those to a vote are shown with the vote).
	Responses []*trustv1.FeedbackResponse
}

// verdict is the status at a glance: a class, a headline, the
// publisher's entry and the revocation that decide it.
type verdict struct {
	Class    string
	Headline string
	Detail   string
	By       *trustv1.Revocation
	// Publisher is the publisher's key whose entry PublisherSeq decides
	// the verdict; empty when no publisher wrote about the digest.
	Publisher    string
	PublisherSeq uint64
}

// fact is a Fact of the lookup with what the page shows beside it.
type fact struct {
	*trustv1.Fact
	Class  string
	Status string
}

type attestation struct {
	evidence.Attestation
	Fields [][2]string
}

type axisView struct {
	Name               string
	Positive, Negative uint64
	Score, Low, High   float64
}

// voter is a voter's latest vote on an axis, with the publishers'
// responses to it.
type voter struct {
	Key       string
	Axis      string
	Value     string
	Reason    string
	At        time.Time
	Seq       uint64
	Responses []*trustv1.FeedbackResponse
}

var statusWords = map[trustv1.FactStatus]struct{ class, word string }{
	trustv1.FactStatus_FACT_STATUS_VALID:      {ClassValid, "valid"},
	trustv1.FactStatus_FACT_STATUS_REVOKED:    {ClassRevoked, "revoked"},
	trustv1.FactStatus_FACT_STATUS_SUPERSEDED: {ClassSuperseded, "superseded"},
	trustv1.FactStatus_FACT_STATUS_REINSTATED: {ClassReinstated, "reinstated"},
	trustv1.FactStatus_FACT_STATUS_UNKNOWN:    {ClassUnknown, "unknown"},
}

func (h *Handler) digest(r *http.Request) result {
	ctx := r.Context()
	d, err := ParseQuery(r.PathValue("digest"))
	if err != nil {
		return result{status: http.StatusBadRequest, err: err}
	}
	if d.String() != r.PathValue("digest") {
		return result{redirect: "/d/" + d.String()}
	}
	p, err := h.digestPage(ctx, d)
	if err != nil {
		return result{err: err}
	}
	return result{name: "digest", title: d.String(), data: p}
}

func (h *Handler) digestPage(ctx context.Context, d digest.Digest) (*digestPage, error) {
	// The facts and their statuses: exactly GetSubject's answer (the one
	// trustctl subject prints). The verdict weighs them with the
	// digest's publishers, from the bundle below.
	resp, err := h.opts.Subject.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String(), EvidenceLimit: maxFacts})
	if err != nil {
		return nil, err
	}
	s := resp.GetSubject()
	p := &digestPage{Digest: d.String(), Subject: s, Truncated: s.GetEvidenceTruncated(), Labels: s.GetKeyLabels(), Aliases: s.GetAliases()}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	for _, f := range s.GetFacts() {
		w := statusWords[f.GetStatus()]
		p.Facts = append(p.Facts, fact{Fact: f, Class: w.class, Status: w.word})
	}

	// The evidence bundle of the subject's digests, as GetEvidence builds
	// it: publishers, OpenPGP manifests, attestations, revocations.
	var ds []digest.Digest
	for _, a := range s.GetAliases() {
		if ad, err := digest.Parse(a.GetDigest()); err == nil && len(ds) < evidence.MaxDigests {
			ds = append(ds, ad)
		}
	}
	kinds := []evidence.Kind{evidence.KindRevocations}
	for _, k := range []evidence.Kind{evidence.KindPGP, evidence.KindAttestations, evidence.KindPublishers} {
		if slices.Contains(h.opts.Builder.Kinds(), k) {
			kinds = append(kinds, k)
		}
	}
	b, err := h.opts.Builder.Build(ctx, evidence.Request{Digests: ds, Kinds: kinds, At: s.GetAt().AsTime()}, false)
	if err != nil {
		return nil, err
	}
	p.Bundle, p.Publishers, p.PGP = b, b.Publishers, b.PGP
	p.Verdict = verdictOf(s, publicationsOf(s, b, d))
	seen := map[uint64]bool{}
	for _, a := range b.Attestations {
		// One row per entry (an entry naming two of the digests is one
		// attestation); feedback, TUF metadata, manifests, locations and
		// revocations have their own sections.
		if seen[a.Seq] || slices.Contains(feedback.PredicateTypes, a.PredicateType) || slices.Contains(ownSections, a.PredicateType) {
			continue
		}
		seen[a.Seq] = true
		av := attestation{Attestation: a}
		if x := a.Index; x != nil {
			for _, kv := range [][2]string{{"builderId", x.BuilderID}, {"buildType", x.BuildType}, {"sourceRepository", x.SourceRepository},
				{"sourceRef", x.SourceRef}, {"documentName", x.DocumentName}, {"documentVersion", x.DocumentVersion},
				{"verifierId", x.VerifierID}, {"verificationResult", x.VerificationResult}} {
				if kv[1] != "" {
					av.Fields = append(av.Fields, kv)
				}
			}
		}
		p.Attestation = append(p.Attestation, av)
	}
	for _, rv := range b.Revocations {
		if rv.State != nil {
			p.Revocations = append(p.Revocations, rv)
		}
	}
	if h.opts.Locations != nil {
		locs, err := h.opts.Locations.GetLocations(ctx, &trustv1.GetLocationsRequest{Digest: d.String()})
		if err != nil {
			return nil, err
		}
		p.Locations = locs
	}
	rep, err := h.opts.Reputation.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String(), ResponseLimit: 200})
	if err != nil {
		return nil, err
	}
	p.Reputation = rep
	p.Quality = axisOf("quality (like / dislike)", rep.GetQuality())
	p.Trust = axisOf("trust (trust / distrust)", rep.GetTrust())
	votes, err := h.votes(ctx, s.GetFacts())
	if err != nil {
		return nil, err
	}
	p.Chart = voteChart(votes, p.Quality, p.Trust)
	p.Voters = voters(votes, rep.GetResponses())
	for _, r := range rep.GetResponses() {
		if r.GetInReplyTo() == "" {
			p.Responses = append(p.Responses, r)
		}
	}
	return p, nil
}

// publication is an entry a publisher of the queried digest wrote, with
// its status at the lookup's time.
type publication struct {
	Key    string
	Seq    uint64
	Status trustv1.FactStatus
	By     *trustv1.Revocation
}

// publicationsOf returns the entries about d that its publishers wrote
// (evidence.Bundle.Publishers: the entries it cites, and the facts of s
// naming d that one of their keys signed), oldest first, each with the
// status GetSubject gives it, or the bundle's (evidence.Set.Status, the
// same judgement) for an entry older than the facts shown. Publishers of
// the aliases count for nothing here: a claim anyone signs may list a
// digest beside someone's release.
func publicationsOf(s *trustv1.Subject, b *evidence.Bundle, d digest.Digest) []publication {
	keys := map[string]bool{}
	cited := map[uint64]string{}
	for _, p := range b.Publishers {
		if p.Digest != d {
			continue
		}
		keys[p.Key] = true
		if _, ok := cited[p.Seq]; !ok {
			cited[p.Seq] = p.Key
		}
	}
	var out []publication
	for _, f := range s.GetFacts() {
		if f.GetIgnored() || f.GetViaAlias() != "" {
			continue
		}
		k, ok := cited[f.GetSeq()]
		if !ok {
			i := slices.IndexFunc(f.GetSignerKeyIds(), func(k string) bool { return keys[k] })
			if i < 0 {
				continue
			}
			k = f.GetSignerKeyIds()[i]
		}
		delete(cited, f.GetSeq())
		out = append(out, publication{Key: k, Seq: f.GetSeq(), Status: f.GetStatus(), By: f.GetRevocation()})
	}
	set := evidence.NewSet(b)
	for seq, k := range cited {
		if st, ok := set.Status(seq); ok {
			status, by := apiconv.FactStatusToProto(st)
			out = append(out, publication{Key: k, Seq: seq, Status: status, By: by})
		}
	}
	slices.SortFunc(out, func(a, b publication) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// verdictOf is the status at a glance of a lookup: revoked when a
// revocation of one of the subject's digests is in force (who, why);
// else what the entries of the digest's publishers (pubs) say, as the
// evaluator judges them: published when one counts, superseded when the
// only ones counting are superseded, revoked when every one is. Without a
// publisher's entry the page vouches for nothing: anyone may register a
// key and sign statements about any digest, so facts in force by others
// say "no publisher", and only a policy (trustctl verify) decides whose
// word counts. GetSubject's statuses (the ones trustctl subject prints)
// give the count of facts in force.
func verdictOf(s *trustv1.Subject, pubs []publication) verdict {
	for _, a := range s.GetAliases() {
		if r := a.GetRevocation(); r != nil && r.GetAction() == evidence.ActionRevoke {
			return verdict{Class: ClassRevoked, Headline: "Revoked", By: r,
				Detail: fmt.Sprintf("known bad: do not deploy. Digest %s was revoked (%s).", a.GetDigest(), r.GetReason())}
		}
	}
	count := map[trustv1.FactStatus]int{}
	var firstRevoked *trustv1.Revocation
	for _, f := range s.GetFacts() {
		if f.GetIgnored() {
			continue
		}
		count[f.GetStatus()]++
		if f.GetStatus() == trustv1.FactStatus_FACT_STATUS_REVOKED && firstRevoked == nil {
			firstRevoked = f.GetRevocation()
		}
	}
	inForce := count[trustv1.FactStatus_FACT_STATUS_VALID] + count[trustv1.FactStatus_FACT_STATUS_REINSTATED] + count[trustv1.FactStatus_FACT_STATUS_SUPERSEDED]
	if len(pubs) > 0 {
		return publishedVerdict(pubs, inForce)
	}
	switch {
	case inForce > 0:
		return verdict{Class: ClassUnvouched, Headline: "No publisher",
			Detail: fmt.Sprintf("%d signed facts about it are in force, none by a publisher of this digest (the first to list it in a TUF repository or an OpenPGP manifest here, or an attestation publisher the operator named). Anyone may register a key and sign statements about any digest: each holds only as far as you trust its signer.", inForce)}
	case count[trustv1.FactStatus_FACT_STATUS_REVOKED] > 0:
		return verdict{Class: ClassRevoked, Headline: "Revoked", By: firstRevoked, Detail: "every fact about it is revoked"}
	case count[trustv1.FactStatus_FACT_STATUS_UNKNOWN] > 0:
		return verdict{Class: ClassUnknown, Headline: "Unknown", Detail: "the server serves no revocation state"}
	}
	return verdict{Class: ClassUnknown, Headline: "No evidence", Detail: "trustd knows the digest but holds no signed fact about it"}
}

// publishedVerdict is the verdict of a digest its publishers wrote pubs
// (not empty, oldest first) about; inForce facts of anyone's count.
func publishedVerdict(pubs []publication, inForce int) verdict {
	first := map[trustv1.FactStatus]*publication{}
	for i := range pubs {
		if first[pubs[i].Status] == nil {
			first[pubs[i].Status] = &pubs[i]
		}
	}
	facts := fmt.Sprintf("; %d of its facts are in force", inForce)
	pick := func(class, headline, detail string, p *publication) verdict {
		return verdict{Class: class, Headline: headline, Detail: detail, Publisher: p.Key, PublisherSeq: p.Seq, By: p.By}
	}
	for _, st := range []trustv1.FactStatus{trustv1.FactStatus_FACT_STATUS_VALID, trustv1.FactStatus_FACT_STATUS_REINSTATED} {
		if p := first[st]; p != nil {
			v := pick(ClassValid, "Published", "its publisher's entry counts"+facts, p)
			v.By = nil
			return v
		}
	}
	if p := first[trustv1.FactStatus_FACT_STATUS_SUPERSEDED]; p != nil {
		return pick(ClassSuperseded, "Superseded", "its publisher's entry still counts, but a signer's key was superseded, retired or withdrawn since"+facts, p)
	}
	if p := first[trustv1.FactStatus_FACT_STATUS_REVOKED]; p != nil && len(first) == 1 {
		return pick(ClassRevoked, "Revoked", "every entry its publishers wrote about it is revoked: what others signed about it does not make it good", p)
	}
	return verdict{Class: ClassUnknown, Headline: "Unknown", Detail: "the server serves no revocation state"}
}

func axisOf(name string, a *trustv1.ReputationAxis) axisView {
	lo, hi := wilson(float64(a.GetPositive()), float64(a.GetNegative()))
	// The score is the server's (the Wilson lower bound it judges by).
	return axisView{Name: name, Positive: a.GetPositive(), Negative: a.GetNegative(), Score: a.GetScore(), Low: lo, High: hi}
}

// vote is one vote statement of the subject's facts.
type vote struct {
	Seq      uint64
	Key      string
	Envelope string
	feedback.VotePredicate
}

// votes reads the vote statements among facts (the ones GetSubject lists,
// genuine and not revoked), oldest first.
func (h *Handler) votes(ctx context.Context, facts []*trustv1.Fact) ([]vote, error) {
	var seqs []int64
	for _, f := range facts {
		if f.GetPredicateType() == feedback.VotePredicateType && !f.GetIgnored() && f.GetStatus() != trustv1.FactStatus_FACT_STATUS_REVOKED && len(f.GetSignerKeyIds()) == 1 {
			seqs = append(seqs, int64(f.GetSeq()))
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	sts, err := h.opts.Store.StatementsBySeq(ctx, seqs, true)
	if err != nil {
		return nil, fmt.Errorf("web: votes: %w", err)
	}
	var out []vote
	for _, st := range sts {
		if !recordtype.Genuine(st.PayloadType, st.PredicateType) || len(st.SignerKeyIDs) != 1 {
			continue
		}
		var stmt struct {
			Predicate json.RawMessage `json:"predicate"`
		}
		if json.Unmarshal(st.Payload, &stmt) != nil {
			continue
		}
		vp, err := feedback.ParseVote(stmt.Predicate)
		if err != nil {
			continue
		}
		out = append(out, vote{Seq: uint64(st.Seq), Key: st.SignerKeyIDs[0], Envelope: st.EnvelopeDigest.String(), VotePredicate: vp})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// voters are the latest vote of each voter and axis, newest first, with
// the publishers' responses to it.
func voters(vs []vote, responses []*trustv1.FeedbackResponse) []voter {
	latest := map[[2]string]vote{}
	for _, v := range vs {
		latest[[2]string{v.Key, v.Axis}] = v
	}
	var out []voter
	for _, v := range latest {
		if v.Value == feedback.Retract {
			continue
		}
		vr := voter{Key: v.Key, Axis: v.Axis, Value: v.Value, Reason: v.Reason, At: v.Timestamp, Seq: v.Seq}
		for _, r := range responses {
			if r.GetInReplyTo() == v.Envelope {
				vr.Responses = append(vr.Responses, r)
			}
		}
		out = append(out, vr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	if len(out) > maxVoters {
		out = out[:maxVoters]
	}
	return out
}
