package pgp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/timerule"
)

// RefusalCode is the stable code of a chain refusal. A RefusalCode is also
// an error, so errors.Is(err, pgp.CodeScopeEscape) tells refusals apart.
type RefusalCode string

// Error returns the code.
func (c RefusalCode) Error() string { return string(c) }

// The refusal codes Decide returns.
const (
	CodeUnknownKey         RefusalCode = "unknown-key"         // a key in the chain is not registered
	CodeWeakHash           RefusalCode = "weak-hash"           // a signature uses MD5, SHA-1 or RIPEMD-160
	CodeNotYetValid        RefusalCode = "not-yet-valid"       // signed before the key, delegation or rotation took effect
	CodeKeyExpired         RefusalCode = "key-expired"         // the key had expired at the signature's time
	CodeUnboundSubkey      RefusalCode = "unbound-subkey"      // the signing key is not (yet) bound to the certificate
	CodeNotSigningKey      RefusalCode = "not-signing-key"     // the signing key is bound, but not for signing
	CodeRevokedCompromised RefusalCode = "revoked-compromised" // a hard revocation (compromised, no or unknown reason)
	CodeRevoked            RefusalCode = "revoked"             // signed (or observed) after a soft revocation
	CodeSuperseded         RefusalCode = "superseded"          // signed (or observed) after a rotation replaced the key
	CodeExpiredDelegation  RefusalCode = "expired-delegation"  // signed or observed after a delegation's end
	CodeScopeEscape        RefusalCode = "scope-escape"        // the name is outside a delegation's scope
	CodeDepthExceeded      RefusalCode = "depth-exceeded"      // more delegation levels than a delegation allows
	CodeCycle              RefusalCode = "cycle"               // the only paths loop
	CodeUnsigned           RefusalCode = "unsigned"            // a delegation not signed by its delegator
	CodeRotationUnsigned   RefusalCode = "rotation-unsigned"   // a rotation not signed by both keys
	CodeRotationFork       RefusalCode = "rotation-fork"       // a key validly rotated to two different keys
	CodeNoPath             RefusalCode = "no-path"             // no delegation or rotation leads to a pinned root
	CodeSearchLimit        RefusalCode = "search-limit"        // the graph is too large to search within the bounds
)

// ErrRefused matches every *Refusal.
var ErrRefused = errors.New("refused")

// kind maps a key-validity code to the signature verification sentinel.
func (c RefusalCode) kind() error {
	switch c {
	case CodeNotYetValid, CodeKeyExpired:
		return ErrKeyExpired
	case CodeUnboundSubkey, CodeNotSigningKey:
		return ErrNotSigningKey
	}
	return ErrBadSignature
}

// Refusal is Decide's error: a stable code, the statement at fault (if
// any) and a precise detail.
type Refusal struct {
	Code      RefusalCode
	Statement string // the ID of the delegation, rotation or revocation fact at fault, or ""
	Detail    string
}

// Error formats the refusal as "pgp: refused: code: detail".
func (r *Refusal) Error() string {
	s := "pgp: refused: " + string(r.Code)
	if r.Statement != "" {
		s += " (statement " + r.Statement + ")"
	}
	return s + ": " + r.Detail
}

// Unwrap returns the code and ErrRefused, for errors.Is.
func (r *Refusal) Unwrap() []error { return []error{r.Code, ErrRefused} }

func refuse(code RefusalCode, stmt, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Statement: stmt, Detail: fmt.Sprintf(format, args...)}
}

// Bounds of the chain search.
const (
	// ClockSkew is how far a signature's claimed time may lie after the
	// time trustd observed it.
	ClockSkew = 5 * time.Minute
	// MaxChainLinks bounds a chain's length (delegations and rotations).
	MaxChainLinks = 16
	// MaxSearchSteps bounds the edges one decision may examine.
	MaxSearchSteps = 10_000
)

// DelegationFact is a verified delegation statement.
type DelegationFact struct {
	Delegation
	ID        string        // the statement's identifier (envelope digest or log sequence)
	Signature SignatureInfo // the delegator's verified signature on the statement
	Observed  time.Time     // when trustd first logged the statement
}

// RotationFact is a verified rotation statement.
type RotationFact struct {
	Rotation
	ID         string          // the statement's identifier
	Signatures []SignatureInfo // the verified signatures on the statement
	Observed   time.Time       // when trustd first logged the statement
}

// RevocationFact is a verified revocation (VerifyRevocation) as logged.
type RevocationFact struct {
	Revocation
	ID       string    // the statement's identifier
	Observed time.Time // when trustd first logged it
}

// Facts is everything Decide judges by: the registered certificates and
// the logged delegations, rotations and revocations.
type Facts struct {
	Certificates []*Certificate
	Delegations  []DelegationFact
	Rotations    []RotationFact
	Revocations  []RevocationFact
}

// Query asks: may the key that made Signature sign for Name, given the
// pinned Roots, and through which chain?
type Query struct {
	Signature SignatureInfo // the verified signature: signer, signing key, claimed time, hash
	Name      string        // the name signed for (a file or artifact name)
	Observed  time.Time     // when trustd first observed the signature; zero: judge by the claimed time alone
	Roots     []string      // pinned root fingerprints
}

// LinkKind says how a link passes authority.
type LinkKind string

// The link kinds.
const (
	LinkDelegation LinkKind = "delegation"
	LinkRotation   LinkKind = "rotation"
)

// Link is one step of a chain: From passes authority to To.
type Link struct {
	Kind      LinkKind
	From, To  string // fingerprints
	Statement string // the delegation or rotation fact's ID
}

// Chain is how authority flows from a pinned root to the signer.
type Chain struct {
	Root   string
	Signer string
	Links  []Link // root first; empty when the signer is a root
}

// Graph is compiled Facts: indexed, with every statement's own signature
// judged once. It is immutable and safe for concurrent Decide calls.
type Graph struct {
	certs   map[string]*Certificate
	delegTo map[string][]*delegation
	rotTo   map[string][]*rotation
	rotFrom map[string][]*rotation // valid rotations only, in observed order
	revs    map[string][]*RevocationFact
}

type delegation struct {
	DelegationFact
	refusal *Refusal // why the statement itself is invalid, or nil
}

type rotation struct {
	RotationFact
	refusal *Refusal
	fork    *rotation // another valid rotation from the same key to another
}

// Compile indexes facts and judges each statement's signatures. It fails
// only for facts that break the predicate rules (Validate).
func Compile(f Facts) (*Graph, error) {
	g := &Graph{certs: map[string]*Certificate{}, delegTo: map[string][]*delegation{},
		rotTo: map[string][]*rotation{}, rotFrom: map[string][]*rotation{}, revs: map[string][]*RevocationFact{}}
	for i, c := range f.Certificates {
		if c == nil {
			return nil, inputerr.New(opFacts, fmt.Sprintf("certificates[%d]", i), ErrMalformed, "nil certificate")
		}
		g.certs[c.Fingerprint] = c
	}
	for i := range f.Revocations {
		r := &f.Revocations[i]
		if !r.Verified {
			return nil, inputerr.New(opFacts, fmt.Sprintf("revocations[%d]", i), ErrMalformed, "revocation not verified (use VerifyRevocation)")
		}
		g.revs[r.Fingerprint] = append(g.revs[r.Fingerprint], r)
	}
	rots := make([]*rotation, len(f.Rotations))
	for i := range f.Rotations {
		if err := f.Rotations[i].Validate(); err != nil {
			return nil, fmt.Errorf("%s: rotations[%d]: %w", opFacts, i, err)
		}
		rots[i] = &rotation{RotationFact: f.Rotations[i]}
	}
	// First observed wins: each rotation is judged against the valid
	// rotations observed before it.
	slices.SortStableFunc(rots, func(a, b *rotation) int {
		return cmp.Or(a.Observed.Compare(b.Observed), cmp.Compare(a.ID, b.ID))
	})
	for _, r := range rots {
		r.refusal = g.judgeRotation(r)
		g.rotTo[r.New] = append(g.rotTo[r.New], r)
		if r.refusal == nil {
			for _, prev := range g.rotFrom[r.Old] {
				if prev.New != r.New && prev.fork == nil {
					prev.fork, r.fork = r, prev
				}
			}
			g.rotFrom[r.Old] = append(g.rotFrom[r.Old], r)
		}
	}
	for i := range f.Delegations {
		d := &delegation{DelegationFact: f.Delegations[i]}
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("%s: delegations[%d]: %w", opFacts, i, err)
		}
		if d.Signature.Primary != d.Delegator {
			d.refusal = refuse(CodeUnsigned, d.ID, "delegation from %s is signed by %s, not by its delegator", d.Delegator, orNone(d.Signature.Primary))
		} else if ref := g.checkSignature(d.Signature, d.Observed, nil); ref != nil {
			ref.Statement = d.ID
			ref.Detail = "the delegation's signature: " + ref.Detail
			d.refusal = ref
		}
		g.delegTo[d.Delegate] = append(g.delegTo[d.Delegate], d)
	}
	for _, ds := range g.delegTo {
		slices.SortStableFunc(ds, func(a, b *delegation) int {
			return cmp.Or(a.Observed.Compare(b.Observed), cmp.Compare(a.ID, b.ID))
		})
	}
	return g, nil
}

// Reachable returns roots and the primary keys their valid delegations
// and rotations reach, roots first then breadth first, at most max of
// them: the keys whose signatures a decision against roots may allow.
// Scopes, validity periods and depths are not judged here; a decision
// judges them for each signature.
func (g *Graph) Reachable(roots []string, max int) []string {
	delegFrom := map[string][]string{}
	for _, ds := range g.delegTo {
		for _, d := range ds {
			if d.refusal == nil {
				delegFrom[d.Delegator] = append(delegFrom[d.Delegator], d.Delegate)
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	visit := func(k string) {
		if !seen[k] && len(out) < max {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	for i := 0; i < len(out) && len(out) < max; i++ {
		next := slices.Clone(delegFrom[out[i]])
		for _, r := range g.rotFrom[out[i]] {
			next = append(next, r.New)
		}
		slices.Sort(next)
		for _, k := range next {
			visit(k)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// judgeRotation checks a rotation's signatures by both keys, against the
// rotations compiled so far (observed earlier).
func (g *Graph) judgeRotation(r *rotation) *Refusal {
	for _, want := range []string{r.Old, r.New} {
		var sig *SignatureInfo
		for i := range r.Signatures {
			if r.Signatures[i].Primary == want {
				sig = &r.Signatures[i]
				break
			}
		}
		if sig == nil {
			return refuse(CodeRotationUnsigned, r.ID, "rotation %s -> %s is not signed by %s; both keys must sign", r.Old, r.New, want)
		}
		if ref := g.checkSignature(*sig, r.Observed, r); ref != nil {
			ref.Statement = r.ID
			ref.Detail = fmt.Sprintf("the rotation's signature by %s: %s", want, ref.Detail)
			return ref
		}
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// CheckSignature judges one verified signature on its own, with no chain:
// the checks Decide makes of the final signature (see checkSignature),
// observed at observed. It returns nil or a *Refusal.
func (g *Graph) CheckSignature(sig SignatureInfo, observed time.Time) error {
	if r := g.checkSignature(sig, observed, nil); r != nil {
		return r
	}
	return nil
}

// checkSignature judges one verified signature by itself, by the one time
// rule (package timerule): registered key, strong hash, signing key bound
// and sign-capable at the claimed time and unexpired at the later of the
// claimed and observed times, no hard revocation ever, and no soft
// revocation or rotation (other than self) in effect at the later of the
// claimed and observed times, so a backdated signature observed after a
// supersession is refused.
func (g *Graph) checkSignature(sig SignatureInfo, observed time.Time, self *rotation) *Refusal {
	c, ok := g.certs[sig.Primary]
	if !ok {
		return refuse(CodeUnknownKey, "", "key %s is not registered", orNone(sig.Primary))
	}
	if !strongHash(sig.Hash) {
		return refuse(CodeWeakHash, "", "the signature by %s uses %s; SHA-256 or better is required", sig.Primary, hashName(sig.Hash))
	}
	k := c.key(sig.SigningKey)
	if k == nil {
		return refuse(CodeUnboundSubkey, "", "signing key %s is not a key of certificate %s", orNone(sig.SigningKey), sig.Primary)
	}
	claimed := sig.Created
	if !observed.IsZero() && claimed.After(observed.Add(ClockSkew)) {
		return refuse(CodeNotYetValid, "", "the signature claims %s, after trustd observed it at %s", ts(claimed), ts(observed))
	}
	// Revocations: the certificate's own and the logged ones, of the
	// primary key and of the signing key.
	for _, fp := range uniq(sig.Primary, sig.SigningKey) {
		var revs []Revocation
		if ks := c.key(fp); ks != nil {
			revs = append(revs, ks.info.Revocations...)
		}
		for _, r := range g.revs[fp] {
			revs = append(revs, r.Revocation)
		}
		for _, r := range revs {
			if r.Hard {
				return refuse(CodeRevokedCompromised, "", "key %s was revoked (%s) on %s; that invalidates every signature it made", fp, r.Reason, ts(r.Created))
			}
		}
		for _, r := range revs {
			if timerule.Voids(timerule.Revocation{Hard: r.Hard, Effective: r.Created}, claimed, observed) {
				return refuse(CodeRevoked, "", "key %s was revoked (%s) on %s; the signature claims %s and was observed %s", fp, r.Reason, ts(r.Created), ts(claimed), tsOrNever(observed))
			}
		}
	}
	if reason, code := c.keys[0].keyProblem(claimed, observed, false); code != "" {
		return refuse(code, "", "%s", reason)
	}
	if reason, code := k.keyProblem(claimed, observed, true); code != "" {
		return refuse(code, "", "%s", reason)
	}
	for _, r := range g.rotFrom[sig.Primary] {
		if r == self {
			continue
		}
		if timerule.Ended(r.Effective, claimed, observed) {
			return refuse(CodeSuperseded, r.ID, "key %s was superseded by %s on %s; the signature claims %s and was observed %s", sig.Primary, r.New, ts(r.Effective), ts(claimed), tsOrNever(observed))
		}
	}
	return nil
}

func tsOrNever(t time.Time) string {
	if t.IsZero() {
		return "(not yet)"
	}
	return ts(t)
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// Decide compiles facts and decides q; see Graph.Decide. Compile once and
// call Graph.Decide when deciding many queries over the same facts.
func Decide(facts Facts, q Query) (Chain, error) {
	g, err := Compile(facts)
	if err != nil {
		return Chain{}, err
	}
	return g.Decide(q)
}

// search is the state of one decision.
type search struct {
	g      *Graph
	q      Query
	roots  map[string]bool
	onPath map[string]bool
	failed map[string]*Refusal
	steps  int
}

// Decide answers q deterministically: the chain from a pinned root to the
// signer, or a *Refusal saying precisely why not. The signature itself is
// judged first (checkSignature); then delegations and rotations are
// followed backwards from the signer to a root. Every delegation on the
// path must be validly signed, cover Name (scope), be in force at the
// later of the claimed and observed times, and allow the levels below it
// (maxDepth); a rotation passes its old key's authority to the new key
// from its effective time, unless the old key forked.
func (g *Graph) Decide(q Query) (Chain, error) {
	if q.Name == "" {
		return Chain{}, refuse(CodeScopeEscape, "", "no name given")
	}
	if ref := g.checkSignature(q.Signature, q.Observed, nil); ref != nil {
		return Chain{}, ref
	}
	s := &search{g: g, q: q, roots: map[string]bool{}, onPath: map[string]bool{}, failed: map[string]*Refusal{}}
	for _, r := range q.Roots {
		s.roots[r] = true
	}
	links, root, ref := s.walk(q.Signature.Primary, 0, q.Signature.Created, 0)
	if ref != nil {
		return Chain{}, ref
	}
	return Chain{Root: root, Signer: q.Signature.Primary, Links: links}, nil
}

// walk finds authority for key node, which has below it `below` delegation
// levels and signed the thing below it at signTime; hops counts links.
func (s *search) walk(node string, below int, signTime time.Time, hops int) ([]Link, string, *Refusal) {
	if s.roots[node] {
		return nil, node, nil
	}
	if s.onPath[node] {
		return nil, "", refuse(CodeCycle, "", "the chain loops back to %s", node)
	}
	if hops >= MaxChainLinks {
		return nil, "", refuse(CodeDepthExceeded, "", "no root within %d links", MaxChainLinks)
	}
	memo := fmt.Sprintf("%s/%d/%d", node, below, signTime.Unix())
	if ref, ok := s.failed[memo]; ok {
		return nil, "", ref
	}
	s.onPath[node] = true
	defer delete(s.onPath, node)

	var first *Refusal
	fail := func(r *Refusal) {
		if first == nil || (first.Code == CodeCycle && r.Code != CodeCycle) {
			first = r
		}
	}
	for _, d := range s.g.delegTo[node] {
		if s.steps++; s.steps > MaxSearchSteps {
			return nil, "", refuse(CodeSearchLimit, "", "more than %d edges examined", MaxSearchSteps)
		}
		if ref := s.checkDelegation(d, below); ref != nil {
			fail(ref)
			continue
		}
		links, root, ref := s.walk(d.Delegator, below+1, d.Signature.Created, hops+1)
		if ref != nil {
			if ref.Code == CodeSearchLimit {
				return nil, "", ref
			}
			fail(ref)
			continue
		}
		return append(links, Link{Kind: LinkDelegation, From: d.Delegator, To: node, Statement: d.ID}), root, nil
	}
	for _, r := range s.g.rotTo[node] {
		if s.steps++; s.steps > MaxSearchSteps {
			return nil, "", refuse(CodeSearchLimit, "", "more than %d edges examined", MaxSearchSteps)
		}
		switch {
		case r.refusal != nil:
			fail(r.refusal)
			continue
		case r.fork != nil:
			fail(refuse(CodeRotationFork, r.ID, "key %s was rotated both to %s (statement %s) and to %s (statement %s)", r.Old, r.New, r.ID, r.fork.New, r.fork.ID))
			continue
		case signTime.Before(r.Effective):
			fail(refuse(CodeNotYetValid, r.ID, "%s signed at %s, before the rotation from %s took effect at %s", node, ts(signTime), r.Old, ts(r.Effective)))
			continue
		}
		links, root, ref := s.walk(r.Old, below, signTime, hops+1)
		if ref != nil {
			if ref.Code == CodeSearchLimit {
				return nil, "", ref
			}
			fail(ref)
			continue
		}
		return append(links, Link{Kind: LinkRotation, From: r.Old, To: node, Statement: r.ID}), root, nil
	}
	if first == nil {
		first = refuse(CodeNoPath, "", "no delegation or rotation grants %s authority and it is not a pinned root", node)
	}
	s.failed[memo] = first
	return nil, "", first
}

// checkDelegation judges delegation d as a link for this query.
func (s *search) checkDelegation(d *delegation, below int) *Refusal {
	q := s.q
	switch {
	case d.refusal != nil:
		return d.refusal
	case !d.Matches(q.Name):
		return refuse(CodeScopeEscape, d.ID, "%q is outside the scope %q that %s granted %s", q.Name, d.Scope, d.Delegator, d.Delegate)
	case below > d.MaxDepth:
		return refuse(CodeDepthExceeded, d.ID, "%s may delegate %d more level(s), the chain below it has %d", d.Delegate, d.MaxDepth, below)
	case !d.NotBefore.IsZero() && q.Signature.Created.Before(d.NotBefore):
		return refuse(CodeNotYetValid, d.ID, "signed at %s, before the delegation to %s starts at %s", ts(q.Signature.Created), d.Delegate, ts(d.NotBefore))
	case timerule.Ended(d.Until, q.Signature.Created, q.Observed):
		return refuse(CodeExpiredDelegation, d.ID, "the delegation to %s ended at %s; the signature claims %s and was observed %s", d.Delegate, ts(d.Until), ts(q.Signature.Created), tsOrNever(q.Observed))
	}
	return nil
}

// Status returns a registered key's state at time at, counting logged
// revocations and valid rotations (superseded by …), for "key show".
func (g *Graph) Status(fingerprint string, at time.Time) (Status, error) {
	c, ok := g.certs[fingerprint]
	if !ok {
		return Status{}, refuse(CodeUnknownKey, "", "key %s is not registered", fingerprint)
	}
	var extra []Revocation
	for _, r := range g.revs[fingerprint] {
		extra = append(extra, r.Revocation)
	}
	st := c.Status(at, extra...)
	if st.State != StateValid {
		return st, nil
	}
	for _, r := range g.rotFrom[fingerprint] {
		if timerule.Ended(r.Effective, at, at) {
			return Status{State: StateSuperseded, Since: r.Effective, SupersededBy: r.New}, nil
		}
	}
	return st, nil
}
