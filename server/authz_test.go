package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/certtest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
)

// pki is a client CA and the certificates of every kind of caller.
type pki struct {
	ca        *certtest.CA
	server    certtest.Cert
	client    certtest.Cert // verified, named by nothing: authenticated
	opBySAN   certtest.Cert // verified, SAN named as an operator's
	opByPrint certtest.Cert // verified, fingerprint named as an operator's
}

func newPKI(t *testing.T) *pki {
	ca := certtest.NewCA(t, "trustd test CA")
	return &pki{ca: ca, server: ca.Server(t, "bufnet"), client: ca.Client(t, "deploy-bot", "deploy.example"),
		opBySAN: ca.Client(t, "ops", "ops@example.org"), opByPrint: ca.Client(t, "ops2", "ops2.example")}
}

// serverTLS verifies client certificates against the CA when given.
func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server.TLS}, ClientCAs: p.ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
}

func (p *pki) authz(reg server.KeyRegistration) server.Authz {
	return server.Authz{OperatorSANs: []string{"ops@example.org"}, OperatorFingerprints: []string{p.opByPrint.Fingerprint()}, KeyRegistration: reg}
}

// creds are the client credentials of a caller holding cert (none when
// nil).
func (p *pki) creds(cert *certtest.Cert) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return credentials.NewTLS(cfg)
}

// operatorServer returns server TLS, Authz and the client credentials of an
// operator, for fixtures whose tests call operator-only RPCs.
func operatorServer(t *testing.T) (*tls.Config, server.Authz, grpc.DialOption) {
	t.Helper()
	p := newPKI(t)
	return p.serverTLS(), p.authz(server.KeyRegistrationOpen), grpc.WithTransportCredentials(p.creds(&p.opBySAN))
}

// fullServer is a server with every service registered.
type fullServer struct {
	srv   *server.Server
	store store.Store
	lis   *bufconn.Listener
}

func newFullServer(t *testing.T, tlsCfg *tls.Config, authz server.Authz) *fullServer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts := newStack(t, st, revocation.Config{}, nil, nil).opts
	opts.TLS, opts.Authz = tlsCfg, authz
	srv, err := server.New(opts)
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
	return &fullServer{srv: srv, store: st, lis: lis}
}

func (f *fullServer) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return f.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestAuthzTableCoversEveryMethod: every method a fully configured server
// serves, and every method of every trust.v1 service, has a rule, and the
// table names nothing that is not served; so a new RPC cannot be added
// without deciding who may call it.
func TestAuthzTableCoversEveryMethod(t *testing.T) {
	table := server.AuthzTable()
	f := newFullServer(t, nil, server.Authz{})
	served := map[string]bool{}
	for svc, info := range f.srv.GRPC().GetServiceInfo() {
		for _, m := range info.Methods {
			name := "/" + svc + "/" + m.Name
			served[name] = true
			if _, ok := table[name]; !ok {
				t.Errorf("%s is served but not in the authorisation table", name)
			}
		}
	}
	for name := range table {
		if !served[name] {
			t.Errorf("the authorisation table names %s, which no service serves", name)
		}
	}
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("trust.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				name := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				n++
				if _, ok := table[name]; !ok {
					t.Errorf("%s is in the API but not in the authorisation table", name)
				}
			}
		}
		return true
	})
	if n < 30 {
		t.Errorf("found %d trust.v1 methods in the proto registry; the API files are not linked", n)
	}
}

// TestAuthzRoles calls a representative RPC of every rule as every kind of
// caller, on a server with key registration restricted to operators.
func TestAuthzRoles(t *testing.T) {
	p := newPKI(t)
	f := newFullServer(t, p.serverTLS(), p.authz(server.KeyRegistrationOperator))
	callers := []struct {
		name string
		cert *certtest.Cert
	}{
		{"anonymous", nil},
		{"authenticated", &p.client},
		{"operator by SAN", &p.opBySAN},
		{"operator by fingerprint", &p.opByPrint},
	}
	notAuthz := func(c codes.Code) bool { return c != codes.Unauthenticated && c != codes.PermissionDenied }
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			conn := f.dial(t, p.creds(c.cert))
			ctx := context.Background()
			operator := strings.HasPrefix(c.name, "operator")

			// Read: anyone; an unknown digest is NotFound, not a refusal.
			_, err := trustv1.NewSubjectServiceClient(conn).GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: "sha256:" + strings.Repeat("0", 64)})
			if status.Code(err) != codes.NotFound {
				t.Errorf("GetSubject: %v, want NotFound", err)
			}
			// Signed: anyone; the payload decides (garbage: InvalidArgument).
			_, err = trustv1.NewStatementServiceClient(conn).Submit(ctx, &trustv1.SubmitRequest{Envelope: []byte("{}")})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("Submit: %v, want InvalidArgument from the payload check", err)
			}
			// Read stream: anyone.
			stream, err := trustv1.NewRevocationServiceClient(conn).FetchRevocationList(ctx, &trustv1.FetchRevocationListRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if err != nil {
				t.Errorf("FetchRevocationList: %v", err)
			}

			// Key registration, restricted: operators only, and a refusal
			// stores nothing.
			_, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
			if err != nil {
				t.Fatal(err)
			}
			keys := trustv1.NewKeyServiceClient(conn)
			_, err = keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode()})
			want := map[string]codes.Code{"anonymous": codes.Unauthenticated, "authenticated": codes.PermissionDenied}[c.name]
			if got := status.Code(err); got != want {
				t.Errorf("AddKey: %v, want %v", err, want)
			}
			if _, err := keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: pub.ID}); (status.Code(err) == codes.NotFound) == operator {
				t.Errorf("GetKey after AddKey as %s: %v", c.name, err)
			}
			if want == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "CN=deploy-bot") {
				t.Errorf("refusal %q does not name the certificate", status.Convert(err).Message())
			}

			// Operator-only: feedback import. An operator passes the
			// authorisation and meets the request check.
			_, err = trustv1.NewFeedbackServiceClient(conn).ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{Origin: "x"})
			switch got := status.Code(err); {
			case operator && !notAuthz(got):
				t.Errorf("ImportFeedback as operator: %v, want past authorisation", err)
			case !operator && got != want:
				t.Errorf("ImportFeedback: %v, want %v", err, want)
			case !operator && !strings.Contains(status.Convert(err).Message(), "ImportFeedback"):
				t.Errorf("refusal %q does not name the method", status.Convert(err).Message())
			}
		})
	}
}

// TestAuthzStrangerCertificate: a stranger's own CA issues a certificate
// carrying the operator's SAN. A client that offers it only to servers
// asking for its issuer sends none (anonymous); one that forces it on the
// server fails the handshake. Either way it never reaches a role.
func TestAuthzStrangerCertificate(t *testing.T) {
	p := newPKI(t)
	f := newFullServer(t, p.serverTLS(), p.authz(server.KeyRegistrationOperator))
	forged := certtest.NewCA(t, "stranger CA").Client(t, "ops", "ops@example.org")
	forced := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged.TLS, nil }}
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		want  codes.Code
	}{
		{"offered", p.creds(&forged), codes.Unauthenticated},
		{"forced", credentials.NewTLS(forced), codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := f.dial(t, tc.creds)
			_, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := trustv1.NewKeyServiceClient(conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); status.Code(err) != tc.want {
				t.Errorf("AddKey with a forged operator certificate: %v, want %v", err, tc.want)
			}
			if _, err := f.store.Key(context.Background(), pub.ID); err == nil {
				t.Error("the forged operator registered a key")
			}
		})
	}
}

// TestAuthzPlaintext: without TLS every caller is anonymous: reads, signed
// writes and open key registration work, operator RPCs are refused.
func TestAuthzPlaintext(t *testing.T) {
	f := newFullServer(t, nil, server.Authz{})
	conn := f.dial(t, insecure.NewCredentials())
	ctx := context.Background()
	_, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trustv1.NewKeyServiceClient(conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode(), Label: "Alice-Release"}); err != nil {
		t.Errorf("AddKey with open registration: %v", err)
	}
	_, pub2, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	_, err = trustv1.NewKeyServiceClient(conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub2.Encode(), Label: "alice-release"})
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), `"alice-release"`) {
		t.Errorf("AddKey with a taken label: %v, want AlreadyExists naming the label", err)
	}
	_, err = trustv1.NewFeedbackServiceClient(conn).ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{Origin: "x"})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("ImportFeedback without a certificate: %v, want Unauthenticated", err)
	}
}

// TestStreamInterceptors: the streaming FetchRevocationList passes the
// same chain as unary calls: request id echoed, metrics and errors mapped.
func TestStreamInterceptors(t *testing.T) {
	f := newFullServer(t, nil, server.Authz{})
	conn := f.dial(t, insecure.NewCredentials())
	rev := trustv1.NewRevocationServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), server.RequestIDHeader, "stream-42")
	stream, err := rev.FetchRevocationList(ctx, &trustv1.FetchRevocationListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	header, err := stream.Header()
	if got := header.Get(server.RequestIDHeader); err != nil || len(got) != 1 || got[0] != "stream-42" {
		t.Errorf("request id header = %v, %v; want the caller's id echoed", got, err)
	}
	// The call is counted once the handler returns, before its status
	// reaches the client: read to the end, so the count is in /metrics.
	for err == nil {
		_, err = stream.Recv()
	}
	if err != io.EOF {
		t.Fatalf("FetchRevocationList: %v, want the list and its end", err)
	}
	// A list number beyond the head is a domain error, mapped like a
	// unary call's.
	stream, err = rev.FetchRevocationList(context.Background(), &trustv1.FetchRevocationListRequest{Since: 1 << 40})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) == codes.Unknown || status.Code(err) == codes.OK {
		t.Errorf("FetchRevocationList beyond the head: %v, want a mapped status", err)
	}
	rec := httptest.NewRecorder()
	f.srv.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `trustd_grpc_requests_total{code="OK",method="/trust.v1.RevocationService/FetchRevocationList"} 1`) {
		t.Errorf("/metrics lacks the stream call:\n%.3000s", rec.Body.String())
	}
}

// TestHTTPServesTLS: with TLS configured the HTTP listener speaks TLS with
// the same certificate, and refuses plaintext.
func TestHTTPServesTLS(t *testing.T) {
	p := newPKI(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st, Log: newLog(t, st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TLS: p.serverTLS()})
	if err != nil {
		t.Fatal(err)
	}
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcLis, httpLis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + httpLis.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET https /healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(p.server.Leaf) {
		t.Error("HTTP did not present the gRPC certificate")
	}
	resp, err = (&http.Client{Timeout: 10 * time.Second}).Get("http://" + httpLis.Addr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plaintext HTTP was answered with 200")
		}
	}
}

func TestAuthzOptionErrors(t *testing.T) {
	p := newPKI(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newLog(t, st)
	noCAs := p.serverTLS()
	noCAs.ClientCAs = nil
	tests := []struct {
		name  string
		tls   *tls.Config
		authz server.Authz
		msg   string
	}{
		{"operators without TLS", nil, server.Authz{OperatorSANs: []string{"ops"}}, "ClientCAs"},
		{"operators without client CAs", noCAs, server.Authz{OperatorSANs: []string{"ops"}}, "ClientCAs"},
		{"bad fingerprint", p.serverTLS(), server.Authz{OperatorFingerprints: []string{"abc"}}, "fingerprint"},
		{"restricted without operators", p.serverTLS(), server.Authz{KeyRegistration: server.KeyRegistrationOperator}, "no operator"},
		{"unknown registration", nil, server.Authz{KeyRegistration: "closed"}, "closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TLS: tc.tls, Authz: tc.authz})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("New = %v, want an error containing %q", err, tc.msg)
			}
		})
	}
}
