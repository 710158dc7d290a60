package statement_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// TestSignedOnce: a stranger who copies a logged envelope cannot make a
// new entry of it by encoding it anew (whitespace, the URL-safe base64
// alphabet, signatures in another order, fewer of them) or by adding a
// signature of their own. A copy is the original entry: it spends none of
// its signers' quota and cannot escape the original's revocation (which
// names the original's envelope digest). An added signature is refused
// and nothing is stored. The signer's own new signature (ECDSA signs
// anew each time) is the same payload: the original entry too. A
// stranger's own envelope of the payload is theirs to log.
func TestSignedOnce(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			alice := newSigner(t, f.store, envelope.KeyTypeECDSAP256, true)
			bob := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			stranger := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			l := newLimitedLog(t, f, 2, 0)

			payload, err := envelope.NewStatement(testPredicate, json.RawMessage(`{"passed":true}`), artifact("app.tar"))
			if err != nil {
				t.Fatal(err)
			}
			raw := signPayload(t, envelope.PayloadTypeInToto, payload, alice, bob)
			orig, created, err := l.Submit(ctx, raw)
			if err != nil || !created {
				t.Fatalf("the original: created %v, %v", created, err)
			}
			env := mustEnvelope(t, raw)
			copies := map[string][]byte{
				"indented": func() []byte {
					var out bytes.Buffer
					if err := json.Indent(&out, raw, "", "  "); err != nil {
						t.Fatal(err)
					}
					return out.Bytes()
				}(),
				"URL-safe base64": marshal(t, urlSafe(env)),
				"signatures swapped": marshal(t, dsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload,
					Signatures: []dsse.Signature{env.Signatures[1], env.Signatures[0]}}),
				"alice's signature alone": marshal(t, dsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload,
					Signatures: env.Signatures[:1]}),
				"alice signing anew": signPayload(t, envelope.PayloadTypeInToto, payload, alice),
			}
			for name, c := range copies {
				if bytes.Equal(c, raw) {
					t.Fatalf("%s: the copy is the original's bytes", name)
				}
				got, created, err := l.Submit(ctx, c)
				if err != nil || created || got.Seq != orig.Seq || got.EnvelopeDigest != orig.EnvelopeDigest {
					t.Errorf("%s: entry %d (%s) created %v, %v; want the original entry %d", name, got.Seq, got.EnvelopeDigest, created, err, orig.Seq)
				}
			}
			// All at once, in one batch or several.
			var wg sync.WaitGroup
			for name, c := range copies {
				wg.Go(func() {
					if got, created, err := l.Submit(ctx, c); err != nil || created || got.Seq != orig.Seq {
						t.Errorf("%s, concurrently: entry %d created %v, %v; want the original entry %d", name, got.Seq, created, err, orig.Seq)
					}
				})
			}
			wg.Wait()

			size, _ := f.store.LogSize(ctx)
			added := marshal(t, addSignature(t, env, stranger))
			_, _, err = l.Submit(ctx, added)
			if !errors.Is(err, store.ErrSignedBefore) || !strings.Contains(err.Error(), stranger.pub.ID) || !strings.Contains(err.Error(), "log entry 1") {
				t.Errorf("the envelope with the stranger's signature added = %v; want ErrSignedBefore naming the stranger's key and entry 1", err)
			}
			if now, _ := f.store.LogSize(ctx); now != size {
				t.Errorf("a refused copy was stored: log %d -> %d", size, now)
			}

			// Alice and bob were charged once, for the original: each has one
			// write of two left.
			for _, s := range []signer{alice, bob} {
				if _, created, err := l.Submit(ctx, sign(t, `{"n":2}`, []envelope.Subject{artifact(s.pub.ID)}, s)); err != nil || !created {
					t.Errorf("%s's second write: created %v, %v", s.pub.ID, created, err)
				}
			}
			// The stranger's own signature on the payload is a new entry.
			own, created, err := l.Submit(ctx, signPayload(t, envelope.PayloadTypeInToto, payload, stranger))
			if err != nil || !created || own.Seq == orig.Seq {
				t.Errorf("the stranger's own envelope: entry %d created %v, %v; want a new entry", own.Seq, created, err)
			}
		})
	}
}

func marshal(t *testing.T, env dsse.Envelope) []byte {
	t.Helper()
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// urlSafe re-encodes env's payload and signatures in the URL-safe base64
// alphabet (some 400 characters of base64 all but surely hold a + or a /,
// which it changes).
func urlSafe(env dsse.Envelope) dsse.Envelope {
	re := func(s string) string {
		b, _ := base64.StdEncoding.DecodeString(s)
		return base64.URLEncoding.EncodeToString(b)
	}
	out := dsse.Envelope{PayloadType: env.PayloadType, Payload: re(env.Payload)}
	for _, s := range env.Signatures {
		out.Signatures = append(out.Signatures, dsse.Signature{KeyID: s.KeyID, Sig: re(s.Sig)})
	}
	return out
}

// addSignature returns env with s's signature over its payload added.
func addSignature(t *testing.T, env dsse.Envelope, s signer) dsse.Envelope {
	t.Helper()
	body, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(context.Background(), dsse.PAE(env.PayloadType, body))
	if err != nil {
		t.Fatal(err)
	}
	out := env
	out.Signatures = append(append([]dsse.Signature(nil), env.Signatures...), dsse.Signature{KeyID: s.pub.ID, Sig: base64.StdEncoding.EncodeToString(sig)})
	return out
}

// TestIndexLoggedSignatures: entries a trustd logged before signed
// payloads were recorded, among them a re-encoded copy, are recorded at
// start in log order: the first keeps the payload, the copy is counted a
// repeat, and a copy submitted since is the first entry. A second run
// reads nothing.
func TestIndexLoggedSignatures(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			alice := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			payload, err := envelope.NewStatement(testPredicate, json.RawMessage(`{"passed":true}`), artifact("legacy.tar"))
			if err != nil {
				t.Fatal(err)
			}
			raw := signPayload(t, envelope.PayloadTypeInToto, payload, alice)
			var indented bytes.Buffer
			if err := json.Indent(&indented, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			rec := store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: testPredicate, Payload: payload,
				SignerKeyIDs: []string{alice.pub.ID}, Subjects: []store.StatementSubject{{Name: "legacy.tar", Digests: artifact("legacy.tar").Digests}}}
			rec.Envelope = raw
			first := teststore.AppendUnchecked(t, f.store, rec)
			rec.Envelope = indented.Bytes()
			teststore.AppendUnchecked(t, f.store, rec)
			if err := f.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
				return w.SetDerivedBackfill(ctx, store.BackfillSignedDigests, 2)
			}); err != nil {
				t.Fatal(err)
			}
			if read, repeats, err := statement.IndexLoggedSignatures(ctx, f.store, nil); err != nil || read != 2 || repeats != 1 {
				t.Fatalf("IndexLoggedSignatures = %d read, %d repeats, %v; want 2 and 1", read, repeats, err)
			}
			got, created, err := f.log.Submit(ctx, marshal(t, urlSafe(mustEnvelope(t, raw))))
			if err != nil || created || got.Seq != first.Seq {
				t.Errorf("a copy since: entry %d created %v, %v; want the first entry %d", got.Seq, created, err, first.Seq)
			}
			if read, repeats, err := statement.IndexLoggedSignatures(ctx, f.store, nil); err != nil || read != 0 || repeats != 0 {
				t.Errorf("a second run = %d read, %d repeats, %v; want nothing", read, repeats, err)
			}
		})
	}
}

func mustEnvelope(t *testing.T, raw []byte) dsse.Envelope {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	return env
}
