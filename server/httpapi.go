package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// The HTTP/JSON API serves every trust.v1 RPC as POST
// /api/trust.v1.{Service}/{Method} with the request message as a JSON
// body, through handlers grpc-gateway generates from the protos
// (proto/trust/v1/*.pb.gw.go).
//
// The gateway does not call the services in-process: it is a gRPC client of
// this server over an in-memory connection, so every JSON call passes the
// same chain as a gRPC call (tap, request id, deadline, authorisation,
// limits, logging, metrics, error mapping). The caller's identity is the
// HTTP caller's, not the gateway's: the HTTP handler records the caller's
// verified TLS state and address under a random per-request handle that it
// sends as metadata, and the chain replaces the peer of a call arriving on
// the in-memory connection with the recorded one (apiPeer). Only that
// connection is believed, and only a handle the HTTP handler made is
// found, so no HTTP header and no network peer can claim another caller's
// certificate or address.
const (
	// APIPrefix is the path under which the HTTP/JSON API is served.
	APIPrefix = "/api"
	// OpenAPIPath is where the API's OpenAPI (v2) document is served.
	OpenAPIPath = APIPrefix + "/openapi.json"
	// apiHandleKey is the metadata key carrying the per-request handle.
	apiHandleKey = "trustd-http-api-call"
)

// apiCall is one HTTP/JSON request as the gateway and the chain see it.
type apiCall struct {
	// handle is the random key of the call in Server.apiCalls.
	handle string
	// peer is the HTTP caller: its address and verified TLS state.
	peer *peer.Peer
	// sent is set once the gateway hands the request to gRPC: an error
	// before that is the gateway's own refusal (a body that does not
	// decode), which no step of the chain has logged.
	sent atomic.Bool
}

type apiCallKey struct{}

func apiCallFrom(ctx context.Context) *apiCall {
	c, _ := ctx.Value(apiCallKey{}).(*apiCall)
	return c
}

// apiConn marks the connections of the in-memory listener the gateway
// dials; apiCreds recognises them.
type apiConn struct{ net.Conn }

// apiListener wraps the in-memory listener so its connections are apiConns.
type apiListener struct{ *bufconn.Listener }

func (l apiListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &apiConn{c}, nil
}

// apiAuthInfo is the AuthInfo of the gateway's in-memory connection.
type apiAuthInfo struct{ credentials.CommonAuthInfo }

func (apiAuthInfo) AuthType() string { return "trustd-http-api" }

// apiCreds are the server's transport credentials (TLS, or none) with one
// exception: the gateway's in-memory connections skip the handshake and
// are marked with apiAuthInfo. A network connection is never an apiConn.
type apiCreds struct {
	credentials.TransportCredentials
}

func (c apiCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(*apiConn); ok {
		return conn, apiAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c apiCreds) Clone() credentials.TransportCredentials {
	return apiCreds{c.TransportCredentials.Clone()}
}

// serverCreds returns the transport credentials of the gRPC server.
func serverCreds(opts Options) credentials.TransportCredentials {
	if opts.TLS != nil {
		return apiCreds{credentials.NewTLS(opts.TLS)}
	}
	return apiCreds{insecure.NewCredentials()}
}

// apiPeer returns ctx with the HTTP caller as its peer when the call came
// through the gateway's in-memory connection, so authorisation and the
// peer write quota see the HTTP caller. A call on that connection without
// a live handle (impossible unless the gateway is broken) keeps no
// identity: it is anonymous.
func (s *Server) apiPeer(ctx context.Context) (context.Context, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ctx, false
	}
	if _, ok := p.AuthInfo.(apiAuthInfo); !ok {
		return ctx, false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(apiHandleKey); len(v) == 1 {
		if c, ok := s.apiCalls.Load(v[0]); ok {
			return peer.NewContext(ctx, c.(*apiCall).peer), true
		}
	}
	return peer.NewContext(ctx, &peer.Peer{Addr: p.Addr, LocalAddr: p.LocalAddr}), true
}

// api is the HTTP/JSON front: the gateway and its in-memory connection.
type api struct {
	mux     *runtime.ServeMux
	lis     apiListener
	conn    *grpc.ClientConn
	serve   sync.Once
	maxBody int64
}

// apiMarshaler writes proto field names and zero values, and refuses
// unknown fields in requests.
var apiMarshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}

// newAPI builds the gateway over an in-memory connection to s.grpc.
func (s *Server) newAPI() (*api, error) {
	a := &api{lis: apiListener{bufconn.Listen(256 << 10)}, maxBody: 2 * int64(s.opts.MaxRequestBytes)}
	a.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, apiMarshaler),
		// Only the request id and the commit position a lookup must see
		// pass from HTTP headers to gRPC metadata: nothing an HTTP caller
		// sends can pose as the gateway's handle.
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			for _, k := range []string{RequestIDHeader, MinLSNHeader} {
				if strings.EqualFold(h, k) {
					return k, true
				}
			}
			return "", false
		}),
		runtime.WithOutgoingHeaderMatcher(func(k string) (string, bool) {
			switch k {
			case RequestIDHeader:
				return "X-Request-Id", true
			case CommitLSNHeader:
				return "X-Trustd-Commit-Lsn", true
			}
			return "", false
		}),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			if c := apiCallFrom(ctx); c != nil {
				return metadata.Pairs(apiHandleKey, c.handle)
			}
			return nil
		}),
		runtime.WithErrorHandler(s.apiError),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			msg := fmt.Sprintf("%s %s is not a method of trustd's HTTP/JSON API: methods are POST %s/trust.v1.{Service}/{Method} (see %s)",
				r.Method, APIPrefix+r.URL.Path, APIPrefix, OpenAPIPath)
			c := codes.NotFound
			if code == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", http.MethodPost)
				c = codes.Unimplemented
			}
			s.apiError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: code, Err: status.Error(c, msg)})
		}),
	)
	maxSend := s.opts.MaxRequestBytes
	conn, err := grpc.NewClient("passthrough:///trustd-http-api",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return a.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if m, ok := req.(proto.Message); ok {
				if n := proto.Size(m); n > maxSend {
					return &apiTooLarge{what: "request message", size: int64(n), max: int64(maxSend), flag: "--max-request-bytes"}
				}
			}
			if c := apiCallFrom(ctx); c != nil {
				c.sent.Store(true)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if c := apiCallFrom(ctx); c != nil {
				c.sent.Store(true)
			}
			return streamer(ctx, desc, cc, method, append(opts, grpc.MaxCallSendMsgSize(maxSend))...)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("server: http api: %w", err)
	}
	a.conn = conn
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		trustv1.RegisterAttestServiceHandler,
		trustv1.RegisterEvidenceServiceHandler,
		trustv1.RegisterFeedbackServiceHandler,
		trustv1.RegisterKeyServiceHandler,
		trustv1.RegisterLocationServiceHandler,
		trustv1.RegisterLogServiceHandler,
		trustv1.RegisterPGPServiceHandler,
		trustv1.RegisterRevocationServiceHandler,
		trustv1.RegisterServerServiceHandler,
		trustv1.RegisterStatementServiceHandler,
		trustv1.RegisterSubjectServiceHandler,
		trustv1.RegisterTokenServiceHandler,
		trustv1.RegisterTUFServiceHandler,
	} {
		if err := register(ctx, a.mux, conn); err != nil {
			return nil, fmt.Errorf("server: http api: %w", err)
		}
	}
	return a, nil
}

// apiTooLarge refuses a request larger than trustd accepts (HTTP 413).
type apiTooLarge struct {
	what      string
	size, max int64
	flag      string
}

func (e *apiTooLarge) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("%s is larger than %d bytes, the most trustd accepts (twice trustd %s)", e.what, e.max, e.flag)
	}
	return fmt.Sprintf("%s is %d bytes, more than the %d trustd accepts (trustd %s)", e.what, e.size, e.max, e.flag)
}

func (e *apiTooLarge) GRPCStatus() *status.Status {
	return status.New(codes.ResourceExhausted, e.Error())
}

// serveAPI answers one HTTP/JSON request: it bounds and reads the body,
// records the caller for apiPeer, and hands the request to the gateway.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	a := s.api
	a.serve.Do(func() {
		// The in-memory listener is served on first use, by the same
		// grpc.Server (and so stopped with it).
		go func() { _ = s.grpc.Serve(a.lis) }()
	})
	call := &apiCall{handle: randomHandle(), peer: httpPeer(r)}
	ctx := context.WithValue(r.Context(), apiCallKey{}, call)
	r = r.WithContext(ctx)
	// As the gRPC tap does, shed a call whose class is full (its queue
	// too) before its body is read: a flood of large bodies is refused
	// without buffering them.
	if err := s.limits.shedEarly(classOf(strings.TrimPrefix(r.URL.Path, APIPrefix))); err != nil {
		w.Header().Set("Retry-After", "1")
		s.apiError(ctx, a.mux, apiMarshaler, w, r, toStatus(ctx, s.log, err))
		return
	}
	if r.ContentLength > a.maxBody {
		s.apiError(ctx, a.mux, apiMarshaler, w, r, &apiTooLarge{what: "request body", size: r.ContentLength, max: a.maxBody, flag: "--max-request-bytes"})
		return
	}
	// The body arrives within the request timeout, or the call is
	// refused: a slow sender does not hold a connection for ever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.RequestTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			err = &apiTooLarge{what: "request body", size: -1, max: a.maxBody, flag: "--max-request-bytes"}
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestTimeout,
				Err: status.Errorf(codes.DeadlineExceeded, "the request body did not arrive within %s (trustd --request-timeout)", s.opts.RequestTimeout)}
		default:
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusBadRequest, Err: status.Errorf(codes.InvalidArgument, "reading the request body: %v", err)}
		}
		s.apiError(ctx, a.mux, apiMarshaler, w, r, err)
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.apiCalls.Store(call.handle, call)
	defer s.apiCalls.Delete(call.handle)
	http.StripPrefix(APIPrefix, a.mux).ServeHTTP(w, r)
}

// apiError writes err as the JSON body google.rpc.Status with the HTTP
// status grpc-gateway maps its code to (413 for a request too large).
// Errors from trustd's chain were logged and counted there; a refusal
// before the chain (a body that is not JSON of the request message, a body
// too large) is logged here and gets a request id of its own.
func (s *Server) apiError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if c := apiCallFrom(ctx); c != nil && !c.sent.Load() {
		var big *apiTooLarge
		var hs *runtime.HTTPStatusError
		switch {
		case errors.As(err, &big):
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: big.GRPCStatus().Err()}
		case errors.As(err, &hs):
		case status.Code(err) == codes.InvalidArgument:
			// grpc-gateway's decoding error: name what was decoded.
			err = status.Errorf(codes.InvalidArgument, "request body of %s is not the JSON of its request message: %s",
				strings.TrimPrefix(r.URL.Path, APIPrefix), status.Convert(err).Message())
		}
		id := r.Header.Get(RequestIDHeader)
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		st := status.Convert(err)
		if errors.As(err, &hs) {
			st = status.Convert(hs.Err)
		}
		s.log.InfoContext(ctx, "http api request refused", "path", APIPrefix+strings.TrimPrefix(r.URL.Path, APIPrefix),
			"code", st.Code().String(), "reason", st.Message(), "request_id", id, "peer", r.RemoteAddr)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// serveOpenAPI serves the committed OpenAPI document of the API.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(trustv1.OpenAPI)
}

// httpPeer is the HTTP caller as a gRPC peer: its address and, over TLS,
// its connection state (client certificate chains verified by the HTTP
// server's TLS configuration, which is the gRPC server's).
func httpPeer(r *http.Request) *peer.Peer {
	p := &peer.Peer{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		p.Addr = net.TCPAddrFromAddrPort(ap)
	} else {
		p.Addr = stringAddr(r.RemoteAddr)
	}
	if r.TLS != nil {
		p.AuthInfo = credentials.TLSInfo{State: *r.TLS, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	}
	return p
}

// stringAddr is an address net/http gave as a string that is not ip:port.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

func randomHandle() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
