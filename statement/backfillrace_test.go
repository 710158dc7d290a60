package statement_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// TestIndexLoggedSignaturesRace: while trustd backfills the signed
// payloads of entries logged before them, another trustd (past its own
// backfill) logs a copy of one of those entries, and commits only once
// the backfill waits on it in the unique index. The backfill's page then
// fails on the index; it is read again, finds the payload recorded and
// counts the entry a repeat, and trustd starts. PostgreSQL only: SQLite's
// one writer has the backfill wait for the copy's whole transaction.
func TestIndexLoggedSignaturesRace(t *testing.T) {
	ctx := context.Background()
	s, url := teststore.Postgres(t)
	f := newFixture(t, s, nil)
	alice := newSigner(t, s, envelope.KeyTypeED25519, true)
	payload, err := envelope.NewStatement(testPredicate, json.RawMessage(`{"raced":true}`), artifact("raced.tar"))
	if err != nil {
		t.Fatal(err)
	}
	raw := signPayload(t, envelope.PayloadTypeInToto, payload, alice)
	rec := store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: testPredicate, Envelope: raw, Payload: payload,
		SignerKeyIDs: []string{alice.pub.ID}, Subjects: []store.StatementSubject{{Name: "raced.tar", Digests: artifact("raced.tar").Digests}}}
	legacy := teststore.AppendUnchecked(t, s, rec)
	if err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		return w.SetDerivedBackfill(ctx, store.BackfillSignedDigests, legacy.Seq)
	}); err != nil {
		t.Fatal(err)
	}

	// The other trustd's copy: alice's payload re-encoded, with its signed
	// digest, whose COMMIT a deferred trigger holds on an advisory lock the
	// test owns, its rows written, until the backfill waits on them.
	hold := testpg.HoldCommits(t, url)
	var indented bytes.Buffer
	if err := json.Indent(&indented, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	cp := rec
	cp.Envelope, cp.SignedDigest = indented.Bytes(), envelope.PAEDigest(envelope.PayloadTypeInToto, payload)
	cp.EnvelopeDigest = digestOf(cp.Envelope)
	copied := make(chan error, 1)
	go func() {
		copied <- s.Update(ctx, func(ctx context.Context, w store.Writer) error {
			_, _, err := w.AppendStatements(ctx, []store.Statement{cp})
			return err
		})
	}()
	hold.WaitFor(t, "advisory", 1)

	type result struct{ read, repeats int }
	done, failed := make(chan result, 1), make(chan error, 1)
	go func() {
		read, repeats, err := statement.IndexLoggedSignatures(ctx, s, nil)
		if err != nil {
			failed <- err
			return
		}
		done <- result{read, repeats}
	}()
	hold.WaitFor(t, "transactionid", 1)
	hold.Release(t)
	if err := <-copied; err != nil {
		t.Fatalf("the copy: %v", err)
	}
	select {
	case err := <-failed:
		t.Fatalf("IndexLoggedSignatures = %v; want the page read again", err)
	case r := <-done:
		if r.read != 1 || r.repeats != 1 {
			t.Errorf("IndexLoggedSignatures = %d read, %d repeats; want 1 and 1 (the copy holds the payload)", r.read, r.repeats)
		}
	}
	if _, _, err := f.log.Submit(ctx, raw); err != nil {
		t.Errorf("the legacy envelope again: %v", err)
	}
}

func digestOf(b []byte) digest.Digest {
	sum := sha256.Sum256(b)
	return must(digest.New(digest.SHA256, sum[:]))
}
