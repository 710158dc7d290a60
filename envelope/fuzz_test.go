package envelope

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addTestdata seeds f with every testdata file whose name ends in suffix.
func addTestdata(f *testing.F, suffixes ...string) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				b, err := os.ReadFile(filepath.Join("testdata", e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
}

// FuzzDecode checks that Decode never panics, that every rejection is an
// *Error with one sentinel, and that an accepted envelope survives being
// written out by encoding/json and decoded again.
func FuzzDecode(f *testing.F) {
	addTestdata(f, ".dsse.json")
	f.Add(envJSON(goodType, goodPayload, goodSigs))
	f.Add(envJSON(goodType, goodPayload, `"signatures":[{"keyid":"","sig":"AAAA"}]`))
	f.Add(envJSON(goodType, goodPayload, goodSigs, `"x":[[[[]]]]`))
	f.Add([]byte(`{"payloadType":"a","payload":"","signatures":[{"keyid":"k","sig":"AA=="}]} `))
	lim := Limits{MaxEnvelopeBytes: 64 << 10, MaxJSONDepth: 8, MaxSignatures: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Decode(data, lim)
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			checkOneSentinel(t, err)
			return
		}
		if env.PayloadType == "" || len(env.Signatures) == 0 || len(env.Signatures) > lim.MaxSignatures {
			t.Fatalf("accepted %+v", env)
		}
		if _, err := env.DecodeB64Payload(); err != nil {
			t.Fatalf("accepted a payload dsse cannot decode: %v", err)
		}
		for _, s := range env.Signatures {
			if s.KeyID == "" || s.Sig == "" {
				t.Fatalf("accepted signature %+v", s)
			}
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		env2, err := Decode(again, lim)
		if err != nil {
			t.Fatalf("re-encoded envelope %s rejected: %v", again, err)
		}
		if env2.PayloadType != env.PayloadType || env2.Payload != env.Payload || !slices.Equal(env2.Signatures, env.Signatures) {
			t.Fatalf("re-decoded %+v, want %+v", env2, env)
		}
	})
}

// FuzzParseStatement checks that ParseStatement never panics, rejects with
// one sentinel, and that what it accepts NewStatement writes back into a
// statement that parses to the same subjects.
func FuzzParseStatement(f *testing.F) {
	for _, name := range []string{"python-ed25519.dsse.json", "python-all.dsse.json"} {
		env, err := Decode(readTestdata(f, name), DefaultLimits())
		if err != nil {
			f.Fatal(err)
		}
		p, err := env.DecodeB64Payload()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add(stmt(`[{"name":"a","digest":{"sha256":"`+sha256A+`","sha3_256":"`+sha3A+`"}},{"digest":{"sha512":"`+sha512A+`"}}]`, `"predicate":{"a":[1]}`))
	f.Add(stmt(`[{"digest":{"md5":"d41d8cd98f00b204e9800998ecf8427e"}}]`))
	f.Add(stmt(`[{"digest":{"sha256":"` + sha256A + `"}},{"digest":{"sha256":"` + sha256A + `"}}]`))
	lim := Limits{MaxEnvelopeBytes: 64 << 10, MaxJSONDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatement(PayloadTypeInToto, data, lim)
		if err != nil {
			checkOneSentinel(t, err)
			return
		}
		if len(st.Subjects) == 0 || st.PredicateType == "" {
			t.Fatalf("accepted %+v", st)
		}
		out, err := NewStatement(st.PredicateType, st.Predicate, st.Subjects...)
		if err != nil {
			t.Fatalf("NewStatement of an accepted statement: %v", err)
		}
		st2, err := ParseStatement(PayloadTypeInToto, out, Limits{MaxEnvelopeBytes: 1 << 20, MaxJSONDepth: 9})
		if err != nil {
			t.Fatalf("NewStatement output %s rejected: %v", out, err)
		}
		if !slices.EqualFunc(st.Subjects, st2.Subjects, func(a, b Subject) bool {
			return a.Name == b.Name && slices.Equal(a.Digests, b.Digests)
		}) {
			t.Fatalf("subjects changed: %+v then %+v", st.Subjects, st2.Subjects)
		}
	})
}

// FuzzParsePublicKey checks that ParsePublicKey never panics, rejects with
// ErrInvalidKey, and that an accepted key round-trips through Encode,
// DecodeStoredKey and ParsePublicKey under the same id.
func FuzzParsePublicKey(f *testing.F) {
	addTestdata(f, ".pub", ".json", ".key", ".pem")
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey(data)
		if err != nil {
			checkOneSentinel(t, err)
			if !strings.HasPrefix(err.Error(), opPublicKey+": ") {
				t.Fatalf("error %q lacks context", err)
			}
			return
		}
		if len(k.ID) != 64 {
			t.Fatalf("key id %q", k.ID)
		}
		stored, err := DecodeStoredKey(k.Type, k.Encode())
		if err != nil || stored.ID != k.ID {
			t.Fatalf("DecodeStoredKey(Encode()) = %v, %v; want id %s", stored.ID, err, k.ID)
		}
		again, err := ParsePublicKey(k.Encode())
		if err != nil || again.ID != k.ID {
			t.Fatalf("ParsePublicKey(Encode()) = %v, %v; want id %s", again.ID, err, k.ID)
		}
	})
}

// FuzzPlainJSON checks checkJSON's fast path against the token walk: it
// may pass only what the walk passes, and passes the ordinary envelopes.
func FuzzPlainJSON(f *testing.F) {
	addTestdata(f, ".json")
	for _, s := range plainJSONCases {
		f.Add([]byte(s.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, depth := range []int{1, 3, 8} {
			if plainJSON(data, depth) {
				if issue := walkJSON(data, depth); issue != nil {
					t.Fatalf("fast path passed %q at depth %d, the walk refuses it: %+v", data, depth, *issue)
				}
			}
		}
	})
}

// plainJSONCases are inputs with what the fast path answers at depth 3 and
// whether the walk refuses them.
var plainJSONCases = []struct {
	in            string
	plain, refuse bool
}{
	{`{"a":1,"b":[true,null,"x"]}`, true, false},
	{` {"a":"{[\"}]\\","b":{"a":2}} `, true, false},
	{`{"a":1,"a":2}`, false, true},
	{`{"a":1,"\u0061":2}`, false, true},
	{`{"\u0061":1,"b":2}`, false, false},
	{`{"a":{"b":{"c":{}}}}`, false, true},
	{`{"a":[[1]]}`, true, false},
	{`[1]`, false, true},
	{`{"a":1} x`, false, true},
	{"{\"a\":\"\xff\"}", false, true},
	{`{"a":{"x":1},"b":{"x":1}}`, true, false},
}

func TestPlainJSON(t *testing.T) {
	for _, c := range plainJSONCases {
		if got := plainJSON([]byte(c.in), 3); got != c.plain {
			t.Errorf("plainJSON(%q) = %v, want %v", c.in, got, c.plain)
		}
		if issue := checkJSON([]byte(c.in), 3); (issue != nil) != c.refuse {
			t.Errorf("checkJSON(%q) = %+v, want refused %v", c.in, issue, c.refuse)
		}
	}
}

// FuzzPlainString checks jsonString's fast path against json.Unmarshal.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"a\u0041"`, "\"\x01\"", "\"\xff\"", `""`, `"`, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainString(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || want != got {
			t.Fatalf("plainString(%q) = %q, json.Unmarshal: %q, %v", raw, got, want, err)
		}
	})
}

// FuzzObjectMembers checks objectMembers' byte scan against a token walk,
// on valid JSON (what checkJSON lets through to it).
func FuzzObjectMembers(f *testing.F) {
	addTestdata(f, ".json")
	for _, s := range []string{`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "\u0061\"":"x\"" } `, `{"a":{}}`, `{"a":1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		trimmed := bytes.TrimSpace(raw)
		if !json.Valid(raw) || trimmed[0] != '{' {
			return
		}
		got, ok := objectMembers(raw)
		want, wantOK := decodeMembers(trimmed)
		if ok != wantOK || len(got) != len(want) {
			t.Fatalf("objectMembers(%q) = %q, %v; the walk: %q, %v", raw, got, ok, want, wantOK)
		}
		for i := range got {
			if got[i].key != want[i].key || !bytes.Equal(got[i].value, want[i].value) {
				t.Fatalf("objectMembers(%q) member %d = %q %q; the walk: %q %q", raw, i, got[i].key, got[i].value, want[i].key, want[i].value)
			}
		}
	})
}

// FuzzJSONArray checks jsonArray's byte scan against json.Unmarshal, on
// valid JSON (what checkJSON lets through to it).
func FuzzJSONArray(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a,]" , {"b":[2,3]} , [ ] ] `, `[1,`, `[null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		got, ok := jsonArray(raw)
		var want []json.RawMessage
		wantOK := json.Unmarshal(raw, &want) == nil && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("["))
		if ok != wantOK || len(got) != len(want) {
			t.Fatalf("jsonArray(%q) = %q, %v; json.Unmarshal: %q, %v", raw, got, ok, want, wantOK)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("jsonArray(%q) element %d = %q; json.Unmarshal: %q", raw, i, got[i], want[i])
			}
		}
	})
}

// decodeMembers splits the JSON object raw by token walk, the reference
// FuzzObjectMembers holds objectMembers' byte scan to.
func decodeMembers(raw json.RawMessage) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, false
	}
	return out, true
}
