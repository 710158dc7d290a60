package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// indent re-encodes JSON with whitespace, which no signature covers.
func indent(t *testing.T, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSignedOnceOwnerFormats: in every format trustd verifies itself, a
// copy of a logged signature in other bytes (re-indented, or the same
// message signed anew) is the entry first logged, so it cannot bring
// back a revoked entry (revocations name the entry) or spend its
// signer's quota: cosign records (a simple-signing payload signed anew, a
// blob bundle re-indented), a message-signature Sigstore bundle
// re-indented, Notation signatures made anew (both formats) and a JWS one
// re-indented, and in-toto layouts and links re-indented.
func TestSignedOnceOwnerFormats(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			once := func(t *testing.T, put func(data []byte) (int64, bool, error), first []byte, copies ...[]byte) {
				t.Helper()
				seq, created, err := put(first)
				if err != nil || !created {
					t.Fatalf("the first: created %v, %v", created, err)
				}
				// What the backfill computes from the entry as logged is
				// what the append recorded.
				st, err := e.store.Statement(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				d, ok := attest.SignedDigest(st)
				if logged, err := e.store.SignedBefore(ctx, d, st.SignerKeyIDs); !ok || err != nil || !logged {
					t.Errorf("SignedDigest(entry %d) = %s, %v: logged %v, %v; want what the append recorded", seq, d, ok, logged, err)
				}
				for i, c := range copies {
					if bytes.Equal(c, first) {
						t.Fatalf("copy %d is the first's bytes", i)
					}
					got, created, err := put(c)
					if err != nil || created || got != seq {
						t.Errorf("copy %d: entry %d created %v, %v; want the first entry %d", i, got, created, err, seq)
					}
				}
			}
			putter := func(req attest.PutRequest) func([]byte) (int64, bool, error) {
				return func(data []byte) (int64, bool, error) {
					r := req
					r.Data = data
					a, created, err := e.svc.Put(ctx, r)
					return a.Seq, created, err
				}
			}

			t.Run("cosign", func(t *testing.T) {
				k := newCosignKey(t, e, "release")
				payload := simpleSigningPayload(sha256Of("image manifest"))
				simple := func() []byte {
					return record(t, cosign.Record{Kind: cosign.KindSimpleSigning, KeyID: k.id, Data: payload, Signature: k.sign(t, payload)})
				}
				once(t, putter(attest.PutRequest{}), simple(), simple())
				blob := []byte("tarball")
				bundle := fmt.Appendf(nil, `{"base64Signature":%q,"rekorBundle":null}`, k.sign(t, blob))
				blobRecord := func(data []byte) []byte {
					return record(t, cosign.Record{Kind: cosign.KindBlobBundle, KeyID: k.id, Digest: sha256Of(string(blob)).String(), Data: data})
				}
				once(t, putter(attest.PutRequest{}), blobRecord(bundle), blobRecord(indent(t, bundle)))
			})

			t.Run("message-signature bundle", func(t *testing.T) {
				ent, err := e.vs.Sign(identity, issuer, []byte("release tarball bytes"))
				if err != nil {
					t.Fatal(err)
				}
				b := attesttest.Bundle(t, e.vs, ent, attesttest.Opts{TLog: true, TSA: true, MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1"})
				once(t, putter(attest.PutRequest{}), b, indent(t, b))
			})

			t.Run("notation", func(t *testing.T) {
				acme, nt, _, _ := notationSetup(t)
				svc := attest.New(e.store, e.log, attest.Options{Notation: nt})
				put := func(data []byte) (int64, bool, error) {
					a, created, err := svc.Put(ctx, attest.PutRequest{Data: data})
					return a.Seq, created, err
				}
				for _, mt := range notationFormats {
					img := notationImage("acme app " + mt)
					ref := "registry.example/acme/app@" + img.Digest.String()
					first := acme.Sign(t, img, mt)
					copies := [][]byte{notationDoc(t, mt, acme.Sign(t, img, mt), ref)}
					if mt == attest.NotationMediaTypeJWS {
						copies = append(copies, notationDoc(t, mt, indent(t, first), ref))
					}
					once(t, put, notationDoc(t, mt, first, ref), copies...)
				}
			})

			t.Run("in-toto layout and link", func(t *testing.T) {
				sc := newSupplyChain(t, e)
				layout := sc.Layout(t, "copied")
				once(t, putter(attest.PutRequest{LayoutKeyIDs: []string{sc.ownerID}}), layout, indent(t, layout))
				l, err := e.store.StatementsByPredicate(ctx, attest.LayoutPredicateType, 0, 1)
				if err != nil || len(l) != 1 {
					t.Fatalf("the layout: %v, %v", l, err)
				}
				seq := l[0].Seq
				link := sc.Link(t, "write-code", nil, []string{"foo.py"}, sc.Alice)
				once(t, putter(attest.PutRequest{Layout: seq}), link, indent(t, link))
			})
		})
	}
}
