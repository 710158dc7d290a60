package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// testDigestLookup: DigestLookup reads what the single-purpose reads
// (Attestations, StatementsBySeq, RevocationsOf, RevocationHead, LogSize,
// LogNodes) would, for the entries naming the digests: their rows with the
// attestation index, their statements and the revocation statements', the
// states of the targets asked for, of the entries' signers and of the
// entries themselves, and the lower tree nodes of their inclusion paths.
func testDigestLookup(t *testing.T, s store.Store) {
	ctx := context.Background()
	d1, d2, other := sha256Of("lookup one"), sha512Of("lookup two"), sha256Of("lookup other")
	var sts []store.Statement
	for i, subjects := range [][]store.StatementSubject{
		{artifact("one.tar", d1)},
		{artifact("both.tar", d1), artifact("two.tar", d2)},
		{artifact("two.tar", d2)},
		{artifact("other.tar", other)},
		{artifact("one-again.tar", d1)},
		{artifact("revocation", other)},
	} {
		st := statementOf(fmt.Sprintf("lookup-%d", i), subjects...)
		if i == 1 {
			st.SignerKeyIDs = []string{"key-shared", "key-lookup-1"}
		}
		got, _ := appendOne(t, s, st)
		sts = append(sts, got)
	}
	size := uint64(sts[len(sts)-1].Seq)
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if err := w.PutAttestation(ctx, store.Attestation{Seq: sts[1].Seq, BuilderID: "https://builder.example/lookup", VerificationResult: "PASSED"}); err != nil {
			return err
		}
		var nodes []store.LogNode
		for l := range uint(3) {
			for idx := uint64(0); (idx+1)<<l <= size; idx++ {
				nodes = append(nodes, store.LogNode{ID: compact.NewNodeID(l, idx), Hash: []byte(fmt.Sprintf("node %d %d", l, idx))})
			}
		}
		return w.PutLogNodes(ctx, nodes)
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := func(kind, id string, seq int64) store.RevocationRecord {
		k := sha256.Sum256([]byte(kind + ":" + id))
		return store.RevocationRecord{TargetKey: k[:], Kind: kind, TargetID: id, Action: "revoke", Reason: "compromised",
			Effective: at, Revokers: []string{"key-authority"}, Seq: seq, RecordedAt: at.Add(time.Minute)}
	}
	digestRec := rec("digest", d1.String(), sts[5].Seq)
	revs := []store.RevocationRecord{
		digestRec,
		rec("key", "key-shared", sts[5].Seq), // a signer of entry 1
		rec("statement", sts[2].EnvelopeDigest.String(), sts[3].Seq), // entry 2 itself
		rec("key", "key-lookup-3", sts[3].Seq),                       // signs only an entry naming neither digest
		rec("token", "tok", sts[3].Seq),                              // not asked for
	}
	for i, r := range revs {
		ev := r
		ev.Seq = int64(100 + i)
		if err := putRevocation(s, ev, r); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name   string
		q      store.DigestLookupQuery
		rows   int
		states []store.RevocationRecord
	}{
		{"all", store.DigestLookupQuery{Digests: []digest.Digest{d1, d2}, Limit: 50, TargetKeys: [][]byte{digestRec.TargetKey}, NodeLevels: 3},
			5, revs[:3]},
		{"limited", store.DigestLookupQuery{Digests: []digest.Digest{d1, d2}, Limit: 2, NodeLevels: 1},
			2, revs[2:3]},
		{"one digest", store.DigestLookupQuery{Digests: []digest.Digest{d2}, Limit: 10, NodeLevels: 2},
			2, revs[1:3]},
		{"unknown digest", store.DigestLookupQuery{Digests: []digest.Digest{sha256Of("never")}, Limit: 10, TargetKeys: [][]byte{digestRec.TargetKey}},
			0, revs[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DigestLookup(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			// The rows naming the digests, as Attestations gives them.
			var want []store.AttestationEntry
			for _, d := range tc.q.Digests {
				one, err := s.Attestations(ctx, store.AttestationQuery{Digest: d, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, one...)
			}
			sort.SliceStable(want, func(i, j int) bool {
				if want[i].Seq != want[j].Seq {
					return want[i].Seq > want[j].Seq
				}
				return want[i].Digest.Algorithm() < want[j].Digest.Algorithm()
			})
			want = want[:min(len(want), tc.q.Limit)]
			if len(got.Naming) != tc.rows || !reflect.DeepEqual(got.Naming, want) {
				t.Errorf("Naming = %+v\nwant %+v (%d rows)", got.Naming, want, tc.rows)
			}
			if wantHead, _ := s.RevocationHead(ctx); got.RevocationHead != wantHead {
				t.Errorf("RevocationHead = %d, want %d", got.RevocationHead, wantHead)
			}
			if got.LogSize != size {
				t.Errorf("LogSize = %d, want %d", got.LogSize, size)
			}
			// The states: those asked for and those of the entries and
			// their signers, each once.
			var keys [][]byte
			for _, r := range tc.states {
				keys = append(keys, r.TargetKey)
			}
			wantStates, _, err := s.RevocationsOf(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			sort.Slice(wantStates, func(i, j int) bool { return bytes.Compare(wantStates[i].TargetKey, wantStates[j].TargetKey) < 0 })
			if len(got.Revocations) != len(tc.states) || !reflect.DeepEqual(got.Revocations, wantStates) {
				t.Errorf("Revocations = %+v\nwant %+v", got.Revocations, wantStates)
			}
			// The statements: the entries' and the revocation statements'.
			var seqs []int64
			for _, e := range got.Naming {
				seqs = append(seqs, e.Seq)
			}
			for _, r := range got.Revocations {
				seqs = append(seqs, r.Seq)
			}
			wantSts, err := s.StatementsBySeq(ctx, seqs, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range wantSts {
				wantSts[i].Payload = nil // the envelope holds it
			}
			if !reflect.DeepEqual(got.Statements, wantSts) {
				t.Errorf("Statements = %+v\nwant %+v", got.Statements, wantSts)
			}
			// The nodes: each statement's complete siblings below NodeLevels.
			wantNodes := map[compact.NodeID]bool{}
			for _, st := range wantSts {
				leaf := uint64(st.Seq - 1)
				for l := range uint(tc.q.NodeLevels) {
					sib := (leaf >> l) ^ 1
					if (sib+1)<<l <= size {
						wantNodes[compact.NewNodeID(l, sib)] = true
					}
				}
			}
			if len(got.Nodes) != len(wantNodes) {
				t.Errorf("Nodes = %d, want %d", len(got.Nodes), len(wantNodes))
			}
			for _, n := range got.Nodes {
				h, err := s.LogNodes(ctx, []compact.NodeID{n.ID})
				if !wantNodes[n.ID] || err != nil || !bytes.Equal(h[0], n.Hash) {
					t.Errorf("node %+v: wanted %v, stored %q, %v", n, wantNodes[n.ID], h, err)
				}
			}
		})
	}
	if _, err := s.DigestLookup(ctx, store.DigestLookupQuery{Limit: 1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("DigestLookup without digests = %v, want ErrInvalid", err)
	}
}
