package identity

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/keyset"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// BulkRevocations answers the revocation questions of many keys and log
// entries in one store read; the revocation package's Service implements
// it. With it, VerifiedKeys costs the same few reads however many keys it
// is asked about, and its answer is kept until a revocation is appended
// or the next effective time among the states it read.
type BulkRevocations interface {
	// States reads the index state of every target at once.
	States(ctx context.Context, ts []revocation.Target) (revocation.States, error)
}

// Indexers returns the indexer that keeps the identity binding index
// (store.IdentityBinding rows) in the transaction that appends a binding,
// on either path (a DSSE submission or a Sigstore bundle), for
// statement.Options.Indexers.
func (v *Verifier) Indexers() map[string]statement.Indexer {
	return map[string]statement.Indexer{BindingPredicateType: func(ctx context.Context, w store.Writer, e store.Statement) error {
		return indexBinding(ctx, w, e, true)
	}}
}

// indexBinding records which sides signed the binding entry e: the bound
// key, the identity, or both. Entries that are not genuine or not well
// formed bind nothing and are not recorded (Verified skips them too).
//
// With refuseRepeats (an entry being appended), a side that signed the
// same binding before is refused (ErrRepeatedBinding), so the entry is
// not stored: an identity vouches for the key of its newest binding, and
// a side signing its binding again, in other bytes, would make it vouch
// again for a key it moved away from, or bring back a binding whose entry
// was revoked. (Copies of a logged side, re-encoded or with a signature
// added, never get here: the log keeps one entry per signed payload,
// store.Statement.SignedDigest.) The check reads under the log lock
// (per-entry indexers are never planned ahead), so two copies cannot both
// pass. The backfill of entries logged before the index records repeats
// already in the log as they are.
func indexBinding(ctx context.Context, w store.Writer, e store.Statement, refuseRepeats bool) error {
	if !recordtype.Genuine(e.PayloadType, e.PredicateType) {
		return nil
	}
	parsed, err := envelope.ParseStatement(envelope.PayloadTypeInToto, e.Payload, envelope.Limits{})
	if err != nil {
		return nil
	}
	b, err := checkStatement(parsed)
	if err != nil {
		return nil
	}
	id := b.SignerID()
	for _, signer := range e.SignerKeyIDs {
		if signer != b.KeyID && signer != id {
			continue
		}
		if refuseRepeats {
			if err := refuseRepeat(ctx, w, e.Seq, signer, b.KeyID, id); err != nil {
				return err
			}
		}
		err := w.PutIdentityBinding(ctx, store.IdentityBinding{Signer: signer, Seq: e.Seq, KeyID: b.KeyID, Identity: id, RecordedAt: e.RecordedAt})
		if err != nil {
			return fmt.Errorf("identity: index binding %d: %w", e.Seq, err)
		}
	}
	return nil
}

// refuseRepeat fails with ErrRepeatedBinding when signer signed the
// binding of keyID to id at an entry before seq.
func refuseRepeat(ctx context.Context, w store.Writer, seq int64, signer, keyID, id string) error {
	rows, err := w.IdentityBindings(ctx, []string{signer})
	if err != nil {
		return fmt.Errorf("identity: index binding %d: %w", seq, err)
	}
	for _, r := range rows {
		if r.KeyID == keyID && r.Identity == id && r.Seq < seq {
			return inputerr.New("identity: binding", "signatures", ErrRepeatedBinding,
				fmt.Sprintf("%s signed this binding of key %s to %s at log entry %d already; a binding counts once, at its first entry (to return to it, revoke the bindings of %s logged after it)", signer, keyID, id, r.Seq, id))
		}
	}
	return nil
}

// backfillPage is how many logged bindings one backfill transaction
// indexes.
const backfillPage = 500

// IndexLoggedBindings indexes the binding statements an older trustd
// logged before the binding index existed (every entry up to the one the
// migration recorded), and returns how many it read. It is idempotent;
// trustd calls it at start.
func (v *Verifier) IndexLoggedBindings(ctx context.Context, st store.Store) (int, error) {
	through, err := st.DerivedBackfill(ctx, store.BackfillIdentityBindings)
	if err != nil || through == 0 {
		return 0, err
	}
	n := 0
	for after := int64(0); after < through; {
		entries, err := st.StatementsByPredicate(ctx, BindingPredicateType, after, backfillPage)
		if err != nil {
			return n, fmt.Errorf("identity: backfill bindings: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
			for _, e := range entries {
				if e.Seq > through {
					continue
				}
				if err := indexBinding(ctx, w, e, false); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("identity: backfill bindings: %w", err)
		}
		after = entries[len(entries)-1].Seq
	}
	err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		return w.SetDerivedBackfill(ctx, store.BackfillIdentityBindings, 0)
	})
	if err != nil {
		return n, fmt.Errorf("identity: backfill bindings: %w", err)
	}
	return n, nil
}

// VerifiedKeys reports, for each of keyIDs, what Verified reports, reading
// the binding index instead of every binding statement: a fixed number of
// store reads (the keys, their revocation states, the bindings of the keys
// and of the identities they name, the revocations of those bindings)
// however many keys, when Options.Revocations implements BulkRevocations.
// The answer is judged at the clock's now, as Verified's is.
func (v *Verifier) VerifiedKeys(ctx context.Context, keyIDs []string) (map[string]bool, error) {
	if len(keyIDs) == 0 {
		return map[string]bool{}, nil
	}
	snap, err := v.snapshot(ctx, keyIDs)
	if err != nil {
		return nil, err
	}
	keys := snap.keys
	now := v.opts.Now()
	// The verdicts of this snapshot stand while no revocation is appended
	// and until the next effective time among the revocations they
	// consulted.
	head, err := v.store.RevocationHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: revocation head: %w", err)
	}
	if c := snap.verdicts.Load(); c != nil && c.head == head && (c.until.IsZero() || now.Before(c.until)) {
		return c.out, nil
	}
	// Made once the remembered verdicts do not answer: made before, at
	// 10,000 keys it was over a quarter of a warm query's garbage.
	out := make(map[string]bool, len(keyIDs))
	_, bulk := v.opts.Revocations.(BulkRevocations)
	cacheable := bulk || v.opts.Revocations == nil
	found := make([]string, 0, len(keys))
	for _, k := range keys {
		found = append(found, k.ID)
		// A certificate's state is judged at now, with no horizon.
		cacheable = cacheable && k.Type != pgp.KeyType
	}
	revoked, until, err := v.keysRevoked(ctx, found, now)
	if err != nil {
		return nil, err
	}
	asked := make(map[string]bool, len(keyIDs))
	for _, k := range keyIDs {
		asked[k] = true
	}
	var bound []string
	for _, k := range keys {
		switch {
		case !asked[k.ID] || revoked[k.ID]:
		case k.Type == pgp.KeyType:
			ok, err := v.certified(ctx, k, now)
			if err != nil {
				return nil, err
			}
			out[k.ID] = ok
		default:
			bound = append(bound, k.ID)
		}
	}
	if len(bound) == 0 {
		snap.remember(cacheable, head, until, out)
		return out, nil
	}
	// The bindings each key signed, newest first, and those of the
	// identities they name: each read filtered by signer, as Verified's.
	byKey, byID := snap.byKey, snap.byID
	var refs []revocation.StatementRef
	for _, m := range []map[string][]store.IdentityBinding{byKey, byID} {
		for _, bs := range m {
			for _, b := range bs {
				refs = append(refs, revocation.StatementRef{Seq: b.Seq, SignedAt: b.RecordedAt})
			}
		}
	}
	stRevoked, next, err := v.statementsRevoked(ctx, refs, snap.heads)
	if err != nil {
		return nil, err
	}
	until = earliest(until, next)
	newest := map[string]string{}
	for id, bs := range byID {
		for _, b := range bs {
			if !stRevoked[b.Seq] {
				newest[id] = b.KeyID
				break
			}
		}
	}
	for _, k := range bound {
		tried := map[string]bool{}
		for _, b := range byKey[k] {
			if tried[b.Identity] || stRevoked[b.Seq] {
				continue
			}
			tried[b.Identity] = true
			if newest[b.Identity] == k {
				out[k] = true
				break
			}
		}
	}
	snap.remember(cacheable, head, until, out)
	return out, nil
}

// verdicts are VerifiedKeys' answer for a snapshot's keys, valid while
// the revocation head is head and, when until is not zero, before until.
type verdicts struct {
	head  int64
	until time.Time
	out   map[string]bool
}

// remember keeps out as the snapshot's verdicts when they may be kept.
func (s *snapshot) remember(cacheable bool, head int64, until time.Time, out map[string]bool) {
	if cacheable {
		s.verdicts.Store(&verdicts{head: head, until: until, out: out})
	}
}

// earliest is the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// snapshot is what VerifiedKeys reads from the store for a set of keys,
// as of a log size: the keys, the bindings they signed and those of the
// identities they name. None of it changes until the log grows; what is
// judged at the clock's now (revocations, certificates) is not in it.
type snapshot struct {
	at          int64
	set         [24]byte
	keys        []store.Key
	byKey, byID map[string][]store.IdentityBinding
	// heads are the binding entries (no bytes), for their revocations.
	heads map[int64]store.Statement
	// verdicts is the last answer judged from it.
	verdicts atomic.Pointer[verdicts]
}

// snapshot returns the snapshot of keyIDs at the log's size now, read
// again only when the log has grown or other keys are asked about.
func (v *Verifier) snapshot(ctx context.Context, keyIDs []string) (*snapshot, error) {
	n, err := v.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: log size: %w", err)
	}
	snap := &snapshot{at: int64(n), set: keyset.Of(keyIDs)}
	if old := v.snap.Load(); old != nil && old.at == snap.at && old.set == snap.set {
		return old, nil
	}
	if snap.keys, err = v.store.KeysByID(ctx, keyIDs); err != nil {
		return nil, fmt.Errorf("identity: keys: %w", err)
	}
	var ids []string
	for _, k := range snap.keys {
		if k.Type != pgp.KeyType {
			ids = append(ids, k.ID)
		}
	}
	if snap.byKey, err = v.bindingsBy(ctx, ids, func(b store.IdentityBinding) bool { return b.KeyID == b.Signer }); err != nil {
		return nil, err
	}
	ids = ids[:0]
	named := map[string]bool{}
	for _, bs := range snap.byKey {
		for _, b := range bs {
			if !named[b.Identity] {
				named[b.Identity] = true
				ids = append(ids, b.Identity)
			}
		}
	}
	if snap.byID, err = v.bindingsBy(ctx, ids, func(b store.IdentityBinding) bool { return b.Identity == b.Signer }); err != nil {
		return nil, err
	}
	var seqs []int64
	for _, m := range []map[string][]store.IdentityBinding{snap.byKey, snap.byID} {
		for _, bs := range m {
			for _, b := range bs {
				seqs = append(seqs, b.Seq)
			}
		}
	}
	snap.heads = map[int64]store.Statement{}
	if len(seqs) > 0 {
		hs, err := v.store.StatementsBySeq(ctx, seqs, false)
		if err != nil {
			return nil, fmt.Errorf("identity: binding entries: %w", err)
		}
		for _, h := range hs {
			snap.heads[h.Seq] = h
		}
	}
	v.snap.Store(snap)
	return snap, nil
}

// bindingsBy returns the binding rows signed by each of signers that keep
// says are that signer's side, newest first, at most MaxBindings each.
func (v *Verifier) bindingsBy(ctx context.Context, signers []string, keep func(store.IdentityBinding) bool) (map[string][]store.IdentityBinding, error) {
	out := map[string][]store.IdentityBinding{}
	if len(signers) == 0 {
		return out, nil
	}
	rows, err := v.store.IdentityBindings(ctx, signers)
	if err != nil {
		return nil, fmt.Errorf("identity: bindings: %w", err)
	}
	for _, b := range rows {
		if keep(b) && len(out[b.Signer]) < MaxBindings {
			out[b.Signer] = append(out[b.Signer], b)
		}
	}
	return out, nil
}

// keysRevoked returns which of keyIDs are revoked for a signature judged
// at at, in one read of their states when the revocations allow, and the
// earliest effective time after at among those states (zero: none, or
// read key by key).
func (v *Verifier) keysRevoked(ctx context.Context, keyIDs []string, at time.Time) (map[string]bool, time.Time, error) {
	out := map[string]bool{}
	if v.opts.Revocations == nil || len(keyIDs) == 0 {
		return out, time.Time{}, nil
	}
	bulk, ok := v.opts.Revocations.(BulkRevocations)
	if !ok {
		for _, k := range keyIDs {
			r, err := v.keyRevoked(ctx, k, at)
			if err != nil {
				return nil, time.Time{}, err
			}
			out[k] = r
		}
		return out, time.Time{}, nil
	}
	ts := make([]revocation.Target, len(keyIDs))
	for i, k := range keyIDs {
		ts[i] = revocation.Target{Kind: revocation.KindKey, ID: k}
	}
	states, err := bulk.States(ctx, ts)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("identity: revocation of keys: %w", err)
	}
	for _, k := range keyIDs {
		r, err := states.KeyRevoked(ctx, k, at, at)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("identity: revocation of %s: %w", k, err)
		}
		out[k] = r != nil
	}
	return out, states.NextChange(at), nil
}

// statementsRevoked returns which of the entries refs are revoked, judged
// as revocation.Service.StatementsRevoked judges them, and the earliest
// effective time after now among the states read (zero: none, or read
// entry by entry). heads are the entries (their envelope digests and
// signers).
func (v *Verifier) statementsRevoked(ctx context.Context, refs []revocation.StatementRef, heads map[int64]store.Statement) (map[int64]bool, time.Time, error) {
	out := map[int64]bool{}
	if v.opts.Revocations == nil || len(refs) == 0 {
		return out, time.Time{}, nil
	}
	bulk, ok := v.opts.Revocations.(BulkRevocations)
	if !ok {
		for _, ref := range refs {
			r, err := v.opts.Revocations.StatementRevoked(ctx, ref.Seq, ref.SignedAt)
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("identity: revocation of entry %d: %w", ref.Seq, err)
			}
			out[ref.Seq] = r != nil
		}
		return out, time.Time{}, nil
	}
	var targets []revocation.Target
	for _, ref := range refs {
		h, ok := heads[ref.Seq]
		if !ok {
			return nil, time.Time{}, fmt.Errorf("identity: revocation of entry %d: %w", ref.Seq, store.ErrNotFound)
		}
		targets = append(targets, revocation.Target{Kind: revocation.KindStatement, ID: h.EnvelopeDigest.String()})
		for _, k := range h.SignerKeyIDs {
			targets = append(targets, revocation.Target{Kind: revocation.KindKey, ID: k})
		}
	}
	states, err := bulk.States(ctx, targets)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("identity: revocation of bindings: %w", err)
	}
	for _, ref := range refs {
		r, err := states.StatementRevoked(ctx, heads[ref.Seq], ref.SignedAt)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("identity: revocation of entry %d: %w", ref.Seq, err)
		}
		out[ref.Seq] = r != nil
	}
	return out, states.NextChange(v.opts.Now()), nil
}
