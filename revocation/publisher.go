package revocation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

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
}

// republishEvery is how often a PublishedKey re-checks that its key is
// published and the targets metadata is not due for renewal (see
// PublishKey).
const republishEvery = 24 * time.Hour

// NewLists returns Lists signing with the publisher's key, whose public
// half is key, published through keys as ListKeyTarget.
func NewLists(pub *Publisher, keys *KeyPublisher, key envelope.PublicKey) *Lists {
	return &Lists{pub: pub, key: keys.Key(ListKeyTarget, key)}
}

// Key publishes the list key in KeysRepo if needed (on first use, then
// daily, renewing the targets metadata before it expires) and returns it.
func (l *Lists) Key(ctx context.Context) (envelope.PublicKey, error) {
	return l.key.Publish(ctx)
}

// PublishedKey returns the list key as kept published in KeysRepo, for
// KeyPublisher.Start.
func (l *Lists) PublishedKey() *PublishedKey { return l.key }

// PublishedKey is a trustd-held public key kept published as one target
// of KeysRepo: the revocation list key, the token key.
type PublishedKey struct {
	keys *KeyPublisher
	name string
	key  envelope.PublicKey

	mu          sync.Mutex
	publishedAt time.Time
}

// Key returns key, to be published in KeysRepo as target name by Publish.
func (p *KeyPublisher) Key(name string, key envelope.PublicKey) *PublishedKey {
	return &PublishedKey{keys: p, name: name, key: key}
}

// Publish publishes the key in KeysRepo if needed (on first use, then
// daily, renewing the targets metadata before it expires) and returns it.
func (k *PublishedKey) Publish(ctx context.Context) (envelope.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.publishedAt) > republishEvery {
		if err := k.keys.PublishKey(ctx, k.name, k.key); err != nil {
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
		return l.pub.Delta(ctx, since)
	}
	head, err := l.pub.store.RevocationHead(ctx)
	if err != nil {
		return List{}, fmt.Errorf("revocation: snapshot: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snap.Envelope != nil && l.snapInfo.Number == head && l.pub.now().Sub(l.snapInfo.Issued) < l.pub.validity/4 {
		return l.snap, nil
	}
	snap, info, err := l.pub.snapshot(ctx)
	if err != nil {
		return List{}, err
	}
	l.snap, l.snapInfo = snap, info
	return snap, nil
}
