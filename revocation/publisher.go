package revocation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/store"
)

// DefaultListValidity is how long a published list is valid for.
const DefaultListValidity = 24 * time.Hour

// listPage is how many rows one store read returns while building a list.
const listPage = 10_000

// snapshotAttempts bounds how often a snapshot is rebuilt because
// revocations arrived while it was read.
const snapshotAttempts = 5

// ErrBusy means revocations kept arriving while a snapshot was read;
// retrying later succeeds.
var ErrBusy = errors.New("revocations changed while the snapshot was read")

// Publisher builds signed revocation lists from the store's revocation
// index, signed by the list key (see LoadListKey).
type Publisher struct {
	store    store.Reader
	signer   envelope.Signer
	validity time.Duration
	now      func() time.Time
}

// NewPublisher returns a Publisher signing with signer; validity 0 means
// DefaultListValidity.
func NewPublisher(r store.Reader, signer envelope.Signer, validity time.Duration) *Publisher {
	if validity <= 0 {
		validity = DefaultListValidity
	}
	return &Publisher{store: r, signer: signer, validity: validity, now: time.Now}
}

func (p *Publisher) info(number, since int64) ListInfo {
	now := p.now().UTC()
	return ListInfo{Number: number, Since: since, Issued: now, Expires: now.Add(p.validity)}
}

// Snapshot returns a signed list of every revocation in force, sorted by
// target key, numbered by the newest revocation event it covers. It reads
// the index page by page in write order (sorting in memory is cheaper than
// reading a random-key index in key order) and starts again if a
// revocation was indexed meanwhile, so a snapshot is always the exact
// state at its number.
func (p *Publisher) Snapshot(ctx context.Context) (List, error) {
	l, _, err := p.snapshot(ctx)
	return l, err
}

// snapshot is Snapshot, also returning the list's info.
func (p *Publisher) snapshot(ctx context.Context) (List, ListInfo, error) {
	for range snapshotAttempts {
		head, err := p.store.RevocationHead(ctx)
		if err != nil {
			return List{}, ListInfo{}, fmt.Errorf("revocation: snapshot: %w", err)
		}
		var entries []Entry
		for after := int64(0); ; {
			recs, err := p.store.ActiveRevocations(ctx, after, head, listPage)
			if err != nil {
				return List{}, ListInfo{}, fmt.Errorf("revocation: snapshot: %w", err)
			}
			for _, r := range recs {
				e, err := storeEntry(r)
				if err != nil {
					return List{}, ListInfo{}, err
				}
				entries = append(entries, e)
			}
			if len(recs) < listPage {
				break
			}
			after = recs[len(recs)-1].Seq
		}
		slices.SortFunc(entries, func(a, b Entry) int { return bytes.Compare(a.Key[:], b.Key[:]) })
		again, err := p.store.RevocationHead(ctx)
		if err != nil {
			return List{}, ListInfo{}, fmt.Errorf("revocation: snapshot: %w", err)
		}
		if again == head {
			info := p.info(head, 0)
			l, err := Sign(ctx, p.signer, info, entries)
			return l, info, err
		}
	}
	return List{}, ListInfo{}, fmt.Errorf("revocation: snapshot: %w; retry", ErrBusy)
}

// Delta returns a signed list of the revocation events after since, in
// log order: applied to the snapshot numbered since it gives the snapshot
// of its own number. since 0 returns a Snapshot. Errors: ErrAhead when
// since is past the newest event.
func (p *Publisher) Delta(ctx context.Context, since int64) (List, error) {
	if since <= 0 {
		return p.Snapshot(ctx)
	}
	head, err := p.store.RevocationHead(ctx)
	if err != nil {
		return List{}, fmt.Errorf("revocation: delta: %w", err)
	}
	if since > head {
		return List{}, fmt.Errorf("revocation: since %d: %w (newest revocation is log entry %d)", since, ErrAhead, head)
	}
	var entries []Entry
	for after := since; ; {
		recs, err := p.store.RevocationEvents(ctx, after, head, listPage)
		if err != nil {
			return List{}, fmt.Errorf("revocation: delta: %w", err)
		}
		for _, r := range recs {
			e, err := storeEntry(r)
			if err != nil {
				return List{}, err
			}
			entries = append(entries, e)
		}
		if len(recs) < listPage {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	return Sign(ctx, p.signer, p.info(head, since), entries)
}

// Lists serves signed revocation lists and makes sure the list key stays
// published in KeysRepo (trustd publishes it at start, KeyPublisher.Start;
// Lists re-checks it daily and renews the targets before they expire).
type Lists struct {
	pub *Publisher
	key *PublishedKey

	mu       sync.Mutex
	snap     List     // the last snapshot served
	snapInfo ListInfo // and what it covers
	// deltaAt is when the last delta was served: a cached snapshot issued
	// before it is signed again, since a client that applied that delta
	// refuses a list of its number issued earlier (ErrRollback).
	deltaAt time.Time
}

// republishEvery is how often a PublishedKey re-checks that its key is
// published and the targets metadata is not due for renewal (see
// PublishKey).
const republishEvery = 24 * time.Hour

// NewLists returns Lists signing with the publisher's key, whose public
// half is key, published through keys as ListKeyTarget; accepted are
// further list keys published beside it during a rotation
// (AcceptedKeyTarget): a key to sign lists next, or the one that signed
// them before.
func NewLists(pub *Publisher, keys *KeyPublisher, key envelope.PublicKey, accepted ...envelope.PublicKey) *Lists {
	return &Lists{pub: pub, key: keys.Key(ListKeyTarget, key, accepted...)}
}

// Key publishes the list keys in KeysRepo if needed (on first use, then
// daily, renewing the targets metadata before it expires) and returns the
// one that signs lists.
func (l *Lists) Key(ctx context.Context) (envelope.PublicKey, error) {
	return l.key.Publish(ctx)
}

// PublishedKey returns the list keys as kept published in KeysRepo, for
// KeyPublisher.Start.
func (l *Lists) PublishedKey() *PublishedKey { return l.key }

// PublishedKey is the set of trustd-held public keys of one purpose (the
// revocation list key, the token key, the log key), kept published in
// KeysRepo: the key in use as one target, and the keys accepted beside it
// during a rotation as its AcceptedKeyTargets. Publishing the set also
// removes that purpose's targets of keys no longer in it.
type PublishedKey struct {
	keys *KeyPublisher
	// name is the target of the key in use.
	name string
	// key is the key in use and accepted the others; zero and nil for the
	// log key, which is no envelope key.
	key      envelope.PublicKey
	accepted []envelope.PublicKey
	// targets are the set's targets, the key in use first.
	targets []keyTarget

	mu          sync.Mutex
	publishedAt time.Time
}

// Key returns key, to be published in KeysRepo as target name by Publish,
// and the keys accepted beside it (AcceptedKeyTarget); an accepted key
// equal to key, or listed twice, is published once.
func (p *KeyPublisher) Key(name string, key envelope.PublicKey, accepted ...envelope.PublicKey) *PublishedKey {
	k := &PublishedKey{keys: p, name: name, key: key}
	k.targets = append(k.targets, keyTarget{name, KeyCustom{KeyID: key.ID, KeyType: key.Type, PublicKey: string(key.Encode())}})
	seen := map[string]bool{key.ID: true}
	for _, a := range accepted {
		if seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		k.accepted = append(k.accepted, a)
		k.targets = append(k.targets, keyTarget{AcceptedKeyTarget(name, a.ID), KeyCustom{KeyID: a.ID, KeyType: a.Type, PublicKey: string(a.Encode())}})
	}
	return k
}

// LogKey returns the statement log's note verifier keys, to be published
// as LogKeyTarget (vkey, the key that signs checkpoints) and its
// AcceptedKeyTargets (retiring, the keys that co-sign checkpoints during a
// rotation), so clients that pin trustd/keys' root can follow the log's
// key too.
func (p *KeyPublisher) LogKey(vkey string, retiring ...string) (*PublishedKey, error) {
	k := &PublishedKey{keys: p, name: LogKeyTarget}
	seen := map[string]bool{}
	for i, v := range append([]string{vkey}, retiring...) {
		if _, err := note.NewVerifier(v); err != nil {
			return nil, fmt.Errorf("revocation: log key %q: %w", v, err)
		}
		if seen[v] {
			continue
		}
		seen[v] = true
		id, name := NoteKeyID(v), LogKeyTarget
		if i > 0 {
			name = AcceptedKeyTarget(LogKeyTarget, id)
		}
		k.targets = append(k.targets, keyTarget{name, KeyCustom{KeyID: id, KeyType: NoteKeyType, PublicKey: v}})
	}
	return k, nil
}

// Accepted returns the keys published beside the key in use.
func (k *PublishedKey) Accepted() []envelope.PublicKey { return slices.Clone(k.accepted) }

// Publish publishes the key set in KeysRepo if needed (on first use, then
// daily, renewing the targets metadata before it expires) and returns the
// key in use.
func (k *PublishedKey) Publish(ctx context.Context) (envelope.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.publishedAt) > republishEvery {
		if err := k.keys.publish(ctx, []*PublishedKey{k}); err != nil {
			return envelope.PublicKey{}, err
		}
		k.publishedAt = time.Now()
	}
	return k.key, nil
}

// published records that the key was just published (by
// KeyPublisher.Start), so Publish does nothing for a day.
func (k *PublishedKey) published() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.publishedAt = time.Now()
}

// Fetch returns the snapshot (since 0) or the delta since a number (see
// Publisher.Delta), after making sure the key is published. A snapshot is
// rebuilt only when revocations arrived since the last one or it has used
// a quarter of its validity, so many clients syncing from scratch cost one
// build.
func (l *Lists) Fetch(ctx context.Context, since int64) (List, error) {
	if _, err := l.Key(ctx); err != nil {
		return List{}, err
	}
	if since > 0 {
		d, err := l.pub.Delta(ctx, since)
		if err == nil {
			l.mu.Lock()
			l.deltaAt = l.pub.now()
			l.mu.Unlock()
		}
		return d, err
	}
	head, err := l.pub.store.RevocationHead(ctx)
	if err != nil {
		return List{}, fmt.Errorf("revocation: snapshot: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snap.Envelope != nil && l.snapInfo.Number == head && l.pub.now().Sub(l.snapInfo.Issued) < l.pub.validity/4 && !l.snapInfo.Issued.Before(l.deltaAt) {
		return l.snap, nil
	}
	snap, info, err := l.pub.snapshot(ctx)
	if err != nil {
		return List{}, err
	}
	l.snap, l.snapInfo = snap, info
	return snap, nil
}
