package main

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/internal/cliutil"
)

// TestRPCErrorRequestID: the one-line error names trustd's request id
// when the status carries it, once, and keeps the exit code.
func TestRPCErrorRequestID(t *testing.T) {
	withID := func(code codes.Code, msg, id string) error {
		st, err := status.New(code, msg).WithDetails(&errdetails.RequestInfo{RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name string
		err  error
		want string
		code int
	}{
		{"invalid argument", withID(codes.InvalidArgument, "digest: not hex", "r1"), "digest: not hex (request id r1)", cliutil.ExitFailure},
		// NotFound is negative only for a lookup, which the command tree decides (output.go).
		{"not found", withID(codes.NotFound, "nothing known", "r2"), "nothing known (request id r2)", cliutil.ExitFailure},
		{"internal names it once", withID(codes.Internal, "internal error (request id r3)", "r3"), "internal error (request id r3)", cliutil.ExitFailure},
		{"no detail", status.Error(codes.PermissionDenied, "permission denied"), "permission denied", cliutil.ExitFailure},
		{"not a status", errors.New("dial: refused"), "dial: refused", cliutil.ExitFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := rpcError("s:1", tc.err)
			if err.Error() != tc.want {
				t.Errorf("rpcError = %q, want %q", err, tc.want)
			}
			if code := cliutil.Exit(io.Discard, "trustctl", err); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
		})
	}
}
