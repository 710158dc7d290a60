package evidencesvc_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// countingStore is a real store that counts the reads a lookup makes
// through it.
type countingStore struct {
	store.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[op]++
}

func (c *countingStore) reads() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

func (c *countingStore) DigestLookup(ctx context.Context, q store.DigestLookupQuery) (store.DigestLookup, error) {
	c.count("DigestLookup")
	return c.Store.DigestLookup(ctx, q)
}

func (c *countingStore) Evidence(ctx context.Context, q store.EvidenceQuery) ([]store.Evidence, error) {
	c.count("Evidence")
	return c.Store.Evidence(ctx, q)
}

func (c *countingStore) StatementsBySeq(ctx context.Context, seqs []int64, envelopes bool) ([]store.Statement, error) {
	c.count("StatementsBySeq")
	return c.Store.StatementsBySeq(ctx, seqs, envelopes)
}

func (c *countingStore) Statement(ctx context.Context, seq int64) (store.Statement, error) {
	c.count("Statement")
	return c.Store.Statement(ctx, seq)
}

func (c *countingStore) Attestations(ctx context.Context, q store.AttestationQuery) ([]store.AttestationEntry, error) {
	c.count("Attestations")
	return c.Store.Attestations(ctx, q)
}

func (c *countingStore) RevocationsOf(ctx context.Context, keys [][]byte) ([]store.RevocationRecord, int64, error) {
	c.count("RevocationsOf")
	return c.Store.RevocationsOf(ctx, keys)
}

func (c *countingStore) Revocation(ctx context.Context, key []byte) (store.RevocationRecord, error) {
	c.count("Revocation")
	return c.Store.Revocation(ctx, key)
}

func (c *countingStore) RevocationHead(ctx context.Context) (int64, error) {
	c.count("RevocationHead")
	return c.Store.RevocationHead(ctx)
}

func (c *countingStore) LogSize(ctx context.Context) (uint64, error) {
	c.count("LogSize")
	return c.Store.LogSize(ctx)
}

func (c *countingStore) LogNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	c.count("LogNodes")
	return c.Store.LogNodes(ctx, ids)
}

func (c *countingStore) Key(ctx context.Context, id string) (store.Key, error) {
	c.count("Key")
	return c.Store.Key(ctx, id)
}

func (c *countingStore) AliasClaims(ctx context.Context, q store.ClaimQuery) ([]store.AliasClaim, error) {
	c.count("AliasClaims")
	return c.Store.AliasClaims(ctx, q)
}

func (c *countingStore) PGPKey(ctx context.Context, fingerprint string) (store.PGPKey, error) {
	c.count("PGPKey")
	return c.Store.PGPKey(ctx, fingerprint)
}

// TestLookupOneRead: on both backends, the common lookup of a digest (its
// entries, attestations and revocation states, with inclusion proofs)
// reads the store once (store.DigestLookup) once the keys and the signed
// checkpoint are known, and answers exactly as the first build, which read
// them: the revoked signer's state and the revocation statement cited
// included. A later page (EntriesBefore) reads as before and agrees.
func TestLookupOneRead(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			app, revoked := e.many(t, 12, 3)
			c := &countingStore{Store: e.store, n: map[string]int{}}
			rev := revocation.New(c, revocation.Config{PGP: pgplog.New(c, nil)})
			b := &evidencesvc.Builder{Store: c, Log: e.log, Attest: attest.New(c, e.log, attest.Options{Revocations: rev.AttestationView()}), Revocation: rev}
			req := evidence.Request{Digests: []digest.Digest{app}, Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindAttestations, evidence.KindRevocations},
				At: time.Now()}
			first, err := b.Build(ctx, req, true)
			if err != nil {
				t.Fatal(err)
			}
			c.reads()
			again, err := b.Build(ctx, req, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.reads(); !reflect.DeepEqual(got, map[string]int{"DigestLookup": 1}) {
				t.Errorf("the lookup read %v; want one DigestLookup", got)
			}
			if !reflect.DeepEqual(again, first) {
				t.Errorf("the second bundle differs from the first")
			}
			if !slices.ContainsFunc(again.Revocations, func(r evidence.Revocation) bool { return r.ID == revoked && r.InForce }) {
				t.Errorf("bundle without the revoked signer %s in force", revoked)
			}
			// The same, built by the services on the store itself (no
			// counting), agrees: the read-ahead changes no answer.
			plain, err := e.builder.Build(ctx, req, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plain.Entries, again.Entries) || !reflect.DeepEqual(plain.Revocations, again.Revocations) ||
				!reflect.DeepEqual(plain.Attestations, again.Attestations) || plain.RevocationHead != again.RevocationHead {
				t.Errorf("bundles differ between builders")
			}
			// A later page is read without the read-ahead and agrees with
			// the first page's entries below it.
			page := req
			page.EntriesBefore = again.Entries[len(again.Entries)/2].Seq
			older, err := b.Build(ctx, page, true)
			if err != nil {
				t.Fatal(err)
			}
			if c.reads()["DigestLookup"] != 0 {
				t.Errorf("a later page was read ahead")
			}
			for _, o := range older.Entries {
				if len(o.Digests) == 0 {
					continue
				}
				i := slices.IndexFunc(again.Entries, func(x evidence.Entry) bool { return x.Seq == o.Seq })
				if i < 0 || !reflect.DeepEqual(again.Entries[i].Digests, o.Digests) || string(again.Entries[i].Envelope) != string(o.Envelope) {
					t.Errorf("entry %d of the later page differs from the first page's", o.Seq)
				}
			}
		})
	}
}

func (c *countingStore) KeysByID(ctx context.Context, ids []string) ([]store.Key, error) {
	c.count("KeysByID")
	return c.Store.KeysByID(ctx, ids)
}

// TestKeysByIDCached: the builder answers KeysByID as the store does, and
// reads a registered key once, but an unregistered id every time (it may
// be registered since).
func TestKeysByIDCached(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			app, _ := e.many(t, 4, 1)
			c := &countingStore{Store: e.store, n: map[string]int{}}
			b := &evidencesvc.Builder{Store: c, Log: e.log}
			bundle, err := e.builder.Build(ctx, evidence.Request{Digests: []digest.Digest{app}, Kinds: []evidence.Kind{evidence.KindEntries}, At: time.Now()}, false)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, en := range bundle.Entries {
				ids = append(ids, en.SignerKeyIDs...)
			}
			if len(ids) == 0 {
				t.Fatal("no signers to look up")
			}
			ids = append(ids, "unregistered-key", ids[0])
			want, err := e.store.KeysByID(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name  string
				ids   []string
				reads int
			}{
				{"first", ids, 1},
				{"registered cached", ids[:len(ids)-2], 0},
				{"unregistered read again", ids, 1},
			} {
				got, err := b.KeysByID(ctx, tc.ids)
				if err != nil {
					t.Fatal(err)
				}
				w := want
				if tc.name == "registered cached" {
					w, _ = e.store.KeysByID(ctx, tc.ids)
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s: KeysByID = %+v, want %+v", tc.name, got, w)
				}
				if n := c.reads()["KeysByID"]; n != tc.reads {
					t.Errorf("%s: %d store reads, want %d", tc.name, n, tc.reads)
				}
			}
		})
	}
}
