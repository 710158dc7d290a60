package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trustd-dev/trustd/digest"
)

const (
	sha256A = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	sha256B = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha512A = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	sha3A   = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
)

// stmt builds statement JSON with the given subject array and extra fields.
func stmt(subjects string, extra ...string) []byte {
	fields := append([]string{`"_type":"https://in-toto.io/Statement/v1"`, `"subject":` + subjects,
		`"predicateType":"https://trustd.dev/test/v1"`}, extra...)
	return []byte("{" + strings.Join(fields, ",") + "}")
}

func TestParseStatement(t *testing.T) {
	input := stmt(`[{"name":"a","digest":{"sha512":"`+sha512A+`","sha256":"`+sha256A+`"},"uri":"https://x"},`+
		`{"digest":{"sha3_256":"`+sha3A+`"}}]`,
		`"predicate":{"b":[1,2],"a":null}`, `"x-extension":{"anything":true}`)
	st, err := ParseStatement(PayloadTypeInToto, input, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := Statement{
		Type:          StatementTypeV1,
		PredicateType: "https://trustd.dev/test/v1",
		Subjects: []Subject{
			{Name: "a", Digests: []digest.Digest{digest.MustParse("sha256:" + sha256A), digest.MustParse("sha512:" + sha512A)}},
			{Digests: []digest.Digest{digest.MustParse("sha3-256:" + sha3A)}},
		},
		Predicate: json.RawMessage(`{"b":[1,2],"a":null}`),
	}
	if st.Type != want.Type || st.PredicateType != want.PredicateType || string(st.Predicate) != string(want.Predicate) ||
		!slices.EqualFunc(st.Subjects, want.Subjects, func(a, b Subject) bool { return a.Name == b.Name && slices.Equal(a.Digests, b.Digests) }) {
		t.Fatalf("got %+v\nwant %+v", st, want)
	}

	// v0.1, no predicate, null predicate.
	for _, in := range [][]byte{
		[]byte(strings.Replace(string(stmt(`[{"digest":{"sha256":"`+sha256A+`"}}]`)), "Statement/v1", "Statement/v0.1", 1)),
		stmt(`[{"digest":{"sha256":"` + sha256A + `"}}]`),
		stmt(`[{"digest":{"sha256":"`+sha256A+`"}}]`, `"predicate":null`),
	} {
		st, err := ParseStatement(PayloadTypeInToto, in, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if st.Predicate != nil {
			t.Errorf("%s: predicate %s", in, st.Predicate)
		}
	}
}

func TestParseStatementRejects(t *testing.T) {
	one := `[{"digest":{"sha256":"` + sha256A + `"}}]`
	nested := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	tests := []struct {
		name        string
		payloadType string
		input       []byte
		lim         Limits
		want        error
		msgs        []string
	}{
		{"payload type mismatch", "application/vnd.example+json", stmt(one), Limits{}, ErrPayloadType, []string{`payloadType: "application/vnd.example+json"`}},
		{"no subject field", "", []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p"}`), Limits{}, ErrInvalidStatement, []string{"subject: required"}},
		{"empty subject list", "", stmt(`[]`), Limits{}, ErrInvalidStatement, []string{"subject: empty"}},
		{"subject not an array", "", stmt(`{}`), Limits{}, ErrInvalidStatement, []string{"subject: must be an array, not an object"}},
		{"subject not an object", "", stmt(`["a"]`), Limits{}, ErrInvalidStatement, []string{"subject[0]: must be an object, not a string"}},
		{"subject without digest", "", stmt(`[{"digest":{"sha256":"` + sha256A + `"}},{"name":"x"}]`), Limits{}, ErrInvalidStatement, []string{"subject[1].digest: required"}},
		{"empty digest set", "", stmt(`[{"digest":{}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest: empty"}},
		{"digest short", "", stmt(`[{"digest":{"sha256":"abcd"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha256: malformed digest", "needs 64 hex characters, got 4"}},
		{"digest uppercase", "", stmt(`[{"digest":{"sha256":"` + strings.ToUpper(sha256A) + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha256: malformed digest", "lowercase"}},
		{"digest not hex", "", stmt(`[{"digest":{"sha256":"sha256:` + sha256A[7:] + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha256: malformed digest"}},
		{"digest not a string", "", stmt(`[{"digest":{"sha256":5}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha256: must be a string, not a number"}},
		{"unsupported algorithm", "", stmt(`[{"digest":{"sha256":"` + sha256A + `","md5":"d41d8cd98f00b204e9800998ecf8427e"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.md5: unsupported algorithm"}},
		{"gitCommit", "", stmt(`[{"digest":{"gitCommit":"` + sha256A[:40] + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.gitCommit: unsupported algorithm"}},
		{"duplicate subject", "", stmt(`[{"name":"a","digest":{"sha256":"` + sha256A + `"}},{"name":"b","digest":{"sha256":"` + sha256B + `"}},{"name":"c","digest":{"sha512":"` + sha512A + `","sha256":"` + sha256A + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[2].digest.sha256: duplicate subject: subject[0] has the same digest"}},
		{"same algorithm twice", "", stmt(`[{"digest":{"sha3_256":"` + sha3A + `","sha3-256":"` + sha3A + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha3-256: same algorithm as subject[0].digest.sha3_256"}},
		{"duplicate digest key", "", stmt(`[{"digest":{"sha256":"` + sha256A + `","sha256":"` + sha256B + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].digest.sha256: duplicate key"}},
		{"name not a string", "", stmt(`[{"name":1,"digest":{"sha256":"` + sha256A + `"}}]`), Limits{}, ErrInvalidStatement, []string{"subject[0].name: must be a string"}},
		{"no predicateType", "", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":` + one + `}`), Limits{}, ErrInvalidStatement, []string{"predicateType: required"}},
		{"empty predicateType", "", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":` + one + `,"predicateType":""}`), Limits{}, ErrInvalidStatement, []string{"predicateType: required"}},
		{"predicate not an object", "", stmt(one, `"predicate":[1]`), Limits{}, ErrInvalidStatement, []string{"predicate: must be an object, not an array"}},
		{"no _type", "", []byte(`{"subject":` + one + `,"predicateType":"p"}`), Limits{}, ErrInvalidStatement, []string{"_type: required"}},
		{"wrong _type", "", []byte(`{"_type":"https://in-toto.io/Statement/v2","subject":` + one + `,"predicateType":"p"}`), Limits{}, ErrInvalidStatement, []string{`_type: "https://in-toto.io/Statement/v2" is not an in-toto statement type`}},
		{"deep predicate", "", stmt(one, `"predicate":`+nested), Limits{}, ErrTooDeep, []string{"predicate.a.a.a", "nested deeper than 32"}},
		{"deep past a small limit", "", stmt(one), Limits{MaxJSONDepth: 3}, ErrTooDeep, []string{"subject[0].digest: nested deeper than 3"}},
		{"over the size limit", "", stmt(one), Limits{MaxEnvelopeBytes: 100}, ErrTooLarge, []string{"the limit is 100"}},
		{"more subjects than the limit", "", stmt(subjectsJSON(3)), Limits{MaxSubjects: 2}, ErrTooLarge, []string{"subject: 3 subjects, the limit is 2"}},
		{"more subjects than the default", "", stmt(subjectsJSON(DefaultMaxSubjects + 1)), Limits{}, ErrTooLarge, []string{"subject: 1001 subjects, the limit is 1000", "--max-statement-subjects"}},
		{"invalid JSON", "", []byte(`{"_type":`), Limits{}, ErrInvalidStatement, []string{"invalid JSON"}},
		{"duplicate top-level key", "", stmt(one, `"subject":[]`), Limits{}, ErrInvalidStatement, []string{"subject: duplicate key"}},
		{"not an object", "", []byte(`"statement"`), Limits{}, ErrInvalidStatement, []string{"want a JSON object, got a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := tt.payloadType
			if pt == "" {
				pt = PayloadTypeInToto
			}
			st, err := ParseStatement(pt, tt.input, tt.lim)
			checkError(t, err, tt.want, append([]string{"envelope: statement"}, tt.msgs...)...)
			checkOneSentinel(t, err)
			if st.Type != "" || st.Subjects != nil {
				t.Errorf("returned a statement with the error: %+v", st)
			}
		})
	}
}

func TestNewStatement(t *testing.T) {
	subjects := []Subject{
		{Name: "app.tar.gz", Digests: []digest.Digest{digest.MustParse("sha512:" + sha512A), digest.MustParse("sha256:" + sha256A)}},
		{Digests: []digest.Digest{digest.MustParse("sha3-256:" + sha3A)}},
	}
	b, err := NewStatement("https://trustd.dev/test/v1", json.RawMessage(`{ "note": "<b>&</b>" }`), subjects...)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app.tar.gz","digest":{"sha256":"` + sha256A +
		`","sha512":"` + sha512A + `"}},{"digest":{"sha3_256":"` + sha3A + `"}}],"predicateType":"https://trustd.dev/test/v1","predicate":{"note":"<b>&</b>"}}`
	if string(b) != want {
		t.Fatalf("NewStatement =\n%s\nwant\n%s", b, want)
	}

	st, err := ParseStatement(PayloadTypeInToto, b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Subjects) != 2 || st.Subjects[0].Name != "app.tar.gz" || len(st.Subjects[0].Digests) != 2 ||
		st.Subjects[0].Digests[0].Algorithm() != digest.SHA256 || st.Subjects[1].Digests[0].Algorithm() != digest.SHA3_256 {
		t.Fatalf("round trip gave %+v", st)
	}

	// in-toto's own Go implementation accepts the statement.
	var pb intoto.Statement
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("in-toto/attestation cannot read the statement: %v", err)
	}
	if err := pb.Validate(); err != nil {
		t.Fatalf("in-toto/attestation rejects the statement: %v", err)
	}
	if pb.GetSubject()[1].GetDigest()["sha3_256"] != sha3A {
		t.Errorf("in-toto reads digests %v", pb.GetSubject()[1].GetDigest())
	}

	// Without a predicate the field is left out.
	b, err = NewStatement("p", nil, subjects[1])
	if err != nil || strings.Contains(string(b), "predicate\"") {
		t.Fatalf("NewStatement without predicate = %s, %v", b, err)
	}
}

func TestNewStatementRejects(t *testing.T) {
	d := digest.MustParse("sha256:" + sha256A)
	tests := []struct {
		name      string
		predType  string
		predicate string
		subjects  []Subject
		want      string
	}{
		{"no predicate type", "", "", []Subject{{Digests: []digest.Digest{d}}}, "predicateType: required"},
		{"no subjects", "p", "", nil, "subject: a statement must name at least one subject"},
		{"subject without digest", "p", "", []Subject{{Name: "x"}}, "subject[0].digest: at least one digest"},
		{"zero digest", "p", "", []Subject{{Digests: []digest.Digest{{}}}}, "subject[0].digest: zero digest"},
		{"duplicate subject", "p", "", []Subject{{Digests: []digest.Digest{d}}, {Digests: []digest.Digest{d}}}, "subject[1].digest.sha256: duplicate subject"},
		{"same algorithm twice", "p", "", []Subject{{Digests: []digest.Digest{d, digest.MustParse("sha256:" + sha256B)}}}, "subject[0].digest.sha256: two digests of the same algorithm"},
		{"predicate not JSON", "p", "{", []Subject{{Digests: []digest.Digest{d}}}, "predicate: not valid JSON"},
		{"predicate not an object", "p", "[]", []Subject{{Digests: []digest.Digest{d}}}, "predicate: must be a JSON object, not an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pred json.RawMessage
			if tt.predicate != "" {
				pred = json.RawMessage(tt.predicate)
			}
			_, err := NewStatement(tt.predType, pred, tt.subjects...)
			checkError(t, err, ErrInvalidStatement, "envelope: new statement", tt.want)
		})
	}
}

// TestStatementPipeline runs the whole pipeline on a statement made by
// NewStatement and signed by Sign.
func TestStatementPipeline(t *testing.T) {
	ctx := t.Context()
	payload, err := NewStatement("https://trustd.dev/test/v1", nil,
		Subject{Name: "a", Digests: []digest.Digest{digest.MustParse("sha256:" + sha256A)}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := Sign(ctx, PayloadTypeInToto, payload, mustSigner(t, "p384"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := Decode(raw, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, decoded, newRegistry(mustPublic(t, "p384")).lookup); err != nil {
		t.Fatal(err)
	}
	body, err := decoded.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStatement(decoded.PayloadType, body, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(st.Subjects[0].Digests); got != "[sha256:"+sha256A+"]" {
		t.Fatalf("subject digests %s", got)
	}
}

// subjectsJSON is a subject array of n subjects with distinct sha256
// digests.
func subjectsJSON(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		b.WriteString(`{"digest":{"sha256":"` + hex.EncodeToString(sum[:]) + `"}}`)
	}
	return b.String() + "]"
}

// TestParseStatementSubjectLimit checks that a statement with exactly the
// limit of subjects is accepted, under the default and a given limit.
func TestParseStatementSubjectLimit(t *testing.T) {
	for _, tc := range []struct {
		lim Limits
		n   int
	}{{Limits{}, DefaultMaxSubjects}, {Limits{MaxSubjects: 5}, 5}, {Limits{MaxSubjects: 1}, 1}} {
		st, err := ParseStatement(PayloadTypeInToto, stmt(subjectsJSON(tc.n)), tc.lim)
		if err != nil || len(st.Subjects) != tc.n {
			t.Errorf("%d subjects under %+v: %d parsed, %v", tc.n, tc.lim, len(st.Subjects), err)
		}
	}
}
