package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// TestSubmitReservedTypes: over the API, a stranger's statement of one of
// trustd's own record types is refused with PermissionDenied naming the
// field, and the log does not grow. A forged row already in the store is
// shown with its payload type, so clients can tell it is not trustd's.
func TestSubmitReservedTypes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trustv1.NewKeyServiceClient(f.conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	victim, err := digest.Parse("sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(predicateType string) ([]byte, []byte) {
		payload, err := envelope.NewStatement(predicateType, json.RawMessage(`{}`), envelope.Subject{Name: "victim", Digests: []digest.Digest{victim}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, payload, signer)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		return raw, payload
	}
	stmts := trustv1.NewStatementServiceClient(f.conn)
	for _, pt := range []string{recordtype.TUFMetadata, recordtype.TUFPending, recordtype.PGPManifest, recordtype.PGPRevocation, recordtype.PGPCertUpdate,
		recordtype.RevocationList, "https://trustd.dev/unknown/v1"} {
		before, _ := f.store.LogSize(ctx)
		raw, _ := sign(pt)
		_, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "predicateType") {
			t.Errorf("Submit(%s) = %v, want PermissionDenied naming predicateType", pt, err)
		}
		if after, _ := f.store.LogSize(ctx); after != before {
			t.Errorf("Submit(%s): log grew from %d to %d", pt, before, after)
		}
	}

	raw, payload := sign(tufstore.PredicateType)
	forged := teststore.AppendUnchecked(t, f.store, store.Statement{PayloadType: envelope.PayloadTypeInToto, PredicateType: tufstore.PredicateType,
		Envelope: raw, Payload: payload, SignerKeyIDs: []string{pub.ID}, Subjects: []store.StatementSubject{{Name: "victim", Digests: []digest.Digest{victim}}}})
	resp, err := f.client.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: victim.String()})
	if err != nil {
		t.Fatal(err)
	}
	ev := resp.GetSubject().GetFacts()
	if len(ev) != 1 || ev[0].GetSeq() != uint64(forged.Seq) || ev[0].GetPayloadType() != envelope.PayloadTypeInToto ||
		recordtype.WrittenByOwner(ev[0].GetPayloadType(), ev[0].GetPredicateType()) || !ev[0].GetIgnored() || ev[0].GetTuf() != nil {
		t.Errorf("evidence = %v, want the forged entry with its in-toto payload type, not trustd's, ignored and not read as TUF metadata", ev)
	}
}
