package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testwitness"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/witness"
)

// tokenPolicies are the token policies the test servers hold.
func tokenPolicies(t testing.TB) *policy.Catalog {
	t.Helper()
	c, err := policy.LoadCatalog(policy.CatalogSources{Dirs: []string{filepath.Join("testdata", "token-policies")}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// heldPolicy is the named policy as a verifier reads it from the same
// file trustd holds.
func heldPolicy(t *testing.T, file, name string) *policy.Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "token-policies", file))
	if err != nil {
		t.Fatal(err)
	}
	f, err := policy.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Policy(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingSigner counts the signatures the token key makes.
type countingSigner struct {
	envelope.Signer
	n atomic.Int64
}

func (s *countingSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.Sign(ctx, data)
}

// tokenServerOptions vary the token service of tokenServer.
type tokenServerOptions struct {
	ttl        time.Duration
	policies   *policy.Catalog
	verifierID string
	// witnesses, when set, is filled with witnesses the server pushes
	// its checkpoints to.
	witnesses *tokenWitnesses
}

// tokenWitnesses are two in-process witnesses of a token server's log and
// its pusher.
type tokenWitnesses struct {
	pusher *witness.Pusher
	keys   []string
	logKey string
}

// tokenServer serves a server with a token key over bufconn and returns a
// connection to it, the online TUF keys and the token key's signer.
func tokenServer(t *testing.T, o tokenServerOptions) (*grpc.ClientConn, *tuf.OnlineKeys, *countingSigner) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := newLog(t, st)
	tufSvc, tufState, online := tuftest.NewService(t, st, l)
	signer, pub, err := token.LoadOrCreateKey(filepath.Join(t.TempDir(), "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingSigner{Signer: signer}
	var pusher *witness.Pusher
	if o.witnesses != nil {
		var ws []witness.Witness
		for i, name := range []string{"witness.example/a", "witness.example/b"} {
			w, err := testwitness.New(name, bytes.Repeat([]byte{byte(i + 1)}, 32), l.VerifierKey())
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(w)
			t.Cleanup(hs.Close)
			pw, err := witness.Parse(w.VerifierKey() + "=" + hs.URL)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, pw)
			o.witnesses.keys = append(o.witnesses.keys, w.VerifierKey())
		}
		if pusher, err = witness.New(context.Background(), l, st, witness.Options{Witnesses: ws}); err != nil {
			t.Fatal(err)
		}
		o.witnesses.pusher, o.witnesses.logKey = pusher, l.VerifierKey()
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TUF: tufSvc, TUFState: tufState, TUFKeys: online, TokenIssuer: token.NewIssuer(counting, pub), TokenTTL: o.ttl, Version: "test",
		TokenPolicies: o.policies, TokenVerifierID: o.verifierID, Witnesses: pusher})
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
	return conn, online, counting
}

// signApp makes acme/images list app.tar.gz (bytes "app") and returns its
// sha256 digest: the held policy "release" passes for it.
func signApp(t *testing.T, conn *grpc.ClientConn, online *tuf.OnlineKeys) string {
	t.Helper()
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
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestIssueToken(t *testing.T) {
	const verifierID = "https://trustd.example/prod"
	conn, online, _ := tokenServer(t, tokenServerOptions{ttl: 2 * time.Hour, policies: tokenPolicies(t), verifierID: verifierID})
	ctx := context.Background()
	appDigest := signApp(t, conn, online)
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
		ResourceUri: "https://example.com/app.tar.gz", PolicyName: "release"})
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
	// The VSA's verifier id, levels and policy are the server's
	// configuration: the verifier id flag and the held policy file, whose
	// digest a verifier enforcing the same file computes.
	p := heldPolicy(t, "release.yaml", "release")
	cl := tok.Claims
	if cl.VerifierID != verifierID || cl.PolicyDigest != p.Digest() || cl.PolicyURI != "trustd:policy/release" || cl.PolicyName != "release" ||
		len(cl.Levels) != 1 || cl.Levels[0] != "SLSA_BUILD_LEVEL_1" {
		t.Errorf("configured claims: %+v", cl)
	}
	if cl.ResourceURI != "https://example.com/app.tar.gz" || cl.Name != "app.tar.gz" || cl.VerifierVersion != "test" {
		t.Errorf("request claims: %+v", cl)
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

	// A held policy that does not pass: no token, and the verdict says why.
	resp, err = c.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, PolicyName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	var verdict policy.Verdict
	if err := json.Unmarshal(resp.GetVerdict(), &verdict); err != nil || resp.GetIssued() || len(resp.GetToken()) != 0 ||
		verdict.Outcome != policy.Fail || verdict.Result.Reason != policy.ReasonUntrustedSigner {
		t.Errorf("failing policy: issued=%v %v %s", resp.GetIssued(), err, resp.GetVerdict())
	}

	// With no verifier id configured, tokens carry trustd's default.
	conn, online, _ = tokenServer(t, tokenServerOptions{policies: tokenPolicies(t)})
	appDigest = signApp(t, conn, online)
	resp, err = trustv1.NewTokenServiceClient(conn).IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, PolicyName: "release"})
	if err != nil || !resp.GetIssued() {
		t.Fatalf("default verifier id: %v %s", err, resp.GetVerdict())
	}
	if !strings.Contains(decodePayload(t, resp.GetToken()), `"id":"`+token.VerifierID+`"`) {
		t.Errorf("default verifier id missing from %s", decodePayload(t, resp.GetToken()))
	}
}

func decodePayload(t *testing.T, env []byte) string {
	t.Helper()
	var e struct{ Payload []byte }
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	return string(e.Payload)
}

// withPolicyDocument adds, as an old client sends it, field 4 (the policy
// file the caller wrote) to req.
func withPolicyDocument(req *trustv1.IssueTokenRequest, doc string) *trustv1.IssueTokenRequest {
	raw := protowire.AppendTag(nil, 4, protowire.BytesType)
	req.ProtoReflect().SetUnknown(protowire.AppendBytes(raw, []byte(doc)))
	return req
}

// TestIssueTokenOracle is the regression test of the signing oracle: a
// caller who writes a trivial policy claiming SLSA build level 3 must not
// get trustd's token key to sign it, whatever name the policy has. Only
// policies the server holds are evaluated; nothing else is signed.
func TestIssueTokenOracle(t *testing.T) {
	conn, online, signer := tokenServer(t, tokenServerOptions{policies: tokenPolicies(t)})
	ctx := context.Background()
	appDigest := signApp(t, conn, online)
	c := trustv1.NewTokenServiceClient(conn)
	arbitrary := "sha256:" + strings.Repeat("0f", 32)
	const trivial = `apiVersion: trustd.dev/policy/v1
policies:
  - name: %s
    levels: [SLSA_BUILD_LEVEL_3]
    require:
      reputation: {minScore: -1}
`
	tests := []struct {
		name string
		req  *trustv1.IssueTokenRequest
		code codes.Code
		msg  string
	}{
		{"caller-written trivial policy", withPolicyDocument(&trustv1.IssueTokenRequest{Digests: []string{arbitrary}, PolicyName: "trivial"}, strings.ReplaceAll(trivial, "%s", "trivial")),
			codes.InvalidArgument, "policy: trustd evaluates only the policies it holds"},
		{"caller-written policy under a held name", withPolicyDocument(&trustv1.IssueTokenRequest{Digests: []string{arbitrary}, PolicyName: "release"}, strings.ReplaceAll(trivial, "%s", "release")),
			codes.InvalidArgument, "policy: trustd evaluates only the policies it holds"},
		{"caller-written policy for bytes the held policy passes", withPolicyDocument(&trustv1.IssueTokenRequest{Digests: []string{appDigest}, PolicyName: "release"}, strings.ReplaceAll(trivial, "%s", "release")),
			codes.InvalidArgument, "policy: trustd evaluates only the policies it holds"},
		{"name of a policy trustd does not hold", &trustv1.IssueTokenRequest{Digests: []string{arbitrary}, PolicyName: "trivial"},
			codes.NotFound, `"trivial": no such policy; this trustd holds clean, other, release, wide`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.IssueToken(ctx, tc.req)
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
			if len(resp.GetToken()) != 0 || resp.GetIssued() {
				t.Errorf("a token was returned: %s", resp.GetToken())
			}
		})
	}
	if n := signer.n.Load(); n != 0 {
		t.Fatalf("the token key signed %d times for refused requests", n)
	}
	// The held policy of that name still issues, and only for bytes it
	// passes: the one signature of this test.
	resp, err := c.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{arbitrary}, PolicyName: "release"})
	if err != nil || resp.GetIssued() {
		t.Errorf("held policy for arbitrary bytes: issued %v, %v", resp.GetIssued(), err)
	}
	resp, err = c.IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, PolicyName: "release"})
	if err != nil || !resp.GetIssued() || signer.n.Load() != 1 {
		t.Errorf("held policy for its bytes: issued %v, %v, %d signatures", resp.GetIssued(), err, signer.n.Load())
	}
	if p := decodePayload(t, resp.GetToken()); strings.Contains(p, "SLSA_BUILD_LEVEL_3") || !strings.Contains(p, `"verifiedLevels":["SLSA_BUILD_LEVEL_1"]`) {
		t.Errorf("levels are not the held policy's: %s", p)
	}
}

// TestIssueTokenNoPolicies: a trustd holding no policies issues nothing
// and says how to give it some.
func TestIssueTokenNoPolicies(t *testing.T) {
	empty, err := policy.LoadCatalog(policy.CatalogSources{})
	if err != nil {
		t.Fatal(err)
	}
	for name, cat := range map[string]*policy.Catalog{"unset": nil, "empty": empty} {
		t.Run(name, func(t *testing.T) {
			conn, _, signer := tokenServer(t, tokenServerOptions{policies: cat})
			_, err := trustv1.NewTokenServiceClient(conn).IssueToken(context.Background(),
				&trustv1.IssueTokenRequest{Digests: []string{"sha256:" + strings.Repeat("ab", 32)}, PolicyName: "release"})
			if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "--token-policy-dir") ||
				!strings.Contains(st.Message(), "no token policies configured") {
				t.Errorf("err = %v, want FailedPrecondition teaching --token-policy-dir", err)
			}
			if signer.n.Load() != 0 {
				t.Error("signed with no policies")
			}
		})
	}
}

func TestIssueTokenErrors(t *testing.T) {
	conn, _, signer := tokenServer(t, tokenServerOptions{ttl: time.Hour, policies: tokenPolicies(t)})
	c := trustv1.NewTokenServiceClient(conn)
	good := "sha256:" + strings.Repeat("ab", 32)
	sum := sha512.Sum512([]byte("x"))
	sha512Digest := "sha512:" + hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		req  *trustv1.IssueTokenRequest
		code codes.Code
		msg  string
	}{
		{"no digests", &trustv1.IssueTokenRequest{PolicyName: "release"}, codes.InvalidArgument, "digests: want 1 to 8"},
		{"bad digest", &trustv1.IssueTokenRequest{Digests: []string{"sha256:xyz"}, PolicyName: "release"}, codes.InvalidArgument, "digests[0]"},
		{"no sha256", &trustv1.IssueTokenRequest{Digests: []string{sha512Digest}, PolicyName: "release"}, codes.InvalidArgument, "a sha256 digest is required"},
		{"no policy name", &trustv1.IssueTokenRequest{Digests: []string{good}}, codes.InvalidArgument, "policy_name: required: the name of a policy this trustd holds (one of clean, other, release, wide)"},
		{"long name", &trustv1.IssueTokenRequest{Digests: []string{good}, Name: strings.Repeat("n", 1025), PolicyName: "release"}, codes.InvalidArgument, "name: longer than 1024 bytes"},
		{"long resource", &trustv1.IssueTokenRequest{Digests: []string{good}, ResourceUri: strings.Repeat("u", 4097), PolicyName: "release"}, codes.InvalidArgument, "resource_uri: longer than 4096 bytes"},
		{"resource not a reference", &trustv1.IssueTokenRequest{Digests: []string{good}, ResourceUri: "s3://bucket/app.tar.gz", PolicyName: "release"}, codes.InvalidArgument, "resource_uri: refname"},
		{"policy document", withPolicyDocument(&trustv1.IssueTokenRequest{Digests: []string{good}, PolicyName: "release"}, "apiVersion: v0\n"),
			codes.InvalidArgument, "policy: trustd evaluates only the policies it holds; name one in policy_name"},
		{"empty policy document", withPolicyDocument(&trustv1.IssueTokenRequest{Digests: []string{good}, PolicyName: "release"}, ""),
			codes.InvalidArgument, "policy: trustd evaluates only the policies it holds"},
		{"unknown name", &trustv1.IssueTokenRequest{Digests: []string{good}, PolicyName: "nope"}, codes.NotFound, `policy_name: policy: "nope": no such policy; this trustd holds clean, other, release, wide`},
		{"digest the policy needs", &trustv1.IssueTokenRequest{Digests: []string{good}, PolicyName: "wide"}, codes.InvalidArgument,
			"digests: policy wide needs a sha512 digest of the bytes too"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.IssueToken(context.Background(), tc.req)
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if signer.n.Load() != 0 {
		t.Errorf("the token key signed %d times for refused requests", signer.n.Load())
	}
}

// TestIssueTokenLogProof: a token carries the checkpoint trustd serves and
// its log inputs' inclusion proofs in it; with witnesses, the checkpoint
// they cosigned once it covers the inputs (an offline verifier requiring
// them passes), the plain latest one before their first round.
func TestIssueTokenLogProof(t *testing.T) {
	ctx := context.Background()
	issue := func(t *testing.T, conn *grpc.ClientConn, appDigest string) token.Claims {
		t.Helper()
		resp, err := trustv1.NewTokenServiceClient(conn).IssueToken(ctx, &trustv1.IssueTokenRequest{Digests: []string{appDigest}, PolicyName: "release"})
		if err != nil || !resp.GetIssued() {
			t.Fatalf("IssueToken: %v %s", err, resp.GetVerdict())
		}
		key, err := trustv1.NewTokenServiceClient(conn).GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := envelope.ParsePublicKey(key.GetPublicKey())
		if err != nil {
			t.Fatal(err)
		}
		v, err := token.NewVerifier(ctx, token.Keys{pub})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := v.Verify(ctx, resp.GetToken())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Claims.Log == nil {
			t.Fatal("token holds no log proof")
		}
		return tok.Claims
	}
	t.Run("no witnesses", func(t *testing.T) {
		conn, online, _ := tokenServer(t, tokenServerOptions{policies: tokenPolicies(t)})
		c := issue(t, conn, signApp(t, conn, online))
		if len(c.Log.Inclusions) != len(c.Inputs) {
			t.Fatalf("%d proofs for inputs %+v", len(c.Log.Inclusions), c.Inputs)
		}
		lk := logKeyOf(t, conn)
		if _, err := c.VerifyLog(lk, []string{mustWitnessKey(t)}, 1); !errors.Is(err, tlog.ErrWitnessQuorum) {
			t.Fatalf("VerifyLog without witnesses = %v, want ErrWitnessQuorum", err)
		}
	})
	t.Run("witnesses", func(t *testing.T) {
		var w tokenWitnesses
		conn, online, _ := tokenServer(t, tokenServerOptions{policies: tokenPolicies(t), witnesses: &w})
		appDigest := signApp(t, conn, online)
		// Before any witness round: the plain latest checkpoint.
		c := issue(t, conn, appDigest)
		if _, err := c.VerifyLog(w.logKey, w.keys, 1); !errors.Is(err, tlog.ErrWitnessQuorum) {
			t.Fatalf("VerifyLog before a witness round = %v, want ErrWitnessQuorum", err)
		}
		if err := w.pusher.Push(ctx); err != nil {
			t.Fatal(err)
		}
		c = issue(t, conn, appDigest)
		if len(c.Log.Inclusions) != len(c.Inputs) || len(c.Inputs) == 0 {
			t.Fatalf("%d proofs for inputs %+v", len(c.Log.Inclusions), c.Inputs)
		}
		names, err := c.VerifyLog(w.logKey, w.keys, 2)
		if err != nil || len(names) != 2 {
			t.Fatalf("VerifyLog(2 of 2) = %v, %v", names, err)
		}
	})
}

// logKeyOf is the server's log verifier key.
func logKeyOf(t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	resp, err := trustv1.NewLogServiceClient(conn).GetCheckpoint(context.Background(), &trustv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetVerifierKey()
}

// mustWitnessKey is a witness key no server here pushes to.
func mustWitnessKey(t *testing.T) string {
	t.Helper()
	w, err := testwitness.New("witness.example/z", bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return w.VerifierKey()
}
