package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trustd-dev/trustd/store"
)

// TestMapError: driver errors become the store sentinel callers branch on;
// a server going away or out of reach is ErrUnavailable.
func TestMapError(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"admin shutdown", pg("57P01"), store.ErrUnavailable},
		{"crash shutdown", pg("57P02"), store.ErrUnavailable},
		{"cannot connect now", pg("57P03"), store.ErrUnavailable},
		{"connection failure", pg("08006"), store.ErrUnavailable},
		{"connection does not exist", pg("08003"), store.ErrUnavailable},
		{"too many connections", pg("53300"), store.ErrUnavailable},
		{"unique violation", pg("23505"), store.ErrConflict},
		{"check violation", pg("23514"), store.ErrInvalid},
		{"syntax error", pg("42601"), nil},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), store.ErrUnavailable},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"plain error", errors.New("something else"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dialect{}.MapError(tc.err)
			for _, s := range []error{store.ErrUnavailable, store.ErrConflict, store.ErrInvalid, store.ErrNotFound} {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("MapError(%v) = %v; matches %v: %v, want only %v", tc.err, got, s, errors.Is(got, s), tc.want)
				}
			}
		})
	}
}
