package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pkcs11uri "github.com/stefanberger/go-pkcs11uri"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// URIPrefix starts every PKCS#11 URI (RFC 7512).
const URIPrefix = "pkcs11:"

// Bounds on what a URI may make trustctl read.
const (
	maxURI     = 4096 // bytes of one URI
	maxPINFile = 256  // bytes of a pin-source file
)

// ModuleDirs are searched, in order, for a module-name given without a
// module-path: Debian's multiarch PKCS#11 directories and SoftHSM2's.
var ModuleDirs = []string{"/usr/lib/x86_64-linux-gnu/pkcs11", "/usr/lib/aarch64-linux-gnu/pkcs11", "/usr/lib/pkcs11", "/usr/lib/softhsm", "/usr/local/lib/softhsm"}

// IsURI reports whether a key reference is a PKCS#11 URI rather than a file
// path.
func IsURI(ref string) bool { return strings.HasPrefix(ref, URIPrefix) }

// Ref names one private key on one token and how to log in to it. A zero
// field matches anything; Label or ID must be set.
type Ref struct {
	Module       string // absolute path of the PKCS#11 module (shared library)
	Token        string // token label (URI "token")
	Serial       string // token serial number (URI "serial")
	Manufacturer string // token manufacturer (URI "manufacturer")
	Model        string // token model (URI "model")
	SlotID       *uint  // slot id (URI "slot-id")
	Label        string // key object label, CKA_LABEL (URI "object")
	ID           []byte // key object id, CKA_ID (URI "id")
	PIN          string // user PIN; empty: the token needs no login or the caller supplies one
	HasPIN       bool   // the URI carried a PIN (pin-value or pin-source)
}

// String names the key without its PIN.
func (r Ref) String() string {
	s := URIPrefix
	var attrs []string
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, k+"="+url.PathEscape(v))
		}
	}
	add("token", r.Token)
	add("serial", r.Serial)
	add("object", r.Label)
	if len(r.ID) > 0 {
		attrs = append(attrs, "id="+pctAll(r.ID))
	}
	return s + strings.Join(attrs, ";")
}

// Format prints String for every verb, so that no verb can print the PIN.
func (r Ref) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

func pctAll(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02x", c)
	}
	return sb.String()
}

// ParseURI parses an RFC 7512 PKCS#11 URI naming a private key, e.g.
//
//	pkcs11:token=release;object=targets?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
//
// Path attributes token, serial, manufacturer, model and slot-id select the
// token, object and id the key; query attributes module-path (or
// module-name, searched in ModuleDirs) the module, and pin-value or
// pin-source (a file, read here, trailing newline dropped) the user PIN.
// defaultModule is used when the URI names no module.
func ParseURI(uri, defaultModule string) (Ref, error) {
	const op = "pkcs11: parse uri"
	if len(uri) > maxURI {
		return Ref{}, inputerr.New(op, "uri", ErrBadURI, fmt.Sprintf("%d bytes; at most %d", len(uri), maxURI))
	}
	if !IsURI(uri) {
		return Ref{}, inputerr.New(op, "uri", ErrBadURI, "does not start with "+URIPrefix)
	}
	u := pkcs11uri.New()
	if err := u.Parse(uri); err != nil {
		return Ref{}, inputerr.Wrap(op, "uri", ErrBadURI, "not an RFC 7512 PKCS#11 URI", err)
	}
	path := func(name string) string { v, _ := u.GetPathAttribute(name, false); return v }
	var r Ref
	r.Token, r.Serial, r.Manufacturer, r.Model, r.Label = path("token"), path("serial"), path("manufacturer"), path("model"), path("object")
	if id := path("id"); id != "" {
		r.ID = []byte(id)
	}
	if v, ok := u.GetPathAttribute("slot-id", false); ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Ref{}, inputerr.Wrap(op, "slot-id", ErrBadURI, "not a slot number", err)
		}
		id := uint(n)
		r.SlotID = &id
	}
	if t := path("type"); t != "" && t != "private" {
		return Ref{}, inputerr.New(op, "type", ErrBadURI, fmt.Sprintf("%q: a signing key is type=private", t))
	}
	if r.Label == "" && len(r.ID) == 0 {
		return Ref{}, inputerr.New(op, "object", ErrBadURI, "the URI names no key: give object=LABEL or id=%XX…")
	}

	_, hasPath := u.GetQueryAttribute("module-path", false)
	_, hasName := u.GetQueryAttribute("module-name", false)
	switch {
	case hasPath || hasName:
		u.SetModuleDirectories(ModuleDirs)
		u.SetAllowAnyModule(true) // the key holder names the module explicitly
		m, err := u.GetModule()
		if err != nil {
			return Ref{}, inputerr.Wrap(op, "module-path", ErrBadURI, "no such PKCS#11 module", err)
		}
		r.Module = m
	case defaultModule != "":
		if !filepath.IsAbs(defaultModule) {
			return Ref{}, inputerr.New(op, "module-path", ErrBadURI, fmt.Sprintf("%q: the module path must be absolute", defaultModule))
		}
		r.Module = defaultModule
	default:
		return Ref{}, inputerr.New(op, "module-path", ErrBadURI, "the URI names no PKCS#11 module: add ?module-path=/path/to/module.so")
	}

	if v, ok := u.GetQueryAttribute("pin-value", false); ok {
		r.PIN, r.HasPIN = v, true
	}
	if v, ok := u.GetQueryAttribute("pin-source", false); ok {
		pin, err := readPINSource(v)
		if err != nil {
			return Ref{}, inputerr.Wrap(op, "pin-source", ErrBadURI, "cannot read the PIN", err)
		}
		r.PIN, r.HasPIN = pin, true
	}
	return r, nil
}

// readPINSource reads a pin-source: an absolute file path or file: URI.
func readPINSource(src string) (string, error) {
	p := strings.TrimPrefix(src, "file:")
	p = strings.TrimPrefix(p, "//")
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q: give an absolute path or file:/path", src)
	}
	return ReadPINFile(p)
}

// ReadPINFile reads a PIN from a file (at most a few hundred bytes), dropping
// one trailing newline.
func ReadPINFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxPINFile {
		return "", fmt.Errorf("%s: longer than %d bytes: not a PIN file", path, maxPINFile)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	if len(data) == 0 {
		return "", errors.New(path + ": empty")
	}
	return string(data), nil
}
