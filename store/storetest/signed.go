package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// signedCopy is st's payload in other envelope bytes, signed by signers.
func signedCopy(st store.Statement, name string, signers ...string) store.Statement {
	c := statementOf(name, st.Subjects...)
	c.SignedDigest, c.Payload, c.PredicateType, c.SignerKeyIDs = st.SignedDigest, st.Payload, st.PredicateType, signers
	return c
}

// testSignedOnce: each signer logs a signed payload (SignedDigest) once.
// Other envelope bytes of it whose signers all signed one entry are that
// entry, in the log or earlier in the same call; with a signer added, or
// signers of two entries, the append is refused with ErrSignedBefore and
// stores nothing; other signers of the payload log their own entry.
// Entries without a SignedDigest are told apart by their bytes alone.
// SignedBefore answers from what was logged.
func testSignedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	orig := statement("signed", sha256Of("signed artifact"))
	orig.SignedDigest = sha256Of("what alice and bob signed")
	orig.SignerKeyIDs = []string{"alice", "bob"}
	first, created := appendOne(t, s, orig)
	if !created {
		t.Fatal("the original was not new")
	}
	for _, c := range []store.Statement{
		signedCopy(orig, "copy both", "bob", "alice"),
		signedCopy(orig, "copy alice", "alice"),
	} {
		got, created := appendOne(t, s, c)
		if created || got.Seq != first.Seq || got.EnvelopeDigest != first.EnvelopeDigest {
			t.Errorf("%s: entry %d (%s) created %v; want the original entry %d", c.Payload, got.Seq, got.EnvelopeDigest, created, first.Seq)
		}
	}
	size, _ := s.LogSize(ctx)
	for _, c := range []store.Statement{
		signedCopy(orig, "copy with carol", "alice", "carol"),
	} {
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, _, err := w.AppendStatement(ctx, c)
			return err
		})
		if !errors.Is(err, store.ErrSignedBefore) {
			t.Errorf("signed by alice and carol: %v, want ErrSignedBefore", err)
		}
	}
	carol, created := appendOne(t, s, signedCopy(orig, "carol alone", "carol"))
	if !created || carol.Seq != first.Seq+1 {
		t.Fatalf("carol's own entry: %d created %v", carol.Seq, created)
	}
	if now, _ := s.LogSize(ctx); now != size+1 {
		t.Errorf("log size %d, want %d: a refused append stored something", now, size+1)
	}
	// Alice with carol spans two entries.
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		_, _, err := w.AppendStatement(ctx, signedCopy(orig, "alice and carol", "alice", "carol"))
		return err
	})
	if !errors.Is(err, store.ErrSignedBefore) {
		t.Errorf("alice and carol, each logged apart: %v, want ErrSignedBefore", err)
	}

	// In one call: a copy of an earlier statement of the call is it.
	fresh := statement("fresh", sha256Of("fresh artifact"))
	fresh.SignedDigest = sha256Of("what dave signed")
	fresh.SignerKeyIDs = []string{"dave"}
	unsigned := statement("unsigned", sha256Of("fresh artifact"))
	unsignedCopy := statementOf("unsigned copy", unsigned.Subjects...)
	unsignedCopy.Payload, unsignedCopy.SignerKeyIDs = unsigned.Payload, unsigned.SignerKeyIDs
	var (
		out []store.Statement
		cr  []bool
	)
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		var err error
		out, cr, err = w.AppendStatements(ctx, []store.Statement{fresh, signedCopy(fresh, "fresh copy", "dave"), unsigned, unsignedCopy})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cr[0] || cr[1] || out[1].Seq != out[0].Seq || !cr[2] || !cr[3] || out[3].Seq == out[2].Seq {
		t.Errorf("one call: created %v, entries %d %d %d %d; want the copy to be the first, the unsigned ones apart", cr, out[0].Seq, out[1].Seq, out[2].Seq, out[3].Seq)
	}

	for _, c := range []struct {
		d    digest.Digest
		keys []string
		want bool
	}{
		{orig.SignedDigest, []string{"alice"}, true},
		{orig.SignedDigest, []string{"erin", "carol"}, true},
		{orig.SignedDigest, []string{"dave"}, false},
		{fresh.SignedDigest, []string{"dave"}, true},
		{sha256Of("never signed"), []string{"alice"}, false},
	} {
		if got, err := s.SignedBefore(ctx, c.d, c.keys); err != nil || got != c.want {
			t.Errorf("SignedBefore(%s, %v) = %v, %v; want %v", c.d, c.keys, got, err, c.want)
		}
	}
}

// testSetSignedDigest: the backfill of entries logged without a
// SignedDigest records it in log order, so the first entry of a payload
// keeps it and a later copy reports itself a repeat; it is idempotent,
// and entries appended since see the backfilled payloads as logged.
func testSetSignedDigest(t *testing.T, s store.Store) {
	ctx := context.Background()
	signed := sha256Of("what alice signed")
	a := statement("legacy a", sha256Of("legacy artifact"))
	a.SignerKeyIDs = []string{"alice"}
	b := statementOf("legacy copy", a.Subjects...)
	b.Payload, b.SignerKeyIDs = a.Payload, a.SignerKeyIDs
	first, _ := appendOne(t, s, a)
	second, _ := appendOne(t, s, b)
	set := func(seq int64) (bool, error) {
		var ok bool
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			var err error
			ok, err = w.SetSignedDigest(ctx, seq, signed)
			return err
		})
		return ok, err
	}
	for range 2 {
		if ok, err := set(first.Seq); err != nil || !ok {
			t.Errorf("the first entry: %v, %v; want it to keep the payload", ok, err)
		}
		if ok, err := set(second.Seq); err != nil || ok {
			t.Errorf("the later copy: %v, %v; want a repeat", ok, err)
		}
	}
	if _, err := set(second.Seq + 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an entry beyond the log: %v, want ErrNotFound", err)
	}
	c := signedCopy(a, "copy after the backfill", "alice")
	c.SignedDigest = signed
	got, created := appendOne(t, s, c)
	if created || got.Seq != first.Seq {
		t.Errorf("a copy after the backfill: entry %d created %v; want the first entry %d", got.Seq, created, first.Seq)
	}
	all, err := s.StatementsAfter(ctx, 0, 10)
	if err != nil || len(all) != 2 || all[0].Seq != first.Seq || all[1].Seq != second.Seq {
		t.Errorf("StatementsAfter(0) = %d entries, %v; want the two", len(all), err)
	}
	if rest, err := s.StatementsAfter(ctx, first.Seq, 10); err != nil || len(rest) != 1 || rest[0].Seq != second.Seq || string(rest[0].Payload) != string(b.Payload) {
		t.Errorf("StatementsAfter(%d) = %+v, %v; want the second entry", first.Seq, rest, err)
	}
}
