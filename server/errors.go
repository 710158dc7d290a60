package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// fieldError names the request field whose value err rejects.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func invalidField(field string, err error) error { return &fieldError{field: field, err: err} }

// toStatus maps a domain error to a gRPC status. It is the only place that
// does: handlers return domain errors and the interceptor calls this.
// Unknown errors are logged in full and answered with a sanitised message.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *fieldError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, digest.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		log.ErrorContext(ctx, "store unavailable", "err", err)
		return status.Error(codes.Unavailable, "storage is unavailable; retry later")
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, fmt.Sprintf("internal error (request id %s)", requestID(ctx)))
}
