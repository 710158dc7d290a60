// Package inputerr is the error type trustd's parsers and verifiers return
// for rejected input: what was being done, the field at fault, why, and the
// sentinel kind callers branch on with errors.Is. envelope and pgp export
// it under their own names; tuf's error, which also names a repository and
// role, formats through it.
package inputerr

// Error is one rejection. Kind is the sentinel it matches; Field names the
// element at fault (a JSON path such as "signatures[1].keyid"), if any.
type Error struct {
	Op     string // what was being done: "envelope: decode", "pgp: parse certificate", …
	Field  string // the element at fault, or ""
	Reason string // why the input was rejected
	Kind   error  // the sentinel error this error matches
	Err    error  // the underlying error, if any
}

// Error formats the error as "op: field: reason: underlying error".
func (e *Error) Error() string {
	s := e.Op
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel kind and the underlying error, so errors.Is
// matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// New returns a rejection with no underlying error.
func New(op, field string, kind error, reason string) *Error {
	return &Error{Op: op, Field: field, Reason: reason, Kind: kind}
}

// Wrap returns a rejection caused by err.
func Wrap(op, field string, kind error, reason string, err error) *Error {
	return &Error{Op: op, Field: field, Reason: reason, Kind: kind, Err: err}
}
