package client

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/token"
)

// TestAddTokenTargets: online verify asks the one evidence call for the
// revocation state of everything a token the evaluator may accept relies
// on (its id, its key, the signers it names, its input log entries and
// TUF metadata, which the log holds verbatim), so
// the deny-overrides check is answered from the same evidence; a token no
// trusted key verifies adds its id alone.
func TestAddTokenTargets(t *testing.T) {
	ctx := context.Background()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("app"))
	art, _ := digest.New(digest.SHA256, sum[:])
	sum = sha256.Sum256([]byte("statement"))
	input, _ := digest.New(digest.SHA256, sum[:])
	now := time.Now()
	tok, id, err := token.NewIssuer(signer, pub).Issue(ctx, token.Claims{
		Subject: []digest.Digest{art}, TimeVerified: now, Expires: now.Add(time.Hour),
		PolicyName: "p", PolicyURI: "trustd:policy/p", PolicyDigest: art, Result: token.ResultPassed,
		Signers: []string{"signerkey"}, Inputs: []token.Input{{URI: "trustd:log/7", Digest: input}, {URI: "trustd:tuf/acme/1.targets.json", Digest: art}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := evidence.Request{Digests: []digest.Digest{art}}
	addTokenTargets(ctx, &req, &TokenChecker{Keys: token.Keys{pub}}, [][]byte{tok})
	if !slices.Equal(req.Tokens, []string{id}) || !slices.Equal(req.Keys, []string{pub.ID, "signerkey"}) || !slices.Equal(req.Statements, []digest.Digest{input, art}) {
		t.Errorf("targets: tokens %v, keys %v, statements %v; want %s, [%s signerkey], [%s %s]", req.Tokens, req.Keys, req.Statements, id, pub.ID, input, art)
	}
	if err := req.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	_, stranger, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	req = evidence.Request{Digests: []digest.Digest{art}}
	addTokenTargets(ctx, &req, &TokenChecker{Keys: token.Keys{stranger}}, [][]byte{tok})
	if !slices.Equal(req.Tokens, []string{id}) || len(req.Keys)+len(req.Statements) != 0 {
		t.Errorf("an untrusted token: tokens %v, keys %v, statements %v; want its id alone", req.Tokens, req.Keys, req.Statements)
	}
}
