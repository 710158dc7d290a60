package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/certtest"
	"github.com/trustd-dev/trustd/internal/ratelimit"
	"github.com/trustd-dev/trustd/internal/teststore"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
)

// lockedBuffer is a log sink the server writes from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log records written so far.
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// apiServer is one trustd serving gRPC on an in-memory listener and HTTP
// (the JSON API) on a loopback httptest server.
type apiServer struct {
	srv  *server.Server
	conn *grpc.ClientConn
	url  string
	logs *lockedBuffer
	// tls is the HTTP clients' TLS configuration (nil: plain HTTP).
	tls *tls.Config
}

// newAPIServer serves every service over opts (from newStack) with
// MaxRequestBytes 64 KiB; with p, over TLS verifying client certificates.
func newAPIServer(t *testing.T, opts server.Options, p *pki) *apiServer {
	t.Helper()
	a := &apiServer{logs: &lockedBuffer{}}
	opts.Logger = slog.New(slog.NewJSONHandler(a.logs, nil))
	opts.MaxRequestBytes = 64 << 10
	var dial grpc.DialOption = grpc.WithTransportCredentials(insecure.NewCredentials())
	if p != nil {
		opts.TLS, opts.Authz = p.serverTLS(), p.authz(server.KeyRegistrationOpen)
		dial = grpc.WithTransportCredentials(p.creds(&p.client))
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = srv
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
	a.conn, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }), dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.conn.Close() })
	hs := httptest.NewUnstartedServer(srv.HTTPHandler())
	if p != nil {
		hs.TLS = p.serverTLS()
		hs.StartTLS()
		a.tls = &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	a.url = hs.URL
	return a
}

// client is an HTTP client presenting cert (none when nil).
func (a *apiServer) client(cert *certtest.Cert) *http.Client {
	if a.tls == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	cfg := a.tls.Clone()
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// apiResponse is one HTTP answer.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to path with the given headers.
func (a *apiServer) post(t *testing.T, c *http.Client, path string, body io.Reader, header map[string]string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return a.do(t, c, req)
}

func (a *apiServer) do(t *testing.T, c *http.Client, req *http.Request) apiResponse {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// call sends req as JSON (proto names) to method ("Service/Method" of
// trust.v1) and, on 200, decodes the answer into resp.
func (a *apiServer) call(t *testing.T, c *http.Client, method string, req, resp proto.Message) apiResponse {
	t.Helper()
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r := a.post(t, c, "/api/trust.v1."+method, bytes.NewReader(body), nil)
	if r.status == http.StatusOK && resp != nil {
		if err := protojson.Unmarshal(r.body, resp); err != nil {
			t.Fatalf("%s answer %s: %v", method, r.body, err)
		}
	}
	return r
}

// jsonError is the JSON body of an error answer (google.rpc.Status).
type jsonError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

func decodeError(t *testing.T, r apiResponse) jsonError {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var e jsonError
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s is not a google.rpc.Status: %v", r.body, err)
	}
	return e
}

// signedStatement registers a key over gRPC and returns an envelope it
// signed about d.
func signedStatement(t *testing.T, conn *grpc.ClientConn, d digest.Digest) []byte {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trustv1.NewKeyServiceClient(conn).AddKey(context.Background(), &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := envelope.NewStatement("https://example.com/p", json.RawMessage(`{"n":1}`), envelope.Subject{Name: "a", Digests: []digest.Digest{d}})
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

// TestHTTPAPIRoundTrip: a signed Submit and reads over JSON give what the
// same calls give over gRPC, with proto field names and zero values
// present, on both store backends.
func TestHTTPAPIRoundTrip(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			a := newAPIServer(t, newStack(t, st, revocation.Config{}, nil, nil).opts, nil)
			c := a.client(nil)
			ctx := context.Background()
			d := digestOf(t, digest.SHA256, "http api round trip")
			env := signedStatement(t, a.conn, d)

			// The write: a signed statement, its bytes base64 in JSON.
			var sub trustv1.SubmitResponse
			if r := a.call(t, c, "StatementService/Submit", &trustv1.SubmitRequest{Envelope: env}, &sub); r.status != http.StatusOK {
				t.Fatalf("Submit over JSON: %d %s", r.status, r.body)
			}
			if !sub.GetCreated() || sub.GetEntry().GetSeq() == 0 {
				t.Fatalf("Submit over JSON = %v, want a new entry", &sub)
			}
			// The same envelope again: not created, which only a present
			// zero value says.
			r := a.call(t, c, "StatementService/Submit", &trustv1.SubmitRequest{Envelope: env}, nil)
			var raw map[string]any
			if err := json.Unmarshal(r.body, &raw); err != nil || r.status != http.StatusOK {
				t.Fatalf("second Submit: %d %s %v", r.status, r.body, err)
			}
			if created, ok := raw["created"]; !ok || created != false {
				t.Errorf("second Submit answer %s: want \"created\": false present", r.body)
			}

			grpcStmts := trustv1.NewStatementServiceClient(a.conn)
			at := timestamppb.New(time.Now().Add(time.Minute).Truncate(time.Second))
			reads := []struct {
				method string
				req    proto.Message
				json   proto.Message
				grpc   func() (proto.Message, error)
			}{
				{"StatementService/GetStatement", &trustv1.GetStatementRequest{Seq: sub.GetEntry().GetSeq()}, &trustv1.GetStatementResponse{},
					func() (proto.Message, error) {
						return grpcStmts.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: sub.GetEntry().GetSeq()})
					}},
				{"StatementService/ListBySubject", &trustv1.ListBySubjectRequest{Digest: d.String()}, &trustv1.ListBySubjectResponse{},
					func() (proto.Message, error) {
						return grpcStmts.ListBySubject(ctx, &trustv1.ListBySubjectRequest{Digest: d.String()})
					}},
				{"KeyService/ListKeys", &trustv1.ListKeysRequest{}, &trustv1.ListKeysResponse{},
					func() (proto.Message, error) {
						return trustv1.NewKeyServiceClient(a.conn).ListKeys(ctx, &trustv1.ListKeysRequest{})
					}},
				{"LogService/GetInclusionProof", &trustv1.GetInclusionProofRequest{Seq: sub.GetEntry().GetSeq()}, &trustv1.GetInclusionProofResponse{},
					func() (proto.Message, error) {
						return trustv1.NewLogServiceClient(a.conn).GetInclusionProof(ctx, &trustv1.GetInclusionProofRequest{Seq: sub.GetEntry().GetSeq()})
					}},
				{"SubjectService/GetSubject", &trustv1.GetSubjectRequest{Digest: d.String(), At: at}, &trustv1.GetSubjectResponse{},
					func() (proto.Message, error) {
						return trustv1.NewSubjectServiceClient(a.conn).GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String(), At: at})
					}},
			}
			for _, rd := range reads {
				r := a.call(t, c, rd.method, rd.req, rd.json)
				if r.status != http.StatusOK {
					t.Errorf("%s over JSON: %d %s", rd.method, r.status, r.body)
					continue
				}
				want, err := rd.grpc()
				if err != nil {
					t.Fatalf("%s over gRPC: %v", rd.method, err)
				}
				if !proto.Equal(rd.json, want) {
					t.Errorf("%s: JSON answer %v, gRPC answer %v", rd.method, rd.json, want)
				}
				checkProtoNames(t, rd.method, r.body, rd.json.ProtoReflect().Descriptor())
			}
		})
	}
}

// checkProtoNames checks that body names every field of md by its proto
// name, zero values included, recursively into objects.
func checkProtoNames(t *testing.T, where string, body []byte, md protoreflect.MessageDescriptor) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("%s: %s is not a JSON object: %v", where, body, err)
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		v, ok := obj[string(f.Name())]
		if !ok {
			// Unset oneof members (optional fields too) are left out.
			if f.ContainingOneof() == nil {
				t.Errorf("%s: field %s missing from %s", where, f.Name(), body)
			}
			continue
		}
		// Well-known types (timestamps, durations) have JSON forms of
		// their own.
		if f.Kind() == protoreflect.MessageKind && !f.IsList() && !f.IsMap() && string(v) != "null" && f.Message().FullName().Parent() == "trust.v1" {
			checkProtoNames(t, where+"."+string(f.Name()), v, f.Message())
		}
	}
}

// TestHTTPAPIRefusals: what gRPC refuses is refused over JSON with the same
// code and message, the HTTP status grpc-gateway maps the code to, and a
// JSON error body; the HTTP caller's certificate (or its absence) is what
// authorisation sees, never the gateway's connection.
func TestHTTPAPIRefusals(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			p := newPKI(t)
			opts := newStack(t, b.Open(t), revocation.Config{}, nil, nil).opts
			// Two writes per peer: the garbage Submit below is charged
			// (a refused write still costs the quota), then one AddKey.
			peers, err := ratelimit.New(ratelimit.Options{Limit: 2, Window: time.Hour, Flag: "--write-rate-per-peer"})
			if err != nil {
				t.Fatal(err)
			}
			// Operators are exempt from the peer quota by default; the
			// quota case below writes as an authenticated non-operator.
			opts.Limits = server.Limits{PeerWrites: peers}
			a := newAPIServer(t, opts, p)
			ctx := context.Background()
			cases := []struct {
				name   string
				cert   *certtest.Cert
				method string
				req    proto.Message
				status int
				code   codes.Code
				msg    string
			}{
				{"anonymous operator-only call", nil, "FeedbackService/ImportFeedback", &trustv1.ImportFeedbackRequest{},
					http.StatusUnauthorized, codes.Unauthenticated, "ImportFeedback is for operators only"},
				{"authenticated operator-only call", &p.client, "FeedbackService/ImportFeedback", &trustv1.ImportFeedbackRequest{},
					http.StatusForbidden, codes.PermissionDenied, "is not an operator's"},
				{"garbage envelope", nil, "StatementService/Submit", &trustv1.SubmitRequest{Envelope: []byte("{}")},
					http.StatusBadRequest, codes.InvalidArgument, "envelope"},
				{"first write of the peer", &p.client, "KeyService/AddKey", &trustv1.AddKeyRequest{PublicKey: newKey(t)},
					http.StatusOK, codes.OK, ""},
				{"peer write quota spent", &p.client, "KeyService/AddKey", &trustv1.AddKeyRequest{PublicKey: newKey(t)},
					http.StatusTooManyRequests, codes.ResourceExhausted, "--write-rate-per-peer"},
			}
			for _, tc := range cases {
				r := a.call(t, a.client(tc.cert), tc.method, tc.req, nil)
				if r.status != tc.status {
					t.Errorf("%s: HTTP %d %s, want %d", tc.name, r.status, r.body, tc.status)
					continue
				}
				if r.header.Get("X-Request-Id") == "" {
					t.Errorf("%s: no X-Request-Id in the answer", tc.name)
				}
				if tc.code == codes.OK {
					continue
				}
				e := decodeError(t, r)
				if codes.Code(e.Code) != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("%s: JSON error %d %q, want %v containing %q", tc.name, e.Code, e.Message, tc.code, tc.msg)
				}
				if tc.code == codes.ResourceExhausted {
					if !bytes.Contains(r.body, []byte(`"@type":"type.googleapis.com/google.rpc.RetryInfo"`)) {
						t.Errorf("%s: error body %s carries no RetryInfo", tc.name, r.body)
					}
				}
			}

			// An operator's certificate over HTTP passes authorisation
			// (the empty import is then refused as bad input).
			r := a.call(t, a.client(&p.opBySAN), "FeedbackService/ImportFeedback", &trustv1.ImportFeedbackRequest{}, nil)
			if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
				t.Errorf("operator's ImportFeedback over JSON: %d %s, want past authorisation", r.status, r.body)
			}
			// No header makes an anonymous caller the gateway or anyone
			// else: the handle metadata key is not forwarded.
			body, _ := protojson.Marshal(&trustv1.ImportFeedbackRequest{})
			r = a.post(t, a.client(nil), "/api/trust.v1.FeedbackService/ImportFeedback", bytes.NewReader(body), map[string]string{
				"Grpc-Metadata-Trustd-Http-Api-Call": "0123456789abcdef0123456789abcdef",
				"Trustd-Http-Api-Call":               "0123456789abcdef0123456789abcdef",
			})
			if r.status != http.StatusUnauthorized {
				t.Errorf("anonymous ImportFeedback with forged gateway headers: %d %s, want 401", r.status, r.body)
			}

			// gRPC refuses the same calls with the same codes: the
			// fixture's connection holds the authenticated client cert.
			_, err = trustv1.NewFeedbackServiceClient(a.conn).ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{})
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("ImportFeedback over gRPC as an authenticated client: %v, want PermissionDenied", err)
			}
			// The HTTP caller's quota is its own address's: the gRPC
			// connection (another peer) still writes, twice.
			for range 2 {
				if _, err := trustv1.NewKeyServiceClient(a.conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: newKey(t)}); err != nil {
					t.Errorf("gRPC write after the HTTP peer's quota is spent: %v", err)
				}
			}
			_, err = trustv1.NewKeyServiceClient(a.conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: newKey(t)})
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
				t.Errorf("third gRPC write: %v, want ResourceExhausted", err)
			} else {
				var ri *errdetails.RetryInfo
				for _, d := range st.Details() {
					if v, ok := d.(*errdetails.RetryInfo); ok {
						ri = v
					}
				}
				if ri == nil {
					t.Error("gRPC quota refusal carries no RetryInfo")
				}
			}
		})
	}
}

// TestHTTPAPIBadBodies: bodies that are not JSON of the request message are
// refused with 400 naming the method and the reason, bodies larger than
// trustd accepts with 413, and unknown paths and methods with 404 and 405;
// each refusal is a JSON error with a request id, and logged.
func TestHTTPAPIBadBodies(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			a := newAPIServer(t, newStack(t, b.Open(t), revocation.Config{}, nil, nil).opts, nil)
			c := a.client(nil)
			const addKey = "/api/trust.v1.KeyService/AddKey"
			// MaxRequestBytes is 64 KiB: a body may be 128 KiB, the
			// message it decodes to 64 KiB.
			big := strings.Repeat("A", 129<<10)
			bigMessage := `{"envelope":"` + base64.StdEncoding.EncodeToString(make([]byte, 80<<10)) + `"}`
			cases := []struct {
				name    string
				method  string
				path    string
				body    io.Reader
				chunked bool
				status  int
				code    codes.Code
				msg     []string
			}{
				{"not JSON", http.MethodPost, addKey, strings.NewReader(`{"public_key": `), false,
					http.StatusBadRequest, codes.InvalidArgument, []string{"request body of /trust.v1.KeyService/AddKey", "unexpected EOF"}},
				{"unknown field", http.MethodPost, addKey, strings.NewReader(`{"public_key": "", "owner": "me"}`), false,
					http.StatusBadRequest, codes.InvalidArgument, []string{"request body of /trust.v1.KeyService/AddKey", `unknown field "owner"`}},
				{"wrong type", http.MethodPost, addKey, strings.NewReader(`{"public_key": 5}`), false,
					http.StatusBadRequest, codes.InvalidArgument, []string{"request body of /trust.v1.KeyService/AddKey", "invalid value for bytes field"}},
				{"body over the limit", http.MethodPost, addKey, strings.NewReader(big), false,
					http.StatusRequestEntityTooLarge, codes.ResourceExhausted, []string{"request body is 132096 bytes", "131072", "--max-request-bytes"}},
				{"chunked body over the limit", http.MethodPost, addKey, io.MultiReader(strings.NewReader(big)), true,
					http.StatusRequestEntityTooLarge, codes.ResourceExhausted, []string{"request body is larger than 131072 bytes", "--max-request-bytes"}},
				{"message over the limit", http.MethodPost, "/api/trust.v1.StatementService/Submit", strings.NewReader(bigMessage), false,
					http.StatusRequestEntityTooLarge, codes.ResourceExhausted, []string{"request message is", "65536", "--max-request-bytes"}},
				{"unknown method", http.MethodPost, "/api/trust.v1.KeyService/StealKey", strings.NewReader(`{}`), false,
					http.StatusNotFound, codes.NotFound, []string{"POST /api/trust.v1.KeyService/StealKey is not a method", "/api/openapi.json"}},
				{"GET of a method", http.MethodGet, "/api/trust.v1.KeyService/ListKeys", nil, false,
					http.StatusMethodNotAllowed, codes.Unimplemented, []string{"GET /api/trust.v1.KeyService/ListKeys is not a method"}},
			}
			for i, tc := range cases {
				req, err := http.NewRequest(tc.method, a.url+tc.path, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				if tc.chunked {
					req.ContentLength = -1
				}
				id := fmt.Sprintf("bad-body-%d", i)
				req.Header.Set("X-Request-Id", id)
				r := a.do(t, c, req)
				if r.status != tc.status {
					t.Errorf("%s: HTTP %d %s, want %d", tc.name, r.status, r.body, tc.status)
					continue
				}
				e := decodeError(t, r)
				if codes.Code(e.Code) != tc.code {
					t.Errorf("%s: code %v, want %v", tc.name, codes.Code(e.Code), tc.code)
				}
				for _, m := range tc.msg {
					if !strings.Contains(e.Message, m) {
						t.Errorf("%s: message %q does not say %q", tc.name, e.Message, m)
					}
				}
				if got := r.header.Get("X-Request-Id"); got != id {
					t.Errorf("%s: X-Request-Id %q, want the caller's %q", tc.name, got, id)
				}
				if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") != http.MethodPost {
					t.Errorf("%s: Allow %q, want POST", tc.name, r.header.Get("Allow"))
				}
				logged := slices.ContainsFunc(a.logs.lines(t), func(l map[string]any) bool {
					return l["msg"] == "http api request refused" && l["request_id"] == id && l["code"] == tc.code.String()
				})
				if !logged {
					t.Errorf("%s: refusal not logged with request id %s", tc.name, id)
				}
			}
		})
	}
}

// TestHTTPAPIObserved: a JSON call is logged and counted by the gRPC chain
// like a gRPC call, under the caller's request id, marked as via HTTP.
func TestHTTPAPIObserved(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			a := newAPIServer(t, newStack(t, b.Open(t), revocation.Config{}, nil, nil).opts, nil)
			c := a.client(nil)
			for i := range 2 {
				r := a.post(t, c, "/api/trust.v1.KeyService/ListKeys", strings.NewReader(`{}`), map[string]string{"X-Request-Id": fmt.Sprintf("observed-%d", i)})
				if r.status != http.StatusOK || r.header.Get("X-Request-Id") != fmt.Sprintf("observed-%d", i) {
					t.Fatalf("ListKeys: %d %s, X-Request-Id %q", r.status, r.body, r.header.Get("X-Request-Id"))
				}
			}
			r := a.post(t, c, "/api/trust.v1.KeyService/GetKey", strings.NewReader(`{"key_id": "nope"}`), nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("GetKey of an unknown key: %d %s, want 404", r.status, r.body)
			}
			req, _ := http.NewRequest(http.MethodGet, a.url+"/metrics", nil)
			metrics := string(a.do(t, c, req).body)
			for _, want := range []string{
				`trustd_grpc_requests_total{code="OK",method="/trust.v1.KeyService/ListKeys"} 2`,
				`trustd_grpc_requests_total{code="NotFound",method="/trust.v1.KeyService/GetKey"} 1`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
			logged := slices.ContainsFunc(a.logs.lines(t), func(l map[string]any) bool {
				return l["msg"] == "rpc" && l["method"] == "/trust.v1.KeyService/ListKeys" && l["request_id"] == "observed-1" &&
					l["via"] == "http" && l["code"] == "OK" && l["caller"] == "anonymous"
			})
			if !logged {
				t.Errorf("no rpc log line for the JSON ListKeys with its request id and via=http:\n%v", a.logs.lines(t))
			}
		})
	}
}

// TestOpenAPI: the served document is the committed one, valid JSON, and
// lists exactly the methods of the trust.v1 services, each as a POST under
// /api that the server routes.
func TestOpenAPI(t *testing.T) {
	a := newAPIServer(t, newStack(t, teststore.Backends()[0].Open(t), revocation.Config{}, nil, nil).opts, nil)
	c := a.client(nil)
	req, _ := http.NewRequest(http.MethodGet, a.url+server.OpenAPIPath, nil)
	r := a.do(t, c, req)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" || !bytes.Equal(r.body, trustv1.OpenAPI) {
		t.Fatalf("GET %s: %d %s, want the committed document", server.OpenAPIPath, r.status, r.header.Get("Content-Type"))
	}
	var doc struct {
		Swagger  string                                `json:"swagger"`
		BasePath string                                `json:"basePath"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	if doc.Swagger != "2.0" || doc.BasePath != server.APIPrefix {
		t.Errorf("swagger %q basePath %q, want 2.0 and %s", doc.Swagger, doc.BasePath, server.APIPrefix)
	}
	var want []string
	protoregistry.GlobalFiles.RangeFilesByPackage("trust.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				want = append(want, fmt.Sprintf("/%s/%s", sd.FullName(), sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	var got []string
	for p, ops := range doc.Paths {
		got = append(got, p)
		if len(ops) != 1 || ops["post"] == nil {
			t.Errorf("path %s has operations %v, want post only", p, slices.Collect(maps.Keys(ops)))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("OpenAPI paths:\n%v\nwant the trust.v1 methods:\n%v", got, want)
	}
	// Every listed path is routed: a server with every service answers
	// each with something other than the API's routing errors.
	for _, p := range got {
		r := a.post(t, c, server.APIPrefix+p, strings.NewReader(`{}`), nil)
		if bytes.Contains(r.body, []byte("is not a method of trustd's HTTP/JSON API")) || r.status == http.StatusNotImplemented {
			t.Errorf("POST %s%s: %d %s", server.APIPrefix, p, r.status, r.body)
		}
		// The streaming method answers one {"result": …} object a line.
		if p == "/trust.v1.RevocationService/FetchRevocationList" {
			lines := bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))
			var first struct {
				Result *json.RawMessage `json:"result"`
			}
			if r.status != http.StatusOK || json.Unmarshal(lines[0], &first) != nil || first.Result == nil {
				t.Errorf("FetchRevocationList over JSON: %d %s, want lines of {\"result\": …}", r.status, r.body)
			}
		}
	}
}
