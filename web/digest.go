package web

import (
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

// verdict is the status at a glance: a class, a headline and the
// revocation that decides it.
type verdict struct {
	Class    string
	Headline string
	Detail   string
	By       *trustv1.Revocation
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
	// The verdict: exactly GetSubject's answer (the one trustctl subject
	// prints).
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
	p.Verdict = verdictOf(s)

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

// verdictOf is the status at a glance of a lookup: revoked when a
// revocation of one of the subject's digests is in force (who, why), else
// the facts' statuses as GetSubject judged them: valid when one counts,
// superseded when the only ones counting are superseded, revoked when
// every one is revoked.
func verdictOf(s *trustv1.Subject) verdict {
	for _, a := range s.GetAliases() {
		if r := a.GetRevocation(); r != nil && r.GetAction() == evidence.ActionRevoke {
			return verdict{Class: ClassRevoked, Headline: "Revoked", By: r,
				Detail: fmt.Sprintf("known bad: do not deploy. Digest %s was revoked (%s).", a.GetDigest(), r.GetReason())}
		}
	}
	count := map[trustv1.FactStatus]int{}
	var firstRevoked, firstSuperseded *trustv1.Revocation
	for _, f := range s.GetFacts() {
		if f.GetIgnored() {
			continue
		}
		count[f.GetStatus()]++
		switch f.GetStatus() {
		case trustv1.FactStatus_FACT_STATUS_REVOKED:
			if firstRevoked == nil {
				firstRevoked = f.GetRevocation()
			}
		case trustv1.FactStatus_FACT_STATUS_SUPERSEDED:
			if firstSuperseded == nil {
				firstSuperseded = f.GetRevocation()
			}
		}
	}
	switch {
	case count[trustv1.FactStatus_FACT_STATUS_VALID]+count[trustv1.FactStatus_FACT_STATUS_REINSTATED] > 0:
		v := verdict{Class: ClassValid, Headline: "Valid", Detail: fmt.Sprintf("%d of its facts are in force", count[trustv1.FactStatus_FACT_STATUS_VALID]+count[trustv1.FactStatus_FACT_STATUS_REINSTATED])}
		if n := count[trustv1.FactStatus_FACT_STATUS_REVOKED]; n > 0 {
			v.Detail += fmt.Sprintf("; %d revoked ones no longer count", n)
		}
		return v
	case count[trustv1.FactStatus_FACT_STATUS_SUPERSEDED] > 0:
		return verdict{Class: ClassSuperseded, Headline: "Superseded", By: firstSuperseded, Detail: "its evidence still counts, but a signer's key was superseded, retired or withdrawn since"}
	case count[trustv1.FactStatus_FACT_STATUS_REVOKED] > 0:
		return verdict{Class: ClassRevoked, Headline: "Revoked", By: firstRevoked, Detail: "every fact about it is revoked"}
	case count[trustv1.FactStatus_FACT_STATUS_UNKNOWN] > 0:
		return verdict{Class: ClassUnknown, Headline: "Unknown", Detail: "the server serves no revocation state"}
	}
	return verdict{Class: ClassUnknown, Headline: "No evidence", Detail: "trustd knows the digest but holds no signed fact about it"}
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
