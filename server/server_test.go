package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/tuftest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/store/storetest"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
)

type fixture struct {
	online *tuf.OnlineKeys
	srv    *server.Server
	store  store.Store
	conn   *grpc.ClientConn
	client trustv1.SubjectServiceClient
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := newLog(t, st)
	tufSvc, tufState, online := tuftest.NewService(t, st, l)
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxRequestBytes: 64 << 10,
		TUF: tufSvc, TUFState: tufState, TUFKeys: online})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fixture{online: online, srv: srv, store: st, conn: conn, client: trustv1.NewSubjectServiceClient(conn)}
}

func newLog(t *testing.T, st store.Store) *statement.Log {
	t.Helper()
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGetSubject(t *testing.T) {
	f := newFixture(t)
	storetest.Seed(t, f.store)
	ctx := context.Background()
	resp, err := f.client.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: storetest.Seeded.SHA512.Format(digest.FormatMultihash)})
	if err != nil {
		t.Fatalf("GetSubject: %v", err)
	}
	s := resp.GetSubject()
	if s.GetDigest() != storetest.Seeded.SHA512.String() {
		t.Errorf("digest = %q, want the canonical OCI form %q", s.GetDigest(), storetest.Seeded.SHA512)
	}
	if len(s.GetAliases()) != 2 || !s.GetAliases()[0].GetQueried() || s.GetAliases()[1].GetDigest() != storetest.Seeded.SHA256.String() {
		t.Fatalf("aliases = %v, want the queried sha512 then the sha256 alias", s.GetAliases())
	}
	alias := s.GetAliases()[1]
	if !alias.GetSameSubject() || len(alias.GetClaims()) != 1 {
		t.Fatalf("alias = %v, want same subject with one claim", alias)
	}
	c := alias.GetClaims()[0]
	if c.GetSource() != trustv1.ClaimSource_CLAIM_SOURCE_STATEMENT || len(c.GetSignerKeyIds()) != 1 || c.GetSignerKeyIds()[0] != storetest.Seeded.Signer ||
		c.GetStatementSeq() != 1 || len(c.GetDigests()) != 2 {
		t.Errorf("claim = %v", c)
	}
	// The seeded statement names both digests: one fact, shown once as
	// reached directly, naming both. This server serves no revocation
	// state, so its status is unknown, never "valid".
	if fs := s.GetFacts(); len(fs) != 1 || fs[0].GetViaAlias() != "" || len(fs[0].GetDigests()) != 2 || fs[0].GetSeq() != 1 ||
		fs[0].GetStatus() != trustv1.FactStatus_FACT_STATUS_UNKNOWN || s.GetEvidenceTruncated() {
		t.Errorf("facts = %v, want the seeded statement once, direct, naming both digests, status unknown", fs)
	}
	if resp, err := f.client.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: storetest.Seeded.SHA256.String(), EvidenceLimit: 1}); err != nil ||
		len(resp.GetSubject().GetFacts()) != 1 || resp.GetSubject().GetEvidenceTruncated() {
		t.Errorf("evidence_limit 1: %v, %v; want the one fact, not truncated", resp, err)
	}

	aliases, err := f.client.ListAliases(ctx, &trustv1.ListAliasesRequest{Digest: storetest.Seeded.SHA256.String()})
	if err != nil || len(aliases.GetAliases()) != 2 || aliases.GetSubjectId() != s.GetId() {
		t.Errorf("ListAliases = %v, %v", aliases, err)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	unknown := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		req  *trustv1.GetSubjectRequest
		code codes.Code
		msg  string
	}{
		{"empty digest", &trustv1.GetSubjectRequest{}, codes.InvalidArgument, "digest: is required"},
		{"unknown algorithm", &trustv1.GetSubjectRequest{Digest: "md5:d41d8cd98f00b204e9800998ecf8427e"}, codes.InvalidArgument, "digest: "},
		{"short hex", &trustv1.GetSubjectRequest{Digest: "sha256:abc"}, codes.InvalidArgument, "length"},
		{"uppercase", &trustv1.GetSubjectRequest{Digest: strings.ToUpper(unknown[:7]) + strings.ToUpper(unknown[7:])}, codes.InvalidArgument, "digest: "},
		{"oversized digest", &trustv1.GetSubjectRequest{Digest: "sha256:" + strings.Repeat("a", 4096)}, codes.InvalidArgument, "digest: "},
		{"unknown subject", &trustv1.GetSubjectRequest{Digest: unknown}, codes.NotFound, "no subject known"},
		{"page token", &trustv1.GetSubjectRequest{Digest: unknown, PageToken: "zz"}, codes.InvalidArgument, "page_token"},
		{"oversized request", &trustv1.GetSubjectRequest{Digest: strings.Repeat("x", 128<<10)}, codes.ResourceExhausted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.GetSubject(ctx, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("GetSubject = %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
}

func TestRequestIDAndHealth(t *testing.T) {
	f := newFixture(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), server.RequestIDHeader, "req-123")
	var header, trailer metadata.MD
	_, err := f.client.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: "sha256:bad"}, grpc.Header(&header), grpc.Trailer(&trailer))
	if got := header.Get(server.RequestIDHeader); len(got) != 1 || got[0] != "req-123" {
		t.Errorf("request id header = %v, want the caller's id echoed", got)
	}
	if got := trailer.Get(server.RequestIDHeader); len(got) != 1 || got[0] != "req-123" {
		t.Errorf("request id trailer = %v, want the caller's id echoed", got)
	}
	var info *errdetails.RequestInfo
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RequestInfo); ok {
			info = ri
		}
	}
	if info.GetRequestId() != "req-123" {
		t.Errorf("error %v: RequestInfo %v, want request id req-123", err, info)
	}
	hc := healthpb.NewHealthClient(f.conn)
	for _, svc := range []string{"", "trust.v1.SubjectService"} {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, %v", svc, resp, err)
		}
	}
}

func TestHTTPEndpoints(t *testing.T) {
	f := newFixture(t)
	_, _ = f.client.GetSubject(context.Background(), &trustv1.GetSubjectRequest{Digest: "sha256:bad"})
	h := f.srv.HTTPHandler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `trustd_grpc_requests_total{code="InvalidArgument",method="/trust.v1.SubjectService/GetSubject"} 1`) ||
		!strings.Contains(body, "trustd_grpc_request_duration_seconds_bucket") {
		t.Errorf("/metrics = %d, missing per-RPC series:\n%.2000s", code, body)
	}
	f.store.Close()
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "store") {
		t.Errorf("/readyz with closed store = %d %q, want 503 naming the store", code, body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st, Log: newLog(t, st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
