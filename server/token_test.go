package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// tokenServer serves a server with a token key over bufconn and returns a
// connection to it and the online TUF keys.
func tokenServer(t *testing.T, ttl time.Duration) (*grpc.ClientConn, *tuf.OnlineKeys) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := newLog(t, st)
	online := tuftest.OnlineKeys(t)
	tufState, err := tufstore.New(st, l)
	if err != nil {
		t.Fatal(err)
	}
	tufSvc, err := tuf.New(tufState, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	signer, pub, err := token.LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TUF: tufSvc, TUFState: tufState, TUFKeys: online, TokenIssuer: token.NewIssuer(signer, pub), TokenTTL: ttl, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, online
}

const tokenPolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: release
    levels: [SLSA_BUILD_LEVEL_1]
    require:
      tuf: {repo: acme/images, pattern: "app*"}
  - name: other
    require:
      tuf: {repo: acme/images, target: lib.tar.gz}
`

func TestIssueToken(t *testing.T) {
	conn, online := tokenServer(t, 2*time.Hour)
	ctx := context.Background()
	r := tuftest.NewRepo(t, "acme/images", online)
	tc := trustv1.NewTUFServiceClient(conn)
	if _, err := tc.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: r.Name, Root: r.RootV1}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: r.Name, Role: "targets", Metadata: r.SignTargets(t, nil, "app.tar.gz", []byte("app"))}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("app"))
	appDigest := "sha256:" + hex.EncodeToString(sum[:])
	c := trustv1.NewTokenServiceClient(conn)

	key, err := c.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := envelope.ParsePublicKey(key.GetPublicKey())
	if err != nil || pub.ID != key.GetKeyId() || key.GetKeyType() != envelope.KeyTypeED25519 {
		t.Fatalf("GetTokenKey: %v %+v", err, key)
	}

	before := time.Now().Add(-time.Second)
	resp, err := c.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, Name: "app.tar.gz",
		ResourceUri: "https://example.com/app.tar.gz", Policy: []byte(tokenPolicy), PolicyName: "release"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetIssued() || resp.GetTokenId() != token.ID(resp.GetToken()) {
		t.Fatalf("not issued: %s", resp.GetVerdict())
	}
	v, err := token.NewVerifier(ctx, token.Keys{pub})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(ctx, resp.GetToken())
	if err != nil {
		t.Fatal(err)
	}
	f, err := policy.Parse([]byte(tokenPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Policy("release")
	cl := tok.Claims
	if cl.PolicyDigest != p.Digest() || cl.PolicyURI != p.URI() || cl.PolicyName != "release" || cl.ResourceURI != "https://example.com/app.tar.gz" ||
		cl.Name != "app.tar.gz" || cl.VerifierVersion != "test" || len(cl.Levels) != 1 || cl.Levels[0] != "SLSA_BUILD_LEVEL_1" {
		t.Errorf("claims: %+v", cl)
	}
	if cl.TimeVerified.Before(before.Truncate(time.Second)) || cl.Expires.Sub(cl.TimeVerified) != 2*time.Hour || !resp.GetExpires().AsTime().Equal(cl.Expires) {
		t.Errorf("times: verified %s expires %s (response %s)", cl.TimeVerified, cl.Expires, resp.GetExpires().AsTime())
	}
	if len(cl.Inputs) != 1 || cl.Inputs[0].URI != "trustd:tuf/acme/images/1.targets.json" || cl.Inputs[0].Digest.Algorithm() != digest.SHA256 {
		t.Errorf("input attestations: %+v", cl.Inputs)
	}
	if err := tok.Check(token.Expect{Digests: []digest.Digest{digest.MustParse(appDigest)}, PolicyURI: p.URI(), PolicyDigest: p.Digest()}, time.Now()); err != nil {
		t.Errorf("Check: %v", err)
	}

	// A policy that does not pass: no token, and the verdict says why.
	resp, err = c.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, Policy: []byte(tokenPolicy), PolicyName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	var verdict policy.Verdict
	if err := json.Unmarshal(resp.GetVerdict(), &verdict); err != nil || resp.GetIssued() || len(resp.GetToken()) != 0 ||
		verdict.Outcome != policy.Fail || verdict.Result.Reason != policy.ReasonUntrustedSigner {
		t.Errorf("failing policy: issued=%v %v %s", resp.GetIssued(), err, resp.GetVerdict())
	}
}

func TestIssueTokenErrors(t *testing.T) {
	conn, _ := tokenServer(t, time.Hour)
	c := trustv1.NewTokenServiceClient(conn)
	good := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		req  *trustv1.IssueTokenRequest
		msg  string
	}{
		{"no digests", &trustv1.IssueTokenRequest{Policy: []byte(tokenPolicy)}, "digests: want 1 to 8"},
		{"bad digest", &trustv1.IssueTokenRequest{Digests: []string{"sha256:xyz"}, Policy: []byte(tokenPolicy)}, "digests[0]"},
		{"no sha256", &trustv1.IssueTokenRequest{Digests: []string{"sha512:" + strings.Repeat("ab", 64)}, Policy: []byte(tokenPolicy)}, "a sha256 digest is required"},
		{"no policy", &trustv1.IssueTokenRequest{Digests: []string{good}}, "policy: is required"},
		{"long name", &trustv1.IssueTokenRequest{Digests: []string{good}, Name: strings.Repeat("n", 1025), Policy: []byte(tokenPolicy)}, "name: longer than 1024 bytes"},
		{"long resource", &trustv1.IssueTokenRequest{Digests: []string{good}, ResourceUri: strings.Repeat("u", 4097), Policy: []byte(tokenPolicy)}, "resource_uri: longer than 4096 bytes"},
		{"bad policy", &trustv1.IssueTokenRequest{Digests: []string{good}, Policy: []byte("apiVersion: v0\n")}, "policy: policy: parse: apiVersion"},
		{"unnamed of two", &trustv1.IssueTokenRequest{Digests: []string{good}, Policy: []byte(tokenPolicy)}, "policy_name: policy: the file holds 2 policies"},
		{"unknown name", &trustv1.IssueTokenRequest{Digests: []string{good}, Policy: []byte(tokenPolicy), PolicyName: "nope"}, "policy_name: policy: \"nope\": no such policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.IssueToken(context.Background(), tc.req)
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("err = %v, want InvalidArgument containing %q", err, tc.msg)
			}
		})
	}
}
