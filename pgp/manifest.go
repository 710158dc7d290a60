package pgp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Limits on release manifests.
const (
	MaxManifestBytes     = 16 << 20 // the whole manifest
	MaxManifestLines     = 200_000  // lines, blank ones included
	MaxManifestNameBytes = 4096     // one file name, after unescaping
	maxProblemText       = 120      // bytes of a bad line quoted in a problem
)

// ManifestEntry is one indexed line of a checksum manifest.
type ManifestEntry struct {
	Line   int           // 1-based line number
	Name   string        // the file name, unescaped
	Digest digest.Digest // the listed digest
	Binary bool          // GNU binary-mode marker ("*name")
	Tagged bool          // BSD tagged form ("SHA256 (name) = hex")
	// Size is the listed size in bytes when HasSize (Debian Release files
	// list one; checksum manifests do not).
	Size    int64
	HasSize bool
}

// ManifestProblem is a manifest line that was not indexed, and why.
type ManifestProblem struct {
	Line   int    // 1-based line number
	Text   string // the line, truncated
	Reason string
}

// String renders the problem as "line N: reason: text".
func (p ManifestProblem) String() string {
	return fmt.Sprintf("line %d: %s: %q", p.Line, p.Reason, p.Text)
}

// ManifestOptions tune ParseManifestWith.
type ManifestOptions struct {
	// Untagged lists the algorithms an untagged (sha256sum-style) line may
	// use, told apart by hex length; two with the same length are an
	// error. Empty means SHA-256, SHA-384 and SHA-512 (sha*sum output).
	Untagged []digest.Algorithm
}

// ManifestOptionsFor returns the options for a manifest file name by the
// usual conventions: B2SUMS (b2sum: BLAKE2b-512, or -256 with -l 256),
// SHA256SUMS, SHA384SUMS, SHA512SUMS, SHA3-256SUMS; anything else gets the
// SHA-2 defaults.
func ManifestOptionsFor(fileName string) ManifestOptions {
	base := strings.ToUpper(fileName[strings.LastIndexAny(fileName, `/\`)+1:])
	base = strings.TrimSuffix(base, ".TXT")
	switch {
	case strings.HasPrefix(base, "B2SUM"), strings.HasPrefix(base, "BLAKE2"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.BLAKE2b_256, digest.BLAKE2b_512}}
	case strings.HasPrefix(base, "SHA3-256") || strings.HasPrefix(base, "SHA3_256"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.SHA3_256}}
	case strings.HasPrefix(base, "SHA3-512") || strings.HasPrefix(base, "SHA3_512"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.SHA3_512}}
	case strings.HasPrefix(base, "SHA256"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.SHA256}}
	case strings.HasPrefix(base, "SHA384"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.SHA384}}
	case strings.HasPrefix(base, "SHA512"):
		return ManifestOptions{Untagged: []digest.Algorithm{digest.SHA512}}
	}
	return ManifestOptions{}
}

// bsdTags maps the BSD/coreutils --tag algorithm names to trustd's.
var bsdTags = map[string]digest.Algorithm{
	"SHA256":      digest.SHA256,
	"SHA384":      digest.SHA384,
	"SHA512":      digest.SHA512,
	"SHA3-256":    digest.SHA3_256,
	"SHA3-512":    digest.SHA3_512,
	"BLAKE2b":     digest.BLAKE2b_512,
	"BLAKE2b-512": digest.BLAKE2b_512,
	"BLAKE2b-256": digest.BLAKE2b_256,
	"BLAKE3":      digest.BLAKE3,
}

// weakTags are tags of algorithms trustd recognises but does not index.
var weakTags = map[string]bool{"MD5": true, "SHA1": true, "SHA224": true, "RMD160": true, "SM3": true, "CRC": true}

// ParseManifest parses a checksum manifest with the default options (see
// ParseManifestWith).
func ParseManifest(data []byte) ([]ManifestEntry, []ManifestProblem, error) {
	return ParseManifestWith(data, ManifestOptions{})
}

// ParseManifestWith parses a checksum manifest: GNU coreutils output
// (sha256sum, sha384sum, sha512sum, b2sum; text and binary mode; a leading
// backslash marks a name with \\, \n and \r escapes) and the BSD tagged form
// ("SHA256 (name) = hex", also coreutils --tag output). Lines it cannot
// parse or will not index are returned as problems, never dropped silently;
// a file name listed twice with different digests of the same algorithm is
// a problem on every such line and none of them is indexed. Blank lines are
// skipped. The error is for input over the limits or not a manifest at all.
func ParseManifestWith(data []byte, opts ManifestOptions) ([]ManifestEntry, []ManifestProblem, error) {
	if len(data) > MaxManifestBytes {
		return nil, nil, inputerr.New(opManifest, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxManifestBytes))
	}
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, nil, inputerr.New(opManifest, "", ErrMalformed, "this is a clearsigned document; verify it with VerifyCleartext and parse the text it returns")
	}
	byLen := map[int]digest.Algorithm{}
	untagged := opts.Untagged
	if len(untagged) == 0 {
		untagged = []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512}
	}
	for _, a := range untagged {
		if !a.Valid() {
			return nil, nil, inputerr.New(opManifest, "options", ErrUnsupportedAlgorithm, fmt.Sprintf("untagged algorithm %q", a))
		}
		if prev, dup := byLen[a.Size()*2]; dup {
			return nil, nil, inputerr.New(opManifest, "options", ErrMalformed, fmt.Sprintf("untagged algorithms %s and %s have the same length and cannot be told apart", prev, a))
		}
		byLen[a.Size()*2] = a
	}
	if n := bytes.Count(data, []byte{'\n'}); n > MaxManifestLines {
		return nil, nil, inputerr.New(opManifest, "", ErrTooLarge, fmt.Sprintf("%d lines, over the limit of %d", n, MaxManifestLines))
	}

	type key struct {
		name string
		alg  digest.Algorithm
	}
	var (
		entries  []ManifestEntry
		problems []ManifestProblem
		first    = map[key]int{} // index into entries of the first line for the key
		conflict = map[key]bool{}
	)
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, reason := parseManifestLine(line, byLen)
		if reason != "" {
			problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line), Reason: reason})
			continue
		}
		e.Line = lineNo
		k := key{e.Name, e.Digest.Algorithm()}
		if idx, seen := first[k]; seen {
			prev := entries[idx]
			switch {
			case prev.Digest == e.Digest && !conflict[k]:
				problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line),
					Reason: fmt.Sprintf("repeats line %d (same name and digest); indexed once", prev.Line)})
			default:
				if !conflict[k] {
					conflict[k] = true
					problems = append(problems, ManifestProblem{Line: prev.Line, Text: prev.Name,
						Reason: fmt.Sprintf("%s is listed again with a different %s digest; neither line is indexed", quoteName(e.Name), k.alg)})
				}
				problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line),
					Reason: fmt.Sprintf("%s was already listed on line %d with a different %s digest; neither line is indexed", quoteName(e.Name), prev.Line, k.alg)})
			}
			continue
		}
		first[k] = len(entries)
		entries = append(entries, e)
	}
	if len(conflict) > 0 {
		kept := entries[:0]
		for _, e := range entries {
			if !conflict[key{e.Name, e.Digest.Algorithm()}] {
				kept = append(kept, e)
			}
		}
		entries = kept
		sortProblems(problems)
	}
	return entries, problems, nil
}

func sortProblems(p []ManifestProblem) {
	// Insertion sort keeps it stable and allocation-free; conflicts are rare.
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Line < p[j-1].Line; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func quoteName(s string) string {
	if len(s) > maxProblemText {
		s = s[:maxProblemText] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func problemText(line []byte) string {
	if len(line) > maxProblemText {
		line = line[:maxProblemText]
	}
	return strings.ToValidUTF8(string(line), "\uFFFD")
}

// parseManifestLine parses one non-blank line; reason is "" on success.
func parseManifestLine(line []byte, byLen map[int]digest.Algorithm) (ManifestEntry, string) {
	var e ManifestEntry
	escaped := line[0] == '\\'
	if escaped {
		line = line[1:]
	}
	s := string(line)
	var hexStr, name string
	var alg digest.Algorithm
	if sp := strings.IndexByte(s, ' '); sp > 0 && strings.HasPrefix(s[sp:], " (") && !isHex(s[:sp]) {
		// BSD tagged: ALG (name) = hex
		tag := s[:sp]
		end := strings.LastIndex(s, ") = ")
		if end < sp+2 {
			return e, "not a checksum line: tagged form needs \"ALG (name) = hex\""
		}
		name, hexStr = s[sp+2:end], s[end+4:]
		a, ok := bsdTags[tag]
		if !ok {
			if weakTags[strings.ToUpper(tag)] {
				return e, fmt.Sprintf("algorithm %s is not accepted (too weak or not a content digest)", tag)
			}
			return e, fmt.Sprintf("unsupported algorithm tag %q", tag)
		}
		alg = a
		e.Tagged = true
		if !isHex(hexStr) {
			return e, "the digest is not hexadecimal"
		}
		if len(hexStr) != 2*alg.Size() {
			return e, fmt.Sprintf("a %s digest has %d hex characters, not %d", alg, 2*alg.Size(), len(hexStr))
		}
	} else {
		// GNU: hex, one space, ' ' (text) or '*' (binary), name.
		sp := strings.IndexByte(s, ' ')
		if sp <= 0 || sp+2 > len(s) {
			return e, "not a checksum line: want \"HEX  NAME\", \"HEX *NAME\" or \"ALG (NAME) = HEX\""
		}
		hexStr = s[:sp]
		if !isHex(hexStr) {
			return e, "not a checksum line: the first field is not a hexadecimal digest"
		}
		switch s[sp+1] {
		case ' ':
		case '*':
			e.Binary = true
		default:
			return e, "not a checksum line: the digest must be followed by two spaces (text mode) or \" *\" (binary mode)"
		}
		name = s[sp+2:]
		a, ok := byLen[len(hexStr)]
		if !ok {
			if len(hexStr) == 32 || len(hexStr) == 40 {
				return e, fmt.Sprintf("a %d-character digest is MD5 or SHA-1, which are not accepted", len(hexStr))
			}
			return e, fmt.Sprintf("no expected algorithm has %d-character digests", len(hexStr))
		}
		alg = a
	}
	if escaped {
		n, ok := unescapeName(name)
		if !ok {
			return e, "bad escape in file name (only \\\\, \\n and \\r are defined)"
		}
		name = n
	}
	switch {
	case name == "":
		return e, "empty file name"
	case len(name) > MaxManifestNameBytes:
		return e, fmt.Sprintf("file name longer than %d bytes", MaxManifestNameBytes)
	case strings.IndexByte(name, 0) >= 0:
		return e, "file name contains a NUL byte"
	case !utf8.ValidString(name):
		return e, "file name is not valid UTF-8"
	}
	sum, err := hex.DecodeString(hexStr)
	if err != nil {
		return e, "the digest is not hexadecimal"
	}
	d, err := digest.New(alg, sum)
	if err != nil {
		return e, err.Error()
	}
	e.Name, e.Digest = name, d
	return e, ""
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// unescapeName undoes coreutils' file name escaping.
func unescapeName(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", false
		}
	}
	return b.String(), true
}
