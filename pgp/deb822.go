package pgp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Limits on Debian Release files (on top of the manifest limits).
const (
	MaxReleaseFields     = 256  // fields in the one paragraph
	MaxReleaseFieldBytes = 1024 // a field name, or a one-line field value
)

const opRelease = "pgp: parse Release"

// releaseHashes are the Release fields trustd indexes, by their field
// names (case-insensitive, as deb822 field names are). MD5Sum and SHA1 are
// read past: too weak to name an artifact.
var releaseHashes = map[string]digest.Algorithm{"sha256": digest.SHA256, "sha512": digest.SHA512}

// IsReleaseName reports whether a manifest's file name is a Debian
// repository Release or InRelease file: exactly that name, or apt's lists
// directory form that ends in "_Release" or "_InRelease"
// (deb.debian.org_debian_dists_bookworm_InRelease).
func IsReleaseName(name string) bool {
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	for _, s := range []string{"Release", "InRelease"} {
		if base == s || strings.HasSuffix(base, "_"+s) {
			return true
		}
	}
	return false
}

// ParseManifestFile parses a published manifest by its file name: a Debian
// Release or InRelease file (IsReleaseName) with ParseRelease, any other
// with ParseManifestWith and the options of its name (ManifestOptionsFor).
// The server and every verifier of a logged manifest parse through it, so
// they index the same lines.
func ParseManifestFile(name string, data []byte) ([]ManifestEntry, []ManifestProblem, error) {
	if IsReleaseName(name) {
		return ParseRelease(data)
	}
	return ParseManifestWith(data, ManifestOptionsFor(name))
}

// LooksLikeRelease reports whether data starts like a deb822 paragraph
// (its first non-blank line is "Field: value"), so an error can suggest
// publishing it under its Release name.
func LooksLikeRelease(data []byte) bool {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		name, _, ok := bytes.Cut(line, []byte{':'})
		return ok && validFieldName(string(name))
	}
	return false
}

// validFieldName checks a deb822 field name: printable US-ASCII other
// than the colon, not starting with '#' or '-', non-empty.
func validFieldName(s string) bool {
	if s == "" || s[0] == '#' || s[0] == '-' || len(s) > MaxReleaseFieldBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// ParseRelease parses a Debian repository Release file (the text of an
// InRelease file after its signature is checked, or a Release file signed
// by Release.gpg): one deb822 paragraph whose SHA256 and SHA512 fields
// list the repository's index files, one " HEX SIZE PATH" continuation
// line each. Each such line is an entry (Size set, HasSize true); MD5Sum,
// SHA1 and the other fields are read past. A line that cannot be indexed
// (bad digest, size or path, a path listed twice with different digests,
// or with different sizes in SHA256 and SHA512) is a problem, never
// dropped silently; the entries of a path with such a conflict are all
// withheld. The error is for input that is not one deb822 paragraph with
// a SHA256 or SHA512 field, names the line and field at fault, and comes
// with no entries.
func ParseRelease(data []byte) ([]ManifestEntry, []ManifestProblem, error) {
	bad := func(line int, field, reason string) error {
		f := fmt.Sprintf("line %d", line)
		if field != "" {
			f += " (" + field + ")"
		}
		return inputerr.New(opRelease, f, ErrMalformed, reason)
	}
	if len(data) > MaxManifestBytes {
		return nil, nil, inputerr.New(opRelease, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxManifestBytes))
	}
	if n := bytes.Count(data, []byte{'\n'}); n > MaxManifestLines {
		return nil, nil, inputerr.New(opRelease, "", ErrTooLarge, fmt.Sprintf("%d lines, over the limit of %d", n, MaxManifestLines))
	}
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, nil, inputerr.New(opRelease, "", ErrMalformed, "this is a clearsigned InRelease file; verify it with VerifyCleartext and parse the text it returns")
	}
	type key struct {
		name string
		alg  digest.Algorithm
	}
	var (
		entries  []ManifestEntry
		problems []ManifestProblem
		fields   = map[string]int{} // lowercase field name -> line
		current  string             // lowercase name of the field being continued
		hashAlg  digest.Algorithm   // its algorithm, if it is a hash field
		first    = map[key]int{}
		conflict = map[string]string{} // paths none of whose lines are indexed, and why
		ended    = 0                   // the line of the blank line that ended the paragraph
	)
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			if len(fields) > 0 && ended == 0 {
				ended = lineNo
			}
			continue
		}
		if ended != 0 {
			return nil, nil, bad(lineNo, "", fmt.Sprintf("a second paragraph after the blank line %d; a Release file is one paragraph", ended))
		}
		if !utf8.Valid(line) {
			return nil, nil, bad(lineNo, current, "not valid UTF-8")
		}
		if line[0] == ' ' || line[0] == '\t' {
			// A continuation line of the current field.
			if current == "" {
				return nil, nil, bad(lineNo, "", "a continuation line (starting with a space) before any field")
			}
			if hashAlg == "" {
				continue
			}
			e, reason := parseReleaseLine(line, hashAlg)
			if reason != "" {
				problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line), Reason: reason})
				continue
			}
			e.Line = lineNo
			k := key{e.Name, e.Digest.Algorithm()}
			if idx, seen := first[k]; seen {
				prev := entries[idx]
				if prev.Digest == e.Digest && prev.Size == e.Size {
					problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line),
						Reason: fmt.Sprintf("repeats line %d (same path, digest and size); indexed once", prev.Line)})
					continue
				}
				why := fmt.Sprintf("%s is listed on lines %d and %d with different %s digests or sizes; none of its lines is indexed", quoteName(e.Name), prev.Line, lineNo, k.alg)
				if _, done := conflict[e.Name]; !done {
					conflict[e.Name] = why
				}
				problems = append(problems, ManifestProblem{Line: lineNo, Text: problemText(line), Reason: why})
				continue
			}
			first[k] = len(entries)
			entries = append(entries, e)
			continue
		}
		if line[0] == '#' {
			return nil, nil, bad(lineNo, "", "a comment line; a Release file has none")
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !validFieldName(string(name)) {
			return nil, nil, bad(lineNo, "", fmt.Sprintf("not a deb822 field (\"Name: value\") nor a continuation line: %q", problemText(line)))
		}
		lower := strings.ToLower(string(name))
		if prev, dup := fields[lower]; dup {
			return nil, nil, bad(lineNo, string(name), fmt.Sprintf("field %s repeats line %d", name, prev))
		}
		if len(fields) == MaxReleaseFields {
			return nil, nil, inputerr.New(opRelease, fmt.Sprintf("line %d", lineNo), ErrTooLarge, fmt.Sprintf("more than %d fields", MaxReleaseFields))
		}
		if len(value) > MaxReleaseFieldBytes {
			return nil, nil, inputerr.New(opRelease, fmt.Sprintf("line %d (%s)", lineNo, name), ErrTooLarge, fmt.Sprintf("a value of %d bytes, over the limit of %d", len(value), MaxReleaseFieldBytes))
		}
		fields[lower] = lineNo
		current, hashAlg = string(name), releaseHashes[lower]
		if hashAlg != "" && len(bytes.TrimSpace(value)) != 0 {
			return nil, nil, bad(lineNo, string(name), "the checksum list starts on the next line; the field line itself must be empty after the colon")
		}
	}
	if len(fields) == 0 {
		return nil, nil, inputerr.New(opRelease, "", ErrMalformed, "empty: no deb822 paragraph")
	}
	_, has256 := fields["sha256"]
	_, has512 := fields["sha512"]
	if !has256 && !has512 {
		return nil, nil, inputerr.New(opRelease, "SHA256", ErrMalformed, "no SHA256 or SHA512 field, so nothing to index (MD5Sum and SHA1 are not accepted)")
	}
	// A path listed in SHA256 and SHA512 with different sizes names two
	// different files: neither is indexed.
	size := map[string]int{} // path -> index of the first entry
	for i, e := range entries {
		j, seen := size[e.Name]
		if !seen {
			size[e.Name] = i
			continue
		}
		if _, done := conflict[e.Name]; entries[j].Size != e.Size && !done {
			conflict[e.Name] = fmt.Sprintf("%s has size %d on line %d and %d on line %d; none of its lines is indexed", quoteName(e.Name), entries[j].Size, entries[j].Line, e.Size, e.Line)
		}
	}
	if len(conflict) > 0 {
		kept := entries[:0]
		for _, e := range entries {
			if why, bad := conflict[e.Name]; bad {
				problems = append(problems, ManifestProblem{Line: e.Line, Text: e.Name, Reason: why})
			} else {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	sortProblems(problems)
	return entries, problems, nil
}

// parseReleaseLine parses one " HEX SIZE PATH" line of a hash field;
// reason is "" on success.
func parseReleaseLine(line []byte, alg digest.Algorithm) (ManifestEntry, string) {
	var e ManifestEntry
	f := strings.Fields(string(line))
	if len(f) != 3 {
		return e, fmt.Sprintf("want \" HEX SIZE PATH\", got %d fields", len(f))
	}
	hexStr, sizeStr, name := f[0], f[1], f[2]
	if !isHex(hexStr) {
		return e, "the digest is not hexadecimal"
	}
	if len(hexStr) != 2*alg.Size() {
		return e, fmt.Sprintf("a %s digest has %d hex characters, not %d", alg, 2*alg.Size(), len(hexStr))
	}
	n, err := strconv.ParseInt(sizeStr, 10, 64)
	if err != nil || n < 0 || sizeStr[0] == '+' {
		return e, fmt.Sprintf("the size %q is not a non-negative decimal number", problemText([]byte(sizeStr)))
	}
	switch {
	case len(name) > MaxManifestNameBytes:
		return e, fmt.Sprintf("path longer than %d bytes", MaxManifestNameBytes)
	case strings.IndexByte(name, 0) >= 0:
		return e, "path contains a NUL byte"
	}
	sum, err := hex.DecodeString(hexStr)
	if err != nil {
		return e, "the digest is not hexadecimal"
	}
	d, err := digest.New(alg, sum)
	if err != nil {
		return e, err.Error()
	}
	e.Name, e.Digest, e.Size, e.HasSize = name, d, n, true
	return e, ""
}
