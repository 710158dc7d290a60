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

// unaryInterceptor gives every request an id, a deadline, panic recovery,
// one error-to-status mapping, a log line and metrics.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	id := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && v[0] != "" {
			id = v[0]
			if len(id) > 64 {
				id = id[:64]
			}
		}
	}
	if id == "" {
		id = newRequestID()
	}
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	if _, ok := ctx.Deadline(); !ok && s.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}

	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "request_id", id, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error (request id %s)", id)
		}
		code := status.Code(err)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(info.FullMethod, code.String()).Inc()
		s.metrics.latency.WithLabelValues(info.FullMethod).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if code == codes.Internal || code == codes.Unavailable || code == codes.Unknown {
			level = slog.LevelError
		}
		s.log.Log(ctx, level, "rpc", "method", info.FullMethod, "code", code.String(), "duration", elapsed, "request_id", id)
	}()

	if resp, err = handler(ctx, req); err != nil {
		err = toStatus(ctx, s.log.With("request_id", id, "method", info.FullMethod), err)
	}
	return resp, err
}
