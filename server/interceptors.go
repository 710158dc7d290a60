package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// RequestIDHeader is the metadata key carrying a request id in and out. A
// caller's well-formed id (WellFormedRequestID) is kept; otherwise one is
// made. The id is returned in the response header, in the trailer and, on
// every error, as a google.rpc.RequestInfo status detail.
const RequestIDHeader = "x-request-id"

// maxRequestIDLen bounds a caller's request id.
const maxRequestIDLen = 64

// WellFormedRequestID reports whether id may be kept as a request id: 1 to
// 64 characters of letters, digits, '.', '_', ':' and '-'. Anything else
// (control characters, spaces, a log line's worth of text) is replaced, so
// a caller cannot forge log lines through it.
func WellFormedRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// metrics are the per-RPC Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustd_grpc_requests_total",
			Help: "gRPC requests handled, by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trustd_grpc_request_duration_seconds",
			Help:    "gRPC request latency, by method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// rpc is one call as the steps of the chain see it, unary or streaming.
type rpc struct {
	method string
	stream bool
	// id is the request id, set by the observe step.
	id string
	// caller is who calls, from the connection.
	caller Caller
	// http says the call came through the HTTP/JSON API.
	http bool
}

// step is one stage every RPC passes, unary and streaming alike, in the
// order of Server.chain: it may refuse the call, give the rest of the
// chain another context, or observe the outcome of next (the rest of the
// chain and then the handler).
type step func(ctx context.Context, call *rpc, next func(context.Context) error) error

// steps is the chain every RPC passes, in order. A new concern (a
// concurrency limit, a rate limit) is one more step here: after observe, so
// that its refusals are logged, counted and mapped like any error, and
// after authorize when it depends on the caller's role.
func (s *Server) steps() []step {
	return []step{s.observe, s.deadline, s.authorize, s.route}
}

// run passes one call through the chain and then to handler.
func (s *Server) run(ctx context.Context, call *rpc, handler func(context.Context) error) error {
	ctx, call.http = s.apiPeer(ctx)
	call.caller = s.authz.identify(ctx)
	ctx = context.WithValue(ctx, callerKey{}, call.caller)
	var next func(i int) func(context.Context) error
	next = func(i int) func(context.Context) error {
		if i == len(s.chain) {
			return handler
		}
		return func(ctx context.Context) error { return s.chain[i](ctx, call, next(i+1)) }
	}
	return next(0)(ctx)
}

// unaryInterceptor passes unary calls through the chain.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var resp any
	err := s.run(ctx, &rpc{method: info.FullMethod}, func(ctx context.Context) error {
		var err error
		resp, err = handler(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// streamInterceptor passes streaming calls through the same chain; the
// handler sees the chain's context through its stream.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return s.run(ss.Context(), &rpc{method: info.FullMethod, stream: true}, func(ctx context.Context) error {
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	})
}

// contextStream is a server stream with the context the chain made.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *contextStream) Context() context.Context { return c.ctx }

// observe gives the call a request id (the caller's if well-formed, or a
// new one) echoed in the response header and trailer, recovers a
// panicking handler, maps the error to a status (toStatus: the one
// mapping) carrying the request id as a RequestInfo detail, and records a
// log line and metrics. A failed call's line names the peer, the status
// code and the reason.
func (s *Server) observe(ctx context.Context, call *rpc, next func(context.Context) error) (err error) {
	start := time.Now()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && WellFormedRequestID(v[0]) {
			call.id = v[0]
		}
	}
	if call.id == "" {
		call.id = newRequestID()
	}
	ctx = context.WithValue(ctx, requestIDKey{}, call.id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, call.id))
	_ = grpc.SetTrailer(ctx, metadata.Pairs(RequestIDHeader, call.id))

	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "panic in handler", "method", call.method, "request_id", call.id, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error (request id %s)", call.id)
		}
		err = withRequestID(err, call.id)
		code := status.Code(err)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(call.method, code.String()).Inc()
		s.metrics.latency.WithLabelValues(call.method).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		switch code {
		case codes.OK:
		case codes.Internal, codes.Unavailable, codes.Unknown, codes.DataLoss:
			level = slog.LevelError
		default:
			level = slog.LevelWarn
		}
		attrs := []any{"method", call.method, "code", code.String(), "duration", LogDuration(elapsed), "request_id", call.id, "caller", call.caller.Role.String()}
		if err != nil {
			attrs = append(attrs, "peer", peerAddr(ctx), "reason", status.Convert(err).Message())
		}
		if call.caller.Fingerprint != "" {
			attrs = append(attrs, "client_cert", call.caller.Subject, "client_cert_sha256", call.caller.Fingerprint)
		}
		if call.stream {
			attrs = append(attrs, "stream", true)
		}
		if call.http {
			attrs = append(attrs, "via", "http")
		}
		s.log.Log(ctx, level, "rpc", attrs...)
	}()

	if err = next(ctx); err != nil {
		err = toStatus(ctx, s.log.With("request_id", call.id, "method", call.method), err)
	}
	return err
}

// LogDuration is d as logs show it: a string with its unit ("1.234ms",
// "2.5s"), rounded to the microsecond, in the text and the JSON format
// alike (slog's JSON handler would otherwise write bare nanoseconds).
func LogDuration(d time.Duration) string {
	if d > time.Microsecond {
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

// peerAddr is the caller's network address, or "unknown".
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// withRequestID attaches the request id to err's status as a
// google.rpc.RequestInfo detail, so every error a client sees carries it
// (trustctl prints it); a status that has one already is left alone.
func withRequestID(err error, id string) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RequestInfo); ok {
			return err
		}
	}
	with, derr := st.WithDetails(&errdetails.RequestInfo{RequestId: id})
	if derr != nil {
		return err
	}
	return with.Err()
}

// openEnded are the streams meant to stay open until the client ends
// them: they get no default deadline.
var openEnded = map[string]bool{
	healthpb.Health_Watch_FullMethodName: true,
}

// deadline gives calls that carry no deadline the server's RequestTimeout,
// streams included (but for the open-ended ones).
func (s *Server) deadline(ctx context.Context, call *rpc, next func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok && s.opts.RequestTimeout > 0 && !openEnded[call.method] {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}
	return next(ctx)
}
