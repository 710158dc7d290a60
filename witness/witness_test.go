package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/testwitness"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/witness"
)

// testLogKey is the log key of the tests' logs.
var testLogKey, testLogVKey = func() (string, string) {
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)), "test-log")
	if err != nil {
		panic(err)
	}
	return skey, vkey
}()

// newLog returns a log on st, with n entries appended.
func newLog(t *testing.T, st store.Store, n int) *statement.Log {
	t.Helper()
	l, err := statement.New(st, statement.Options{LogKey: testLogKey, LogVerifierKey: testLogVKey})
	if err != nil {
		t.Fatal(err)
	}
	appendEntries(t, st, n)
	return l
}

// appendEntries appends n more entries.
func appendEntries(t *testing.T, st store.Store, n int) {
	t.Helper()
	size, err := st.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		teststore.AppendUnchecked(t, st, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: "https://example.com/w/v1",
			Envelope: fmt.Appendf(nil, `{"w":%d}`, int(size)+i), Payload: []byte("{}")})
	}
}

// cosignLine signs body as witness name with key (a torchwood cosigner) and
// returns its signature lines.
func cosignLines(t *testing.T, name string, seed byte, body string) []byte {
	t.Helper()
	s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: body}, s)
	if err != nil {
		t.Fatal(err)
	}
	_, lines, _ := bytes.Cut(signed, []byte("\n\n"))
	return lines
}

// TestUntrustedWitnessAnswers: whatever a witness (or whoever answers at
// its URL) sends back, trustd stores and serves only cosignatures that
// verify with that witness's configured key over the very checkpoint it
// pushed: a signature by another key under the witness's name, a
// cosignature of another checkpoint, garbage, an oversized answer or a
// size beyond the log are refused and nothing is stored.
func TestUntrustedWitnessAnswers(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			l := newLog(t, st, 5)
			const name = "witness.example/w"
			real, err := testwitness.New(name, bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			signed, _, err := l.Checkpoint(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			body, _, _ := strings.Cut(string(signed), "\n\n")
			body += "\n"
			older, _, err := l.Checkpoint(ctx, 4)
			if err != nil {
				t.Fatal(err)
			}
			olderBody, _, _ := strings.Cut(string(older), "\n\n")
			olderBody += "\n"
			tests := []struct {
				name   string
				answer func(w http.ResponseWriter)
				reason string
			}{
				{"another key under the witness's name", func(w http.ResponseWriter) { w.Write(cosignLines(t, name, 8, body)) }, "no cosignature by its key"},
				{"the witness's cosignature of another checkpoint", func(w http.ResponseWriter) { w.Write(cosignLines(t, name, 7, olderBody)) }, "invalid signature"},
				{"garbage", func(w http.ResponseWriter) { w.Write([]byte("— witness.example/w AAAA\n")) }, "malformed"},
				{"no lines", func(w http.ResponseWriter) {}, "malformed note"},
				{"oversized", func(w http.ResponseWriter) { w.Write(bytes.Repeat([]byte("x"), 70<<10)) }, "over 65536 bytes"},
				{"a size beyond the log", func(w http.ResponseWriter) {
					w.Header().Set("Content-Type", "text/x.tlog.size")
					w.WriteHeader(http.StatusConflict)
					w.Write([]byte("99\n"))
				}, "beyond the log's size 5"},
				{"refusal", func(w http.ResponseWriter) { http.Error(w, "unknown log", http.StatusNotFound) }, `404 Not Found: "unknown log"`},
			}
			for _, tc := range tests {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.answer(w) }))
				wit, err := witness.Parse(real.VerifierKey() + "=" + hs.URL)
				if err != nil {
					t.Fatal(err)
				}
				p, err := witness.New(ctx, l, st, witness.Options{Witnesses: []witness.Witness{wit}})
				if err != nil {
					t.Fatal(err)
				}
				err = p.Push(ctx)
				hs.Close()
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s: Push = %v, want an error saying %q", tc.name, err, tc.reason)
				}
				if cos, err := st.LogCosignatures(ctx, 5); err != nil || len(cos) != 0 {
					t.Errorf("%s: stored %d cosignatures (%v), want none", tc.name, len(cos), err)
				}
				served, _, err := witness.Cosigned(ctx, p, l, st, 0)
				if err != nil || !bytes.Equal(served, signed) {
					t.Errorf("%s: served %q, %v; want the checkpoint without extra lines", tc.name, served, err)
				}
			}
		})
	}
}

// TestPushCatchesUp: a witness that cosigned an earlier size (here before
// a restart: a new Pusher knows it from the store) gets a consistency
// proof from that size; one that trustd knows nothing of answers 409 with
// its size and is pushed again from it.
func TestPushCatchesUp(t *testing.T) {
	ctx := context.Background()
	st := teststore.Backends()[0].Open(t)
	l := newLog(t, st, 3)
	w, err := testwitness.New("witness.example/w", bytes.Repeat([]byte{1}, 32), l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(w)
	defer hs.Close()
	wit, err := witness.Parse(w.VerifierKey() + "=" + hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	push := func() {
		t.Helper()
		p, err := witness.New(ctx, l, st, witness.Options{Witnesses: []witness.Witness{wit}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Push(ctx); err != nil {
			t.Fatal(err)
		}
	}
	push()
	appendEntries(t, st, 4)
	calls := w.Calls()
	push() // knows size 3 from the store: one call
	if w.Latest("test-log") != 7 || w.Calls() != calls+1 {
		t.Fatalf("after restart: witness at %d after %d calls, want 7 after 1", w.Latest("test-log"), w.Calls()-calls)
	}
	// A trustd whose store holds no cosignature of this witness (here a
	// second store with the same entries and log key) starts from 0; the
	// witness's 409 names its size and the push is made again from it.
	st2 := teststore.Backends()[0].Open(t)
	l2 := newLog(t, st2, 9)
	p2, err := witness.New(ctx, l2, st2, witness.Options{Witnesses: []witness.Witness{wit}})
	if err != nil {
		t.Fatal(err)
	}
	calls = w.Calls()
	if err := p2.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Latest("test-log") != 9 || w.Calls() != calls+2 || p2.Served() != 9 {
		t.Fatalf("from a store without cosignatures: witness at %d after %d calls, served %d; want 9 after 2 (a 409, then the push)", w.Latest("test-log"), w.Calls()-calls, p2.Served())
	}
}
