package apiconv

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// badField reports a field of a message that does not convert.
func badField(field string, err error) error {
	return fmt.Errorf("%s: %w: %w", field, evidence.ErrInvalidRequest, err)
}

func parseDigests(field string, ss []string) ([]digest.Digest, error) {
	out := make([]digest.Digest, 0, len(ss))
	for i, s := range ss {
		d, err := digest.Parse(s)
		if err != nil {
			return nil, badField(fmt.Sprintf("%s[%d]", field, i), err)
		}
		out = append(out, d)
	}
	return out, nil
}

func digestStrings(ds []digest.Digest) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// RevocationStateToProto renders the revocation state r holds (State not
// nil), as GetSubject shows it beside an alias or a fact.
func RevocationStateToProto(r evidence.Revocation) *trustv1.Revocation {
	st := r.State
	return &trustv1.Revocation{Kind: r.Kind, Id: r.ID, Action: st.Action, Reason: st.Reason, Effective: timestamppb.New(st.Effective),
		Revokers: st.Revokers, Seq: st.Seq, RecordedAt: ts(st.RecordedAt)}
}

var factStatuses = map[string]trustv1.FactStatus{
	evidence.StatusValid:      trustv1.FactStatus_FACT_STATUS_VALID,
	evidence.StatusRevoked:    trustv1.FactStatus_FACT_STATUS_REVOKED,
	evidence.StatusSuperseded: trustv1.FactStatus_FACT_STATUS_SUPERSEDED,
	evidence.StatusReinstated: trustv1.FactStatus_FACT_STATUS_REINSTATED,
	evidence.StatusUnknown:    trustv1.FactStatus_FACT_STATUS_UNKNOWN,
}

// FactStatusToProto renders an entry's status (evidence.Set.Status) and
// the revocation state deciding it, as GetSubject shows them on a fact.
func FactStatusToProto(st evidence.FactStatus) (trustv1.FactStatus, *trustv1.Revocation) {
	var by *trustv1.Revocation
	if st.By != nil && st.By.State != nil {
		by = RevocationStateToProto(*st.By)
	}
	return factStatuses[st.Status], by
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

func kindStrings(ks []evidence.Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func kinds(ss []string) []evidence.Kind {
	out := make([]evidence.Kind, len(ss))
	for i, s := range ss {
		out[i] = evidence.Kind(s)
	}
	return out
}

func rootSets(sets [][]string) []*trustv1.RootSet {
	out := make([]*trustv1.RootSet, len(sets))
	for i, s := range sets {
		out[i] = &trustv1.RootSet{Ids: s}
	}
	return out
}

func fromRootSets(sets []*trustv1.RootSet) [][]string {
	out := make([][]string, len(sets))
	for i, s := range sets {
		out[i] = s.GetIds()
	}
	return out
}

// EvidenceRequestToProto converts a request to its wire form.
func EvidenceRequestToProto(r evidence.Request) *trustv1.GetEvidenceRequest {
	out := &trustv1.GetEvidenceRequest{Digests: digestStrings(r.Digests), Kinds: kindStrings(r.Kinds), At: ts(r.At),
		PgpRoots: rootSets(r.PGPRoots), PredicateTypes: r.PredicateTypes, TrustSets: rootSets(r.TrustSets),
		Tokens: r.Tokens, Keys: r.Keys, Statements: digestStrings(r.Statements), Signers: r.Signers}
	for _, rr := range r.TUFRoles {
		out.TufRoles = append(out.TufRoles, &trustv1.TUFRoleRef{Repo: rr.Repo, Role: rr.Role})
	}
	return out
}

// EvidenceRequestFromProto converts and validates a request received on the
// wire; errors wrap evidence.ErrInvalidRequest and name the field.
func EvidenceRequestFromProto(p *trustv1.GetEvidenceRequest) (evidence.Request, error) {
	if len(p.GetDigests()) > evidence.MaxDigests || len(p.GetStatements()) > evidence.MaxExtraTargets {
		return evidence.Request{}, (evidence.Request{Digests: make([]digest.Digest, len(p.GetDigests())), Statements: make([]digest.Digest, len(p.GetStatements()))}).Validate()
	}
	ds, err := parseDigests("digests", p.GetDigests())
	if err != nil {
		return evidence.Request{}, err
	}
	sts, err := parseDigests("statements", p.GetStatements())
	if err != nil {
		return evidence.Request{}, err
	}
	if at := p.GetAt(); at != nil {
		if err := at.CheckValid(); err != nil {
			return evidence.Request{}, badField("at", err)
		}
	}
	r := evidence.Request{Digests: ds, Kinds: kinds(p.GetKinds()), At: fromTS(p.GetAt()), PGPRoots: fromRootSets(p.GetPgpRoots()),
		PredicateTypes: p.GetPredicateTypes(), TrustSets: fromRootSets(p.GetTrustSets()), Tokens: p.GetTokens(), Keys: p.GetKeys(), Statements: sts,
		Signers: p.GetSigners()}
	for _, rr := range p.GetTufRoles() {
		r.TUFRoles = append(r.TUFRoles, evidence.RoleRef{Repo: rr.GetRepo(), Role: rr.GetRole()})
	}
	return r, r.Validate()
}

// BundleToProto converts evidence to its wire form.
func BundleToProto(b *evidence.Bundle) *trustv1.GetEvidenceResponse {
	out := &trustv1.GetEvidenceResponse{Digests: digestStrings(b.Digests), At: ts(b.At), Kinds: kindStrings(b.Kinds), Truncated: b.Truncated,
		RevocationHead: b.RevocationHead, PredicateTypes: b.PredicateTypes}
	if c := b.Log; c != nil {
		out.Checkpoint = &trustv1.EvidenceCheckpoint{Signed: c.Signed, VerifierKey: c.VerifierKey, Size: c.Size}
	}
	for _, e := range b.Entries {
		out.Entries = append(out.Entries, &trustv1.EvidenceEntry{Seq: e.Seq, Envelope: e.Envelope, PayloadType: e.PayloadType, PredicateType: e.PredicateType,
			SignerKeyIds: e.SignerKeyIDs, RecordedAt: ts(e.RecordedAt), Digests: digestStrings(e.Digests), Proof: e.Proof})
	}
	for _, k := range b.Keys {
		out.Keys = append(out.Keys, &trustv1.EvidenceKey{Id: k.ID, Type: k.Type, PublicKey: k.PublicKey})
	}
	for _, r := range b.TUF {
		pr := &trustv1.TUFRepoEvidence{Repo: r.Repo, Roles: r.Roles, Missing: r.Missing}
		for _, f := range r.Files {
			pr.Files = append(pr.Files, &trustv1.TUFFileEvidence{Role: f.Role, Version: f.Version, Seq: f.Seq})
		}
		out.Tuf = append(out.Tuf, pr)
	}
	for _, l := range b.PGP {
		out.Pgp = append(out.Pgp, &trustv1.PGPLineEvidence{Seq: l.Seq, Digest: l.Digest.String(), Name: l.Name, Signer: l.Signer, Primary: l.Primary, SignedAt: ts(l.SignedAt)})
	}
	for _, pr := range b.PGPProblems {
		out.PgpProblems = append(out.PgpProblems, &trustv1.PGPProblemEvidence{Seq: pr.Seq, Reason: pr.Reason})
	}
	for _, d := range b.Decisions {
		pd := &trustv1.PGPDecisionEvidence{Roots: d.Roots, Name: d.Name, Signer: d.Signer, SignedAt: ts(d.SignedAt), Observed: ts(d.Observed), Allowed: d.Allowed, Root: d.Root,
			Refusal: d.Refusal, RefusalSeq: d.RefusalSeq, Detail: d.Detail, Error: d.Error}
		for _, l := range d.Links {
			pd.Links = append(pd.Links, &trustv1.PGPLinkEvidence{Kind: l.Kind, From: l.From, To: l.To, Seq: l.Seq})
		}
		out.Decisions = append(out.Decisions, pd)
	}
	for _, a := range b.Attestations {
		pa := &trustv1.AttestationEvidence{Seq: a.Seq, Digest: a.Digest.String(), PredicateType: a.PredicateType, Signers: a.Signers, Revoked: a.Revoked}
		if x := a.Index; x != nil {
			pa.Index = &trustv1.AttestationIndex{BuilderId: x.BuilderID, BuildType: x.BuildType, SourceRepository: x.SourceRepository, SourceRef: x.SourceRef,
				DocumentName: x.DocumentName, DocumentVersion: x.DocumentVersion, VerifierId: x.VerifierID, VerificationResult: x.VerificationResult}
		}
		out.Attestations = append(out.Attestations, pa)
	}
	for _, r := range b.Revocations {
		pr := &trustv1.RevocationEvidence{Kind: r.Kind, Id: r.ID, InForce: r.InForce}
		if s := r.State; s != nil {
			pr.State = &trustv1.RevocationStateEvidence{Action: s.Action, Reason: s.Reason, Effective: ts(s.Effective), Revokers: s.Revokers, Seq: s.Seq, RecordedAt: ts(s.RecordedAt)}
		}
		out.Revocations = append(out.Revocations, pr)
	}
	for _, r := range b.Reputation {
		out.Reputation = append(out.Reputation, &trustv1.ReputationEvidence{TrustSet: r.TrustSet, Score: r.Score, Positive: r.Positive, Negative: r.Negative, Error: r.Error})
	}
	for _, c := range b.AliasClaims {
		out.AliasClaims = append(out.AliasClaims, aliasClaimToProto(c))
	}
	for _, p := range b.Publishers {
		pp := &trustv1.PublisherEvidence{Key: p.Key, Digest: p.Digest.String(), Seq: p.Seq}
		if p.Claim != nil {
			pp.Claim = aliasClaimToProto(*p.Claim)
		}
		out.Publishers = append(out.Publishers, pp)
	}
	return out
}

func aliasClaimToProto(c evidence.AliasClaim) *trustv1.AliasClaimEvidence {
	return &trustv1.AliasClaimEvidence{Source: c.Source, Reference: c.Reference, Seq: c.Seq, Signers: c.Signers, Digests: digestStrings(c.Digests), ClaimedAt: ts(c.ClaimedAt)}
}

// errBadBundle reports an evidence answer that does not convert.
var errBadBundle = errors.New("malformed evidence")

func bad(field string, err error) error {
	return fmt.Errorf("evidence: %s: %w: %w: %w", field, evidence.ErrUnverified, errBadBundle, err)
}

func bundleDigests(field string, ss []string) ([]digest.Digest, error) {
	out := make([]digest.Digest, 0, len(ss))
	for i, s := range ss {
		d, err := bundleDigest(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func bundleDigest(field, s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return digest.Digest{}, bad(field, err)
	}
	return d, nil
}

// BundleFromProto converts evidence received on the wire; a malformed
// answer is evidence.ErrUnverified (check the result with evidence.Verify
// before using it).
func BundleFromProto(p *trustv1.GetEvidenceResponse) (*evidence.Bundle, error) {
	ds, err := bundleDigests("digests", p.GetDigests())
	if err != nil {
		return nil, err
	}
	b := &evidence.Bundle{Digests: ds, At: fromTS(p.GetAt()), Kinds: kinds(p.GetKinds()), Truncated: p.GetTruncated(),
		RevocationHead: p.GetRevocationHead(), PredicateTypes: p.GetPredicateTypes()}
	if c := p.GetCheckpoint(); c != nil {
		b.Log = &evidence.Checkpoint{Signed: c.GetSigned(), VerifierKey: c.GetVerifierKey(), Size: c.GetSize()}
	}
	for i, e := range p.GetEntries() {
		eds, err := bundleDigests(fmt.Sprintf("entries[%d].digests", i), e.GetDigests())
		if err != nil {
			return nil, err
		}
		b.Entries = append(b.Entries, evidence.Entry{Seq: e.GetSeq(), Envelope: e.GetEnvelope(), PayloadType: e.GetPayloadType(), PredicateType: e.GetPredicateType(),
			SignerKeyIDs: e.GetSignerKeyIds(), RecordedAt: fromTS(e.GetRecordedAt()), Digests: eds, Proof: e.GetProof()})
	}
	for _, k := range p.GetKeys() {
		b.Keys = append(b.Keys, evidence.Key{ID: k.GetId(), Type: k.GetType(), PublicKey: k.GetPublicKey()})
	}
	for _, r := range p.GetTuf() {
		er := evidence.TUFRepo{Repo: r.GetRepo(), Roles: r.GetRoles(), Missing: r.GetMissing()}
		for _, f := range r.GetFiles() {
			er.Files = append(er.Files, evidence.TUFFile{Role: f.GetRole(), Version: f.GetVersion(), Seq: f.GetSeq()})
		}
		b.TUF = append(b.TUF, er)
	}
	for i, l := range p.GetPgp() {
		d, err := bundleDigest(fmt.Sprintf("pgp[%d].digest", i), l.GetDigest())
		if err != nil {
			return nil, err
		}
		b.PGP = append(b.PGP, evidence.PGPSignature{Seq: l.GetSeq(), Digest: d, Name: l.GetName(), Signer: l.GetSigner(), Primary: l.GetPrimary(), SignedAt: fromTS(l.GetSignedAt())})
	}
	for _, pr := range p.GetPgpProblems() {
		b.PGPProblems = append(b.PGPProblems, evidence.PGPProblem{Seq: pr.GetSeq(), Reason: pr.GetReason()})
	}
	for _, d := range p.GetDecisions() {
		ed := evidence.PGPDecision{Roots: d.GetRoots(), Name: d.GetName(), Signer: d.GetSigner(), SignedAt: fromTS(d.GetSignedAt()), Observed: fromTS(d.GetObserved()), Allowed: d.GetAllowed(),
			Root: d.GetRoot(), Refusal: d.GetRefusal(), RefusalSeq: d.GetRefusalSeq(), Detail: d.GetDetail(), Error: d.GetError()}
		for _, l := range d.GetLinks() {
			ed.Links = append(ed.Links, evidence.PGPLink{Kind: l.GetKind(), From: l.GetFrom(), To: l.GetTo(), Seq: l.GetSeq()})
		}
		b.Decisions = append(b.Decisions, ed)
	}
	for i, a := range p.GetAttestations() {
		d, err := bundleDigest(fmt.Sprintf("attestations[%d].digest", i), a.GetDigest())
		if err != nil {
			return nil, err
		}
		ea := evidence.Attestation{Seq: a.GetSeq(), Digest: d, PredicateType: a.GetPredicateType(), Signers: a.GetSigners(), Revoked: a.GetRevoked()}
		if x := a.GetIndex(); x != nil {
			ea.Index = &policy.AttestationIndex{BuilderID: x.GetBuilderId(), BuildType: x.GetBuildType(), SourceRepository: x.GetSourceRepository(), SourceRef: x.GetSourceRef(),
				DocumentName: x.GetDocumentName(), DocumentVersion: x.GetDocumentVersion(), VerifierID: x.GetVerifierId(), VerificationResult: x.GetVerificationResult()}
		}
		b.Attestations = append(b.Attestations, ea)
	}
	for _, r := range p.GetRevocations() {
		er := evidence.Revocation{Kind: r.GetKind(), ID: r.GetId(), InForce: r.GetInForce()}
		if s := r.GetState(); s != nil {
			er.State = &evidence.RevocationState{Action: s.GetAction(), Reason: s.GetReason(), Effective: fromTS(s.GetEffective()), Revokers: s.GetRevokers(),
				Seq: s.GetSeq(), RecordedAt: fromTS(s.GetRecordedAt())}
		}
		b.Revocations = append(b.Revocations, er)
	}
	for _, r := range p.GetReputation() {
		b.Reputation = append(b.Reputation, evidence.Reputation{TrustSet: r.GetTrustSet(), Score: r.GetScore(), Positive: r.GetPositive(), Negative: r.GetNegative(), Error: r.GetError()})
	}
	for i, c := range p.GetAliasClaims() {
		ac, err := aliasClaimFromProto(fmt.Sprintf("alias_claims[%d]", i), c)
		if err != nil {
			return nil, err
		}
		b.AliasClaims = append(b.AliasClaims, ac)
	}
	for i, pp := range p.GetPublishers() {
		d, err := bundleDigest(fmt.Sprintf("publishers[%d].digest", i), pp.GetDigest())
		if err != nil {
			return nil, err
		}
		ep := evidence.Publisher{Key: pp.GetKey(), Digest: d, Seq: pp.GetSeq()}
		if c := pp.GetClaim(); c != nil {
			ac, err := aliasClaimFromProto(fmt.Sprintf("publishers[%d].claim", i), c)
			if err != nil {
				return nil, err
			}
			ep.Claim = &ac
		}
		b.Publishers = append(b.Publishers, ep)
	}
	return b, nil
}

func aliasClaimFromProto(field string, c *trustv1.AliasClaimEvidence) (evidence.AliasClaim, error) {
	ds, err := bundleDigests(field+".digests", c.GetDigests())
	if err != nil {
		return evidence.AliasClaim{}, err
	}
	return evidence.AliasClaim{Source: c.GetSource(), Reference: c.GetReference(), Seq: c.GetSeq(), Signers: c.GetSigners(), Digests: ds, ClaimedAt: fromTS(c.GetClaimedAt())}, nil
}
