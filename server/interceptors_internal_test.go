package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

// fakeStream is a server stream over a plain context.
type fakeStream struct{ ctx context.Context }

func (f fakeStream) SetHeader(metadata.MD) error  { return nil }
func (f fakeStream) SendHeader(metadata.MD) error { return nil }
func (f fakeStream) SetTrailer(metadata.MD)       {}
func (f fakeStream) Context() context.Context     { return f.ctx }
func (f fakeStream) SendMsg(any) error            { return nil }
func (f fakeStream) RecvMsg(any) error            { return io.EOF }

func newBareServer(t *testing.T, timeout time.Duration) *Server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStreamChain: a streaming handler gets the same deadline, request id,
// caller, panic recovery, error mapping and authorisation as a unary one.
func TestStreamChain(t *testing.T) {
	s := newBareServer(t, 7*time.Second)
	fetch := trustv1.RevocationService_FetchRevocationList_FullMethodName
	tests := []struct {
		name    string
		method  string
		handler func(ctx context.Context) error
		code    codes.Code
	}{
		{"deadline, id and caller", fetch, func(ctx context.Context) error {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > 7*time.Second || time.Until(dl) < 6*time.Second {
				return fmt.Errorf("deadline %v %v, want RequestTimeout from now", dl, ok)
			}
			if requestID(ctx) == "" {
				return errors.New("no request id")
			}
			if c := CallerFrom(ctx); c.Role != RoleAnonymous {
				return fmt.Errorf("caller %v, want anonymous", c)
			}
			return nil
		}, codes.OK},
		{"open-ended stream", healthpb.Health_Watch_FullMethodName, func(ctx context.Context) error {
			if dl, ok := ctx.Deadline(); ok {
				return fmt.Errorf("health Watch got deadline %v; it stays open until the client ends it", dl)
			}
			return nil
		}, codes.OK},
		{"panic recovered", fetch, func(context.Context) error { panic("boom") }, codes.Internal},
		{"domain error mapped", fetch, func(context.Context) error { return fmt.Errorf("lists: %w", store.ErrNotFound) }, codes.NotFound},
		{"method not in the table", "/trust.v1.Nothing/Stream", func(context.Context) error { return errors.New("handler ran") }, codes.PermissionDenied},
		{"operator method", trustv1.FeedbackService_ImportFeedback_FullMethodName, func(context.Context) error { return errors.New("handler ran") }, codes.Unauthenticated},
	}
	for _, tc := range tests {
		for _, unary := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s unary=%v", tc.name, unary), func(t *testing.T) {
				var err error
				if unary {
					_, err = s.unaryInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: tc.method},
						func(ctx context.Context, _ any) (any, error) { return nil, tc.handler(ctx) })
				} else {
					err = s.streamInterceptor(nil, fakeStream{context.Background()}, &grpc.StreamServerInfo{FullMethod: tc.method, IsServerStream: true},
						func(_ any, ss grpc.ServerStream) error { return tc.handler(ss.Context()) })
				}
				if got := status.Code(err); got != tc.code {
					t.Errorf("code %v (%v), want %v", got, err, tc.code)
				}
			})
		}
	}
}
