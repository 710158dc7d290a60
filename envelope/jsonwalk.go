package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonIssue is what checkJSON found wrong, before the caller decides which
// operation and sentinel it belongs to.
type jsonIssue struct {
	field  string
	reason string
	deep   bool // nested past the depth limit (ErrTooDeep) rather than malformed
}

// frame is one open JSON object or array during the token walk.
type frame struct {
	object    bool
	expectKey bool
	key       string              // current key (objects)
	index     int                 // current element (arrays)
	keys      map[string]struct{} // keys seen so far (objects)
}

// checkJSON walks data token by token, without building any value, and
// rejects what encoding/json would silently accept or choke on later: invalid
// UTF-8 (which encoding/json replaces), nesting past maxDepth, duplicate
// object keys (which encoding/json resolves by "last one wins"), a top level
// that is not an object, and anything after the top-level value.
func checkJSON(data []byte, maxDepth int) *jsonIssue {
	if plainJSON(data, maxDepth) {
		return nil
	}
	return walkJSON(data, maxDepth)
}

// plainJSON reports whether checkJSON has nothing to say about data,
// cheaply: valid UTF-8 and JSON (one scan each, no allocation), a top-level
// object, nesting within maxDepth, and no duplicate key, keys compared as
// written. It answers false whenever it is unsure (an escape in a key,
// which walkJSON compares decoded), so walkJSON, which a token walk makes
// several times slower, runs only for input it may refuse and says why.
func plainJSON(data []byte, maxDepth int) bool {
	if !utf8.Valid(data) || !json.Valid(data) {
		return false
	}
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i == len(data) || data[i] != '{' {
		return false
	}
	// data is valid JSON, so outside strings a '{' or '[' opens a value,
	// '}' or ']' closes one, and in an object a string right after '{' or
	// ',' is a key.
	type open struct {
		object bool
		keys   map[string]struct{}
	}
	var (
		stack     []open
		expectKey bool
	)
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if len(stack)+1 > maxDepth {
				return false
			}
			stack = append(stack, open{object: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = stack[len(stack)-1].object
		case '"':
			end := i + 1
			for data[end] != '"' {
				if data[end] == '\\' {
					if expectKey {
						return false
					}
					end++
				}
				end++
			}
			if expectKey {
				top := &stack[len(stack)-1]
				if top.keys == nil {
					top.keys = make(map[string]struct{}, 4)
				}
				key := string(data[i+1 : end])
				if _, dup := top.keys[key]; dup {
					return false
				}
				top.keys[key] = struct{}{}
				expectKey = false
			}
			i = end
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// walkJSON is checkJSON's token walk, which names the first issue.
func walkJSON(data []byte, maxDepth int) *jsonIssue {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &jsonIssue{reason: fmt.Sprintf("invalid UTF-8 at offset %d", off)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			var syn *json.SyntaxError
			switch {
			case errors.Is(err, io.EOF) && len(stack) == 0:
				return &jsonIssue{reason: "empty input: want a JSON object"}
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return &jsonIssue{reason: fmt.Sprintf("invalid JSON: unexpected end of input at offset %d", len(data))}
			case errors.As(err, &syn):
				return &jsonIssue{reason: fmt.Sprintf("invalid JSON at offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))}
			default:
				return &jsonIssue{reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
			}
		}
		if len(stack) == 0 && tok != json.Delim('{') {
			return &jsonIssue{reason: fmt.Sprintf("want a JSON object, got %s", describeToken(tok))}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return checkEnd(dec)
				}
				valueDone(stack[len(stack)-1])
				continue
			}
			key := tok.(string) // the decoder only yields strings in key position
			if _, dup := top.keys[key]; dup {
				top.key = key
				return &jsonIssue{field: path(stack), reason: "duplicate key"}
			}
			top.keys[key] = struct{}{}
			top.key = key
			top.expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack)+1 > maxDepth {
				return &jsonIssue{field: path(stack), deep: true,
					reason: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
			}
			f := &frame{object: tok == json.Delim('{')}
			if f.object {
				f.expectKey = true
				f.keys = make(map[string]struct{})
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return checkEnd(dec)
			}
			valueDone(stack[len(stack)-1])
		default:
			valueDone(top)
		}
	}
}

// valueDone records that a value inside f is complete.
func valueDone(f *frame) {
	if f.object {
		f.expectKey = true
	} else {
		f.index++
	}
}

// checkEnd rejects anything but whitespace after the top-level value.
func checkEnd(dec *json.Decoder) *jsonIssue {
	off := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &jsonIssue{reason: fmt.Sprintf("trailing data after the JSON object at offset %d", off)}
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}

// maxPathKey is how much of one object key a path in an error message repeats.
const maxPathKey = 40

// maxPathFrames is how many levels of a path an error message shows.
const maxPathFrames = 10

// path renders the position of the innermost open value as "a.b[2].c",
// cut after maxPathFrames levels.
func path(stack []*frame) string {
	var b strings.Builder
	for i, f := range stack {
		if i == maxPathFrames {
			b.WriteString("…")
			break
		}
		if f.object {
			if f.expectKey && i == len(stack)-1 && f.key == "" {
				break
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(pathKey(f.key))
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

func pathKey(k string) string {
	if len(k) > maxPathKey {
		cut := maxPathKey
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		k = k[:cut] + "…"
	}
	if k == "" || strings.ContainsAny(k, ".[]\" ") {
		return strconv.Quote(k)
	}
	return k
}

// field joins a parent path and a key for error messages.
func field(parent, key string) string {
	if parent == "" {
		return pathKey(key)
	}
	return parent + "." + pathKey(key)
}

// member is one key and raw value of a JSON object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns the members of the JSON object raw in document order.
// raw must be a value of a document that passed checkJSON, so syntax and
// duplicate keys are settled and one byte scan splits it: members are
// separated by commas and the object ends with '}' at depth 1, outside
// strings. ok is false if raw is not an object.
func objectMembers(raw json.RawMessage) ([]member, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var out []member
	i := 1
	for {
		i = skipSpace(raw, i)
		if raw[i] == '}' {
			return out, true
		}
		keyEnd := stringEnd(raw, i)
		key, ok := jsonString(raw[i:keyEnd])
		if !ok {
			return nil, false
		}
		i = skipSpace(raw, keyEnd) + 1 // past ':'
		start := skipSpace(raw, i)
		i = valueEnd(raw, start, '}')
		out = append(out, member{key: key, value: json.RawMessage(bytes.TrimRight(raw[start:i], " \t\r\n"))})
		if raw[i] == '}' {
			return out, true
		}
		i++ // past ','
	}
}

// skipSpace returns the index of the first non-space byte of data at or
// after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at
// data[i] (a quote) in valid JSON.
func stringEnd(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// jsonString decodes raw as a JSON string; ok is false for any other type.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if s, ok := plainString(raw); ok {
		return s, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonArray splits raw, a value of a document that passed checkJSON, into
// its elements; ok is false if it is not an array.
func jsonArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	return splitArray(raw), true
}

// plainString returns the string raw holds when it needs no decoding: a
// quoted run of valid UTF-8 without escapes, quotes or control characters,
// whose value is the bytes between the quotes (the long base64 payloads
// and signatures are such strings). ok is false otherwise, and
// json.Unmarshal decides.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// splitArray returns the elements of raw, a valid JSON array, as written
// (json.Unmarshal into []json.RawMessage gives the same, after a second
// validation and a copy of each element).
func splitArray(raw []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return out
	}
	for {
		start := skipSpace(raw, i)
		i = valueEnd(raw, start, ']')
		out = append(out, json.RawMessage(bytes.TrimRight(raw[start:i], " \t\r\n")))
		if raw[i] == ']' {
			return out
		}
		i++ // past ','
	}
}

// valueEnd returns the index of the ',' or closing byte that ends the
// value starting at raw[start], in valid JSON whose enclosing container
// closes with closing.
func valueEnd(raw []byte, start int, closing byte) int {
	depth := 0
	for i := start; ; i++ {
		c := raw[i]
		if c == '"' {
			i = stringEnd(raw, i) - 1
			continue
		}
		if depth == 0 && (c == ',' || c == closing) {
			return i
		}
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
}
