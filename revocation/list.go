package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// ListPredicateType is the predicate type of a signed revocation list.
const ListPredicateType = recordtype.RevocationList

// Body names of a list's in-toto subject.
const (
	SnapshotBodyName = "revocations.snapshot"
	DeltaBodyName    = "revocations.delta"
)

// EntrySize is the size of one entry in a list body: target key (32),
// kind, reason, action, a zero byte, revoker index (uint32), effective
// time (int64 Unix microseconds) and log sequence (int64), big-endian.
const EntrySize = 56

// Bounds of a list a client accepts.
const (
	MaxListEnvelopeBytes = 64 << 10
	MaxListEntries       = 50_000_000
	MaxRevokerBytes      = 256
)

// Errors of offline lists.
var (
	// ErrBadList means a list or its body is malformed or does not match
	// its signed statement.
	ErrBadList = errors.New("bad revocation list")
	// ErrUntrustedList means the list is not signed by the trusted list key.
	ErrUntrustedList = errors.New("revocation list not signed by the trusted key")
	// ErrRollback means the list is older than one the client already has.
	ErrRollback = errors.New("revocation list rollback")
	// ErrStale means the list (or the cache) is older than the allowed
	// staleness or past its expiry.
	ErrStale = errors.New("revocation list stale")
	// ErrDeltaBase means a delta does not start at the cache's number; a
	// full snapshot is needed.
	ErrDeltaBase = errors.New("revocation delta does not apply")
	// ErrAhead means a client asked for a delta since a number the server
	// has not reached: it holds a list from another server or a forked one.
	ErrAhead = errors.New("revocation list number ahead of the server")
)

// ListInfo is the signed predicate of a revocation list.
type ListInfo struct {
	// Number is the log sequence of the newest revocation event the list
	// covers; numbers only grow.
	Number int64 `json:"number"`
	// Since is 0 for a snapshot (every revocation in force); for a delta,
	// the number it applies on top of (events in (Since, Number]).
	Since   int64     `json:"since"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	// Entries is the number of entries, Revokers of revoker key ids, in the
	// body.
	Entries  int `json:"entries"`
	Revokers int `json:"revokers"`
}

// Delta reports whether the list is a delta.
func (i ListInfo) Delta() bool { return i.Since > 0 }

// List is a signed revocation list: the DSSE envelope of its statement and
// the body the statement's subject digests.
type List struct {
	Envelope []byte
	Body     []byte
}

// Entry is one revocation in a list or the cache: the target's key, not
// its id (a client asks about ids it holds by their TargetKey).
type Entry struct {
	Key       [32]byte
	Kind      Kind
	Reason    Reason
	Action    Action
	Revoker   string
	Effective time.Time
	Seq       int64
}

// Voids reports whether the entry makes what was signed or used at time
// at stop counting (see Record.Voids).
func (e Entry) Voids(at time.Time) bool { return e.record().Voids(at) }

func (e Entry) record() Record {
	var rv []string
	if e.Revoker != "" {
		rv = []string{e.Revoker}
	}
	return Record{Target: Target{Kind: e.Kind}, Action: e.Action, Reason: e.Reason, Effective: e.Effective, Revokers: rv, Seq: e.Seq}
}

func entryOf(key [32]byte, r Record) Entry {
	e := Entry{Key: key, Kind: r.Target.Kind, Reason: r.Reason, Action: r.Action, Effective: r.Effective, Seq: r.Seq}
	if len(r.Revokers) > 0 {
		e.Revoker = r.Revokers[0]
	}
	return e
}

func storeEntry(r store.RevocationRecord) (Entry, error) {
	if len(r.TargetKey) != 32 {
		return Entry{}, fmt.Errorf("revocation: stored target key of %d bytes", len(r.TargetKey))
	}
	rec := fromStore(r)
	return entryOf([32]byte(r.TargetKey), rec), nil
}

// body encodes entries and their revoker table.
type bodyWriter struct {
	buf      bytes.Buffer
	revokers []string
	index    map[string]uint32
	n        int
}

func (b *bodyWriter) add(e Entry) error {
	ki, ri := slices.Index(Kinds, e.Kind), slices.Index(Reasons, e.Reason)
	if ki < 0 || ri < 0 {
		return fmt.Errorf("revocation: list entry %d: kind %q / reason %q", e.Seq, e.Kind, e.Reason)
	}
	if b.index == nil {
		b.index = map[string]uint32{}
	}
	rv := ^uint32(0)
	if e.Revoker != "" {
		i, ok := b.index[e.Revoker]
		if !ok {
			i = uint32(len(b.revokers))
			b.index[e.Revoker] = i
			b.revokers = append(b.revokers, e.Revoker)
		}
		rv = i
	}
	var rec [EntrySize]byte
	copy(rec[:32], e.Key[:])
	rec[32], rec[33] = byte(ki), byte(ri)
	if e.Action == ActionReinstate {
		rec[34] = 1
	}
	binary.BigEndian.PutUint32(rec[36:], rv)
	binary.BigEndian.PutUint64(rec[40:], uint64(e.Effective.UnixMicro()))
	binary.BigEndian.PutUint64(rec[48:], uint64(e.Seq))
	b.buf.Write(rec[:])
	b.n++
	return nil
}

func (b *bodyWriter) finish() []byte {
	for _, r := range b.revokers {
		b.buf.WriteString(r)
		b.buf.WriteByte('\n')
	}
	return b.buf.Bytes()
}

func badList(field, reason string) error {
	return inputerr.New("revocation: list", field, ErrBadList, reason)
}

// decodeEntry decodes entry i of body; revokers resolves revoker indexes.
func decodeEntry(rec []byte, revokers []string) (Entry, error) {
	var e Entry
	copy(e.Key[:], rec[:32])
	if int(rec[32]) >= len(Kinds) || int(rec[33]) >= len(Reasons) || rec[34] > 1 || rec[35] != 0 {
		return Entry{}, badList("body", "entry with an unknown kind, reason or action")
	}
	e.Kind, e.Reason, e.Action = Kinds[rec[32]], Reasons[rec[33]], ActionRevoke
	if rec[34] == 1 {
		e.Action = ActionReinstate
	}
	if rv := binary.BigEndian.Uint32(rec[36:]); rv != ^uint32(0) {
		if int(rv) >= len(revokers) {
			return Entry{}, badList("body", fmt.Sprintf("revoker index %d of %d", rv, len(revokers)))
		}
		e.Revoker = revokers[rv]
	}
	e.Effective = time.UnixMicro(int64(binary.BigEndian.Uint64(rec[40:]))).UTC()
	e.Seq = int64(binary.BigEndian.Uint64(rec[48:]))
	return e, nil
}

// splitBody checks the body against info and returns the entries region
// and the revoker table.
func splitBody(info ListInfo, body []byte) ([]byte, []string, error) {
	if info.Entries < 0 || info.Entries > MaxListEntries || info.Revokers < 0 || info.Revokers > info.Entries {
		return nil, nil, badList("predicate.entries", fmt.Sprintf("%d entries, %d revokers", info.Entries, info.Revokers))
	}
	n := info.Entries * EntrySize
	if len(body) < n {
		return nil, nil, badList("body", fmt.Sprintf("%d bytes, too short for %d entries", len(body), info.Entries))
	}
	var revokers []string
	if rest := body[n:]; len(rest) > 0 {
		if rest[len(rest)-1] != '\n' {
			return nil, nil, badList("body", "revoker table does not end in a newline")
		}
		revokers = strings.Split(string(rest[:len(rest)-1]), "\n")
	}
	if len(revokers) != info.Revokers {
		return nil, nil, badList("body", fmt.Sprintf("%d revokers, the statement says %d", len(revokers), info.Revokers))
	}
	for _, r := range revokers {
		if r == "" || len(r) > MaxRevokerBytes {
			return nil, nil, badList("body", "empty or overlong revoker key id")
		}
	}
	return body[:n], revokers, nil
}

// Sign builds a signed list over entries (sorted by key for a snapshot,
// in log order for a delta).
func Sign(ctx context.Context, signer envelope.Signer, info ListInfo, entries []Entry) (List, error) {
	var b bodyWriter
	b.buf.Grow(len(entries) * EntrySize)
	for _, e := range entries {
		if err := b.add(e); err != nil {
			return List{}, err
		}
	}
	body := b.finish()
	info.Entries, info.Revokers = b.n, len(b.revokers)
	info.Issued, info.Expires = info.Issued.UTC(), info.Expires.UTC()
	pred, err := json.Marshal(info)
	if err != nil {
		return List{}, fmt.Errorf("revocation: encode list: %w", err)
	}
	sum := sha256.Sum256(body)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		return List{}, fmt.Errorf("revocation: %w", err)
	}
	name := SnapshotBodyName
	if info.Delta() {
		name = DeltaBodyName
	}
	stmt, err := envelope.NewStatement(ListPredicateType, pred, envelope.Subject{Name: name, Digests: []digest.Digest{d}})
	if err != nil {
		return List{}, fmt.Errorf("revocation: list statement: %w", err)
	}
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, signer)
	if err != nil {
		return List{}, fmt.Errorf("revocation: sign list: %w", err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return List{}, fmt.Errorf("revocation: encode list envelope: %w", err)
	}
	return List{Envelope: raw, Body: body}, nil
}

// Verified is a list whose signature, statement and body checked out.
type Verified struct {
	Info ListInfo
	// KeyID is the list key that signed it.
	KeyID    string
	entries  []byte
	revokers []string
}

// Len is the number of entries.
func (v *Verified) Len() int { return len(v.entries) / EntrySize }

// Entry decodes entry i.
func (v *Verified) Entry(i int) (Entry, error) {
	return decodeEntry(v.entries[i*EntrySize:(i+1)*EntrySize], v.revokers)
}

// Verify checks l: its envelope is signed by one of keys (the list keys
// fetched through TUF: the key in use, and during a rotation the keys
// accepted beside it), its statement is a revocation list whose one
// subject is the sha256 of the body, and the body holds exactly the
// entries and revokers the statement counts. It does not judge freshness
// (see Cache.Apply). Errors: ErrUntrustedList, ErrBadList.
func Verify(ctx context.Context, l List, keys ...envelope.PublicKey) (*Verified, error) {
	env, err := envelope.Decode(l.Envelope, envelope.Limits{MaxEnvelopeBytes: MaxListEnvelopeBytes})
	if err != nil {
		return nil, fmt.Errorf("revocation: list envelope: %w: %w", ErrBadList, err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	lookup := func(_ context.Context, id string) (string, []byte, error) {
		i := slices.Index(ids, id)
		if i < 0 {
			return "", nil, fmt.Errorf("key %s is not a revocation list key (%s): %w", id, strings.Join(ids, ", "), envelope.ErrUnknownKey)
		}
		return keys[i].Type, keys[i].Encode(), nil
	}
	signers, err := envelope.Verify(ctx, env, lookup)
	if err != nil {
		return nil, fmt.Errorf("revocation: list: %w: %w", ErrUntrustedList, err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fmt.Errorf("revocation: list payload: %w: %w", ErrBadList, err)
	}
	st, err := envelope.ParseStatement(env.PayloadType, payload, envelope.Limits{MaxEnvelopeBytes: MaxListEnvelopeBytes})
	if err != nil {
		return nil, fmt.Errorf("revocation: list statement: %w: %w", ErrBadList, err)
	}
	if st.PredicateType != ListPredicateType {
		return nil, badList("predicateType", fmt.Sprintf("%q; want %s", st.PredicateType, ListPredicateType))
	}
	dec := json.NewDecoder(bytes.NewReader(st.Predicate))
	dec.DisallowUnknownFields()
	var info ListInfo
	if err := dec.Decode(&info); err != nil {
		return nil, inputerr.Wrap("revocation: list", "predicate", ErrBadList, "not a revocation list predicate", err)
	}
	if info.Number < 0 || info.Since < 0 || info.Since > info.Number || info.Issued.IsZero() || info.Expires.Before(info.Issued) {
		return nil, badList("predicate", fmt.Sprintf("number %d, since %d, issued %s, expires %s", info.Number, info.Since, info.Issued, info.Expires))
	}
	sum := sha256.Sum256(l.Body)
	want, _ := digest.New(digest.SHA256, sum[:])
	if len(st.Subjects) != 1 || !slices.Contains(st.Subjects[0].Digests, want) {
		return nil, badList("subject", "the body's sha256 is not the statement's subject")
	}
	entries, revokers, err := splitBody(info, l.Body)
	if err != nil {
		return nil, err
	}
	v := &Verified{Info: info, KeyID: signers[0], entries: entries, revokers: revokers}
	for i := range v.Len() {
		if _, err := v.Entry(i); err != nil {
			return nil, err
		}
		if !info.Delta() && i > 0 && bytes.Compare(entries[(i-1)*EntrySize:(i-1)*EntrySize+32], entries[i*EntrySize:i*EntrySize+32]) >= 0 {
			return nil, badList("body", "snapshot entries are not in strictly ascending key order")
		}
	}
	return v, nil
}
