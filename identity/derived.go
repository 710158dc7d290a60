package identity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// BulkRevocations answers the revocation questions of many keys and log
// entries in a bounded number of store reads; the revocation package's
// Service implements it. With it, VerifiedKeys costs the same few reads
// however many keys it is asked about.
type BulkRevocations interface {
	// States reads the index state of every target at once.
	States(ctx context.Context, ts []revocation.Target) (revocation.States, error)
	// StatementsRevoked is StatementRevoked for many entries at once.
	StatementsRevoked(ctx context.Context, refs []revocation.StatementRef) ([]*revocation.Record, error)
}

// Indexers returns the indexer that keeps the identity binding index
// (store.IdentityBinding rows) in the transaction that appends a binding,
// on either path (a DSSE submission or a Sigstore bundle), for
// statement.Options.Indexers.
func (v *Verifier) Indexers() map[string]statement.Indexer {
	return map[string]statement.Indexer{BindingPredicateType: indexBinding}
}

// indexBinding records which sides signed the binding entry e: the bound
// key, the identity, or both. Entries that are not genuine or not well
// formed bind nothing and are not recorded (Verified skips them too).
func indexBinding(ctx context.Context, w store.Writer, e store.Statement) error {
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
		err := w.PutIdentityBinding(ctx, store.IdentityBinding{Signer: signer, Seq: e.Seq, KeyID: b.KeyID, Identity: id, RecordedAt: e.RecordedAt})
		if err != nil {
			return fmt.Errorf("identity: index binding %d: %w", e.Seq, err)
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
				if err := indexBinding(ctx, w, e); err != nil {
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
	out := make(map[string]bool, len(keyIDs))
	if len(keyIDs) == 0 {
		return out, nil
	}
	snap, err := v.snapshot(ctx, keyIDs)
	if err != nil {
		return nil, err
	}
	keys := snap.keys
	now := v.opts.Now()
	found := make([]string, 0, len(keys))
	for _, k := range keys {
		found = append(found, k.ID)
	}
	revoked, err := v.keysRevoked(ctx, found, now)
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
	stRevoked, err := v.statementsRevoked(ctx, refs)
	if err != nil {
		return nil, err
	}
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
	return out, nil
}

// snapshot is what VerifiedKeys reads from the store for a set of keys,
// as of a log size: the keys, the bindings they signed and those of the
// identities they name. None of it changes until the log grows; what is
// judged at the clock's now (revocations, certificates) is not in it.
type snapshot struct {
	at          int64
	set         [32]byte
	keys        []store.Key
	byKey, byID map[string][]store.IdentityBinding
}

// snapshot returns the snapshot of keyIDs at the log's size now, read
// again only when the log has grown or other keys are asked about.
func (v *Verifier) snapshot(ctx context.Context, keyIDs []string) (*snapshot, error) {
	n, err := v.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: log size: %w", err)
	}
	h := sha256.New()
	for _, k := range keyIDs {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	snap := &snapshot{at: int64(n)}
	h.Sum(snap.set[:0])
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
// at at, in one read of their states when the revocations allow.
func (v *Verifier) keysRevoked(ctx context.Context, keyIDs []string, at time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	if v.opts.Revocations == nil || len(keyIDs) == 0 {
		return out, nil
	}
	bulk, ok := v.opts.Revocations.(BulkRevocations)
	if !ok {
		for _, k := range keyIDs {
			r, err := v.keyRevoked(ctx, k, at)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	ts := make([]revocation.Target, len(keyIDs))
	for i, k := range keyIDs {
		ts[i] = revocation.Target{Kind: revocation.KindKey, ID: k}
	}
	states, err := bulk.States(ctx, ts)
	if err != nil {
		return nil, fmt.Errorf("identity: revocation of keys: %w", err)
	}
	for _, k := range keyIDs {
		r, err := states.KeyRevoked(ctx, k, at, at)
		if err != nil {
			return nil, fmt.Errorf("identity: revocation of %s: %w", k, err)
		}
		out[k] = r != nil
	}
	return out, nil
}

// statementsRevoked returns which of the entries refs are revoked, in a
// bounded number of reads when the revocations allow.
func (v *Verifier) statementsRevoked(ctx context.Context, refs []revocation.StatementRef) (map[int64]bool, error) {
	out := map[int64]bool{}
	if v.opts.Revocations == nil || len(refs) == 0 {
		return out, nil
	}
	if bulk, ok := v.opts.Revocations.(BulkRevocations); ok {
		rs, err := bulk.StatementsRevoked(ctx, refs)
		if err != nil {
			return nil, fmt.Errorf("identity: revocation of bindings: %w", err)
		}
		for i, r := range rs {
			out[refs[i].Seq] = r != nil
		}
		return out, nil
	}
	for _, ref := range refs {
		r, err := v.opts.Revocations.StatementRevoked(ctx, ref.Seq, ref.SignedAt)
		if err != nil {
			return nil, fmt.Errorf("identity: revocation of entry %d: %w", ref.Seq, err)
		}
		out[ref.Seq] = r != nil
	}
	return out, nil
}
