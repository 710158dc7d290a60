package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
)

// TestRevokedStatementCopy: a stranger with a registered key cannot bring
// back an attestation its signer withdrew by logging a copy of it. The
// revocation names the original's envelope digest; a re-encoded copy
// (indented JSON) is the original entry, still revoked, and a copy with
// the stranger's signature added is refused with AlreadyExists. The
// artifact's subject keeps one fact, revoked.
func TestRevokedStatementCopy(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newRevFixture(t, b.Open(t))
			stmts := trustv1.NewStatementServiceClient(f.conn)
			subjects := trustv1.NewSubjectServiceClient(f.conn)
			sum := sha256.Sum256([]byte("artifact"))
			d, _ := digest.New(digest.SHA256, sum[:])

			stmt, err := envelope.NewStatement("https://example.com/scan/v1", json.RawMessage(`{"clean":true}`), envelope.Subject{Name: "artifact", Digests: []digest.Digest{d}})
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, f.authority)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(env)
			orig, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
			if err != nil {
				t.Fatal(err)
			}
			withdrawal := f.sign(t, revocation.Predicate{Action: revocation.ActionRevoke,
				Target: revocation.Target{Kind: revocation.KindStatement, ID: orig.GetEntry().GetEnvelopeDigest()},
				Reason: revocation.ReasonWithdrawn, Effective: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}, f.authority)
			if _, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: withdrawal}); err != nil {
				t.Fatal(err)
			}

			// The stranger registers a key and logs copies.
			priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := keys.NewRegistry(f.store).Add(ctx, pub.Encode(), "stranger"); err != nil {
				t.Fatal(err)
			}
			stranger, _, err := envelope.LoadPrivateKey(priv, nil)
			if err != nil {
				t.Fatal(err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			copied, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: indented.Bytes()})
			if err != nil || copied.GetCreated() || copied.GetEntry().GetSeq() != orig.GetEntry().GetSeq() {
				t.Errorf("the re-encoded copy: entry %d created %v, %v; want the original entry %d", copied.GetEntry().GetSeq(), copied.GetCreated(), err, orig.GetEntry().GetSeq())
			}
			sig, err := stranger.Sign(ctx, dsse.PAE(env.PayloadType, stmt))
			if err != nil {
				t.Fatal(err)
			}
			cosigned := *env
			cosigned.Signatures = append(append([]dsse.Signature(nil), env.Signatures...), dsse.Signature{KeyID: pub.ID, Sig: base64.StdEncoding.EncodeToString(sig)})
			rawCosigned, _ := json.Marshal(cosigned)
			if _, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: rawCosigned}); status.Code(err) != codes.AlreadyExists {
				t.Errorf("the copy with the stranger's signature added = %v; want AlreadyExists", err)
			}

			resp, err := subjects.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String()})
			if err != nil {
				t.Fatal(err)
			}
			facts := resp.GetSubject().GetFacts()
			if len(facts) != 1 || facts[0].GetSeq() != orig.GetEntry().GetSeq() || facts[0].GetStatus() != trustv1.FactStatus_FACT_STATUS_REVOKED {
				t.Errorf("facts %v; want the original entry %d alone, revoked", facts, orig.GetEntry().GetSeq())
			}
		})
	}
}
