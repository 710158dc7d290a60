// Package statement is the one path every signed write takes into trustd:
// decode the DSSE envelope within limits, verify every signature against
// registered keys, parse the in-toto statement, let the package that owns
// the predicate type validate it, then store the envelope verbatim and
// append it to the verifiable log, all in one transaction.
//
// Every append obeys recordtype's table: a caller's envelope (Submit) or
// Sigstore bundle (AppendBundle) may not carry a type trustd writes
// itself, and an owning service (AppendVerified) may append its own types
// only in its own format. Records of trustd's types are therefore told
// apart by the path that appended them (recordtype.Origin), never by their
// type string alone.
package statement

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// Errors callers branch on.
var (
	// ErrRejected means a predicate's owner refused the statement.
	ErrRejected = errors.New("statement rejected")
	// ErrInvalidPage means a page token or size is malformed.
	ErrInvalidPage = errors.New("invalid page")
	// ErrBeyondLog means a sequence number or tree size past the log's end.
	ErrBeyondLog = errors.New("beyond the end of the log")
)

// Validator checks a statement whose predicate type has a meaning to
// trustd (votes, delegations, revocations…), given its verified signers.
// Returning an error rejects the statement; nothing is stored.
type Validator func(ctx context.Context, st envelope.Statement, signerKeyIDs []string) error

// Indexer maintains what a predicate type derives from the log (current
// votes and their totals, attestation indexes, revocations) inside the
// transaction that appends the entry, so a derived table never disagrees
// with the log. It runs once per new entry of its predicate type, whichever
// path appended it; an error rolls the append back.
type Indexer func(ctx context.Context, w store.Writer, entry store.Statement) error

// BatchIndexer is an Indexer that takes every new entry of its predicate
// type in one append at once, in log order, so it reads and writes its
// derived tables once per group-committed batch rather than once per
// entry. An error rolls the whole append back (the log then appends each
// entry of the batch alone, so only the failing one is refused). It must
// read only what entries naming its entries' subject digests left: a
// batch planned against the log's tip runs it before taking the log lock
// (store.Writer.AppendStatementsAt), which is sound only because no other
// append can have changed that unseen (the check at the lock refuses one
// that moved the log, and an append still committing before it that names
// one of those digests makes the batch read under the lock).
type BatchIndexer func(ctx context.Context, w store.Writer, entries []store.Statement) error

// ReadAhead announces, before a batch is appended, what its BatchIndexer
// will read (store.Writer.ReadVotesAhead), given the batch's records of
// its predicate type (not yet in the log; some may turn out to be): the
// store then reads it in the append's first round trip, and the indexer's
// read costs none. It must not fail: what it cannot make sense of, the
// indexer refuses.
type ReadAhead func(w store.Writer, recs []store.Statement)

// WriteQuota limits how many entries each key may sign (the
// internal/ratelimit Limiter is one). The log charges only signers whose
// signatures verified, gives the charge back when nothing new was
// appended (a failure, or a copy of an entry), and lets a copy of an
// entry through when the charge is refused (it appends nothing), so
// nobody can spend another key's quota by replaying its envelopes,
// re-encoded or not, or by naming its key id under a bad signature. (A
// charge is held while its append runs: copies sent at once can refuse a
// key's own new write at the edge of its quota while they run.)
type WriteQuota interface {
	// Charge takes one write from every signer's quota, all or none; an
	// error (the quota's own, e.g. wrapping ratelimit.ErrLimited) refuses
	// the write. refund gives the charge back.
	Charge(signerKeyIDs ...string) (refund func(), err error)
}

// Options configure a Log.
type Options struct {
	// Limits bound envelope decoding; zero means envelope.DefaultLimits.
	Limits envelope.Limits
	// LogKey is the note signer key that signs checkpoints (see
	// tlog.GenerateLogKey). Required.
	LogKey string
	// LogVerifierKey is LogKey's public half, handed to clients to pin.
	// Required.
	LogVerifierKey string
	// RetiringLogKeys are the note signer keys a planned rotation replaces
	// with LogKey (same name). While set, every checkpoint announces
	// LogVerifierKey as the log's new key (tlog.Checkpoint.NewKey) and is
	// signed by LogKey and by each of them, so clients that pinned one of
	// them move to the new key (tlog.FollowCheckpoint).
	RetiringLogKeys []string
	// Validators by predicate type. Foreign predicate types without one
	// are stored as opaque attestations; a type of trustd's namespace that
	// callers Submit is refused without one (see CheckValidators), and
	// only such types may have one (see New).
	Validators map[string]Validator
	// Indexers by predicate type; see Indexer.
	Indexers map[string]Indexer
	// BatchIndexers by predicate type; see BatchIndexer. A type's batch
	// indexer replaces its entry in Indexers, which is then not run (a
	// service may offer both forms of one indexer).
	BatchIndexers map[string]BatchIndexer
	// ReadAheads by predicate type, of batch indexers; see ReadAhead.
	ReadAheads map[string]ReadAhead
	// Quota, when set, charges every new entry to the keys that signed it
	// (see WriteQuota); nil charges nothing.
	Quota WriteQuota
}

// Log accepts signed statements and serves the verifiable log of them.
type Log struct {
	store store.Store
	opts  Options
	index indexers
	batch *batcher
	keys  *keyCache
	nodes *nodeCache
}

// New returns a Log over s. It refuses validators and indexers for
// predicate types of trustd's namespace that recordtype.Table does not
// list, and validators for types callers may not Submit: a type cannot be
// given meaning without its rule in the table.
func New(s store.Store, opts Options) (*Log, error) {
	if opts.LogKey == "" || opts.LogVerifierKey == "" {
		return nil, errors.New("statement: a log key and its verifier key are required")
	}
	if err := checkLogKeys(opts); err != nil {
		return nil, err
	}
	for pt := range opts.Validators {
		if err := recordtype.CheckSubmit(recordtype.Submit, pt); err != nil {
			return nil, fmt.Errorf("statement: validator of %s: %w", pt, err)
		}
	}
	ix := indexers{each: map[string]Indexer{}, batch: opts.BatchIndexers, ahead: opts.ReadAheads}
	for pt, f := range opts.Indexers {
		if _, ok := recordtype.Lookup(pt); !ok && recordtype.InNamespace(pt) {
			return nil, fmt.Errorf("statement: indexer of %s: %w: not in the record type table", pt, recordtype.ErrReserved)
		}
		if opts.BatchIndexers[pt] == nil {
			ix.each[pt] = f
		}
	}
	for pt := range opts.ReadAheads {
		if opts.BatchIndexers[pt] == nil {
			return nil, fmt.Errorf("statement: read ahead of %s: no batch indexer of that type reads it", pt)
		}
	}
	for pt := range opts.BatchIndexers {
		if _, ok := recordtype.Lookup(pt); !ok && recordtype.InNamespace(pt) {
			return nil, fmt.Errorf("statement: batch indexer of %s: %w: not in the record type table", pt, recordtype.ErrReserved)
		}
	}
	if opts.Limits == (envelope.Limits{}) {
		opts.Limits = envelope.DefaultLimits()
	}
	return &Log{store: s, opts: opts, index: ix, batch: newBatcher(s, ix), keys: newKeyCache(s), nodes: &nodeCache{}}, nil
}

// checkLogKeys checks that LogKey and LogVerifierKey belong together and
// that every retiring key is another key of the same name, so a checkpoint
// can never be signed in a way no client accepts.
func checkLogKeys(opts Options) error {
	signer, err := note.NewSigner(opts.LogKey)
	if err != nil {
		return fmt.Errorf("statement: log key: %w", err)
	}
	verifier, err := note.NewVerifier(opts.LogVerifierKey)
	if err != nil {
		return fmt.Errorf("statement: log verifier key: %w", err)
	}
	if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
		return errors.New("statement: the log key and the log verifier key do not belong together")
	}
	seen := map[uint32]bool{signer.KeyHash(): true}
	for i, k := range opts.RetiringLogKeys {
		r, err := note.NewSigner(k)
		if err != nil {
			return fmt.Errorf("statement: retiring log key %d: %w", i+1, err)
		}
		if r.Name() != signer.Name() {
			return fmt.Errorf("statement: retiring log key %d is named %q, the log key %q: a rotation keeps the log's name", i+1, r.Name(), signer.Name())
		}
		if seen[r.KeyHash()] {
			return fmt.Errorf("statement: retiring log key %d: the same key twice, or the log key itself", i+1)
		}
		seen[r.KeyHash()] = true
	}
	return nil
}

// VerifierKey is the note verifier key of the log's checkpoints.
func (l *Log) VerifierKey() string { return l.opts.LogVerifierKey }

// CheckValidators checks a server's validators against recordtype.Table:
// every type callers Submit has one, and no type that callers may not
// Submit has one. trustd calls it at startup, so a type cannot be served
// without its rule and its validator.
func CheckValidators(validators map[string]Validator) error {
	var errs []error
	for _, t := range recordtype.Table {
		if t.Has(recordtype.Submit) && validators[t.PredicateType] == nil {
			errs = append(errs, fmt.Errorf("statement: %s (owner %s) is submitted by callers but has no validator", t.PredicateType, t.Owner))
		}
	}
	for pt := range validators {
		if err := recordtype.CheckSubmit(recordtype.Submit, pt); err != nil {
			errs = append(errs, fmt.Errorf("statement: validator of %s: %w", pt, err))
		}
	}
	return errors.Join(errs...)
}

// Submit verifies raw (a DSSE envelope, JSON) and, when it holds, appends it
// to the log. Resubmitting an envelope already in the log returns the
// original entry and false, and so does an envelope whose payload its
// signers all signed in one entry before (re-encoded, its signatures made
// anew or in another order): a signer's payload is logged once, so no
// copy brings back a revoked entry or spends its signers' quota. Errors
// wrap the envelope sentinels (malformed, too large, too many subjects,
// too deep, unknown key, bad signature, …), store.ErrSignedBefore (a
// signer logged the payload in an entry without all of this one's
// signers), ErrRejected, recordtype.ErrReserved (a type callers may not send, or one
// of trustd's namespace this server has no validator for), the Quota's
// refusal, or store errors; nothing is stored on error.
func (l *Log) Submit(ctx context.Context, raw []byte) (store.Statement, bool, error) {
	a := l.batch.arrive()
	defer a.leave()
	env, err := envelope.Decode(raw, l.opts.Limits)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	signers, err := envelope.Verify(ctx, env, l.keys.lookup)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: envelope: payload: %w", err)
	}
	st, err := envelope.ParseStatement(env.PayloadType, payload, l.opts.Limits)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	if err := recordtype.CheckSubmit(recordtype.Submit, st.PredicateType); err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	v := l.opts.Validators[st.PredicateType]
	if v == nil && recordtype.InNamespace(st.PredicateType) {
		return store.Statement{}, false, fmt.Errorf("statement: predicateType: %w: this server has no validator for %s", recordtype.ErrReserved, st.PredicateType)
	}
	if v != nil {
		if err := v(ctx, st, signers); err != nil {
			return store.Statement{}, false, fmt.Errorf("statement: predicate %s: %w: %w", st.PredicateType, ErrRejected, err)
		}
	}

	rec := store.Statement{
		PayloadType:   env.PayloadType,
		PredicateType: st.PredicateType,
		Envelope:      raw,
		SignedDigest:  envelope.PAEDigest(env.PayloadType, payload),
		Payload:       payload,
		SignerKeyIDs:  signers,
	}
	for _, s := range st.Subjects {
		rec.Subjects = append(rec.Subjects, store.StatementSubject{Name: s.Name, Digests: s.Digests})
	}
	return l.append(ctx, rec, a)
}

// AppendVerified appends a signed record that its owning package has
// already verified in a format other than a DSSE envelope (an OpenPGP
// signed manifest, TUF metadata). rec.Envelope holds the signed bytes
// verbatim; they are the log leaf and identify the record, so appending the
// same bytes again returns the original entry and false. An owner that
// knows what its format's signatures sign sets rec.SignedDigest (see
// store.Statement), so its records, too, are logged once per signer and
// signed message, however their bytes are encoded. A record of
// trustd's namespace must carry the payload type recordtype.Table gives
// its owner; in-toto envelopes and Sigstore bundles, which callers send,
// go through Submit and AppendBundle. Errors: recordtype.ErrReserved.
func (l *Log) AppendVerified(ctx context.Context, rec store.Statement) (store.Statement, bool, error) {
	if err := recordtype.CheckOwner(rec.PayloadType, rec.PredicateType); err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	return l.append(ctx, rec, nil)
}

// AppendBundle appends a caller's in-toto statement that arrived in a
// Sigstore bundle, verified by its owning package (attest) against the
// Sigstore trusted root; rec.PayloadType is the bundle's media type and
// rec.Envelope the bundle verbatim, rec.Payload its DSSE envelope's in-toto
// payload. Its predicate type must be one callers may send in a bundle
// (recordtype.CheckSubmit). As with Submit, a payload its signer logged
// before in a bundle is that entry. Errors: recordtype.ErrReserved,
// store.ErrSignedBefore.
func (l *Log) AppendBundle(ctx context.Context, rec store.Statement) (store.Statement, bool, error) {
	if !strings.HasPrefix(rec.PayloadType, recordtype.BundlePayloadTypePrefix) {
		return store.Statement{}, false, fmt.Errorf("statement: payloadType: %w: %q is not a Sigstore bundle media type", recordtype.ErrReserved, rec.PayloadType)
	}
	if err := recordtype.CheckSubmit(recordtype.Bundle, rec.PredicateType); err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	rec.SignedDigest = envelope.PAEDigest(envelope.PayloadTypeInToto, rec.Payload)
	return l.append(ctx, rec, nil)
}

// append appends a record whose path has been checked, charging its
// signers' write quota (refunded unless the entry is new).
func (l *Log) append(ctx context.Context, rec store.Statement, a *arrival) (_ store.Statement, created bool, err error) {
	sum := sha256.Sum256(rec.Envelope)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: %w", err)
	}
	rec.EnvelopeDigest = d
	if l.opts.Quota != nil {
		refund, err := l.opts.Quota.Charge(rec.SignerKeyIDs...)
		switch {
		case err == nil:
			defer func() {
				if !created {
					refund()
				}
			}()
		case l.logged(ctx, rec):
			// A copy of what its signers logged appends nothing (it is the
			// original entry, or refused), so it is not charged: however
			// often anyone sends it, it cannot spend their quota.
		default:
			return store.Statement{}, false, fmt.Errorf("statement: %w", err)
		}
	}
	rec, created, err = l.batch.append(ctx, rec, tlog.LeafHash(rec.Envelope), a)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("statement: append: %w", err)
	}
	return rec, created, nil
}

// logged reports whether rec's envelope, or its signed payload by one of
// its signers, is in the log; a read that fails reports false.
func (l *Log) logged(ctx context.Context, rec store.Statement) bool {
	if _, err := l.store.StatementSeqByEnvelope(ctx, rec.EnvelopeDigest); err == nil {
		return true
	}
	if rec.SignedDigest.IsZero() {
		return false
	}
	ok, err := l.store.SignedBefore(ctx, rec.SignedDigest, rec.SignerKeyIDs)
	return err == nil && ok
}

// AppendVerifiedIn appends signed records verified in their own format,
// as AppendVerified does, but inside the caller's transaction w: they are
// committed or rolled back together with the caller's other writes (TUF
// metadata and its log entries are published in one transaction). It
// returns each entry and whether it was new; records whose bytes are
// already in the log return the original entry. It bypasses group commit;
// the store's log lock orders it with every other append. Each record
// must pass AppendVerified's check. Errors: recordtype.ErrReserved.
func (l *Log) AppendVerifiedIn(ctx context.Context, w store.Writer, recs []store.Statement) ([]store.Statement, []bool, error) {
	if len(recs) == 0 {
		return nil, nil, nil
	}
	for i := range recs {
		if err := recordtype.CheckOwner(recs[i].PayloadType, recs[i].PredicateType); err != nil {
			return nil, nil, fmt.Errorf("statement: record %d: %w", i, err)
		}
	}
	recs = append([]store.Statement(nil), recs...)
	leaves := make([][]byte, len(recs))
	for i := range recs {
		sum := sha256.Sum256(recs[i].Envelope)
		d, err := digest.New(digest.SHA256, sum[:])
		if err != nil {
			return nil, nil, fmt.Errorf("statement: %w", err)
		}
		recs[i].EnvelopeDigest = d
		leaves[i] = tlog.LeafHash(recs[i].Envelope)
	}
	out, created, err := appendIn(ctx, w, recs, leaves, l.index, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("statement: append: %w", err)
	}
	return out, created, nil
}

// Get returns the entry with sequence number seq. Errors: store.ErrNotFound.
func (l *Log) Get(ctx context.Context, seq int64) (store.Statement, error) {
	st, err := l.store.Statement(ctx, seq)
	if err != nil {
		return store.Statement{}, fmt.Errorf("statement: seq %d: %w", seq, err)
	}
	return st, nil
}

// Query selects entries naming a digest.
type Query struct {
	Digest        digest.Digest
	PredicateType string
	SignerKeyID   string
	// PageToken continues a previous listing; empty starts at the newest.
	PageToken string
	PageSize  int
}

// List returns the entries naming q.Digest, newest first, and the token
// for the next page ("" when there is none).
func (l *Log) List(ctx context.Context, q Query) ([]store.Statement, string, error) {
	var before int64
	if q.PageToken != "" {
		n, err := strconv.ParseInt(q.PageToken, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("statement: page_token %q: %w: not a token this server issued", q.PageToken, ErrInvalidPage)
		}
		before = n
	}
	ev, err := l.store.Evidence(ctx, store.EvidenceQuery{
		Digests: []digest.Digest{q.Digest}, PredicateType: q.PredicateType, SignerKeyID: q.SignerKeyID,
		BeforeSeq: before, Limit: q.PageSize + 1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("statement: list %s: %w", q.Digest, err)
	}
	next := ""
	if len(ev) > q.PageSize {
		ev = ev[:q.PageSize]
		next = strconv.FormatInt(ev[len(ev)-1].Seq, 10)
	}
	out := make([]store.Statement, 0, len(ev))
	for _, e := range ev {
		st, err := l.Get(ctx, e.Seq)
		if err != nil {
			return nil, "", err
		}
		out = append(out, st)
	}
	return out, next, nil
}

// size resolves a requested tree size (0 = latest) against the log.
func (l *Log) size(ctx context.Context, want uint64) (uint64, error) {
	n, err := l.store.LogSize(ctx)
	if err != nil {
		return 0, fmt.Errorf("statement: log size: %w", err)
	}
	if want == 0 {
		return n, nil
	}
	if want > n {
		return 0, fmt.Errorf("statement: tree_size %d: %w (size %d)", want, ErrBeyondLog, n)
	}
	return want, nil
}

// Checkpoint signs a checkpoint of the tree of the given size (0 = latest)
// and returns it with its size.
func (l *Log) Checkpoint(ctx context.Context, size uint64) ([]byte, uint64, error) {
	size, err := l.size(ctx, size)
	if err != nil {
		return nil, 0, err
	}
	root, err := tlog.Root(ctx, cachedNodes{l.store, l.nodes}, size)
	if err != nil {
		return nil, 0, fmt.Errorf("statement: root of %d: %w", size, err)
	}
	origin, _, _ := strings.Cut(l.opts.LogVerifierKey, "+")
	c := tlog.Checkpoint{Origin: origin, Size: size, Hash: root}
	if len(l.opts.RetiringLogKeys) > 0 {
		c.NewKey = l.opts.LogVerifierKey
	}
	cp, err := tlog.SignCheckpoint(c, l.opts.LogKey, l.opts.RetiringLogKeys...)
	if err != nil {
		return nil, 0, fmt.Errorf("statement: sign checkpoint: %w", err)
	}
	return cp, size, nil
}

// InclusionProof proves entry seq is in the tree of the given size
// (0 = latest) and returns the proof with a checkpoint of that size.
func (l *Log) InclusionProof(ctx context.Context, seq int64, size uint64) (proof [][]byte, checkpoint []byte, treeSize uint64, err error) {
	if checkpoint, treeSize, err = l.Checkpoint(ctx, size); err != nil {
		return nil, nil, 0, err
	}
	if seq <= 0 || uint64(seq) > treeSize {
		return nil, nil, 0, fmt.Errorf("statement: seq %d: %w (tree size %d)", seq, ErrBeyondLog, treeSize)
	}
	if proof, err = tlog.InclusionProof(ctx, cachedNodes{l.store, l.nodes}, uint64(seq-1), treeSize); err != nil {
		return nil, nil, 0, fmt.Errorf("statement: inclusion proof: %w", err)
	}
	return proof, checkpoint, treeSize, nil
}

// InclusionProofsAt proves entries seqs in the tree of size (the size of a
// checkpoint the caller already has), without signing another checkpoint
// and reading the tree once: many entries proven against one checkpoint
// cost one signature and one read.
func (l *Log) InclusionProofsAt(ctx context.Context, seqs []int64, size uint64) ([][][]byte, error) {
	indices := make([]uint64, len(seqs))
	for i, seq := range seqs {
		if seq <= 0 || uint64(seq) > size {
			return nil, fmt.Errorf("statement: seq %d: %w (tree size %d)", seq, ErrBeyondLog, size)
		}
		indices[i] = uint64(seq - 1)
	}
	proofs, err := tlog.InclusionProofs(ctx, cachedNodes{l.store, l.nodes}, indices, size)
	if err != nil {
		return nil, fmt.Errorf("statement: inclusion proofs: %w", err)
	}
	return proofs, nil
}

// InclusionProofsWith is InclusionProofsAt with some of the tree nodes
// already read (a store.DigestLookup's): only the others are read.
func (l *Log) InclusionProofsWith(ctx context.Context, seqs []int64, size uint64, known []store.LogNode) ([][][]byte, error) {
	indices := make([]uint64, len(seqs))
	for i, seq := range seqs {
		if seq <= 0 || uint64(seq) > size {
			return nil, fmt.Errorf("statement: seq %d: %w (tree size %d)", seq, ErrBeyondLog, size)
		}
		indices[i] = uint64(seq - 1)
	}
	m := make(map[compact.NodeID][]byte, len(known))
	for _, n := range known {
		m[n.ID] = n.Hash
	}
	proofs, err := tlog.InclusionProofs(ctx, knownNodes{m, cachedNodes{l.store, l.nodes}}, indices, size)
	if err != nil {
		return nil, fmt.Errorf("statement: inclusion proofs: %w", err)
	}
	return proofs, nil
}

// knownNodes answers from nodes already read, and reads the others.
type knownNodes struct {
	m    map[compact.NodeID][]byte
	next cachedNodes
}

func (k knownNodes) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var missing []compact.NodeID
	var at []int
	for i, id := range ids {
		if h, ok := k.m[id]; ok {
			out[i] = h
		} else {
			missing, at = append(missing, id), append(at, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := k.next.LogNodes(ctx, missing)
	if err != nil {
		return nil, err
	}
	// What was not read ahead is mostly the same few nodes each time: those
	// of entries at the log's right edge (a recent revocation statement's
	// proof, read by every bundle citing it), whose proofs the lower
	// siblings do not cover. Keep them whatever their level.
	k.next.cache.mu.Lock()
	for j, i := range at {
		out[i] = got[j]
		if len(got[j]) > 0 {
			if k.next.cache.m == nil || len(k.next.cache.m) >= maxCachedNodes {
				k.next.cache.m = map[compact.NodeID][]byte{}
			}
			k.next.cache.m[missing[j]] = got[j]
		}
	}
	k.next.cache.mu.Unlock()
	return out, nil
}

// ConsistencyProof proves the tree of size from is a prefix of the tree of
// size to (0 = latest), returned with a checkpoint of to.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) (proof [][]byte, checkpoint []byte, toSize uint64, err error) {
	if checkpoint, toSize, err = l.Checkpoint(ctx, to); err != nil {
		return nil, nil, 0, err
	}
	if from > toSize {
		return nil, nil, 0, fmt.Errorf("statement: from_size %d: %w (to size %d)", from, ErrBeyondLog, toSize)
	}
	if proof, err = tlog.ConsistencyProof(ctx, cachedNodes{l.store, l.nodes}, from, toSize); err != nil {
		return nil, nil, 0, fmt.Errorf("statement: consistency proof: %w", err)
	}
	return proof, checkpoint, toSize, nil
}

// maxCachedNodes bounds the tree nodes a Log keeps; past it the cache
// starts over.
const maxCachedNodes = 1 << 16

// UncachedLevels is how many of the lowest tree levels a Log does not keep
// in memory: the nodes an inclusion proof reads from the store, which a
// caller may read ahead with the entries (store.DigestLookupQuery) and
// pass to InclusionProofsWith.
const UncachedLevels = minCachedLevel

// minCachedLevel is the lowest level of the nodes kept: a node at level L
// sits in the proof of 2^L leaves, so the upper levels are read by nearly
// every proof, the lowest by few.
const minCachedLevel = 4

// nodeCache keeps stored tree nodes of the upper levels: a stored node
// never changes (store.Writer.PutLogNodes), so proofs read each once.
type nodeCache struct {
	mu sync.Mutex
	m  map[compact.NodeID][]byte
}

// cachedNodes reads tree nodes through a nodeCache.
type cachedNodes struct {
	r     store.Reader
	cache *nodeCache
}

func (c cachedNodes) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	var missing []compact.NodeID
	var at []int
	c.cache.mu.Lock()
	for i, id := range ids {
		if h, ok := c.cache.m[id]; ok {
			out[i] = h
		} else {
			missing, at = append(missing, id), append(at, i)
		}
	}
	c.cache.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := c.r.LogNodes(ctx, missing)
	if err != nil {
		return nil, err
	}
	if len(got) != len(missing) {
		return nil, fmt.Errorf("statement: read %d tree nodes, the store returned %d", len(missing), len(got))
	}
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	if c.cache.m == nil || len(c.cache.m)+len(missing) > maxCachedNodes {
		c.cache.m = map[compact.NodeID][]byte{}
	}
	for j, id := range missing {
		out[at[j]] = got[j]
		if id.Level >= minCachedLevel && len(got[j]) > 0 {
			c.cache.m[id] = got[j]
		}
	}
	return out, nil
}

// NodeWriter adapts a store transaction to tlog.NodeWriter, for code that
// appends log leaves inside its own transaction (tests planting records).
func NodeWriter(w store.Writer) tlog.NodeWriter { return nodeWriter{w} }

// nodeWriter adapts a transaction to tlog.NodeWriter.
type nodeWriter struct{ w store.Writer }

func (n nodeWriter) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	return n.w.LogNodes(ctx, ids)
}

func (n nodeWriter) PutLogNodes(ctx context.Context, ns []tlog.Node) error {
	out := make([]store.LogNode, len(ns))
	for i, x := range ns {
		out[i] = store.LogNode{ID: x.ID, Hash: x.Hash}
	}
	return n.w.PutLogNodes(ctx, out)
}

// backfillPage is how many logged entries one backfill transaction reads.
const backfillPage = 500

// IndexLoggedSignatures records the signed payload
// (store.Statement.SignedDigest) of the entries an older trustd logged
// before it was recorded: those a caller signed in DSSE (envelopes,
// Sigstore bundles), and those of the formats owners gives a signed
// digest (attest.SignedDigest), every entry up to the one the migration
// noted, in log order, so the first entry of a payload keeps it. It returns how many entries it
// read and how many repeat a payload an earlier entry of theirs holds (a
// copy logged before this version; revoke it too where its original is
// revoked). It is idempotent; trustd calls it at start, before serving.
func IndexLoggedSignatures(ctx context.Context, st store.Store, owners func(store.Statement) (digest.Digest, bool)) (read, repeats int, err error) {
	through, err := st.DerivedBackfill(ctx, store.BackfillSignedDigests)
	if err != nil || through == 0 {
		return 0, 0, err
	}
	for after := int64(0); after < through; {
		entries, err := st.StatementsAfter(ctx, after, backfillPage)
		if err != nil {
			return read, repeats, fmt.Errorf("statement: backfill signed digests: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		var n, r int
		page := func(ctx context.Context, w store.Writer) error {
			n, r = 0, 0
			for _, e := range entries {
				if e.Seq > through {
					break
				}
				n++
				d, ok := signedDigest(e)
				if !ok && owners != nil {
					d, ok = owners(e)
				}
				if !ok {
					continue
				}
				first, err := w.SetSignedDigest(ctx, e.Seq, d)
				if err != nil {
					return err
				}
				if !first {
					r++
				}
			}
			return nil
		}
		// A copy appended meanwhile by another trustd (one already past
		// its backfill), or the backfill of another starting at once, may
		// record a payload this page records too: the page then fails on
		// the unique index, and once more sees it recorded.
		for try := 0; ; try++ {
			err = st.Update(ctx, page)
			if !errors.Is(err, store.ErrConflict) || try == 2 {
				break
			}
		}
		if err != nil {
			return read, repeats, fmt.Errorf("statement: backfill signed digests: %w", err)
		}
		read, repeats = read+n, repeats+r
		after = entries[len(entries)-1].Seq
	}
	err = st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		return w.SetDerivedBackfill(ctx, store.BackfillSignedDigests, 0)
	})
	if err != nil {
		return read, repeats, fmt.Errorf("statement: backfill signed digests: %w", err)
	}
	return read, repeats, nil
}

// signedDigest is the SignedDigest Submit and AppendBundle give a logged
// entry, and whether they would have given one (they alone do).
func signedDigest(e store.Statement) (digest.Digest, bool) {
	switch p, _ := recordtype.Origin(e.PayloadType, e.PredicateType); p {
	case recordtype.Submit, recordtype.Bundle:
		return envelope.PAEDigest(envelope.PayloadTypeInToto, e.Payload), true
	}
	return digest.Digest{}, false
}
