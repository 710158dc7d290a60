package evidencesvc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// digestOf is the sha256 digest of data.
func digestOf(data []byte) digest.Digest {
	sum := sha256.Sum256(data)
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

// revocations records the revocation state at the bundle's time of every
// target the evidence involves: the digests, every signer of every entry
// and manifest line, every entry as a statement, and the request's extra
// tokens, keys and statements. The revocation statements found are cited.
// The states of all the targets are read at once (revocation.Service.States).
func (bd *build) revocations(ctx context.Context) error {
	var targets []revocation.Target
	add := func(kind revocation.Kind, id string) {
		key := [2]string{string(kind), id}
		if bd.checks[key] {
			return
		}
		bd.checks[key] = true
		targets = append(targets, revocation.Target{Kind: kind, ID: id})
	}
	for _, d := range bd.req.Digests {
		add(revocation.KindDigest, d.String())
	}
	// The entries a policy may rely on, in order (the requested TUF
	// roles' metadata among them); checking them cites more (the
	// revocation statements), which are not themselves checked.
	var seqs []uint64
	for seq := range bd.reliedOn {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		e := bd.byseq[seq]
		add(revocation.KindStatement, e.EnvelopeDigest().String())
		for _, k := range e.SignerKeyIDs {
			add(revocation.KindKey, k)
		}
	}
	for _, sig := range bd.out.PGP {
		for _, k := range []string{sig.Signer, sig.Primary} {
			add(revocation.KindKey, k)
		}
	}
	for _, k := range slices.Concat(bd.tufKeys, bd.req.Keys) {
		add(revocation.KindKey, k)
	}
	for _, d := range bd.req.Statements {
		add(revocation.KindStatement, d.String())
	}
	for _, t := range bd.req.Tokens {
		add(revocation.KindToken, t)
	}
	return bd.check(ctx, targets)
}

// check records the revocation state of each target. A key counts
// as revoked by a revocation statement about it, an OpenPGP revocation
// certificate or a rotation (revocation.Service.KeyRevoked, judged at the
// bundle's time); a digest, statement or token by a revocation statement
// about it. The state carries reason and effective time, so the policy
// evaluator applies the one time rule (package timerule) itself at the
// times it relied on the target; InForce is that rule's answer at the
// bundle's time (revocation.Record.InForce), for readers such as subject. An
// id that cannot be a revocation target (malformed) was never revoked.
func (bd *build) check(ctx context.Context, targets []revocation.Target) error {
	svc := bd.b.Revocation
	items := make([]evidence.Revocation, len(targets))
	var valid []revocation.Target
	canon := make([]string, len(targets))
	for i, t := range targets {
		items[i] = evidence.Revocation{Kind: string(t.Kind), ID: t.ID}
		id, err := revocation.CanonicalID(t.Kind, t.ID)
		if errors.Is(err, revocation.ErrInvalid) {
			continue
		}
		if err != nil {
			return fmt.Errorf("evidence: revocation of %s %s: %w", t.Kind, t.ID, err)
		}
		canon[i] = id
		valid = append(valid, revocation.Target{Kind: t.Kind, ID: id})
	}
	ahead, ok, err := bd.statesAhead(valid)
	if err != nil {
		return err
	}
	if !ok {
		states, err := svc.States(ctx, valid)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		ahead = &states
	}
	bd.states = ahead
	states := *ahead
	// The head read with the states: every revocation up to it is in
	// them.
	bd.out.RevocationHead = uint64(states.Head())
	var cites []int64
	for i, t := range targets {
		if canon[i] == "" {
			continue
		}
		rec := states.Lookup(revocation.Target{Kind: t.Kind, ID: canon[i]})
		if t.Kind == revocation.KindKey {
			kr, err := states.KeyRevoked(ctx, t.ID, bd.at, bd.at)
			if err != nil {
				return fmt.Errorf("evidence: revocation of key %s: %w", t.ID, err)
			}
			if kr != nil {
				rec = kr
			}
		}
		if rec == nil {
			continue
		}
		items[i].State = &evidence.RevocationState{Action: string(rec.Action), Reason: string(rec.Reason), Effective: rec.Effective.UTC(),
			Revokers: rec.Revokers, Seq: uint64(rec.Seq), RecordedAt: rec.RecordedAt.UTC()}
		items[i].InForce = rec.InForce(bd.at) // timerule.InForce: the one time rule
		if rec.Seq > 0 {
			cites = append(cites, rec.Seq)
		}
	}
	if err := bd.b.prefetch(ctx, cites); err != nil {
		return err
	}
	for _, seq := range cites {
		if _, err := bd.cite(ctx, seq, nil); err != nil {
			return err
		}
	}
	bd.out.Revocations = append(bd.out.Revocations, items...)
	return nil
}

// attestationRevocations judges, as the attestation service would
// (revocation.AttestationView: the entry's signatures taken as made when
// the log recorded it), whether each attestation listed is revoked, with
// the states the revocations step read, or, when the bundle has no
// revocations kind, with those of the attestations' entries read now.
func (bd *build) attestationRevocations(ctx context.Context) error {
	if len(bd.attRevs) == 0 {
		return nil
	}
	heads := make([]store.Statement, len(bd.attRevs))
	for i, ai := range bd.attRevs {
		e := bd.byseq[bd.out.Attestations[ai].Seq]
		heads[i] = store.Statement{Seq: int64(e.Seq), EnvelopeDigest: e.EnvelopeDigest(), SignerKeyIDs: e.SignerKeyIDs, RecordedAt: e.RecordedAt}
	}
	states := bd.states
	if states == nil {
		var targets []revocation.Target
		for _, h := range heads {
			targets = append(targets, revocation.Target{Kind: revocation.KindStatement, ID: h.EnvelopeDigest.String()})
			for _, k := range h.SignerKeyIDs {
				targets = append(targets, revocation.Target{Kind: revocation.KindKey, ID: k})
			}
		}
		var (
			ok  bool
			err error
		)
		states, ok, err = bd.statesAhead(targets)
		if err != nil {
			return err
		}
		if !ok {
			st, err := bd.b.Revocation.States(ctx, targets)
			if err != nil {
				return fmt.Errorf("evidence: %w", err)
			}
			states = &st
		}
	}
	for i, ai := range bd.attRevs {
		r, err := states.StatementRevoked(ctx, heads[i], heads[i].RecordedAt)
		if err != nil {
			return fmt.Errorf("evidence: revocation of attestation %d: %w", heads[i].Seq, err)
		}
		if r != nil {
			bd.out.Attestations[ai].Revoked = r.String()
		}
	}
	return nil
}

// publishers records who publishes each digest (revocation.Service's one
// definition, the first publication), and, through the alias claims
// naming the digests that a publisher of both wrote, who publishes the
// digests they link, labelled with the claim. The candidates are the
// signers of the first publication (the current signers of its TUF role)
// and of each publisher key's newest entry naming the digest
// (revocation.DigestPublisher.Entries).
func (bd *build) publishers(ctx context.Context) error {
	// Only a publication's claim or one a publisher key signed can be a
	// publisher's: the store reads no others, however many strangers
	// logged.
	var keys []string
	pubs := make([]*revocation.DigestPublisher, len(bd.req.Digests))
	for i, d := range bd.req.Digests {
		pb, err := bd.b.Revocation.PublisherOf(ctx, d)
		if err != nil {
			return fmt.Errorf("evidence: publishers of %s: %w", d, err)
		}
		ks, err := pb.Keys(ctx)
		if err != nil {
			return fmt.Errorf("evidence: publishers of %s: %w", d, err)
		}
		pubs[i], keys = pb, append(keys, ks...)
	}
	slices.Sort(keys)
	claims, err := bd.b.Store.AliasClaims(ctx, store.ClaimQuery{Digests: bd.req.Digests, Publications: true, SignedBy: slices.Compact(keys)})
	if err != nil {
		return fmt.Errorf("evidence: alias claims of %s: %w", bd.req.Digests[0], err)
	}
	type target struct {
		d     digest.Digest
		pb    *revocation.DigestPublisher
		claim *evidence.AliasClaim
	}
	var targets []target
	for i, d := range bd.req.Digests {
		targets = append(targets, target{d: d, pb: pubs[i]})
	}
	// The first-publication rule (revocation.Service.WrittenByPublisher, as
	// reputation links aliases): a claim links a requested digest to
	// another only when a publisher of both wrote the record that makes it.
	// A mirror's TUF target listing someone's digest beside other bytes
	// links nothing, nor does a claim no log entry stands behind. Each
	// requested digest's claims are judged in one call: anyone may add
	// claims naming it, and a call per claim let them set this lookup's
	// cost.
	written := map[digest.Digest]map[int64]bool{}
	for i, d := range bd.req.Digests {
		var entries []store.EntryMeta
		for _, c := range claims {
			if c.StatementSeq != 0 && slices.Contains(c.Digests, d) {
				entries = append(entries, c.Meta())
			}
		}
		seqs, err := pubs[i].Wrote(ctx, entries...)
		if err != nil {
			return fmt.Errorf("evidence: alias claims of %s: %w", d, err)
		}
		written[d] = map[int64]bool{}
		for _, seq := range seqs {
			written[d][seq] = true
		}
	}
	for _, c := range claims {
		if !slices.ContainsFunc(c.Digests, func(d digest.Digest) bool { return written[d][c.StatementSeq] }) {
			continue
		}
		ac := evidence.AliasClaim{Source: string(c.Source), Reference: c.Reference, Seq: uint64(c.StatementSeq), Signers: c.SignerKeyIDs,
			Digests: c.Digests, ClaimedAt: c.ClaimedAt.UTC()}
		linked := false
		for _, d := range c.Digests {
			if slices.Contains(bd.req.Digests, d) || slices.ContainsFunc(targets, func(t target) bool { return t.d == d }) {
				continue
			}
			pb, err := bd.b.Revocation.PublisherOf(ctx, d)
			if err != nil {
				return fmt.Errorf("evidence: publishers of %s: %w", d, err)
			}
			seqs, err := pb.Wrote(ctx, c.Meta())
			if err != nil {
				return fmt.Errorf("evidence: alias claim %d of %s: %w", c.StatementSeq, d, err)
			}
			if len(seqs) == 0 {
				continue // bytes someone else published first
			}
			linked = true
			targets = append(targets, target{d: d, pb: pb, claim: &ac})
		}
		if !linked {
			continue
		}
		bd.out.AliasClaims = append(bd.out.AliasClaims, ac)
		if _, err := bd.cite(ctx, c.StatementSeq, nil); err != nil {
			return err
		}
	}
	for _, t := range targets {
		ev, err := t.pb.Entries(ctx, "")
		if err != nil {
			return fmt.Errorf("evidence: publishers of %s: %w", t.d, err)
		}
		seen := map[string]bool{}
		for _, e := range ev {
			if !recordtype.Genuine(e.PayloadType, e.PredicateType) {
				continue
			}
			candidates := e.SignerKeyIDs
			if e.PredicateType == tufstore.PredicateType {
				if candidates, err = bd.tufSigners(ctx, e.Seq); err != nil {
					return err
				}
			}
			for _, k := range candidates {
				if seen[k] {
					continue
				}
				seen[k] = true
				ok, err := t.pb.Is(ctx, k)
				if err != nil {
					return fmt.Errorf("evidence: publisher %s of %s: %w", k, t.d, err)
				}
				if !ok {
					continue
				}
				if _, err := bd.rely(ctx, e.Seq, nil); err != nil {
					return err
				}
				bd.out.Publishers = append(bd.out.Publishers, evidence.Publisher{Key: k, Digest: t.d, Seq: uint64(e.Seq), Claim: t.claim})
			}
		}
	}
	return nil
}

// tufSigners are the key ids that sign the current metadata of the TUF
// role whose metadata log entry seq holds.
func (bd *build) tufSigners(ctx context.Context, seq int64) ([]string, error) {
	// Through the cache: the descriptor is in the payload, which
	// entries read ahead do not carry.
	st, err := bd.b.statement(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("evidence: TUF entry %d: %w", seq, err)
	}
	role, err := tufstore.Describe(st)
	if errors.Is(err, tufstore.ErrNotTUF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: TUF entry %d: %w", seq, err)
	}
	cur, err := bd.b.Store.TUFMetadata(ctx, role.Repo, role.Role, 0)
	if err != nil {
		return nil, fmt.Errorf("evidence: TUF %s %s: %w", role.Repo, role.Role, err)
	}
	var doc struct {
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(cur, &doc); err != nil {
		return nil, fmt.Errorf("evidence: TUF %s %s: %w", role.Repo, role.Role, err)
	}
	var out []string
	for _, s := range doc.Signatures {
		out = append(out, s.KeyID)
	}
	return out, nil
}

// proofs signs a checkpoint of the log as it is after every read (so it
// covers every entry cited) and proves each entry in its tree.
func (bd *build) proofs(ctx context.Context) error {
	if bd.b.Log == nil {
		return errors.New("evidence: no log to prove entries in")
	}
	seqs := make([]int64, len(bd.out.Entries))
	var last uint64
	for i, e := range bd.out.Entries {
		seqs[i] = int64(e.Seq)
		last = max(last, e.Seq)
	}
	// The tree read ahead holds every entry cited when none was read
	// after it; its size and the lower nodes of the proofs were read with
	// the entries.
	var known []store.LogNode
	size := uint64(0)
	if bd.ahead != nil && last <= bd.ahead.size {
		size, known = bd.ahead.size, bd.ahead.nodes
	}
	cp, size, err := bd.b.checkpoint(ctx, size)
	if err != nil {
		return err
	}
	bd.out.Log = &evidence.Checkpoint{Signed: cp, VerifierKey: bd.b.Log.VerifierKey(), Size: size}
	proofs, err := bd.b.Log.InclusionProofsWith(ctx, seqs, size, known)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	for i := range bd.out.Entries {
		bd.out.Entries[i].Proof = proofs[i]
	}
	return nil
}
