package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/token"
)

// Offline verification, as an admission controller runs it: the bytes, the
// token stored beside them (here a FILE.trust.json sidecar; for images an
// OCI referrer) and the pinned token key decide, with no server.
func ExampleVerify() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	artifact := filepath.Join(dir, "app.tar.gz")
	_ = os.WriteFile(artifact, []byte("release bytes\n"), 0o644)

	f, err := policy.Parse([]byte(`apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      any:
        - token: {maxAge: 24h}
        - tuf: {repo: acme/releases, pattern: "app-*"}
`))
	if err != nil {
		panic(err)
	}
	p, _ := f.Policy("production")

	// What trustd does on IssueToken after the policy passed: sign a VSA.
	priv, pub, _ := envelope.GenerateKey(envelope.KeyTypeED25519)
	signer, _, _ := envelope.LoadPrivateKey(priv, nil)
	art, _ := client.Resolve(ctx, artifact, client.ResolveOptions{})
	now := time.Now()
	tok, _, err := token.NewIssuer(signer, pub).Issue(ctx, token.Claims{
		Subject: []digest.Digest{art.SHA256()}, ResourceURI: art.ResourceURI, TimeVerified: now, Expires: now.Add(time.Hour),
		PolicyName: p.Name, PolicyURI: p.URI(), PolicyDigest: p.Digest(), Result: token.ResultPassed,
	})
	if err != nil {
		panic(err)
	}
	if _, err := client.AttachToken(ctx, art, tok); err != nil {
		panic(err)
	}

	res, err := client.Verify(ctx, artifact, client.VerifyOptions{Policy: p, TokenKeys: token.Keys{pub}})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Verdict.Outcome)
	for _, c := range res.Verdict.Result.Children {
		fmt.Println(strings.TrimSpace(fmt.Sprint(c.Kind, " ", c.Outcome, " ", c.Reason)))
	}
	// Output:
	// pass
	// token pass
	// tuf fail OFFLINE
}
