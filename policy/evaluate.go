package policy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/timerule"
)

// Outcome is the three-valued result of a requirement.
type Outcome string

// Outcomes. An undecided requirement could not be evaluated (evidence
// unavailable); all/any treat it as neither pass nor fail.
const (
	Pass      Outcome = "pass"
	Fail      Outcome = "fail"
	Undecided Outcome = "undecided"
)

// Result is the outcome of one requirement and why, naming the evidence.
type Result struct {
	Kind     string   `json:"kind"`
	Outcome  Outcome  `json:"outcome"`
	Reason   Reason   `json:"reason,omitempty"`
	Detail   string   `json:"detail"`
	Evidence []string `json:"evidence,omitempty"`
	// Inputs are the signed documents a passing requirement relied on.
	Inputs   []Input  `json:"inputs,omitempty"`
	Children []Result `json:"children,omitempty"`

	token string // the id of the token a passing token leaf accepted
}

// Verdict is a policy's answer for one artifact.
type Verdict struct {
	Policy       string    `json:"policy"`
	PolicyDigest string    `json:"policyDigest"`
	Resource     string    `json:"resource,omitempty"`
	Digests      []string  `json:"digests"`
	Outcome      Outcome   `json:"outcome"`
	EvaluatedAt  time.Time `json:"evaluatedAt"`
	// RevocationListSeq is the revocation list a revocation requirement
	// consulted, 0 if none did; a token records it.
	RevocationListSeq uint64 `json:"revocationListSeq,omitempty"`
	// Signers are the keys and fingerprints whose signatures the
	// evaluation counted, sorted; a token names them so an offline
	// verifier can check them against its revocation list.
	Signers []string `json:"signers,omitempty"`
	// SignerTimes are, by signer, the time the one time rule judges the
	// earliest signature it counted from that signer at (timerule.At); a
	// token carries them so an offline verifier judges soft revocations
	// as the evaluation did.
	SignerTimes map[string]time.Time `json:"signerTimes,omitempty"`
	Result      Result               `json:"result"`
}

// Inputs returns the signed documents that the passing part of the verdict
// relied on, without duplicates, in tree order: what a token lists as its
// input attestations.
func (v Verdict) Inputs() []Input {
	var out []Input
	seen := map[Input]bool{}
	var walk func(r Result)
	walk = func(r Result) {
		if r.Outcome != Pass {
			return
		}
		for _, in := range r.Inputs {
			if !seen[in] {
				seen[in] = true
				out = append(out, in)
			}
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(v.Result)
	return out
}

// Evaluator evaluates policies over a set of evidence sources.
type Evaluator struct {
	Sources Sources
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Offline says the verification deliberately consults no server: a
	// requirement whose source is missing then fails (OFFLINE) instead of
	// being undecided, so a token that does not hold gives a definite no.
	Offline bool
}

// Evaluate evaluates p for the bytes known by ds (sha256 first). Evidence
// errors never escape: they make the requirement undecided, so the verdict
// always explains itself.
//
// Revocations win (deny-overrides): whenever a revocation source is
// available, the evaluator itself checks the digests, every key whose
// signature it counted, every log entry and token a passing requirement
// relied on against the revocation state, and a revocation in force of
// any of them (judged by the one time rule, package timerule) fails the
// verdict REVOKED, whatever the requirement tree (any, all, thresholds)
// says. A revocation state that cannot be read leaves a passing tree
// undecided, and a stale one fails it: absence of a revocation is never
// assumed.
func (e *Evaluator) Evaluate(ctx context.Context, p *Policy, resource string, ds []digest.Digest) Verdict {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ev := &evaluation{e: e, ctx: ctx, policy: p, resource: resource, ds: ds, now: now().UTC(), signers: map[string]time.Time{}, leaves: map[*Requirement]Result{}}
	// The revocation check needs the signers, statements and tokens the
	// other evidence named, so every other leaf is evaluated first.
	ev.walk(&p.Require, func(r *Requirement) {
		if r.Revocation == nil {
			ev.leaves[r] = ev.leaf(r)
		}
	})
	ev.checkRevocations()
	ev.walk(&p.Require, func(r *Requirement) {
		if r.Revocation != nil {
			ev.leaves[r] = ev.revocation(r.Revocation)
		}
	})
	res := ev.combine(&p.Require)
	if deny := ev.denyResult(); deny != nil {
		res = overridden(*deny, res)
	}
	v := Verdict{Policy: p.Name, PolicyDigest: p.Digest().String(), Resource: resource, Outcome: res.Outcome, EvaluatedAt: ev.now, Result: res, RevocationListSeq: ev.revSeq}
	for _, d := range ds {
		v.Digests = append(v.Digests, d.String())
	}
	for k, at := range ev.signers {
		v.Signers = append(v.Signers, k)
		if v.SignerTimes == nil {
			v.SignerTimes = map[string]time.Time{}
		}
		v.SignerTimes[k] = at
	}
	sort.Strings(v.Signers)
	return v
}

type evaluation struct {
	e      *Evaluator
	ctx    context.Context
	policy *Policy
	ds     []digest.Digest
	now    time.Time
	// signers are the keys and fingerprints whose signatures the
	// evaluation counted, each with the earliest time one of them is
	// judged at (timerule.At): a soft revocation voids the key's part
	// only if it voids that one too.
	signers map[string]time.Time
	// rotations are the supersessions (key → the rotation's log sequence)
	// of the OpenPGP chains the evaluation relied on: each is the chain's
	// own link, not a revocation of it.
	rotations map[string]map[uint64]bool
	leaves    map[*Requirement]Result
	revSeq    uint64

	// resource is the reference being verified, which name requirements
	// bind (refname.Normalize reads it).
	resource string

	// The revocation check (checkRevocations), made once per evaluation.
	revChecked bool
	revQuery   RevocationQuery
	revStatus  RevocationStatus
	revErr     error
	revInForce []Revoked
}

// counted records that the evaluation counted a signature by key made at
// signed and first observed by the log at observed (zero: not observed,
// judged as now).
func (ev *evaluation) counted(key string, signed, observed time.Time) {
	if key == "" {
		return
	}
	if observed.IsZero() {
		observed = ev.now
	}
	at := timerule.At(signed, observed)
	if cur, ok := ev.signers[key]; !ok || at.Before(cur) {
		ev.signers[key] = at
	}
}

func (ev *evaluation) walk(r *Requirement, fn func(*Requirement)) {
	switch {
	case r.All != nil:
		for i := range r.All {
			ev.walk(&r.All[i], fn)
		}
	case r.Any != nil:
		for i := range r.Any {
			ev.walk(&r.Any[i], fn)
		}
	default:
		fn(r)
	}
}

func (ev *evaluation) combine(r *Requirement) Result {
	if r.All == nil && r.Any == nil {
		return ev.leaves[r]
	}
	list, kind := r.All, "all"
	if r.Any != nil {
		list, kind = r.Any, "any"
	}
	res := Result{Kind: kind}
	var pass, fail, undecided int
	for i := range list {
		c := ev.combine(&list[i])
		res.Children = append(res.Children, c)
		switch c.Outcome {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			undecided++
		}
	}
	n := len(list)
	switch {
	case kind == "all" && fail > 0, kind == "any" && pass == 0 && undecided == 0:
		res.Outcome, res.Reason = Fail, ReasonChildrenFailed
	case kind == "all" && undecided > 0, kind == "any" && pass == 0:
		res.Outcome, res.Reason = Undecided, ReasonEvidenceUnavailable
	default:
		res.Outcome = Pass
	}
	if kind == "all" {
		res.Detail = fmt.Sprintf("%d of %d requirements passed; all are required", pass, n)
	} else {
		res.Detail = fmt.Sprintf("%d of %d requirements passed; one is enough", pass, n)
	}
	if undecided > 0 {
		res.Detail += fmt.Sprintf(" (%d undecided)", undecided)
	}
	return res
}

func pass(kind, detail string, evidence ...string) Result {
	return Result{Kind: kind, Outcome: Pass, Detail: detail, Evidence: evidence}
}

func fail(kind string, reason Reason, detail string, evidence ...string) Result {
	return Result{Kind: kind, Outcome: Fail, Reason: reason, Detail: detail, Evidence: evidence}
}

func undecided(kind, detail string) Result {
	return Result{Kind: kind, Outcome: Undecided, Reason: ReasonEvidenceUnavailable, Detail: detail}
}

func (ev *evaluation) leaf(r *Requirement) Result {
	src := ev.e.Sources
	k := r.Kind()
	missing := func(what string) Result {
		if ev.e.Offline {
			return fail(k, ReasonOffline, "offline: "+what+" evidence is not consulted")
		}
		return undecided(k, "no "+what+" evidence source (not configured)")
	}
	switch {
	case r.TUF != nil:
		if src.TUF == nil {
			return missing("TUF")
		}
		return ev.tuf(r.TUF)
	case r.PGP != nil:
		if src.PGP == nil {
			return missing("OpenPGP")
		}
		return ev.pgp(r.PGP)
	case r.Attestation != nil:
		if src.Attestations == nil {
			return missing("attestation")
		}
		return ev.attestation(r.Attestation)
	case r.Reputation != nil:
		if src.Reputation == nil {
			return missing("reputation")
		}
		return ev.reputation(r.Reputation)
	case r.Threshold != nil:
		if src.Signers == nil {
			return missing("signer")
		}
		return ev.threshold(r.Threshold)
	case r.Token != nil:
		if src.Tokens == nil {
			return missing("token")
		}
		return ev.token(r.Token)
	case r.Name != nil:
		if r.Name.TUF != nil && src.TUF == nil {
			return missing("TUF")
		}
		if r.Name.PGP != nil && src.PGP == nil {
			return missing("OpenPGP")
		}
		return ev.name(r.Name)
	}
	return undecided(k, "unknown requirement kind")
}

func (ev *evaluation) matches(ds []digest.Digest) bool {
	for _, d := range ds {
		if slices.Contains(ev.ds, d) {
			return true
		}
	}
	return false
}

// readRole reads a targets role for a requirement of kind and returns it,
// how a verdict cites it and its target names in order; a stale or
// unreadable role gives the requirement's result instead.
func (ev *evaluation) readRole(kind, repo, roleName string) (*TUFRole, string, []string, *Result) {
	role, err := ev.e.Sources.TUF.TUFRole(ev.ctx, repo, roleName)
	if errors.Is(err, ErrStaleEvidence) {
		r := fail(kind, ReasonStaleMetadata, fmt.Sprintf("repo %s role %s: %v", repo, roleName, err))
		return nil, "", nil, &r
	}
	if err != nil {
		r := undecided(kind, fmt.Sprintf("repo %s role %s: %v", repo, roleName, err))
		return nil, "", nil, &r
	}
	ref := fmt.Sprintf("tuf %s/%s v%d", role.Repo, role.Role, role.Version)
	if role.Verified {
		ref += " (verified from the pinned root)"
	}
	names := make([]string, 0, len(role.Targets))
	for name := range role.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	return role, ref, names, nil
}

// reliesOnRole records that a passing requirement relies on a TUF role:
// the keys that signed its metadata count as signing when the log first
// observed it (the role's metadata file itself is the requirement's
// input), so the deny-overrides check covers them.
func (ev *evaluation) reliesOnRole(role *TUFRole) {
	for _, k := range role.Signers {
		ev.counted(k, role.Observed, role.Observed)
	}
}

// reliesOnChain records that a passing requirement relies on an allowed
// OpenPGP chain: each key that signed one of its statements counts as
// signing when the log first observed that statement, so the
// deny-overrides check covers the whole chain, not only the signer.
func (ev *evaluation) reliesOnChain(d PGPDecision) {
	for k, at := range d.ChainKeys {
		ev.counted(k, at, at)
	}
	for k, seq := range d.Rotations {
		if ev.rotations == nil {
			ev.rotations = map[string]map[uint64]bool{}
		}
		if ev.rotations[k] == nil {
			ev.rotations[k] = map[uint64]bool{}
		}
		ev.rotations[k][seq] = true
	}
}

func (ev *evaluation) tuf(t *TUFRequirement) Result {
	role, ref, names, res := ev.readRole("tuf", t.Repo, t.Role)
	if res != nil {
		return *res
	}
	var wrongName []string
	for _, name := range names {
		if !ev.matches(role.Targets[name]) {
			continue
		}
		ok := name == t.Target
		if t.Pattern != "" {
			ok, _ = path.Match(t.Pattern, name)
		}
		if !ok {
			wrongName = append(wrongName, name)
			continue
		}
		if !role.Expires.IsZero() && !ev.now.Before(role.Expires) {
			return fail("tuf", ReasonStaleMetadata, fmt.Sprintf("target %s is listed by %s, which expired at %s", name, ref, role.Expires.UTC().Format(time.RFC3339)), ref+" target "+name)
		}
		res := pass("tuf", fmt.Sprintf("target %s in repo %s, signed under role %s", name, role.Repo, role.Role), ref+" target "+name)
		if role.Input.URI != "" {
			res.Inputs = []Input{role.Input}
		}
		ev.reliesOnRole(role)
		return res
	}
	if len(wrongName) > 0 {
		return fail("tuf", ReasonUntrustedSigner, fmt.Sprintf("the bytes are target %s in %s, which the requirement does not name", strings.Join(wrongName, ", "), ref), ref)
	}
	want := t.Target
	if want == "" {
		want = t.Pattern
	}
	return fail("tuf", ReasonUnsigned, fmt.Sprintf("no target matching %s with these digests in %s", want, ref), ref)
}

func (ev *evaluation) pgp(p *PGPRequirement) Result {
	sigs, err := ev.e.Sources.PGP.PGPSignatures(ev.ctx, ev.ds)
	if err != nil {
		return undecided("pgp", fmt.Sprintf("manifest signatures: %v", err))
	}
	if len(sigs) == 0 {
		return fail("pgp", ReasonUnsigned, "no OpenPGP-signed manifest lists these bytes")
	}
	var refusals []string
	revoked := false
	for _, s := range sigs {
		if p.Name != "" {
			if ok, _ := path.Match(p.Name, s.Name); !ok {
				refusals = append(refusals, fmt.Sprintf("manifest seq %d names %s, not matching %s", s.Seq, s.Name, p.Name))
				continue
			}
		}
		d, err := ev.e.Sources.PGP.PGPDecide(ev.ctx, s.Name, s.Signer, s.At, s.Observed, p.Roots)
		if err != nil {
			return undecided("pgp", fmt.Sprintf("chain for %s: %v", s.Signer, err))
		}
		evidence := fmt.Sprintf("pgp manifest seq %d: %s signed by key %s", s.Seq, s.Name, s.Signer)
		if d.Allowed {
			ev.counted(s.Signer, s.At, s.Observed)
			ev.counted(s.Primary, s.At, s.Observed)
			ev.reliesOnChain(d)
			res := pass("pgp", fmt.Sprintf("%s signed by %s, which chains to a pinned root", s.Name, s.Signer), append([]string{evidence}, d.Chain...)...)
			if s.Input.URI != "" {
				res.Inputs = []Input{s.Input}
			}
			return res
		}
		if r := fmt.Sprintf("%s: %s %s", s.Signer, d.Refusal, d.Detail); !slices.Contains(refusals, r) {
			refusals = append(refusals, r) // once per signer and reason, however many manifests it signed
		}
		revoked = revoked || d.Refusal == string(pgp.CodeRevoked) || d.Refusal == string(pgp.CodeRevokedCompromised)
	}
	if revoked {
		return fail("pgp", ReasonRevoked, "a key on the chain is revoked: "+joinSome(refusals))
	}
	return fail("pgp", ReasonUntrustedSigner, "no manifest signer chains to the pinned roots: "+joinSome(refusals))
}

func identityMatches(want Identity, got SigstoreIdentity) bool {
	if want.Issuer != got.Issuer {
		return false
	}
	ok, err := regexp.MatchString("^(?:"+want.Subject+")$", got.Subject)
	return err == nil && ok
}

func (ev *evaluation) attestation(a *AttestationRequirement) Result {
	atts, err := ev.e.Sources.Attestations.Attestations(ev.ctx, ev.ds, a.PredicateType)
	if err != nil {
		return undecided("attestation", fmt.Sprintf("attestations: %v", err))
	}
	if len(atts) == 0 {
		return fail("attestation", ReasonUnsigned, "no attestation of type "+a.PredicateType+" names these bytes")
	}
	var trusted, good int
	var evidence []string
	var inputs []Input
	for _, at := range atts {
		ok := len(a.Signers) == 0 && len(a.Identities) == 0
		for _, s := range at.Signers {
			ok = ok || slices.Contains(a.Signers, s)
		}
		for _, id := range at.Identities {
			for _, want := range a.Identities {
				ok = ok || identityMatches(want, id)
			}
		}
		if !ok {
			continue
		}
		trusted++
		met := true
		for name, pattern := range a.Conditions {
			if m, _ := path.Match(pattern, at.Fields[name]); !m {
				met = false
			}
		}
		if !met {
			continue
		}
		good++
		evidence = append(evidence, fmt.Sprintf("attestation seq %d", at.Seq))
		if at.Input.URI != "" {
			inputs = append(inputs, at.Input)
		}
		for _, s := range at.Signers {
			ev.counted(s, at.Observed, at.Observed)
		}
	}
	switch {
	case good >= a.Min:
		res := pass("attestation", fmt.Sprintf("%d attestations of type %s from accepted signers (at least %d required)", good, a.PredicateType, a.Min), evidence...)
		res.Inputs = inputs
		return res
	case trusted == 0:
		return fail("attestation", ReasonUntrustedSigner, fmt.Sprintf("%d attestations of type %s, none from an accepted signer", len(atts), a.PredicateType))
	case good == 0:
		return fail("attestation", ReasonConditionFailed, fmt.Sprintf("%d attestations from accepted signers, none meeting the conditions", trusted))
	}
	return fail("attestation", ReasonThresholdNotMet, fmt.Sprintf("%d attestations of type %s meet the requirement; %d required", good, a.PredicateType, a.Min), evidence...)
}

// checkRevocations asks the revocation source, once, about everything the
// leaves evaluated so far rely on, and keeps the revocations in force by
// the one time rule.
func (ev *evaluation) checkRevocations() {
	src := ev.e.Sources.Revocations
	if src == nil {
		return
	}
	q := RevocationQuery{Digests: ev.ds, Statements: ev.statements(), Tokens: ev.tokens()}
	for s := range ev.signers {
		q.Keys = append(q.Keys, s)
	}
	sort.Strings(q.Keys)
	st, err := src.Revocations(ev.ctx, q)
	ev.revChecked, ev.revQuery, ev.revStatus, ev.revErr = true, q, st, err
	if err != nil {
		return
	}
	ev.revSeq = max(ev.revSeq, st.ListSeq)
	for _, r := range st.Revoked {
		if ev.inForce(r) {
			ev.revInForce = append(ev.revInForce, r)
		}
	}
}

// inForce applies the one time rule to a revocation of something the
// evaluation relied on: a key's revocation voids its signatures as of the
// earliest time one it counted is judged at; a revocation of the digest,
// a statement or a token holds at the time of use (now).
func (ev *evaluation) inForce(r Revoked) bool {
	rule := timerule.Revocation{Hard: timerule.Hard(r.Reason), Effective: r.Effective}
	if r.Kind == "key" {
		if r.Reason == timerule.Superseded && ev.rotations[r.ID][r.Seq] {
			return false // the rotation the relied-on chain passes through
		}
		at, ok := ev.signers[r.ID]
		if !ok {
			at = ev.now // named by a token, not counted here: judged as used now
		}
		return timerule.Voids(rule, at, at)
	}
	return timerule.InForce(rule, ev.now)
}

// revokedDetail lists revocations in force for a verdict line, with their
// log entries as evidence.
func revokedDetail(rs []Revoked) (string, []string) {
	var what, evidence []string
	for _, rv := range rs {
		what = append(what, fmt.Sprintf("%s %s (%s)", rv.Kind, rv.ID, rv.Reason))
		evidence = append(evidence, fmt.Sprintf("revocation seq %d", rv.Seq))
	}
	return "revoked: " + strings.Join(what, ", "), evidence
}

// denyResult is the deny-overrides check of the whole verdict: nil when
// there is no revocation source or nothing the verdict relies on is
// revoked; else a failed (REVOKED, or STALE_METADATA for a list too old to
// prove absence) or undecided leaf that overrides the requirement tree.
func (ev *evaluation) denyResult() *Result {
	if !ev.revChecked || errors.Is(ev.revErr, ErrNoRevocationState) {
		return nil
	}
	const kind = "revocations"
	var r Result
	switch {
	case errors.Is(ev.revErr, ErrStaleEvidence):
		r = fail(kind, ReasonStaleMetadata, fmt.Sprintf("revocation state: %v; nothing can be proven not revoked", ev.revErr))
	case ev.revErr != nil:
		r = undecided(kind, fmt.Sprintf("revocation state: %v; nothing can be proven not revoked", ev.revErr))
	case len(ev.revInForce) > 0:
		detail, evidence := revokedDetail(ev.revInForce)
		r = fail(kind, ReasonRevoked, detail+" (a revocation in force fails the verdict whatever the requirements)",
			append([]string{fmt.Sprintf("revocation list seq %d", ev.revStatus.ListSeq)}, evidence...)...)
	default:
		return nil
	}
	return &r
}

// overridden puts the deny-overrides result above the requirement tree:
// the verdict fails (or is undecided) as deny says unless the tree itself
// failed, which a failure always keeps.
func overridden(deny, tree Result) Result {
	out := Result{Kind: "deny-overrides", Outcome: deny.Outcome, Reason: deny.Reason, Children: []Result{deny, tree}}
	if tree.Outcome == Fail {
		out.Outcome, out.Reason = Fail, ReasonChildrenFailed
	}
	out.Detail = "revocations are checked before the requirements and override them"
	return out
}

func (ev *evaluation) revocation(r *RevocationRequirement) Result {
	if ev.e.Sources.Revocations == nil {
		if ev.e.Offline {
			return fail("revocation", ReasonOffline, "offline: revocation evidence is not consulted")
		}
		return undecided("revocation", "no revocation evidence source (not configured)")
	}
	st, err := ev.revStatus, ev.revErr
	if errors.Is(err, ErrStaleEvidence) {
		return fail("revocation", ReasonStaleMetadata, fmt.Sprintf("revocation list: %v", err))
	}
	if err != nil {
		return undecided("revocation", fmt.Sprintf("revocation list: %v", err))
	}
	list := fmt.Sprintf("revocation list seq %d", st.ListSeq)
	if r.MaxAge > 0 && ev.now.Sub(st.ListTime) > time.Duration(r.MaxAge) {
		return fail("revocation", ReasonStaleMetadata, fmt.Sprintf("the revocation list is from %s, older than %s", st.ListTime.UTC().Format(time.RFC3339), r.MaxAge), list)
	}
	if len(ev.revInForce) > 0 {
		detail, evidence := revokedDetail(ev.revInForce)
		return fail("revocation", ReasonRevoked, detail, append([]string{list}, evidence...)...)
	}
	return pass("revocation", fmt.Sprintf("nothing involved is revoked (%d signers, %d statements, %d tokens checked)",
		len(ev.revQuery.Keys), len(ev.revQuery.Statements), len(ev.revQuery.Tokens)), list)
}

// tokens are the ids of the tokens the passing token leaves accepted.
func (ev *evaluation) tokens() []string {
	var out []string
	ev.walk(&ev.policy.Require, func(r *Requirement) {
		res, ok := ev.leaves[r]
		if !ok || res.Outcome != Pass || r.Token == nil || res.token == "" {
			return
		}
		if !slices.Contains(out, res.token) {
			out = append(out, res.token)
		}
	})
	return out
}

// statements are the log entries (sha256 envelope digests: log entries
// and TUF metadata, Input.Statement) that the passing leaves evaluated so
// far relied on, in tree order.
func (ev *evaluation) statements() []digest.Digest {
	var out []digest.Digest
	ev.walk(&ev.policy.Require, func(r *Requirement) {
		res, ok := ev.leaves[r]
		if !ok || res.Outcome != Pass {
			return
		}
		for _, in := range res.Inputs {
			if d, ok := in.Statement(); ok && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	})
	return out
}

func (ev *evaluation) reputation(r *ReputationRequirement) Result {
	rep, err := ev.e.Sources.Reputation.Reputation(ev.ctx, ev.ds, r.TrustSet)
	if err != nil {
		return undecided("reputation", fmt.Sprintf("reputation: %v", err))
	}
	scope := "all voters"
	if len(r.TrustSet) > 0 {
		scope = fmt.Sprintf("voters trusted by %d keys", len(r.TrustSet))
	}
	got := fmt.Sprintf("score %.2f over %d votes (%s)", rep.Score, rep.Votes, scope)
	if rep.Votes < r.MinVotes || (r.MinScore != nil && rep.Score < *r.MinScore) {
		want := []string{}
		if r.MinScore != nil {
			want = append(want, fmt.Sprintf("score ≥ %.2f", *r.MinScore))
		}
		if r.MinVotes > 0 {
			want = append(want, fmt.Sprintf("≥ %d votes", r.MinVotes))
		}
		return fail("reputation", ReasonReputationBelow, got+"; required "+strings.Join(want, " and "))
	}
	return pass("reputation", got)
}

func (ev *evaluation) threshold(t *ThresholdRequirement) Result {
	sigs, err := ev.e.Sources.Signers.Signatures(ev.ctx, ev.ds)
	if err != nil {
		return undecided("threshold", fmt.Sprintf("signatures: %v", err))
	}
	met := map[int]bool{}
	var evidence []string
	var inputs []Input
	for _, s := range sigs {
		for i, want := range t.Signers {
			ok := false
			switch {
			case want.Key != "":
				ok = s.Kind != "sigstore" && s.ID == want.Key
			case want.PGP != "":
				ok = s.Kind != "sigstore" && strings.EqualFold(s.ID, want.PGP)
			case want.Sigstore != nil:
				ok = s.Kind == "sigstore" && identityMatches(*want.Sigstore, s.Identity)
			}
			if ok && !met[i] {
				met[i] = true
				evidence = append(evidence, fmt.Sprintf("%s (seq %d)", want, s.Seq))
				ev.counted(s.ID, s.Observed, s.Observed)
				if s.Input.URI != "" && !slices.Contains(inputs, s.Input) {
					inputs = append(inputs, s.Input)
				}
			}
		}
	}
	if len(met) >= t.K {
		res := pass("threshold", fmt.Sprintf("%d of the %d named signers signed; %d required", len(met), len(t.Signers), t.K), evidence...)
		res.Inputs = inputs
		return res
	}
	if len(sigs) == 0 {
		return fail("threshold", ReasonUnsigned, fmt.Sprintf("nothing signed about these bytes; %d of %d named signers required", t.K, len(t.Signers)))
	}
	return fail("threshold", ReasonThresholdNotMet, fmt.Sprintf("%d of the %d named signers signed; %d required", len(met), len(t.Signers), t.K), evidence...)
}

func (ev *evaluation) token(t *TokenRequirement) Result {
	c, err := ev.e.Sources.Tokens.CheckToken(ev.ctx, ev.ds, ev.policy, time.Duration(t.MaxAge))
	if err != nil {
		return undecided("token", fmt.Sprintf("token: %v", err))
	}
	evidence := []string{}
	if c.ID != "" {
		evidence = append(evidence, "token "+c.ID)
	}
	if c.Reason != "" {
		return fail("token", c.Reason, c.Detail, evidence...)
	}
	// What the token relies on counts as relied on by this verdict: its
	// own key (a token is in no log, so it is judged as used now), the
	// signers its verdict counted (at the times it names, else as
	// observed when it was issued) and its input log entries.
	ev.counted(c.KeyID, ev.now, ev.now)
	for _, s := range c.Signers {
		at, ok := c.SignerTimes[s]
		if !ok || at.After(c.IssuedAt) {
			at = c.IssuedAt
		}
		ev.counted(s, at, at)
	}
	res := pass("token", fmt.Sprintf("token issued %s, expires %s, for policy %s", c.IssuedAt.UTC().Format(time.RFC3339), c.Expires.UTC().Format(time.RFC3339), ev.policy.Name), evidence...)
	res.Inputs = c.Inputs
	res.token = c.ID
	return res
}

// shownRefusals bounds the refusals a failed requirement lists: anyone
// may publish manifests naming any bytes, and each would add one.
const shownRefusals = 10

// joinSome joins the first shownRefusals of rs and counts the rest.
func joinSome(rs []string) string {
	if len(rs) <= shownRefusals {
		return strings.Join(rs, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(rs[:shownRefusals], "; "), len(rs)-shownRefusals)
}
