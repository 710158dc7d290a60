// Package location gives meaning to location claims
// (https://trustd.dev/location/v1): a statement, signed by one registered
// key, that the artifact with the subject's digests can be fetched at a
// URI (an OCI blob, an https URL, or an https directory prefix whose
// objects are named by digest). Locations are evidence of where to look,
// never of trust: a fetcher checks the bytes against the digest it asked
// for. A location claimed by a publisher of the artifact
// (revocation.Service.IsPublisher) is authoritative, anyone else's is a
// mirror; a claim is withdrawn by revoking its statement.
package location

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/strictjson"
	"github.com/trustd-dev/trustd/recordtype"
)

// PredicateType is the predicate type of location claims.
const PredicateType = recordtype.Location

// DefaultMaxPerDigest is how many location claims one digest may have
// unless Options.MaxPerDigest says otherwise (trustd
// --max-locations-per-digest); a publisher of the digest may always add
// its own.
const DefaultMaxPerDigest = 64

// MaxURIBytes bounds a location's URI.
const MaxURIBytes = 2048

// Schemes of locations.
const (
	SchemeHTTPS = "https"
	SchemeHTTP  = "http"
	SchemeOCI   = "oci"
)

var (
	// ErrInvalid means a location claim is malformed or names a location
	// trustd does not offer (a scheme, or an address, not allowed).
	ErrInvalid = errors.New("invalid location claim")
	// ErrTooMany means a digest already has as many location claims as
	// the server allows.
	ErrTooMany = errors.New("too many location claims")
)

const opValidate = "location: validate"

// Predicate is the predicate of a location claim.
type Predicate struct {
	// URI is where the bytes are: "oci://HOST[:PORT]/REPO@sha256:HEX" (a
	// blob in an OCI repository, its digest one of the subject's), an
	// https URL of the file, or an https URL ending in "/" (a directory or
	// bucket prefix holding the file under TUF consistent-snapshot names,
	// PREFIX/HEX.NAME, for each of the subject's digests; see URLs).
	URI string `json:"uri"`
}

// Rules are what a location must satisfy besides its form.
type Rules struct {
	// AllowHTTP accepts plain http locations (loopback tests).
	AllowHTTP bool
	// AllowPrivate accepts locations whose host is a loopback,
	// link-local, private or unspecified IP address (or "localhost").
	AllowPrivate bool
}

// Claim is a parsed location claim.
type Claim struct {
	// Name is the subject's name (the TUF target name, for a directory).
	Name string
	// Digests are the subject's digests.
	Digests []digest.Digest
	// URI is the location as claimed.
	URI string
}

// Parse checks a location claim statement against the rules: exactly one
// subject, with digests; a predicate of exactly {"uri"} with a location
// the rules allow. Errors match ErrInvalid and name the field.
func Parse(st envelope.Statement, r Rules) (Claim, error) {
	if len(st.Subjects) != 1 {
		return Claim{}, inputerr.New(opValidate, "subject", ErrInvalid,
			fmt.Sprintf("a location claim is about exactly one artifact (one subject, with all its digests); got %d subjects", len(st.Subjects)))
	}
	sub := st.Subjects[0]
	if len(sub.Digests) == 0 {
		return Claim{}, inputerr.New(opValidate, "subject[0].digest", ErrInvalid, "names no digest")
	}
	if err := checkName(sub.Name); err != nil {
		return Claim{}, err
	}
	var p Predicate
	if len(st.Predicate) == 0 {
		return Claim{}, inputerr.New(opValidate, "predicate", ErrInvalid, "is required: {\"uri\": LOCATION}")
	}
	if field, reason, err := strictjson.Decode(st.Predicate, &p); err != nil {
		return Claim{}, inputerr.Wrap(opValidate, strictjson.Join("predicate", field), ErrInvalid, reason, err)
	}
	if err := CheckURI(p.URI, sub.Digests, r); err != nil {
		return Claim{}, err
	}
	return Claim{Name: sub.Name, Digests: slices.Clone(sub.Digests), URI: p.URI}, nil
}

// checkName refuses subject names that cannot be a TUF target path (the
// name a directory location serves the file under).
func checkName(name string) error {
	bad := func(why string) error {
		return inputerr.New(opValidate, "subject[0].name", ErrInvalid, why)
	}
	switch {
	case len(name) > 512:
		return bad("is longer than 512 bytes")
	case strings.ContainsAny(name, "\\?#%\x00") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("holds a character a target path may not (control, \\, ?, #, %)")
	case name == "":
		return nil
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("must be a relative target path, not starting or ending with /")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("has an empty, . or .. path segment")
		}
	}
	return nil
}

// ociRepo is the OCI distribution repository name grammar.
var ociRepo = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)

// CheckURI checks a location of an artifact with digests ds against the
// rules. Errors match ErrInvalid and name the field predicate.uri.
func CheckURI(raw string, ds []digest.Digest, r Rules) error {
	bad := func(why string) error { return inputerr.New(opValidate, "predicate.uri", ErrInvalid, why) }
	if raw == "" {
		return bad("is required")
	}
	if len(raw) > MaxURIBytes {
		return bad(fmt.Sprintf("is longer than %d bytes", MaxURIBytes))
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c <= 0x20 || c == 0x7f }) {
		return bad("holds a space or control character")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return inputerr.Wrap(opValidate, "predicate.uri", ErrInvalid, "is no URI", err)
	}
	switch u.Scheme {
	case SchemeHTTPS, SchemeOCI:
	case SchemeHTTP:
		if !r.AllowHTTP {
			return bad("plain http is not accepted (this server takes https and oci locations; trustd --location-allow-http allows http)")
		}
	default:
		return bad(fmt.Sprintf("scheme %q is not accepted: a location is https://… or oci://HOST/REPO@sha256:HEX", u.Scheme))
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return bad("names no host")
	case u.User != nil:
		return bad("carries credentials (user information); a location is public")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("has a fragment")
	}
	if err := checkHost(u.Hostname(), r); err != nil {
		return err
	}
	if p := u.Port(); p != "" && (len(p) > 5 || strings.Trim(p, "0123456789") != "") {
		return bad(fmt.Sprintf("port %q is no port number", p))
	}
	if u.Scheme != SchemeOCI {
		if strings.HasSuffix(u.Path, "/") && u.RawQuery != "" {
			return bad("a directory prefix (ending in /) has no query")
		}
		if strings.Contains(u.EscapedPath(), "..") {
			return bad("has a .. path segment")
		}
		return nil
	}
	if u.RawQuery != "" {
		return bad("an oci location has no query")
	}
	repo, dg, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "@")
	if !ok {
		return bad("an oci location names the blob: oci://HOST/REPO@sha256:HEX")
	}
	if !ociRepo.MatchString(repo) || len(repo) > 255 {
		return bad(fmt.Sprintf("repository %q is no OCI repository name (lowercase [a-z0-9._-] path components)", repo))
	}
	d, err := digest.Parse(dg)
	if err != nil || d.String() != dg {
		return bad(fmt.Sprintf("blob digest %q is no canonical OCI digest (sha256:HEX)", dg))
	}
	if !slices.Contains(ds, d) {
		return bad(fmt.Sprintf("blob digest %s is not among the subject's digests", d))
	}
	return nil
}

// checkHost refuses hosts a fetcher must not be sent to unless the rules
// allow private addresses: loopback, link-local, private, unspecified and
// multicast IP addresses, and localhost.
func checkHost(host string, r Rules) error {
	bad := func(why string) error { return inputerr.New(opValidate, "predicate.uri", ErrInvalid, why) }
	if host == "" {
		return bad("names no host")
	}
	if r.AllowPrivate {
		return nil
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return bad(fmt.Sprintf("host %s is loopback (trustd --location-allow-private allows it)", host))
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		if net.ParseIP(h) != nil || numericLabel(h) {
			// A numeric form netip does not take (octal, hex, short):
			// refused rather than guessed at.
			return bad(fmt.Sprintf("host %s is a numeric address in an unusual form", host))
		}
		return nil
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() || !a.IsGlobalUnicast() {
		return bad(fmt.Sprintf("host %s is a loopback, link-local, private or otherwise non-public address (trustd --location-allow-private allows it)", host))
	}
	return nil
}

// numericLabel reports whether the last label of host is a number (decimal,
// or 0x hex), which URL parsers read as an IPv4 address in some form.
func numericLabel(host string) bool {
	last := host[strings.LastIndex(host, ".")+1:]
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// Kind tells an authoritative location from a mirror.
type Kind string

// Kinds of locations.
const (
	// Authoritative: claimed by a publisher of the artifact.
	Authoritative Kind = "authoritative"
	// Mirror: claimed by anyone else.
	Mirror Kind = "mirror"
)

// URLs are the concrete addresses of the artifact at location uri, for a
// subject named name with digests ds: for a directory prefix (an http(s)
// URI ending in "/"), PREFIX/DIR/HEX.BASE for each sha256 and sha512
// digest (TUF consistent-snapshot target names; PREFIX/HEX without a
// name); otherwise uri itself.
func URLs(uri, name string, ds []digest.Digest) []string {
	if strings.HasPrefix(uri, SchemeOCI+":") || !strings.HasSuffix(uri, "/") {
		return []string{uri}
	}
	var out []string
	for _, d := range ds {
		if d.Algorithm() != digest.SHA256 && d.Algorithm() != digest.SHA512 {
			continue
		}
		out = append(out, uri+TargetFile(name, d))
	}
	return out
}

// TargetFile is the file name a TUF client with consistent snapshots
// fetches target name by hash d: DIR/HEX.BASE ("HEX" alone for no name).
func TargetFile(name string, d digest.Digest) string {
	if name == "" {
		return d.Hex()
	}
	dir, base := path.Split(name)
	return dir + d.Hex() + "." + base
}
