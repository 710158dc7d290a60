package strictjson_test

import (
	"testing"

	"github.com/trustd-dev/trustd/internal/strictjson"
)

type inner struct {
	N int `json:"n"`
}

type obj struct {
	A     string `json:"a"`
	Inner inner  `json:"inner"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, field, reason string
	}{
		{`{"a":"x","inner":{"n":1}}`, "", ""},
		{`{"a":"x","admin":true}`, "admin", "unknown field"},
		{`{"inner":{"n":1,"extra":2}}`, "extra", "unknown field"},
		{`{"a":1}`, "a", "wrong JSON type (number)"},
		{`{"inner":{"n":"1"}}`, "inner.n", "wrong JSON type (string)"},
		{`{"a":"x"} {}`, "", "data after the object"},
		{`{"a":`, "", "not valid JSON for its type"},
		{`[]`, "", "not valid JSON for its type"},
	} {
		var v obj
		field, reason, err := strictjson.Decode([]byte(tc.in), &v)
		if field != tc.field || reason != tc.reason || (err == nil) != (tc.reason == "") {
			t.Errorf("Decode(%s) = %q, %q, %v; want %q, %q", tc.in, field, reason, err, tc.field, tc.reason)
		}
	}
	if got := strictjson.Join("predicate", "extra"); got != "predicate.extra" {
		t.Errorf("Join = %q", got)
	}
	if got := strictjson.Join("predicate", ""); got != "predicate" {
		t.Errorf("Join = %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":"x","inner":{"n":1}}`))
	f.Add([]byte(`{"zz":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v obj
		field, reason, err := strictjson.Decode(data, &v)
		if (err == nil) != (reason == "") || (err == nil && field != "") {
			t.Fatalf("Decode(%q) = %q, %q, %v", data, field, reason, err)
		}
	})
}
