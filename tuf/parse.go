package tuf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Upload limits.
const (
	// DefaultMaxUploadBytes bounds one uploaded metadata document.
	DefaultMaxUploadBytes = 8 << 20
	// DefaultMaxDepth bounds JSON nesting in an upload (a targets document
	// with custom fields is about 6 deep).
	DefaultMaxDepth = 32
	// MaxBinBits bounds succinct hashed-bin delegations to 2^16 bins.
	MaxBinBits = 16
	// maxSignatureHex bounds one signature (RSA-16384 is 4096 hex digits).
	maxSignatureHex = 4096
	// maxTargetPath bounds one target path.
	maxTargetPath = 4096
)

// ExpiresLayout is the only expiry format accepted: RFC 3339 in UTC with
// whole seconds, as the TUF specification writes it.
const ExpiresLayout = "2006-01-02T15:04:05Z"

var roleNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)

// checkRoleName checks a delegated role name: a letter, then letters, digits
// and "_.-", at most 128, not a top-level role and not containing "..".
func checkRoleName(field, name string) *fault {
	if !roleNameRE.MatchString(name) || strings.Contains(name, "..") {
		return newFault(ErrMalformed, field, fmt.Sprintf("role name %q: want a letter then letters, digits, '_', '.' or '-' (at most 128, no \"..\")", trunc(name)))
	}
	for _, top := range metadata.TOP_LEVEL_ROLE_NAMES {
		if name == top {
			return newFault(ErrMalformed, field, fmt.Sprintf("role name %q is a top-level role", name))
		}
	}
	return nil
}

// prescan checks size, nesting depth and duplicate object keys before any
// parsing, so that encoding/json never sees a document another TUF parser
// could read differently.
func prescan(data []byte, maxBytes, maxDepth int) *fault {
	if len(data) > maxBytes {
		return newFault(ErrTooLarge, "(document)", fmt.Sprintf("%d bytes, the limit is %d", len(data), maxBytes))
	}
	s := scanner{data: data, maxDepth: maxDepth}
	s.ws()
	if s.pos >= len(s.data) {
		return newFault(ErrMalformed, "(document)", "empty")
	}
	if f := s.value(0); f != nil {
		return f
	}
	s.ws()
	if s.pos != len(s.data) {
		return newFault(ErrMalformed, "(document)", fmt.Sprintf("trailing data at byte %d", s.pos))
	}
	return nil
}

type scanner struct {
	data     []byte
	pos      int
	maxDepth int
	keys     []map[string]struct{}
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) syntax(what string) *fault {
	return newFault(ErrMalformed, "(document)", fmt.Sprintf("invalid JSON at byte %d: %s", s.pos, what))
}

func (s *scanner) value(depth int) *fault {
	if s.pos >= len(s.data) {
		return s.syntax("unexpected end")
	}
	switch c := s.data[s.pos]; c {
	case '{', '[':
		if depth+1 > s.maxDepth {
			return newFault(ErrTooLarge, "(document)", fmt.Sprintf("JSON nested deeper than %d at byte %d", s.maxDepth, s.pos))
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case '"':
		_, f := s.str()
		return f
	default:
		start := s.pos
		for s.pos < len(s.data) {
			b := s.data[s.pos]
			if b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b == '-' || b == '+' || b == '.' || b == 'E' {
				s.pos++
				continue
			}
			break
		}
		if s.pos == start {
			return s.syntax(fmt.Sprintf("unexpected %q", c))
		}
		return nil
	}
}

func (s *scanner) str() (string, *fault) {
	s.pos++ // opening quote
	start := s.pos
	escaped := false
	for s.pos < len(s.data) {
		switch b := s.data[s.pos]; {
		case b == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if !escaped {
				return string(raw), nil
			}
			var out string
			if err := json.Unmarshal(s.data[start-1:s.pos], &out); err != nil {
				return "", s.syntax("bad string escape")
			}
			return out, nil
		case b == '\\':
			escaped = true
			s.pos += 2
		case b < 0x20:
			return "", s.syntax("control character in string")
		default:
			s.pos++
		}
	}
	return "", s.syntax("unterminated string")
}

func (s *scanner) object(depth int) *fault {
	s.pos++
	for len(s.keys) <= depth {
		s.keys = append(s.keys, map[string]struct{}{})
	}
	seen := s.keys[depth]
	clear(seen)
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax("want an object key")
		}
		at := s.pos
		k, f := s.str()
		if f != nil {
			return f
		}
		if _, dup := seen[k]; dup {
			return newFault(ErrMalformed, "(document)", fmt.Sprintf("duplicate object key %q at byte %d: parsers disagree on which one counts", trunc(k), at))
		}
		seen[k] = struct{}{}
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntax("want ':'")
		}
		s.pos++
		s.ws()
		if f := s.value(depth); f != nil {
			return f
		}
		// value() may have reused deeper maps; ours is still s.keys[depth].
		s.ws()
		if s.pos >= len(s.data) {
			return s.syntax("unterminated object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.syntax("want ',' or '}'")
		}
	}
}

func (s *scanner) array(depth int) *fault {
	s.pos++
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.ws()
		if f := s.value(depth); f != nil {
			return f
		}
		s.ws()
		if s.pos >= len(s.data) {
			return s.syntax("unterminated array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.syntax("want ',' or ']'")
		}
	}
}

// rawDoc is the outer shape of a metadata document.
type rawDoc struct {
	Signed     json.RawMessage `json:"signed"`
	Signatures []rawSig        `json:"signatures"`
}

type rawSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

type header struct {
	Type        string `json:"_type"`
	SpecVersion string `json:"spec_version"`
	Version     int64  `json:"version"`
	Expires     string `json:"expires"`
}

// decodeOuter checks the outer shape and the signatures list.
func decodeOuter(data []byte) (rawDoc, *fault) {
	var doc rawDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return doc, &fault{field: "(document)", reason: "not a TUF metadata object {\"signed\", \"signatures\"}", kind: ErrMalformed, err: err}
	}
	if len(doc.Signed) == 0 || doc.Signed[0] != '{' {
		return doc, newFault(ErrMalformed, "signed", "required, and must be an object")
	}
	if doc.Signatures == nil {
		return doc, newFault(ErrMalformed, "signatures", "required, and must be an array")
	}
	seen := map[string]int{}
	for i, sg := range doc.Signatures {
		fld := fmt.Sprintf("signatures[%d]", i)
		if sg.KeyID == "" {
			return doc, newFault(ErrMalformed, fld+".keyid", "required")
		}
		if len(sg.KeyID) != 64 || !isHex(sg.KeyID) {
			return doc, newFault(ErrMalformed, fld+".keyid", fmt.Sprintf("%q is not a TUF key id (64 hex digits)", trunc(sg.KeyID)))
		}
		if j, dup := seen[sg.KeyID]; dup {
			return doc, newFault(ErrDuplicateKeyID, fld+".keyid", fmt.Sprintf("key %s already signed in signatures[%d]; one signature per key", sg.KeyID, j))
		}
		seen[sg.KeyID] = i
		if sg.Sig == "" || len(sg.Sig)%2 != 0 || len(sg.Sig) > maxSignatureHex || !isHex(sg.Sig) {
			return doc, newFault(ErrMalformed, fld+".sig", fmt.Sprintf("want a non-empty even-length hex string of at most %d digits", maxSignatureHex))
		}
	}
	return doc, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// checkHeader checks the common signed fields.
func checkHeader(signed json.RawMessage, wantType string) (header, *fault) {
	var h header
	if err := json.Unmarshal(signed, &h); err != nil {
		return h, &fault{field: "signed", reason: "_type, spec_version, version or expires has the wrong type", kind: ErrMalformed, err: err}
	}
	if h.Type != wantType {
		return h, newFault(ErrMalformed, "signed._type", fmt.Sprintf("%q, want %q", trunc(h.Type), wantType))
	}
	if !strings.HasPrefix(h.SpecVersion, "1.") {
		return h, newFault(ErrMalformed, "signed.spec_version", fmt.Sprintf("%q, want a 1.x TUF specification version", trunc(h.SpecVersion)))
	}
	if h.Version < 1 {
		return h, newFault(ErrMalformed, "signed.version", fmt.Sprintf("%d, must be at least 1", h.Version))
	}
	t, err := time.Parse(ExpiresLayout, h.Expires)
	if err != nil || t.Format(ExpiresLayout) != h.Expires {
		return h, newFault(ErrMalformed, "signed.expires", fmt.Sprintf("%q, want YYYY-MM-DDTHH:MM:SSZ", trunc(h.Expires)))
	}
	return h, nil
}

// parseDoc checks the outer shape and header of one document of type T and
// parses it into go-tuf's model.
func parseDoc[T metadata.Roles](data []byte, wantType string) (*metadata.Metadata[T], rawDoc, header, *fault) {
	doc, f := decodeOuter(data)
	if f != nil {
		return nil, doc, header{}, f
	}
	h, f := checkHeader(doc.Signed, wantType)
	if f != nil {
		return nil, doc, h, f
	}
	// decodeOuter and checkHeader did what go-tuf's FromBytes adds to
	// json.Unmarshal (type check, one signature per key); whether signed
	// has a canonical form is checked once, with the signatures.
	md := &metadata.Metadata[T]{}
	if err := json.Unmarshal(data, md); err != nil {
		return nil, doc, h, &fault{field: "signed", reason: "not valid TUF " + wantType + " metadata", kind: ErrMalformed, err: err}
	}
	return md, doc, h, nil
}

// tufHashes are the hash algorithms accepted in target entries: those every
// go-tuf client can verify. sha256 is required.
var tufHashes = map[string]int{"sha256": 32, "sha512": 64}

// checkTargetPath checks one target path: relative, '/'-separated, no empty,
// "." or ".." segments.
func checkTargetPath(field, p string) *fault {
	switch {
	case p == "":
		return newFault(ErrMalformed, field, "empty target path")
	case len(p) > maxTargetPath:
		return newFault(ErrMalformed, field, fmt.Sprintf("target path is %d bytes, the limit is %d", len(p), maxTargetPath))
	case strings.HasPrefix(p, "/"):
		return newFault(ErrMalformed, field, "target path must be relative (no leading '/')")
	case strings.ContainsAny(p, "\\\x00"):
		return newFault(ErrMalformed, field, "target path must not contain '\\' or NUL")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return newFault(ErrMalformed, field, "target path has an empty, '.' or '..' segment")
		}
	}
	return nil
}

// checkTargets checks the targets map and delegations of targets metadata.
func checkTargets(t *metadata.TargetsType) *fault {
	names := make([]string, 0, len(t.Targets))
	for name := range t.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fld := fmt.Sprintf("signed.targets[%q]", trunc(name))
		if f := checkTargetPath(fld, name); f != nil {
			return f
		}
		tf := t.Targets[name]
		if tf == nil {
			return newFault(ErrMalformed, fld, "null target")
		}
		if tf.Length < 0 {
			return newFault(ErrMalformed, fld+".length", fmt.Sprintf("%d, must not be negative", tf.Length))
		}
		if _, ok := tf.Hashes["sha256"]; !ok {
			return newFault(ErrMalformed, fld+".hashes", "sha256 is required")
		}
		for alg, sum := range tf.Hashes {
			size, ok := tufHashes[alg]
			if !ok {
				return newFault(ErrMalformed, fld+".hashes."+trunc(alg), "unsupported hash algorithm (TUF clients verify sha256 and sha512)")
			}
			if len(sum) != size {
				return newFault(ErrMalformed, fld+".hashes."+alg, fmt.Sprintf("%d bytes, want %d", len(sum), size))
			}
		}
	}
	if t.Delegations != nil {
		return checkDelegations(t.Delegations)
	}
	return nil
}

func checkDelegations(d *metadata.Delegations) *fault {
	const fld = "signed.delegations"
	if f := checkKeys(fld+".keys", d.Keys); f != nil {
		return f
	}
	if d.Roles != nil && d.SuccinctRoles != nil {
		return newFault(ErrMalformed, fld, "has both roles and succinct_roles; use one")
	}
	if sr := d.SuccinctRoles; sr != nil {
		f2 := fld + ".succinct_roles"
		if f := checkRoleKeys(f2, sr.KeyIDs, sr.Threshold, d.Keys); f != nil {
			return f
		}
		if sr.BitLength < 1 || sr.BitLength > MaxBinBits {
			return newFault(ErrMalformed, f2+".bit_length", fmt.Sprintf("%d, want 1 to %d", sr.BitLength, MaxBinBits))
		}
		if f := checkRoleName(f2+".name_prefix", sr.NamePrefix); f != nil {
			return f
		}
	}
	seen := map[string]int{}
	for i, r := range d.Roles {
		f2 := fmt.Sprintf("%s.roles[%d]", fld, i)
		if f := checkRoleName(f2+".name", r.Name); f != nil {
			return f
		}
		if j, dup := seen[r.Name]; dup {
			return newFault(ErrMalformed, f2+".name", fmt.Sprintf("role %q is already delegated in roles[%d]", r.Name, j))
		}
		seen[r.Name] = i
		if f := checkRoleKeys(f2, r.KeyIDs, r.Threshold, d.Keys); f != nil {
			return f
		}
		switch {
		case r.Paths != nil && r.PathHashPrefixes != nil:
			return newFault(ErrMalformed, f2, "has both paths and path_hash_prefixes; use one")
		case len(r.Paths) == 0 && len(r.PathHashPrefixes) == 0:
			return newFault(ErrMalformed, f2+".paths", "no paths or path_hash_prefixes: the role would be trusted for nothing")
		}
		for j, p := range r.Paths {
			if p == "" {
				return newFault(ErrMalformed, fmt.Sprintf("%s.paths[%d]", f2, j), "empty path pattern")
			}
		}
		for j, p := range r.PathHashPrefixes {
			if p == "" {
				return newFault(ErrMalformed, fmt.Sprintf("%s.path_hash_prefixes[%d]", f2, j), "empty prefix")
			}
		}
	}
	return nil
}

// checkRoot checks a root: consistent snapshots, accepted keys, the four
// top-level roles, and online keys that trustd holds and no offline role
// shares.
func checkRoot(r *metadata.RootType, online *OnlineKeys) *fault {
	if !r.ConsistentSnapshot {
		return newFault(ErrMalformed, "signed.consistent_snapshot", "must be true: trustd serves consistent snapshots")
	}
	if f := checkKeys("signed.keys", r.Keys); f != nil {
		return f
	}
	names := make([]string, 0, len(r.Roles))
	for name := range r.Roles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		known := false
		for _, top := range metadata.TOP_LEVEL_ROLE_NAMES {
			known = known || name == top
		}
		if !known {
			return newFault(ErrUnknownRole, fmt.Sprintf("signed.roles[%q]", trunc(name)), "not a top-level role (root, targets, snapshot, timestamp)")
		}
	}
	for _, name := range metadata.TOP_LEVEL_ROLE_NAMES {
		role := r.Roles[name]
		fld := "signed.roles." + name
		if role == nil {
			return newFault(ErrMalformed, fld, "required")
		}
		if f := checkRoleKeys(fld, role.KeyIDs, role.Threshold, r.Keys); f != nil {
			return f
		}
	}
	offline := map[string]string{}
	for _, name := range []string{metadata.ROOT, metadata.TARGETS} {
		for i, id := range r.Roles[name].KeyIDs {
			if online.has(id) {
				return newFault(ErrOnlineKey, fmt.Sprintf("signed.roles.%s.keyids[%d]", name, i),
					fmt.Sprintf("key %s is one of trustd's online keys; %s needs offline keys", id, name))
			}
			offline[id] = name
		}
	}
	for _, name := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		for i, id := range r.Roles[name].KeyIDs {
			fld := fmt.Sprintf("signed.roles.%s.keyids[%d]", name, i)
			if other, ok := offline[id]; ok {
				return newFault(ErrOnlineKey, fld, fmt.Sprintf("key %s is also a %s key; online and offline roles need separate keys", id, other))
			}
			if _, ok := online.signer(name, id); !ok {
				return newFault(ErrOnlineKey, fld, fmt.Sprintf("key %s is not one of trustd's online %s keys (%s)", id, name, strings.Join(sortedKeys(online.Keys(name)), ", ")))
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkExpiry rejects metadata that is not valid after now.
func checkExpiry(expires, now time.Time) *fault {
	if !expires.After(now) {
		return newFault(ErrExpired, "signed.expires", fmt.Sprintf("%s is not in the future (now %s)", expires.UTC().Format(ExpiresLayout), now.UTC().Format(ExpiresLayout)))
	}
	return nil
}
