package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/ratelimit"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
)

// fieldError names the request field whose value err rejects.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func invalidField(field string, err error) error { return &fieldError{field: field, err: err} }

// codeOf maps domain errors to gRPC codes; the first match wins, so the
// more specific sentinels come first.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
	{store.ErrUnavailable, codes.Unavailable},
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrForbidden, codes.PermissionDenied},
	{recordtype.ErrReserved, codes.PermissionDenied},
	{ErrOverloaded, codes.ResourceExhausted},
	{ratelimit.ErrLimited, codes.ResourceExhausted},
	{revocation.ErrUnauthorized, codes.PermissionDenied},
	{location.ErrTooMany, codes.ResourceExhausted},
	{location.ErrInvalid, codes.InvalidArgument},
	{revocation.ErrNothingToReinstate, codes.FailedPrecondition},
	{revocation.ErrInvalid, codes.InvalidArgument},
	{revocation.ErrAhead, codes.FailedPrecondition},
	{revocation.ErrBusy, codes.Aborted},
	{tuf.ErrNotAuthorized, codes.PermissionDenied},
	{tuf.ErrAmbiguous, codes.InvalidArgument},
	{tuf.ErrBadSignature, codes.PermissionDenied},
	{tuf.ErrThreshold, codes.FailedPrecondition},
	{tuf.ErrVersion, codes.FailedPrecondition},
	{tuf.ErrPathNotDelegated, codes.FailedPrecondition},
	{tuf.ErrUnknownRole, codes.FailedPrecondition},
	{tuf.ErrOnlineKey, codes.FailedPrecondition},
	{tuf.ErrExpired, codes.InvalidArgument},
	{tuf.ErrMalformed, codes.InvalidArgument},
	{tuf.ErrDuplicateKeyID, codes.InvalidArgument},
	{tuf.ErrWrongKeyType, codes.InvalidArgument},
	{tuf.ErrTooLarge, codes.InvalidArgument},
	{tuf.ErrUnknownRepo, codes.NotFound},
	{tuf.ErrNotFound, codes.NotFound},
	{tuf.ErrConflict, codes.Aborted},
	{tuf.ErrRepoExists, codes.AlreadyExists},
	{envelope.ErrUnknownKey, codes.FailedPrecondition},
	{attest.ErrNoTrustedRoot, codes.FailedPrecondition},
	{cosign.ErrBadSignature, codes.PermissionDenied},
	{cosign.ErrKeyMismatch, codes.PermissionDenied},
	{cosign.ErrUnsupportedKey, codes.InvalidArgument},
	{cosign.ErrMalformed, codes.InvalidArgument},
	{cosign.ErrTooLarge, codes.InvalidArgument},
	{attest.ErrNoNotationTrust, codes.FailedPrecondition},
	{attest.ErrNotationVerification, codes.PermissionDenied},
	{attest.ErrInvalidNotation, codes.InvalidArgument},
	{attest.ErrNotLayout, codes.FailedPrecondition},
	{attest.ErrBundleVerification, codes.PermissionDenied},
	{attest.ErrNoTimestamp, codes.PermissionDenied},
	{attest.ErrIdentity, codes.PermissionDenied},
	{attest.ErrLayoutSignature, codes.PermissionDenied},
	{attest.ErrDigestMismatch, codes.InvalidArgument},
	{attest.ErrInvalidBundle, codes.InvalidArgument},
	{attest.ErrInvalidPredicate, codes.InvalidArgument},
	{attest.ErrInvalidLayout, codes.InvalidArgument},
	{attest.ErrMalformed, codes.InvalidArgument},
	{attest.ErrTooLarge, codes.InvalidArgument},
	{pgplog.ErrUnknownSigner, codes.FailedPrecondition},
	{pgp.ErrRefused, codes.PermissionDenied},
	{pgp.ErrBadSignature, codes.PermissionDenied},
	{pgp.ErrWrongKey, codes.PermissionDenied},
	{pgp.ErrWeakHash, codes.PermissionDenied},
	{pgp.ErrKeyRevoked, codes.PermissionDenied},
	{pgp.ErrKeyExpired, codes.PermissionDenied},
	{pgp.ErrNotSigningKey, codes.PermissionDenied},
	{envelope.ErrBadSignature, codes.PermissionDenied},
	{envelope.ErrWrongKeyType, codes.InvalidArgument},
	{envelope.ErrTooLarge, codes.InvalidArgument},
	{envelope.ErrTooDeep, codes.InvalidArgument},
	{envelope.ErrMalformed, codes.InvalidArgument},
	{envelope.ErrPayloadType, codes.InvalidArgument},
	{envelope.ErrInvalidStatement, codes.InvalidArgument},
	{envelope.ErrInvalidKey, codes.InvalidArgument},
	{keys.ErrInvalidLabel, codes.InvalidArgument},
	{keys.ErrLabelTaken, codes.AlreadyExists},
	{pgplog.ErrInvalidManifest, codes.InvalidArgument},
	{pgplog.ErrInvalidQuery, codes.InvalidArgument},
	{pgp.ErrInvalidPredicate, codes.InvalidArgument},
	{pgp.ErrMalformed, codes.InvalidArgument},
	{pgp.ErrTooLarge, codes.InvalidArgument},
	{pgp.ErrSecretKey, codes.InvalidArgument},
	{pgp.ErrUntrusted, codes.InvalidArgument},
	{pgp.ErrUnsupportedAlgorithm, codes.InvalidArgument},
	{identity.ErrRepeatedBinding, codes.AlreadyExists},
	{feedback.ErrRateLimited, codes.ResourceExhausted},
	{feedback.ErrNotPublisher, codes.PermissionDenied},
	{feedback.ErrUnknownKey, codes.FailedPrecondition},
	{feedback.ErrNoIdentities, codes.FailedPrecondition},
	{feedback.ErrFutureTimestamp, codes.InvalidArgument},
	{feedback.ErrInvalidPredicate, codes.InvalidArgument},
	{feedback.ErrInvalidQuery, codes.InvalidArgument},
	{feedback.ErrInvalidExport, codes.InvalidArgument},
	{statement.ErrInvalidPage, codes.InvalidArgument},
	{statement.ErrRejected, codes.InvalidArgument},
	{statement.ErrBeyondLog, codes.OutOfRange},
	{tlog.ErrBadTilePath, codes.InvalidArgument},
	{tlog.ErrTileBeyondTree, codes.NotFound},
	{tlog.ErrEntryTooLarge, codes.NotFound},
	{digest.ErrInvalid, codes.InvalidArgument},
	{store.ErrInvalid, codes.InvalidArgument},
	{store.ErrNotFound, codes.NotFound},
	{store.ErrConflict, codes.AlreadyExists},
	{store.ErrSignedBefore, codes.AlreadyExists},
	{policy.ErrInvalid, codes.InvalidArgument},
	{policy.ErrNoPolicy, codes.NotFound},
	{policy.ErrNoCatalog, codes.FailedPrecondition},
	{token.ErrInvalid, codes.InvalidArgument},
	{evidence.ErrInvalidRequest, codes.InvalidArgument},
	{evidence.ErrTooLarge, codes.ResourceExhausted},
}

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
	code := codes.Unknown
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	if code == codes.Unknown && errors.As(err, &fe) {
		code = codes.InvalidArgument
	}
	switch code {
	case codes.DeadlineExceeded:
		return status.Error(code, "deadline exceeded")
	case codes.Canceled:
		return status.Error(code, "request canceled")
	case codes.Unavailable:
		log.ErrorContext(ctx, "store unavailable", "err", err)
		return status.Error(code, "storage is unavailable; retry later")
	case codes.Unknown:
		log.ErrorContext(ctx, "internal error", "err", err)
		return status.Error(codes.Internal, fmt.Sprintf("internal error (request id %s)", requestID(ctx)))
	}
	return withRetryInfo(status.New(code, err.Error()), err).Err()
}

// retryAfter is an error that knows when a retry will be admitted (a
// rate limit or load shedding refusal).
type retryAfter interface{ RetryDelay() time.Duration }

// withRetryInfo attaches google.rpc.RetryInfo to st when err says when to
// retry, so clients' retry policies can honour it.
func withRetryInfo(st *status.Status, err error) *status.Status {
	var ra retryAfter
	if !errors.As(err, &ra) || ra.RetryDelay() <= 0 {
		return st
	}
	if with, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(ra.RetryDelay())}); derr == nil {
		return with
	}
	return st
}

var httpStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.FailedPrecondition: http.StatusPreconditionFailed,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
}

// httpError answers an HTTP request with err mapped as toStatus maps it.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	id := r.Header.Get(RequestIDHeader)
	if !WellFormedRequestID(id) {
		id = newRequestID()
	}
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	st := status.Convert(toStatus(ctx, s.log.With("request_id", id, "path", r.URL.Path), err))
	code, ok := httpStatus[st.Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	level := slog.LevelWarn
	if st.Code() == codes.NotFound {
		level = slog.LevelInfo // clients probe for tiles and files
	}
	s.log.Log(ctx, level, "http request failed", "path", r.URL.Path, "peer", r.RemoteAddr, "code", st.Code().String(), "reason", st.Message(), "request_id", id)
	w.Header().Set(RequestIDHeader, id)
	http.Error(w, st.Message(), code)
}

// webStatus maps an error of the web view's reads as httpError does: the
// HTTP status and the message a client may see.
func (s *Server) webStatus(ctx context.Context, err error) (int, string) {
	id := newRequestID()
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	st := status.Convert(toStatus(ctx, s.log.With("request_id", id), err))
	code, ok := httpStatus[st.Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	return code, st.Message()
}
