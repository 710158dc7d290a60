package tuf

import (
	"errors"
	"fmt"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Sentinel errors callers branch on with errors.Is. Every error this package
// returns for rejected input is an [*Error] that matches exactly one of them
// and names the repository, role, field and reason in its message.
var (
	// ErrMalformed reports metadata that is not well-formed TUF JSON: syntax,
	// duplicate object keys, wrong _type, missing or mistyped fields, bad
	// hashes, target paths or delegations.
	ErrMalformed = errors.New("malformed metadata")
	// ErrTooLarge reports an upload over the size limit or JSON nested deeper
	// than the depth limit.
	ErrTooLarge = errors.New("metadata too large")
	// ErrBadSignature reports a signature that does not verify, or one made by
	// a key that holds no authority for the role.
	ErrBadSignature = errors.New("bad signature")
	// ErrThreshold reports metadata carrying fewer valid signatures than the
	// threshold. Upload and AddSignatures do not return it for a valid
	// proposal, which they keep as pending instead (Result.Pending); they
	// return it only when there is no valid signature at all to keep.
	ErrThreshold = errors.New("signature threshold not met")
	// ErrVersion reports a version other than the current one plus one
	// (rollback, replay or skip), or a pending version that is obsolete.
	ErrVersion = errors.New("bad metadata version")
	// ErrExpired reports metadata whose expiry is not in the future.
	ErrExpired = errors.New("metadata expired")
	// ErrPathNotDelegated reports a target path that the role uploading it is
	// not trusted for: outside its delegated paths or hash prefixes, or
	// unreachable because a terminating delegation claims it first.
	ErrPathNotDelegated = errors.New("target path not delegated to role")
	// ErrUnknownRole reports a role that no current metadata delegates to, or
	// one that cannot be uploaded (snapshot and timestamp are online roles).
	ErrUnknownRole = errors.New("unknown role")
	// ErrDuplicateKeyID reports a key id listed twice in a role, two key ids
	// naming the same public key, or two signatures by one key.
	ErrDuplicateKeyID = errors.New("duplicate key id")
	// ErrWrongKeyType reports a key of a type or scheme trustd does not accept
	// (it takes ed25519, ecdsa P-256 and rsa of at least 2048 bits), or key
	// material that does not match its declared type.
	ErrWrongKeyType = errors.New("wrong key type")
	// ErrOnlineKey reports a root whose snapshot or timestamp role names keys
	// that trustd does not hold, or shares them with an offline role.
	ErrOnlineKey = errors.New("online key not held by trustd")
	// ErrUnknownRepo reports a repository that has not been initialised.
	ErrUnknownRepo = errors.New("unknown repository")
	// ErrRepoExists reports Init of a repository that already exists.
	ErrRepoExists = errors.New("repository already exists")
	// ErrNotFound reports a metadata file or pending proposal that does not
	// exist. State implementations return it from Get too.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a write that lost a race (another publish changed
	// the repository first; retry) or a pending proposal that differs from
	// the one already collecting signatures for that role and version.
	// State implementations return it from Apply when a compare-and-swap
	// fails.
	ErrConflict = errors.New("conflict")
	// ErrNotAuthorized reports a write its signers hold no authority for: a
	// repository name reserved for trustd (trustd/…) or one the creation
	// policy gives to other keys, or a root proposal that no key of the
	// current root signs.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrAmbiguous reports a request that names no pending proposal while
	// several are pending for that role and version; it must name one by its
	// signed digest (or a unique prefix of it).
	ErrAmbiguous = errors.New("ambiguous proposal")
)

// Error is the error type for rejected input and failed operations. Kind is
// one of the sentinel errors above.
type Error struct {
	Op     string // "init", "upload", "add signatures", "refresh", "metadata", …
	Repo   string // repository name, if known
	Role   string // role at fault, if any
	Field  string // JSON path at fault ("signed.version", "signatures[1]"), or ""
	Reason string // why
	Kind   error  // the sentinel this error matches
	Err    error  // underlying error, if any
}

// Error formats the error as "tuf: op repo role: field: reason: underlying".
func (e *Error) Error() string {
	op := "tuf: " + e.Op
	if e.Repo != "" {
		op += " " + e.Repo
	}
	if e.Role != "" {
		op += " " + e.Role
	}
	return e.rejection(op).Error()
}

// Unwrap returns the sentinel kind and the underlying error, so that
// errors.Is matches both.
func (e *Error) Unwrap() []error { return e.rejection("").Unwrap() }

func (e *Error) rejection(op string) *inputerr.Error {
	return &inputerr.Error{Op: op, Field: e.Field, Reason: e.Reason, Kind: e.Kind, Err: e.Err}
}

// fault is an error found while checking one document, before the operation,
// repository and role are known; op() turns it into an *Error.
type fault struct {
	field  string
	reason string
	kind   error
	err    error
}

func (f *fault) Error() string { return f.field + ": " + f.reason }

func newFault(kind error, field, reason string) *fault {
	return &fault{field: field, reason: reason, kind: kind}
}

// opError builds the *Error for op on repo/role from err, which is a *fault,
// an *Error (returned as is) or anything else (wrapped with kind, or as a
// plain internal error if kind is nil).
func opError(op, repo, role string, kind error, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var f *fault
	if errors.As(err, &f) {
		return &Error{Op: op, Repo: repo, Role: role, Field: f.field, Reason: f.reason, Kind: f.kind, Err: f.err}
	}
	if kind == nil {
		return fmt.Errorf("tuf: %s %s %s: %w", op, repo, role, err)
	}
	return &Error{Op: op, Repo: repo, Role: role, Kind: kind, Err: err}
}
