package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// RequestIDHeader is the metadata key carrying a request id in and out. A
// caller's id is kept (truncated to 64 characters); otherwise one is made.
const RequestIDHeader = "x-request-id"

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

// observe gives the call a request id (the caller's, truncated to 64
// characters, or a new one) echoed in the response header, recovers a
// panicking handler, maps the error to a status (toStatus: the one
// mapping), and records a log line and metrics.
func (s *Server) observe(ctx context.Context, call *rpc, next func(context.Context) error) (err error) {
	start := time.Now()
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && v[0] != "" {
			call.id = v[0]
			if len(call.id) > 64 {
				call.id = call.id[:64]
			}
		}
	}
	if call.id == "" {
		call.id = newRequestID()
	}
	ctx = context.WithValue(ctx, requestIDKey{}, call.id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, call.id))

	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "panic in handler", "method", call.method, "request_id", call.id, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error (request id %s)", call.id)
		}
		code := status.Code(err)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(call.method, code.String()).Inc()
		s.metrics.latency.WithLabelValues(call.method).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if code == codes.Internal || code == codes.Unavailable || code == codes.Unknown {
			level = slog.LevelError
		}
		attrs := []any{"method", call.method, "code", code.String(), "duration", elapsed, "request_id", call.id, "caller", call.caller.Role.String()}
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
