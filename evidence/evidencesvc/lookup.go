package evidencesvc

import (
	"context"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// readAhead is what one store.DigestLookup read for a bundle before its
// steps ran: the rows naming the digests, their entries and the
// revocation statements', the revocation states of the digests, of the
// entries and of their signers, the log size and the lower nodes of the
// entries' inclusion proofs. The common lookup (entries, attestations,
// revocations of a digest) then needs no other store read; a step that
// needs more (other kinds, other targets) reads it as before.
type readAhead struct {
	naming []store.AttestationEntry
	// complete: naming holds every row naming the digests.
	complete bool
	stmts    map[int64]store.Statement
	recs     []store.RevocationRecord
	head     int64
	// covered are the revocation targets whose states recs hold.
	covered map[[32]byte]bool
	size    uint64
	nodes   []store.LogNode
}

// entriesLimit is the entries a request's KindEntries page holds.
func entriesLimit(req evidence.Request) int {
	if req.EntriesLimit > 0 {
		return req.EntriesLimit
	}
	return evidence.MaxEntries
}

// readAhead reads, in one store read, what the entries, attestations and
// revocations steps need, when the request asks for any of the first two
// from the newest entry on.
func (bd *build) readAhead(ctx context.Context) error {
	wants := func(k evidence.Kind) bool { return slices.Contains(bd.out.Kinds, k) }
	// With a revocation service, attestations are listed without their
	// revocation state and judged with the bundle's states.
	atts := wants(evidence.KindAttestations) && bd.b.Revocation != nil
	if bd.req.EntriesBefore != 0 || (!wants(evidence.KindEntries) && !atts) {
		return nil
	}
	n := len(bd.req.Digests)
	rows := entriesLimit(bd.req)*n + 1
	if atts {
		rows = max(rows, evidence.MaxEntries*n+1)
	}
	covered := map[[32]byte]bool{}
	var keys [][]byte
	want := func(k [32]byte) {
		if !covered[k] {
			covered[k] = true
			keys = append(keys, k[:])
		}
	}
	for _, d := range bd.req.Digests {
		want(revocation.DigestKey(d))
	}
	for _, t := range bd.extraTargets() {
		if id, err := revocation.CanonicalID(t.Kind, t.ID); err == nil {
			want(revocation.TargetKey(t.Kind, id))
		}
	}
	q := store.DigestLookupQuery{Digests: bd.req.Digests, Limit: rows, TargetKeys: keys}
	if bd.prove {
		q.NodeLevels = statement.UncachedLevels
	}
	got, err := bd.b.Store.DigestLookup(ctx, q)
	if err != nil {
		return fmt.Errorf("evidence: entries naming %s: %w", bd.req.Digests[0], err)
	}
	ra := &readAhead{naming: got.Naming, complete: len(got.Naming) < rows, stmts: make(map[int64]store.Statement, len(got.Statements)),
		recs: got.Revocations, head: got.RevocationHead, covered: covered, size: got.LogSize, nodes: got.Nodes}
	for _, st := range got.Statements {
		ra.stmts[st.Seq] = st
	}
	for _, e := range got.Naming {
		covered[revocation.TargetKey(revocation.KindStatement, e.EnvelopeDigest.String())] = true
		for _, k := range e.SignerKeyIDs {
			covered[revocation.TargetKey(revocation.KindKey, k)] = true
		}
	}
	bd.ahead = ra
	return nil
}

// extraTargets are the revocation targets the request names itself.
func (bd *build) extraTargets() []revocation.Target {
	var out []revocation.Target
	for _, k := range bd.req.Keys {
		out = append(out, revocation.Target{Kind: revocation.KindKey, ID: k})
	}
	for _, d := range bd.req.Statements {
		out = append(out, revocation.Target{Kind: revocation.KindStatement, ID: d.String()})
	}
	for _, t := range bd.req.Tokens {
		out = append(out, revocation.Target{Kind: revocation.KindToken, ID: t})
	}
	return out
}

// evidenceRows are the rows naming the digests that a store.Evidence
// query of limit rows would return, when read ahead.
func (bd *build) evidenceRows(limit int) ([]store.Evidence, bool) {
	ra := bd.ahead
	if ra == nil || (!ra.complete && len(ra.naming) < limit) {
		return nil, false
	}
	rows := ra.naming[:min(limit, len(ra.naming))]
	out := make([]store.Evidence, len(rows))
	for i, e := range rows {
		out[i] = store.Evidence{Seq: e.Seq, PayloadType: e.PayloadType, PredicateType: e.PredicateType, SignerKeyIDs: e.SignerKeyIDs,
			Digest: e.Digest, RecordedAt: e.RecordedAt}
	}
	return out, true
}

// attestationsOf lists the attestations of d (of predicate type pt when
// set) as the attestation service would without revocation states, when
// every row naming the digests was read ahead.
func (bd *build) attestationsOf(d digest.Digest, pt string) ([]attest.Attestation, bool) {
	ra := bd.ahead
	if ra == nil || !ra.complete {
		return nil, false
	}
	var rows []store.AttestationEntry
	for _, e := range ra.naming {
		if e.Digest == d && (pt == "" || e.PredicateType == pt) && len(rows) < evidence.MaxEntries {
			rows = append(rows, e)
		}
	}
	return attest.FromEntries(rows), true
}

// statesAhead returns the revocation states of targets from what was
// read ahead, when it covers them all.
func (bd *build) statesAhead(targets []revocation.Target) (*revocation.States, bool, error) {
	ra := bd.ahead
	if ra == nil {
		return nil, false, nil
	}
	for _, t := range targets {
		if !ra.covered[t.Key()] {
			return nil, false, nil
		}
	}
	st, err := bd.b.Revocation.StatesFrom(ra.recs, ra.head)
	if err != nil {
		return nil, false, fmt.Errorf("evidence: %w", err)
	}
	return &st, true, nil
}

// prefetch is Builder.prefetch of the entries not read ahead.
func (bd *build) prefetch(ctx context.Context, seqs []int64) error {
	if bd.ahead != nil {
		seqs = slices.DeleteFunc(slices.Clone(seqs), func(seq int64) bool {
			_, ok := bd.ahead.stmts[seq]
			return ok
		})
	}
	return bd.b.prefetch(ctx, seqs)
}

// statement returns log entry seq, read ahead (without its payload) or
// through the cache.
func (bd *build) statement(ctx context.Context, seq int64) (store.Statement, error) {
	if bd.ahead != nil {
		if st, ok := bd.ahead.stmts[seq]; ok {
			return st, nil
		}
	}
	return bd.b.statement(ctx, seq)
}
