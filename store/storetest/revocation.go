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
