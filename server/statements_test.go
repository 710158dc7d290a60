package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store/storetest"
)

// signed returns a registered key's envelope over a statement about the
// seeded artifact, and an unregistered key's.
func signed(t *testing.T, f *fixture) (good, stranger []byte) {
	t.Helper()
	keys := trustv1.NewKeyServiceClient(f.conn)
	mk := func(register bool) []byte {
		priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
		if err != nil {
			t.Fatal(err)
		}
		if register {
			if _, err := keys.AddKey(context.Background(), &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); err != nil {
				t.Fatal(err)
			}
		}
		s, _, err := envelope.LoadPrivateKey(priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := envelope.NewStatement("https://example.com/p", json.RawMessage(`{}`),
			envelope.Subject{Name: "a", Digests: []digest.Digest{storetest.Seeded.SHA256}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, s)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		return raw
	}
	return mk(true), mk(false)
}

func TestStatementAndKeyErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good, stranger := signed(t, f)
	stmts := trustv1.NewStatementServiceClient(f.conn)
	keys := trustv1.NewKeyServiceClient(f.conn)
	logs := trustv1.NewLogServiceClient(f.conn)

	resp, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: good})
	if err != nil || resp.GetEntry().GetSeq() != 1 || !resp.GetCreated() {
		t.Fatalf("Submit = %v, %v", resp, err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(good, &env); err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	sig[0] ^= 1
	env.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	tampered, _ := json.Marshal(env)
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"empty envelope", func() error { _, err := stmts.Submit(ctx, &trustv1.SubmitRequest{}); return err }, codes.InvalidArgument, "envelope: is required"},
		{"garbage envelope", func() error {
			_, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: []byte("{")})
			return err
		}, codes.InvalidArgument, "envelope"},
		{"unknown signer", func() error { _, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: stranger}); return err }, codes.FailedPrecondition, "not registered"},
		{"bad signature", func() error {
			_, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: tampered})
			return err
		}, codes.PermissionDenied, "signatures[0]"},
		{"seq zero", func() error { _, err := stmts.GetStatement(ctx, &trustv1.GetStatementRequest{}); return err }, codes.InvalidArgument, "seq"},
		{"seq unknown", func() error {
			_, err := stmts.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: 9})
			return err
		}, codes.NotFound, "statement 9"},
		{"page token", func() error {
			_, err := stmts.ListBySubject(ctx, &trustv1.ListBySubjectRequest{Digest: storetest.Seeded.SHA256.String(), PageToken: "zz"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"page size", func() error {
			_, err := keys.ListKeys(ctx, &trustv1.ListKeysRequest{PageSize: 5000})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"garbage key", func() error {
			_, err := keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: []byte("-----BEGIN NOTHING-----")})
			return err
		}, codes.InvalidArgument, "public_key"},
		{"label with control character", func() error {
			_, err := keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: []byte("x"), Label: "a\x07b"})
			return err
		}, codes.InvalidArgument, "label"},
		{"unknown key", func() error { _, err := keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: "nope"}); return err }, codes.NotFound, "nope"},
		{"proof past the end", func() error {
			_, err := logs.GetInclusionProof(ctx, &trustv1.GetInclusionProofRequest{Seq: 2})
			return err
		}, codes.OutOfRange, "seq 2"},
		{"checkpoint past the end", func() error {
			_, err := logs.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{TreeSize: 5})
			return err
		}, codes.OutOfRange, "tree_size 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.call())
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("= %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
	if n, _ := f.store.LogSize(ctx); n != 1 {
		t.Errorf("log size %d after rejected submissions, want 1", n)
	}
}

func TestLogHTTP(t *testing.T) {
	f := newFixture(t)
	good, _ := signed(t, f)
	if _, err := trustv1.NewStatementServiceClient(f.conn).Submit(context.Background(), &trustv1.SubmitRequest{Envelope: good}); err != nil {
		t.Fatal(err)
	}
	h := f.srv.HTTPHandler()
	get := func(path string) (int, string, http.Header) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String(), rec.Header()
	}
	code, body, hdr := get("/log/checkpoint")
	if code != http.StatusOK || !strings.HasPrefix(body, "test-log\n1\n") || !strings.HasPrefix(hdr.Get("X-Log-Verifier-Key"), "test-log+") {
		t.Errorf("/log/checkpoint = %d %q %v", code, body, hdr)
	}
	code, body, _ = get("/log/proof/inclusion?seq=1")
	var proof struct {
		TreeSize   uint64   `json:"tree_size"`
		Hashes     [][]byte `json:"hashes"`
		Checkpoint string   `json:"checkpoint"`
	}
	if err := json.Unmarshal([]byte(body), &proof); code != http.StatusOK || err != nil || proof.TreeSize != 1 || len(proof.Hashes) != 0 {
		t.Errorf("/log/proof/inclusion = %d %q", code, body)
	}
	for path, want := range map[string]int{
		"/log/proof/inclusion":            http.StatusBadRequest,
		"/log/proof/inclusion?seq=x":      http.StatusBadRequest,
		"/log/proof/inclusion?seq=7":      http.StatusBadRequest,
		"/log/proof/consistency?from=1":   http.StatusOK,
		"/log/proof/consistency?from=3":   http.StatusBadRequest,
		"/log/proof/consistency?from=a&b": http.StatusBadRequest,
	} {
		if code, body, _ := get(path); code != want {
			t.Errorf("%s = %d %q, want %d", path, code, body, want)
		}
	}
}
