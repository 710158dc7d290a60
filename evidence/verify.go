package evidence

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/tlog"
)

// ErrUnverified reports a bundle that does not hold up: a checkpoint that
// does not open with the log key, an entry not proven in the log, a
// signature that does not verify, or an item citing what the bundle does
// not hold. A server that sends one is not to be believed about anything
// in it.
var ErrUnverified = errors.New("evidence does not verify")

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// LogKey is the pinned note verifier key of the log; a checkpoint it
	// signs announcing a planned rotation, signed by the new key too, is
	// followed (tlog.FollowCheckpoint). Empty trusts the
	// key the bundle names, which proves only that the bundle is
	// consistent with itself: as far as the connection to the server is
	// trusted, as every online answer is.
	LogKey string
	// Digests are the digests the caller asked about (it computed them
	// over the bytes); the bundle must answer about exactly these.
	Digests []digest.Digest
}

// Verify checks a bundle fetched from a server and returns its evidence
// as a Set: the checkpoint opens with the log key; every entry is proven
// in the tree the checkpoint signs; every DSSE envelope's signatures
// verify with the bundle's keys and are the signers the log names; every
// OpenPGP manifest signature verifies with its signer's certificate and
// its manifest has the line cited; every TUF file is the role and version
// it is cited as; and every item cites entries and digests the bundle
// holds. Every chain decision that allows a signature is recomputed from
// the signed delegation and rotation statements it cites (checkDecisions),
// and the log's recording times must follow the order of the log (no
// entry recorded more than RecordedSkew before an entry the log holds
// before it), so a server cannot backdate when it observed a manifest
// past an earlier entry. What the server judged without signed bytes to
// show (refusals, revocation states, reputation figures, publishers) is
// taken as the server's word, each citing the entries it rests on: a
// refusal can only deny. Any failure wraps ErrUnverified.
func Verify(ctx context.Context, b *Bundle, opts VerifyOptions) (*Set, error) {
	if b == nil || b.Log == nil {
		return nil, fmt.Errorf("evidence: %w: no signed checkpoint", ErrUnverified)
	}
	if len(opts.Digests) > 0 && !sameDigests(b.Digests, opts.Digests) {
		return nil, fmt.Errorf("evidence: %w: the bundle is about %v, not the digests asked about %v", ErrUnverified, b.Digests, opts.Digests)
	}
	key := opts.LogKey
	if key == "" {
		key = b.Log.VerifierKey
	}
	// A checkpoint the pinned key signs that announces a planned rotation
	// of the log key, signed by the new key too, is followed as 'trustctl
	// log' follows it (tlog.FollowCheckpoint).
	cp, _, err := tlog.FollowCheckpoint(b.Log.Signed, key)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w: checkpoint: %w", ErrUnverified, err)
	}
	if cp.Size != b.Log.Size {
		return nil, fmt.Errorf("evidence: %w: the checkpoint signs size %d, the bundle says %d", ErrUnverified, cp.Size, b.Log.Size)
	}
	s := NewSet(b)
	if len(s.entries) != len(b.Entries) {
		return nil, fmt.Errorf("evidence: %w: an entry is listed twice", ErrUnverified)
	}
	keys := map[string]Key{}
	for _, k := range b.Keys {
		keys[k.ID] = k
	}
	for _, e := range b.Entries {
		if e.Seq == 0 || e.Seq > cp.Size {
			return nil, fmt.Errorf("evidence: %w: entry %d is outside the checkpoint's tree of size %d", ErrUnverified, e.Seq, cp.Size)
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(e.Envelope), e.Seq-1, cp.Size, e.Proof, cp.Hash); err != nil {
			return nil, fmt.Errorf("evidence: %w: entry %d: %w", ErrUnverified, e.Seq, err)
		}
		for _, d := range e.Digests {
			if !slices.Contains(b.Digests, d) {
				return nil, fmt.Errorf("evidence: %w: entry %d is cited for %s, which was not asked about", ErrUnverified, e.Seq, d)
			}
		}
		if e.PayloadType == recordtype.PayloadTypeInToto {
			if err := verifyDSSE(ctx, e, keys); err != nil {
				return nil, fmt.Errorf("evidence: %w: entry %d: %w", ErrUnverified, e.Seq, err)
			}
		}
	}
	if err := s.verifyItems(keys); err != nil {
		return nil, fmt.Errorf("evidence: %w: %w", ErrUnverified, err)
	}
	if err := s.verifyTimes(); err != nil {
		return nil, fmt.Errorf("evidence: %w: %w", ErrUnverified, err)
	}
	if err := s.checkDecisions(); err != nil {
		return nil, fmt.Errorf("evidence: %w: %w", ErrUnverified, err)
	}
	return s, nil
}

// RecordedSkew is how far a log entry's recording time may lie before
// that of an entry the log holds before it: the clocks of trustd replicas
// appending to one log may differ by that much, no more.
const RecordedSkew = time.Minute

// verifyTimes checks the recording times the bundle states against the
// order the inclusion proofs establish (an entry's place in the tree is
// its sequence number): they may not run backwards by more than
// RecordedSkew, and a revocation state cites its entry's recording time.
// The times themselves are the server's word (a checkpoint carries none);
// this bounds each by the entries around it.
func (s *Set) verifyTimes() error {
	entries := slices.SortedFunc(maps.Values(s.entries), func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	latest := Entry{}
	for _, e := range entries {
		if e.RecordedAt.Add(RecordedSkew).Before(latest.RecordedAt) {
			return fmt.Errorf("entry %d is said to be recorded at %s, before entry %d (%s), which the log holds before it",
				e.Seq, e.RecordedAt.UTC().Format(time.RFC3339), latest.Seq, latest.RecordedAt.UTC().Format(time.RFC3339))
		}
		if e.RecordedAt.After(latest.RecordedAt) {
			latest = e
		}
	}
	for _, r := range s.b.Revocations {
		if r.State == nil || r.State.Seq == 0 {
			continue
		}
		if e := s.entries[r.State.Seq]; !e.RecordedAt.Equal(r.State.RecordedAt) {
			return fmt.Errorf("the revocation of %s %s is said to be recorded at %s, its log entry %d at %s", r.Kind, r.ID,
				r.State.RecordedAt.UTC().Format(time.RFC3339), e.Seq, e.RecordedAt.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// checkDecisions recomputes every chain decision of the bundle that
// allows a signature, with package pgp's one chain rule (pgp.Decide, the
// one time rule included) over the facts the bundle's signed bytes give:
// the OpenPGP certificates it carries and the delegation and rotation
// statements the decision cites as its links, each verified with those
// certificates and observed when its log entry was recorded. The
// manifest line decided must be in the bundle with the decision's signing
// and observed times. A decision the cited statements do not support, or
// whose chain differs from the one they give, is an error. A refusal is
// not recomputed (it can only deny, and absence of a link cannot be shown
// from a bundle), nor is a revocation the server knows and the bundle
// does not carry (the revocation state is the server's word).
func (s *Set) checkDecisions() error {
	var allowed []PGPDecision
	for _, d := range s.b.Decisions {
		if d.Allowed && d.Error == "" {
			allowed = append(allowed, d)
		}
	}
	if len(allowed) == 0 {
		return nil
	}
	certs := map[string]*pgp.Certificate{}
	var list []*pgp.Certificate
	for _, k := range s.b.Keys {
		if k.Type != pgp.KeyType {
			continue
		}
		c, err := pgp.ParseCertificate(k.PublicKey)
		if err != nil {
			return fmt.Errorf("certificate %s: %w", k.ID, err)
		}
		certs[c.Fingerprint] = c
		list = append(list, c)
	}
	lookup := func(fpr string) (*pgp.Certificate, bool) { c, ok := certs[fpr]; return c, ok }
	for _, d := range allowed {
		what := fmt.Sprintf("the chain decision for %s signing %s with roots %v", d.Signer, d.Name, d.Roots)
		var line *PGPSignature
		for i, l := range s.b.PGP {
			if l.Name == d.Name && l.Signer == d.Signer && l.SignedAt.Equal(d.SignedAt) && s.entries[l.Seq].RecordedAt.Equal(d.Observed) {
				line = &s.b.PGP[i]
				break
			}
		}
		if line == nil {
			return fmt.Errorf("%s: the bundle has no such manifest line observed at %s", what, d.Observed.UTC().Format(time.RFC3339))
		}
		facts := pgp.Facts{Certificates: list}
		for _, l := range d.Links {
			if err := s.linkFact(&facts, l, lookup); err != nil {
				return fmt.Errorf("%s: link %s %s → %s (entry %d): %w", what, l.Kind, l.From, l.To, l.Seq, err)
			}
		}
		roots := make([]string, len(d.Roots))
		for i, r := range d.Roots {
			var err error
			if roots[i], err = pgp.NormalizeFingerprint(r); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		chain, err := pgp.Decide(facts, pgp.Query{
			Signature: pgp.SignatureInfo{Primary: line.Primary, SigningKey: line.Signer, Created: line.SignedAt, Hash: crypto.SHA256},
			Name:      d.Name, Observed: d.Observed, Roots: roots,
		})
		if err != nil {
			return fmt.Errorf("%s: the server allowed it, the statements it cites do not: %w", what, err)
		}
		if chain.Root != d.Root || len(chain.Links) != len(d.Links) {
			return fmt.Errorf("%s: the server names root %s and %d links, the statements give root %s and %d links", what, d.Root, len(d.Links), chain.Root, len(chain.Links))
		}
		for i, l := range chain.Links {
			if got := d.Links[i]; string(l.Kind) != got.Kind || l.From != got.From || l.To != got.To || l.Statement != strconv.FormatUint(got.Seq, 10) {
				return fmt.Errorf("%s: link %d is %s %s → %s (entry %d), the statements give %s %s → %s (entry %s)", what, i, got.Kind, got.From, got.To, got.Seq, l.Kind, l.From, l.To, l.Statement)
			}
		}
	}
	return nil
}

// linkFact adds the delegation or rotation statement a chain link cites to
// facts: its log entry must be a genuine statement of the link's kind (a
// rotation: a DSSE rotation statement or a key transition statement
// pgplog imported), whose OpenPGP signatures are verified with the
// bundle's certificates.
// The fact is named by the entry's sequence number, as trustd names it
// (pgplog.StatementID), and observed when the entry was recorded.
func (s *Set) linkFact(facts *pgp.Facts, l PGPLink, certs func(string) (*pgp.Certificate, bool)) error {
	e := s.entries[l.Seq] // verifyItems checked the bundle holds it
	want := map[string]string{string(pgp.LinkDelegation): pgp.DelegationPredicateType, string(pgp.LinkRotation): pgp.RotationPredicateType}[l.Kind]
	if want == "" {
		return fmt.Errorf("unknown link kind %q", l.Kind)
	}
	id := strconv.FormatUint(e.Seq, 10)
	if l.Kind == string(pgp.LinkRotation) && e.PredicateType == recordtype.PGPTransition && recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) {
		// A clearsigned key transition statement pgplog imported.
		t, err := pgp.VerifyTransitionRecord(e.Envelope, certs)
		if err != nil {
			return fmt.Errorf("key transition statement: %w", err)
		}
		facts.Rotations = append(facts.Rotations, pgp.RotationFact{Rotation: t.Rotation, ID: id, Signatures: t.Signatures, Observed: e.RecordedAt})
		return nil
	}
	if e.PredicateType != want || !recordtype.Genuine(e.PayloadType, e.PredicateType) {
		return fmt.Errorf("the entry is %s (%s), not a %s statement", e.PredicateType, e.PayloadType, l.Kind)
	}
	env, err := envelope.Decode(e.Envelope, envelope.DefaultLimits())
	if err != nil {
		return err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	st, err := envelope.ParseStatement(env.PayloadType, payload, envelope.DefaultLimits())
	if err != nil {
		return err
	}
	sigs, err := pgp.VerifyEnvelope(env, certs)
	if err != nil {
		return fmt.Errorf("signatures: %w", err)
	}
	if l.Kind == string(pgp.LinkDelegation) {
		d, err := pgp.ParseDelegation(st.Predicate)
		if err != nil {
			return err
		}
		fact := pgp.DelegationFact{Delegation: d, ID: id, Observed: e.RecordedAt}
		for _, si := range sigs {
			if si.Primary == d.Delegator {
				fact.Signature = si
			}
		}
		facts.Delegations = append(facts.Delegations, fact)
		return nil
	}
	r, err := pgp.ParseRotation(st.Predicate)
	if err != nil {
		return err
	}
	facts.Rotations = append(facts.Rotations, pgp.RotationFact{Rotation: r, ID: id, Signatures: sigs, Observed: e.RecordedAt})
	return nil
}

func sameDigests(a, b []digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for _, d := range a {
		if !slices.Contains(b, d) {
			return false
		}
	}
	return true
}

// verifyDSSE checks a DSSE entry's signatures with the bundle's keys: the
// key signers the log names must be exactly those whose signatures verify.
// Sigstore signers are judged by the log (their bundles carry certificates
// checked against a trusted root the client does not hold).
func verifyDSSE(ctx context.Context, e Entry, keys map[string]Key) error {
	env, err := envelope.Decode(e.Envelope, envelope.DefaultLimits())
	if err != nil {
		return err
	}
	lookup := func(_ context.Context, id string) (string, []byte, error) {
		k, ok := keys[id]
		if !ok {
			return "", nil, fmt.Errorf("key %s is not in the evidence: %w", id, envelope.ErrUnknownKey)
		}
		return k.Type, k.PublicKey, nil
	}
	signers, err := envelope.Verify(ctx, env, lookup)
	if err != nil {
		return err
	}
	var claimed []string
	for _, id := range e.SignerKeyIDs {
		if _, sigstore := policy.ParseSignerID(id); !sigstore {
			claimed = append(claimed, id)
		}
	}
	slices.Sort(claimed)
	signers = slices.Compact(slices.Sorted(slices.Values(signers)))
	if !slices.Equal(slices.Compact(claimed), signers) {
		return fmt.Errorf("the log names signers %v, the signatures are by %v", claimed, signers)
	}
	return nil
}

// verifyItems checks that every item cites entries, keys and digests the
// bundle holds, with the types and bytes it says.
func (s *Set) verifyItems(keys map[string]Key) error {
	b := s.b
	cited := func(what string, seq uint64, predicateType string) (Entry, error) {
		e, ok := s.entries[seq]
		if !ok {
			return Entry{}, fmt.Errorf("%s cites log entry %d, which the bundle does not hold", what, seq)
		}
		if predicateType != "" && (e.PredicateType != predicateType || !recordtype.Genuine(e.PayloadType, e.PredicateType)) {
			return Entry{}, fmt.Errorf("%s cites log entry %d, which is %s (%s), not %s", what, seq, e.PredicateType, e.PayloadType, predicateType)
		}
		return e, nil
	}
	for _, sig := range b.PGP {
		what := fmt.Sprintf("OpenPGP signature of %s", sig.Name)
		e, err := cited(what, sig.Seq, recordtype.PGPManifest)
		if err != nil {
			return err
		}
		k, ok := keys[sig.Primary]
		if !ok || k.Type != pgp.KeyType {
			return fmt.Errorf("%s: certificate %s is not in the evidence", what, sig.Primary)
		}
		lines, err := ManifestLines(e.Envelope, k.PublicKey)
		if err != nil {
			return fmt.Errorf("%s (entry %d): %w", what, sig.Seq, err)
		}
		if !slices.ContainsFunc(lines, func(l PGPSignature) bool {
			return l.Name == sig.Name && l.Digest == sig.Digest && l.Signer == sig.Signer && l.Primary == sig.Primary && l.SignedAt.Equal(sig.SignedAt)
		}) {
			return fmt.Errorf("%s (entry %d): the manifest has no such line signed by %s at %s", what, sig.Seq, sig.Signer, sig.SignedAt)
		}
		if !slices.Contains(b.Digests, sig.Digest) {
			return fmt.Errorf("%s names %s, which was not asked about", what, sig.Digest)
		}
	}
	for _, pr := range b.PGPProblems {
		if _, err := cited("an OpenPGP manifest problem", pr.Seq, recordtype.PGPManifest); err != nil {
			return err
		}
	}
	for _, d := range b.Decisions {
		for _, l := range d.Links {
			if _, err := cited(fmt.Sprintf("the chain of %s for %s", d.Signer, d.Name), l.Seq, ""); err != nil {
				return err
			}
		}
	}
	for _, a := range b.Attestations {
		e, err := cited(fmt.Sprintf("attestation of %s", a.PredicateType), a.Seq, "")
		if err != nil {
			return err
		}
		if e.PredicateType != a.PredicateType || !slices.Contains(e.Digests, a.Digest) || !sameSet(e.SignerKeyIDs, a.Signers) {
			return fmt.Errorf("attestation %d: its type, digest or signers differ from its log entry's", a.Seq)
		}
	}
	for _, r := range b.TUF {
		for _, f := range r.Files {
			e, err := cited(fmt.Sprintf("TUF %s %s", r.Repo, f.Name()), f.Seq, recordtype.TUFMetadata)
			if err != nil {
				return err
			}
			if err := checkTUFFile(e.Envelope, f); err != nil {
				return fmt.Errorf("TUF %s %s (entry %d): %w", r.Repo, f.Name(), f.Seq, err)
			}
		}
	}
	for _, r := range b.Revocations {
		if r.State != nil && r.State.Seq != 0 {
			if _, err := cited(fmt.Sprintf("the revocation of %s %s", r.Kind, r.ID), r.State.Seq, ""); err != nil {
				return err
			}
		}
	}
	for _, p := range b.Publishers {
		if p.Seq != 0 {
			if _, err := cited(fmt.Sprintf("publisher %s of %s", p.Key, p.Digest), p.Seq, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

// checkTUFFile checks that data is TUF metadata of f's role (a delegated
// role is of type targets) and version.
func checkTUFFile(data []byte, f TUFFile) error {
	var doc struct {
		Signed struct {
			Type    string `json:"_type"`
			Version int64  `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not TUF metadata: %w", err)
	}
	want := f.Role
	switch f.Role {
	case metadata.ROOT, metadata.TIMESTAMP, metadata.SNAPSHOT, metadata.TARGETS:
	default:
		want = metadata.TARGETS
	}
	if doc.Signed.Type != want || doc.Signed.Version != f.Version {
		return fmt.Errorf("holds %s version %d", doc.Signed.Type, doc.Signed.Version)
	}
	return nil
}

// ManifestLines verifies the OpenPGP signature of a logged manifest record
// (pgp.ManifestRecord JSON, the log entry's leaf) with the signer's
// certificate and returns every line of the manifest as a signature of
// its digest: file name, signing key, certificate and claimed signing
// time. The server reads manifests with it, and a client re-checks what
// the server cites.
func ManifestLines(record, certificate []byte) ([]PGPSignature, error) {
	var rec pgp.ManifestRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		return nil, fmt.Errorf("not a manifest record: %w", err)
	}
	cert, err := pgp.ParseCertificate(certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	data := rec.Manifest
	var info pgp.SignatureInfo
	if len(rec.Clearsigned) > 0 {
		data, info, err = pgp.VerifyCleartext(cert, rec.Clearsigned)
	} else {
		info, err = pgp.VerifyDetached(cert, rec.Manifest, rec.Signature)
	}
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	lines, _, err := pgp.ParseManifestFile(rec.Name, data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	out := make([]PGPSignature, 0, len(lines))
	for _, l := range lines {
		out = append(out, PGPSignature{Digest: l.Digest, Name: l.Name, Signer: info.SigningKey, Primary: info.Primary, SignedAt: info.Created})
	}
	return out, nil
}
