package token_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/token"
)

// Checking a token: the signature against the pinned token key, then the
// claims against the bytes' digest, the policy enforced and the clock.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	priv, pub, _ := envelope.GenerateKey(envelope.KeyTypeED25519)
	signer, _, _ := envelope.LoadPrivateKey(priv, nil)
	bytesDigest := digest.MustParse("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	policyDigest := digest.MustParse("sha256:8b9f6e5a7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5")
	issued := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	env, id, _ := token.NewIssuer(signer, pub).Issue(ctx, token.Claims{
		Subject: []digest.Digest{bytesDigest}, TimeVerified: issued, Expires: issued.Add(24 * time.Hour),
		PolicyName: "production", PolicyURI: "trustd:policy/production", PolicyDigest: policyDigest,
		Result: token.ResultPassed, RevocationListSeq: 7,
	})

	v, _ := token.NewVerifier(ctx, token.Keys{pub})
	tok, err := v.Verify(ctx, env)
	if err != nil {
		panic(err)
	}
	want := token.Expect{Digests: []digest.Digest{bytesDigest}, PolicyURI: "trustd:policy/production", PolicyDigest: policyDigest, MaxAge: 48 * time.Hour}
	fmt.Println(tok.ID == id, tok.Claims.RevocationListSeq, tok.Check(want, issued.Add(time.Hour)))
	err = tok.Check(want, issued.Add(25*time.Hour))
	fmt.Println(errors.Is(err, token.ErrExpired))
	// Output:
	// true 7 <nil>
	// true
}
