// Package refname turns an artifact reference (an OCI image reference, a
// file, an https URL, or the URI trustctl records for one) into the name a
// deploy asks for, in one canonical form, and decides whether evidence
// naming one reference binds the name another asks for. A deploy asks for
// a name ("registry.example/acme/app:1.4", "app-1.4.tar.gz"); evidence
// that these bytes passed (a token's resourceUri, a TUF target, a manifest
// line) counts for that deploy only if it names the same thing, or a
// registry that points the tag at an older, still validly signed image
// would pass.
//
// Normalize is the one normalisation, applied the same way to the
// reference being verified and to the name the evidence records:
//
//   - "", "-" and "stdin:" name nothing (ErrNoName).
//   - file://HOST/PATH, https://HOST/PATH and http://HOST/PATH name a file:
//     the last element of the path, percent-decoded (query and fragment
//     ignored). So a token issued for file:///ci/dist/app-1.4.tar.gz binds
//     the name app-1.4.tar.gz wherever the file is verified.
//   - oci://REF, and REF without a scheme whose first element names a
//     registry (contains "." or ":", or is "localhost"), are OCI
//     references [REGISTRY/]REPOSITORY[:TAG][@DIGEST]: the registry is
//     lowercased, index.docker.io and registry-1.docker.io are docker.io,
//     a missing registry is docker.io (only after oci://), a one-element
//     repository on docker.io is library/REPOSITORY, and a reference with
//     neither tag nor digest has the tag "latest". A reference with a
//     digest and no tag (repo@sha256:…) binds no tag.
//   - Anything else without a scheme is a file path: its last element.
//
// The canonical form (Name.String) is oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]
// for images and file:///NAME (NAME percent-encoded) for files; it
// normalises to itself.
package refname

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/trustd-dev/trustd/digest"
)

// MaxLength bounds a reference Normalize reads, so that hostile input
// cannot make it do unbounded work.
const MaxLength = 4096

// Limits of the OCI distribution specification.
const (
	maxRepository = 255
	maxTag        = 128
)

// Bounds that keep a canonical form (percent-encoded file names, added
// registry defaults) within MaxLength.
const (
	maxRegistry = 255
	maxFileName = 1024
)

// Kinds of name.
const (
	// KindOCI is an image in a registry.
	KindOCI = "oci"
	// KindFile is a file, read from disk or downloaded.
	KindFile = "file"
)

// Errors callers branch on.
var (
	// ErrNoName: the reference names nothing (standard input, empty).
	ErrNoName = errors.New("the reference names nothing")
	// ErrInvalid: the reference is none of the accepted forms.
	ErrInvalid = errors.New("not an artifact reference")
	// ErrMismatch: evidence names something other than the reference.
	ErrMismatch = errors.New("name mismatch")
)

// dockerHub is the canonical name of Docker Hub's registry.
const dockerHub = "docker.io"

// Name is a normalised artifact reference.
type Name struct {
	// Kind is KindOCI or KindFile.
	Kind string
	// Registry, Repository, Tag and Digest are set for KindOCI; Tag is
	// empty for a digest reference without a tag, Digest for a tag
	// reference.
	Registry   string
	Repository string
	Tag        string
	Digest     string
	// File is the base name, for KindFile.
	File string
}

// String is n's canonical form, which Normalize maps back to n.
func (n Name) String() string {
	if n.Kind == KindFile {
		return "file:///" + url.PathEscape(n.File)
	}
	s := "oci://" + n.Registry + "/" + n.Repository
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}

// Short is n for people: registry/repository[:tag][@digest] for an image,
// the file name for a file.
func (n Name) Short() string {
	if n.Kind == KindFile {
		return n.File
	}
	return strings.TrimPrefix(n.String(), "oci://")
}

// Normalize parses ref by the rules in the package documentation.
func Normalize(ref string) (Name, error) {
	bad := func(reason string) (Name, error) {
		return Name{}, fmt.Errorf("refname: %.80q: %w: %s", ref, ErrInvalid, reason)
	}
	if len(ref) > MaxLength {
		return bad(fmt.Sprintf("longer than %d bytes", MaxLength))
	}
	if ref == "" || ref == "-" || ref == "stdin:" {
		return Name{}, fmt.Errorf("refname: %q: %w (standard input or no reference)", ref, ErrNoName)
	}
	if scheme, rest, ok := strings.Cut(ref, "://"); ok && validScheme(scheme) {
		switch strings.ToLower(scheme) {
		case "oci":
			return parseOCI(ref, rest, true)
		case "file":
			// file://HOST/PATH: the host (usually empty) is not the name.
			_, p, ok := strings.Cut(rest, "/")
			if !ok {
				return bad("a file URI needs a path")
			}
			return fileName(ref, p, true)
		case "https", "http":
			if i := strings.IndexAny(rest, "?#"); i >= 0 {
				rest = rest[:i]
			}
			_, p, ok := strings.Cut(rest, "/")
			if !ok {
				return bad("the URL has no path")
			}
			return fileName(ref, p, true)
		}
		return bad(fmt.Sprintf("scheme %s: want oci://, file://, https:// or a registry/repo:tag reference", scheme))
	}
	if looksLikeOCI(ref) {
		return parseOCI(ref, ref, false)
	}
	return fileName(ref, ref, false)
}

// validScheme reports whether s is a URI scheme (RFC 3986).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// looksLikeOCI is trustctl's resolver rule: a reference whose first
// element names a registry (has a dot or a port, or is localhost) is an
// image, so that a relative file path is not taken for one on Docker Hub.
func looksLikeOCI(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	return ok && first != "." && first != ".." && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// fileName is the name of the file at path p: its last element,
// percent-decoded when p comes from a URI.
func fileName(ref, p string, escaped bool) (Name, error) {
	base := p[strings.LastIndex(p, "/")+1:]
	if escaped {
		var err error
		if base, err = url.PathUnescape(base); err != nil {
			return Name{}, fmt.Errorf("refname: %.80q: %w: bad percent-encoding in the file name", ref, ErrInvalid)
		}
	}
	switch {
	case base == "" || base == "." || base == "..":
		return Name{}, fmt.Errorf("refname: %.80q: %w: the path ends without a file name", ref, ErrInvalid)
	case strings.ContainsAny(base, "/\x00"):
		return Name{}, fmt.Errorf("refname: %.80q: %w: the file name holds '/' or NUL", ref, ErrInvalid)
	case len(base) > maxFileName:
		return Name{}, fmt.Errorf("refname: %.80q: %w: the file name is longer than %d bytes", ref, ErrInvalid, maxFileName)
	}
	return Name{Kind: KindFile, File: base}, nil
}

// parseOCI reads [REGISTRY/]REPOSITORY[:TAG][@DIGEST]; the registry may be
// left out (Docker Hub) only when the reference said oci:// explicitly.
func parseOCI(ref, s string, explicit bool) (Name, error) {
	bad := func(reason string) (Name, error) {
		return Name{}, fmt.Errorf("refname: %.80q: %w: %s", ref, ErrInvalid, reason)
	}
	n := Name{Kind: KindOCI}
	if rest, d, ok := strings.Cut(s, "@"); ok {
		if !strings.Contains(d, ":") {
			return bad("the digest must be algorithm:hex")
		}
		pd, err := digest.Parse(d)
		if err != nil {
			return bad("digest: " + err.Error())
		}
		n.Digest, s = pd.String(), rest
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		n.Tag, s = s[i+1:], s[:i]
		if !validTag(n.Tag) {
			return bad(fmt.Sprintf("tag %.80q: want 1-%d characters of [A-Za-z0-9_.-], not starting with . or -", n.Tag, maxTag))
		}
	}
	first, rest, ok := strings.Cut(s, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		n.Registry, n.Repository = strings.ToLower(first), rest
	} else if explicit {
		n.Registry, n.Repository = dockerHub, s
	} else {
		return bad("no registry: write registry/repo:tag, or oci://repo:tag for Docker Hub")
	}
	if !validRegistry(n.Registry) {
		return bad(fmt.Sprintf("registry %.80q: want a host name or address, with an optional port", n.Registry))
	}
	switch n.Registry {
	case "index.docker.io", "registry-1.docker.io":
		n.Registry = dockerHub
	}
	if n.Registry == dockerHub && !strings.Contains(n.Repository, "/") {
		n.Repository = "library/" + n.Repository
	}
	if !validRepository(n.Repository) {
		return bad(fmt.Sprintf("repository %.80q: want lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', at most %d characters", n.Repository, maxRepository))
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	return n, nil
}

// validTag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > maxTag {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		word := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if !word && (i == 0 || c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// validRegistry: a host name, IPv4 address or bracketed IPv6 address, with
// an optional port.
func validRegistry(r string) bool {
	if len(r) > maxRegistry {
		return false
	}
	host, port := r, ""
	if strings.HasPrefix(r, "[") {
		end := strings.Index(r, "]")
		if end < 0 {
			return false
		}
		host, port = r[1:end], r[end+1:]
		if host == "" || strings.Trim(host, "0123456789abcdef:.") != "" {
			return false
		}
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return false
			}
		}
	} else if h, p, ok := strings.Cut(r, ":"); ok {
		host, port = h, p
		if port == "" {
			return false
		}
	}
	if port != "" && (len(port) > 5 || strings.Trim(port, "0123456789") != "") {
		return false
	}
	if host == "" || strings.HasPrefix(host, "-") || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return false
	}
	return r[0] == '[' || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") == ""
}

// validRepository: path components [a-z0-9]+ joined by '.', '_', '__' or
// runs of '-', separated by '/'.
func validRepository(r string) bool {
	if len(r) == 0 || len(r) > maxRepository {
		return false
	}
	for _, comp := range strings.Split(r, "/") {
		if comp == "" {
			return false
		}
		prev := byte('.') // a component starts with an alphanumeric
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			switch {
			case alnum:
			case c == '-' && prev != '.' && prev != '_':
			case (c == '.' || c == '_') && isAlnum(prev):
			case c == '_' && prev == '_' && i >= 2 && isAlnum(comp[i-2]):
			default:
				return false
			}
			prev = c
		}
		if !isAlnum(prev) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// MismatchError says why evidence for one name does not bind another. It
// matches ErrMismatch.
type MismatchError struct {
	Evidence, Asked Name
	// Why names the difference ("other tag", …).
	Why string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s does not bind %s (%s)", e.Evidence.Short(), e.Asked.Short(), e.Why)
}

// Is makes a MismatchError match ErrMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Binds reports whether evidence recorded for n (a token's resourceUri)
// binds the name asked for, or returns a *MismatchError saying what
// differs. Files bind by equal file name. Images bind when registry and
// repository are equal and, if asked names a tag, n names the same tag (a
// digest reference binds no tag, so evidence for one binds no tag asked
// for); when both name a digest, the digests are equal. The bytes
// themselves are compared separately (a token's subject).
func (n Name) Binds(asked Name) error {
	mismatch := func(why string) error { return &MismatchError{Evidence: n, Asked: asked, Why: why} }
	switch {
	case n.Kind != asked.Kind:
		return mismatch("a " + kindWord(n.Kind) + " is not a " + kindWord(asked.Kind))
	case n.Kind == KindFile:
		if n.File != asked.File {
			return mismatch("other file name")
		}
		return nil
	case n.Registry != asked.Registry:
		return mismatch("other registry")
	case n.Repository != asked.Repository:
		return mismatch("other repository")
	case asked.Tag != "" && n.Tag == "":
		return mismatch("a digest reference binds no tag")
	case asked.Tag != "" && n.Tag != asked.Tag:
		return mismatch("other tag")
	case asked.Digest != "" && n.Digest != "" && n.Digest != asked.Digest:
		return mismatch("other digest")
	}
	return nil
}

func kindWord(kind string) string {
	if kind == KindOCI {
		return "registry image"
	}
	return "file"
}
