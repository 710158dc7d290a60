package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/store"
)

// revocationRecord is a record for target name at seq.
func revocationRecord(name, action string, seq int64) store.RevocationRecord {
	k := sha256.Sum256([]byte(name))
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	return store.RevocationRecord{TargetKey: k[:], Kind: "token", TargetID: name, Action: action, Reason: "retired",
		Effective: at, Revokers: []string{"key-" + name}, Seq: seq, RecordedAt: at.Add(time.Hour)}
}

func putRevocation(s store.Store, ev, cur store.RevocationRecord) error {
	return s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		return w.PutRevocation(ctx, ev, cur)
	})
}

func testRevocations(t *testing.T, s store.Store) {
	ctx := context.Background()
	if head, err := s.RevocationHead(ctx); err != nil || head != 0 {
		t.Fatalf("RevocationHead of an empty store = %d, %v", head, err)
	}
	a1 := revocationRecord("a", "revoke", 1)
	if _, err := s.Revocation(ctx, a1.TargetKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Revocation(unknown) = %v, want ErrNotFound", err)
	}
	for _, r := range []store.RevocationRecord{a1, revocationRecord("b", "revoke", 2), revocationRecord("c", "revoke", 3)} {
		if err := putRevocation(s, r, r); err != nil {
			t.Fatal(err)
		}
	}
	a4 := revocationRecord("a", "reinstate", 4)
	if err := putRevocation(s, a4, a4); err != nil {
		t.Fatal(err)
	}
	// b revoked again: a new event, the state kept as it was.
	if err := putRevocation(s, revocationRecord("b", "revoke", 5), revocationRecord("b", "revoke", 2)); err != nil {
		t.Fatal(err)
	}
	if err := putRevocation(s, revocationRecord("z", "revoke", 5), revocationRecord("z", "revoke", 5)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("an event seq twice = %v, want ErrConflict", err)
	}
	bad := revocationRecord("x", "revoke", 6)
	bad.TargetKey = bad.TargetKey[:5]
	if err := putRevocation(s, bad, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a short target key = %v, want ErrInvalid", err)
	}

	got, err := s.Revocation(ctx, a1.TargetKey)
	if err != nil || got.Action != "reinstate" || got.Seq != 4 || fmt.Sprint(got.Revokers) != "[key-a]" ||
		!got.Effective.Equal(a4.Effective) || !got.RecordedAt.Equal(a4.RecordedAt) || got.TargetID != "a" || got.Kind != "token" {
		t.Errorf("Revocation(a) = %+v, %v; want the reinstatement at 4", got, err)
	}
	if head, err := s.RevocationHead(ctx); err != nil || head != 5 {
		t.Errorf("RevocationHead = %d, %v; want 5", head, err)
	}
	evs, err := s.RevocationEvents(ctx, 1, 4, 10)
	if err != nil || len(evs) != 3 || evs[0].Seq != 2 || evs[2].Seq != 4 {
		t.Errorf("RevocationEvents(1, 4] = %+v, %v; want seqs 2, 3, 4", evs, err)
	}
	if evs, _ := s.RevocationEvents(ctx, 0, 0, 2); len(evs) != 2 || evs[1].Seq != 2 {
		t.Errorf("RevocationEvents limit 2 = %+v", evs)
	}
	// Active: b (state at 2) and c (3); a was reinstated. Paged by seq.
	var ids []string
	for after := int64(0); ; {
		page, err := s.ActiveRevocations(ctx, after, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		ids = append(ids, page[0].TargetID)
		after = page[0].Seq
	}
	if fmt.Sprint(ids) != "[b c]" {
		t.Errorf("ActiveRevocations = %v; want [b c] in seq order", ids)
	}
	if act, _ := s.ActiveRevocations(ctx, 0, 2, 10); len(act) != 1 || act[0].TargetID != "b" {
		t.Errorf("ActiveRevocations up to seq 2 = %+v; want b only", act)
	}
	if got, _ := s.RevocationsOfKind(ctx, "token", "b", 10); len(got) != 1 || got[0].TargetID != "c" {
		t.Errorf("RevocationsOfKind(token, after b) = %+v; want c", got)
	}
	if got, _ := s.RevocationsOfKind(ctx, "key", "", 10); len(got) != 0 {
		t.Errorf("RevocationsOfKind(key) = %+v; want none", got)
	}
	if got, err := s.Revocation(ctx, revocationRecord("c", "", 0).TargetKey); err != nil || !bytes.Equal(got.TargetKey, revocationRecord("c", "", 0).TargetKey) {
		t.Errorf("Revocation(c) = %+v, %v", got, err)
	}
}

func testStatementByEnvelope(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, _ := appendOne(t, s, statement("by-envelope", sha256Of("e")))
	got, err := s.StatementByEnvelope(ctx, st.EnvelopeDigest)
	if err != nil || got.Seq != st.Seq || len(got.Subjects) != 1 {
		t.Errorf("StatementByEnvelope = %+v, %v; want entry %d", got, err, st.Seq)
	}
	if _, err := s.StatementByEnvelope(ctx, sha256Of("none")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("StatementByEnvelope(unknown) = %v, want ErrNotFound", err)
	}
}

// testRevocationsOf: the batched read answers as Revocation would key by
// key, leaves out targets never revoked, ignores repeated keys and reads
// lists longer than one query holds.
func testRevocationsOf(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, head, err := s.RevocationsOf(ctx, nil); err != nil || len(got) != 0 || head != 0 {
		t.Fatalf("RevocationsOf(none) of an empty index = %+v, head %d, %v", got, head, err)
	}
	a, b := revocationRecord("a", "revoke", 1), revocationRecord("b", "revoke", 2)
	a3 := revocationRecord("a", "reinstate", 3)
	for _, r := range [][2]store.RevocationRecord{{a, a}, {b, b}, {a3, a3}} {
		if err := putRevocation(s, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	keys := [][]byte{a.TargetKey, revocationRecord("never", "revoke", 9).TargetKey, b.TargetKey, a.TargetKey}
	// Pad past one query's worth of placeholders with targets never revoked.
	for i := range 600 {
		keys = append(keys, revocationRecord(fmt.Sprint("unknown-", i), "revoke", 9).TargetKey)
	}
	got, head, err := s.RevocationsOf(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := s.RevocationHead(ctx); head != want || head != 3 {
		t.Errorf("RevocationsOf head = %d; RevocationHead says %d, want 3", head, want)
	}
	// The head comes also when no target asked for has a state.
	if none, head, err := s.RevocationsOf(ctx, keys[1:2]); err != nil || len(none) != 0 || head != 3 {
		t.Errorf("RevocationsOf(never revoked) = %+v, head %d, %v; want none, head 3", none, head, err)
	}
	bySeq := map[int64]store.RevocationRecord{}
	for _, r := range got {
		bySeq[r.Seq] = r
	}
	if len(got) != 2 || len(bySeq) != 2 {
		t.Fatalf("RevocationsOf = %+v; want the states of a (reinstated at 3) and b (revoked at 2)", got)
	}
	for _, key := range [][]byte{a.TargetKey, b.TargetKey} {
		one, err := s.Revocation(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if many := bySeq[one.Seq]; !bytes.Equal(many.TargetKey, one.TargetKey) || many.Action != one.Action || many.TargetID != one.TargetID ||
			fmt.Sprint(many.Revokers) != fmt.Sprint(one.Revokers) || !many.Effective.Equal(one.Effective) || !many.RecordedAt.Equal(one.RecordedAt) {
			t.Errorf("RevocationsOf gives %+v, Revocation gives %+v", many, one)
		}
	}
}

// testStatementsBySeq: the batched read gives each existing entry once, in
// order, as Statement does (without subjects), with or without its bytes.
func testStatementsBySeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	var seqs []int64
	for i := range 5 {
		st, _ := appendOne(t, s, statement(fmt.Sprint("by-seq-", i), sha256Of(fmt.Sprint("by-seq-", i))))
		seqs = append(seqs, st.Seq)
	}
	ask := []int64{seqs[3], seqs[0], 99999, seqs[3], seqs[4]}
	for i := range 300 { // more than one query's worth
		ask = append(ask, 100000+int64(i))
	}
	for _, envelopes := range []bool{false, true} {
		got, err := s.StatementsBySeq(ctx, ask, envelopes)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Seq != seqs[0] || got[1].Seq != seqs[3] || got[2].Seq != seqs[4] {
			t.Fatalf("StatementsBySeq(envelopes %v) = %d entries; want %d, %d, %d", envelopes, len(got), seqs[0], seqs[3], seqs[4])
		}
		for _, g := range got {
			one, err := s.Statement(ctx, g.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if g.EnvelopeDigest != one.EnvelopeDigest || g.PayloadType != one.PayloadType || g.PredicateType != one.PredicateType ||
				fmt.Sprint(g.SignerKeyIDs) != fmt.Sprint(one.SignerKeyIDs) || !g.RecordedAt.Equal(one.RecordedAt) || g.Subjects != nil {
				t.Errorf("StatementsBySeq gives %+v, Statement gives %+v", g, one)
			}
			if envelopes != (g.Envelope != nil) || (envelopes && (!bytes.Equal(g.Envelope, one.Envelope) || !bytes.Equal(g.Payload, one.Payload))) {
				t.Errorf("StatementsBySeq(envelopes %v) of %d: envelope %q, payload %q", envelopes, g.Seq, g.Envelope, g.Payload)
			}
		}
	}
	if got, err := s.StatementsBySeq(ctx, nil, true); err != nil || len(got) != 0 {
		t.Errorf("StatementsBySeq(none) = %+v, %v", got, err)
	}
	// StatementPayloads: the same entries, with payloads, without envelopes.
	got, err := s.StatementPayloads(ctx, ask)
	if err != nil || len(got) != 3 || got[0].Seq != seqs[0] || got[1].Seq != seqs[3] || got[2].Seq != seqs[4] {
		t.Fatalf("StatementPayloads = %d entries, %v; want %d, %d, %d", len(got), err, seqs[0], seqs[3], seqs[4])
	}
	for _, g := range got {
		one, err := s.Statement(ctx, g.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if g.EnvelopeDigest != one.EnvelopeDigest || g.Envelope != nil || len(g.Payload) == 0 || !bytes.Equal(g.Payload, one.Payload) {
			t.Errorf("StatementPayloads of %d: digest %s, envelope %q, payload %q; want %s, no envelope, %q", g.Seq, g.EnvelopeDigest, g.Envelope, g.Payload, one.EnvelopeDigest, one.Payload)
		}
	}
}
