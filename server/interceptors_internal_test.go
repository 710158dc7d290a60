package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
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

// TestFailedCallLogAndRequestID: a failed call's log line names the peer,
// the method, the status code, the reason and a duration with its unit;
// the error carries the request id as a RequestInfo detail; a caller's
// well-formed id is kept and a malformed one replaced.
func TestFailedCallLogAndRequestID(t *testing.T) {
	s := newBareServer(t, time.Second)
	var logs bytes.Buffer
	s.log = slog.New(slog.NewJSONHandler(&logs, nil))
	method := trustv1.SubjectService_GetSubject_FullMethodName
	peerAddr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4242}
	tests := []struct {
		name    string
		inID    string
		handler func(ctx context.Context) error
		code    codes.Code
		reason  string
		keepID  bool
	}{
		{"domain error, caller's id kept", "abc-123.X:y_z", func(context.Context) error {
			return fmt.Errorf("digest: %w", store.ErrNotFound)
		}, codes.NotFound, "not found", true},
		{"internal error, malformed id replaced", "bad id\nlevel=ERROR", func(context.Context) error {
			return errors.New("disk on fire")
		}, codes.Internal, "internal error (request id ", false},
		{"too long id replaced", strings.Repeat("a", 65), func(context.Context) error {
			return invalidField("digest", errors.New("not hex"))
		}, codes.InvalidArgument, "digest: not hex", false},
		{"panic", "", func(context.Context) error { panic("boom") }, codes.Internal, "internal error (request id ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: peerAddr})
			if tc.inID != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(RequestIDHeader, tc.inID))
			}
			_, err := s.unaryInterceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method},
				func(ctx context.Context, _ any) (any, error) { return nil, tc.handler(ctx) })
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.reason) {
				t.Fatalf("status %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.reason)
			}
			var id string
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RequestInfo); ok {
					id = ri.RequestId
				}
			}
			switch {
			case id == "":
				t.Fatalf("no RequestInfo detail in %v", st.Details())
			case tc.keepID && id != tc.inID:
				t.Errorf("request id %q, want the caller's %q", id, tc.inID)
			case !tc.keepID && (id == tc.inID || !WellFormedRequestID(id)):
				t.Errorf("request id %q: want a new well-formed one", id)
			}
			var line map[string]any
			for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "rpc" {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no rpc log line in %s", logs.String())
			}
			want := map[string]string{"method": method, "code": tc.code.String(), "peer": peerAddr.String(), "request_id": id, "reason": st.Message()}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("log %s = %v, want %q", k, line[k], v)
				}
			}
			if d, _ := line["duration"].(string); !strings.HasSuffix(d, "s") {
				t.Errorf("log duration %v: want a string with its unit", line["duration"])
			} else if _, err := time.ParseDuration(d); err != nil {
				t.Errorf("log duration %q: %v", d, err)
			}
		})
	}
}

func TestWellFormedRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"": false, "a": true, "req-123": true, "matrix-mark-1": true, "0f1e2d3c4b5a6978": true,
		strings.Repeat("x", 64): true, strings.Repeat("x", 65): false, "a b": false, "a\nb": false, "a=b": false, "ü": false,
	} {
		if got := WellFormedRequestID(id); got != want {
			t.Errorf("WellFormedRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
