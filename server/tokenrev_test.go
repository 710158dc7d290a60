package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
)

// TestIssueTokenRevocation: IssueToken judges revocation requirements by
// the revocation service, and the token records the revocation list
// number it was checked against; GetTokenKey publishes the token key in
// trustd/keys.
func TestIssueTokenRevocation(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newRevFixture(t, b.Open(t))
			sha := func(s string) digest.Digest {
				sum := sha256.Sum256([]byte(s))
				d, _ := digest.New(digest.SHA256, sum[:])
				return d
			}
			bad, good := sha("revoked bytes"), sha("good bytes")
			raw := f.sign(t, revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindDigest, ID: bad.String()},
				Reason: revocation.ReasonMalicious, Effective: time.Now().UTC().Truncate(time.Second)}, f.authority)
			sub, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: raw})
			if err != nil {
				t.Fatal(err)
			}
			seq := sub.GetEntry().GetSeq()

			resp, err := f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{bad.String()}, PolicyName: "clean"})
			if err != nil || resp.GetIssued() || !strings.Contains(string(resp.GetVerdict()), `"reason": "REVOKED"`) {
				t.Fatalf("revoked digest: issued %v, %v\n%s", resp.GetIssued(), err, resp.GetVerdict())
			}
			resp, err = f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{good.String()}, PolicyName: "clean"})
			if err != nil || !resp.GetIssued() {
				t.Fatalf("good digest: %v\n%s", err, resp.GetVerdict())
			}
			var v struct {
				RevocationListSeq uint64 `json:"revocationListSeq"`
			}
			if err := json.Unmarshal(resp.GetVerdict(), &v); err != nil || v.RevocationListSeq != seq {
				t.Errorf("verdict list seq %d (%v), want %d", v.RevocationListSeq, err, seq)
			}
			ver, err := token.NewVerifier(ctx, token.Keys{f.tokenKey})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := ver.Verify(ctx, resp.GetToken())
			if err != nil || tok.Claims.RevocationListSeq != seq {
				t.Errorf("token list seq %d (%v), want %d", tok.Claims.RevocationListSeq, err, seq)
			}

			// The key is published in trustd/keys when first asked for.
			if _, err := f.tufState.Get(ctx, revocation.KeysRepo, "targets", 0); err == nil {
				t.Fatal("trustd/keys targets exist before anyone asked")
			}
			k, err := f.tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{})
			if err != nil || k.GetKeyId() != f.tokenKey.ID {
				t.Fatalf("GetTokenKey: %v %v", k, err)
			}
			targets, err := f.tufState.Get(ctx, revocation.KeysRepo, "targets", 0)
			if err != nil || !strings.Contains(string(targets), `"`+token.KeyTarget+`"`) || !strings.Contains(string(targets), f.tokenKey.ID) {
				t.Errorf("trustd/keys targets after GetTokenKey: %v\n%s", err, targets)
			}
		})
	}
}

// TestTokenKeyRotation: during a planned rotation GetTokenKey names the key
// that signs and the keys accepted beside it, and publishes them all in
// trustd/keys; a token signed by the previous key verifies with the keys
// it reports, as does one signed now.
func TestTokenKeyRotation(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			oldSigner, oldKey, err := token.LoadOrCreateKey(filepath.Join(t.TempDir(), "old-token.key"))
			if err != nil {
				t.Fatal(err)
			}
			_, oldListKey, err := revocation.LoadListKey(filepath.Join(t.TempDir(), "old-list.key"))
			if err != nil {
				t.Fatal(err)
			}
			f := newRotatingRevFixture(t, b.Open(t), []envelope.PublicKey{oldKey}, []envelope.PublicKey{oldListKey})
			k, err := f.tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{})
			if err != nil || k.GetKeyId() != f.tokenKey.ID || len(k.GetAcceptedPublicKeys()) != 1 {
				t.Fatalf("GetTokenKey: %v %v; want the new key and one accepted key", k, err)
			}
			var keys token.Keys
			for _, pem := range append([][]byte{k.GetPublicKey()}, k.GetAcceptedPublicKeys()...) {
				pub, err := envelope.ParsePublicKey(pem)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, pub)
			}
			if keys[1].ID != oldKey.ID {
				t.Errorf("accepted key %s, want the old key %s", keys[1].ID, oldKey.ID)
			}
			targets, err := f.tufState.Get(ctx, revocation.KeysRepo, "targets", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{token.KeyTarget, revocation.AcceptedKeyTarget(token.KeyTarget, oldKey.ID)} {
				if !strings.Contains(string(targets), `"`+name+`"`) {
					t.Errorf("trustd/keys targets lack %s:\n%s", name, targets)
				}
			}
			if _, err := f.rev.GetRevocationListKey(ctx, &trustv1.GetRevocationListKeyRequest{}); err != nil {
				t.Fatal(err)
			}
			if targets, err = f.tufState.Get(ctx, revocation.KeysRepo, "targets", 0); err != nil ||
				!strings.Contains(string(targets), `"`+revocation.AcceptedKeyTarget(revocation.ListKeyTarget, oldListKey.ID)+`"`) {
				t.Errorf("trustd/keys targets lack the old list key: %v\n%s", err, targets)
			}

			ver, err := token.NewVerifier(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			sum := sha256.Sum256([]byte("bytes"))
			d, _ := digest.New(digest.SHA256, sum[:])
			old, _, err := token.NewIssuer(oldSigner, oldKey).Issue(ctx, token.Claims{Subject: []digest.Digest{d}, VerifierID: token.VerifierID,
				TimeVerified: now, Expires: now.Add(time.Hour), PolicyURI: "trustd:policy/clean", PolicyDigest: d, Result: token.ResultPassed})
			if err != nil {
				t.Fatal(err)
			}
			if tok, err := ver.Verify(ctx, old); err != nil || tok.KeyID != oldKey.ID {
				t.Errorf("a token of the previous key: %v, %v", tok, err)
			}
			resp, err := f.tokens.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{d.String()}, PolicyName: "clean"})
			if err != nil || !resp.GetIssued() {
				t.Fatalf("IssueToken: %v\n%s", err, resp.GetVerdict())
			}
			if tok, err := ver.Verify(ctx, resp.GetToken()); err != nil || tok.KeyID != f.tokenKey.ID {
				t.Errorf("a token issued now: %v, %v; want signed by the new key", tok, err)
			}
		})
	}
}
