package pgp

import (
	"errors"
	"strings"
	"testing"
)

// TestPredicates covers parsing and validation of delegation and rotation
// predicates.
func TestPredicates(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 64)
	for _, tc := range []struct {
		name, in string
		field    string // "" means valid
	}{
		{"valid", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["release/**","*.tar"],"until":"2030-01-01T00:00:00Z","maxDepth":1}`, ""},
		{"unknown field", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z","admin":true}`, "unknown field"},
		{"uppercase fingerprint", `{"delegator":"` + strings.ToUpper(a) + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z"}`, "delegator"},
		{"key id instead of fingerprint", `{"delegator":"` + a[:16] + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z"}`, "delegator"},
		{"self delegation", `{"delegator":"` + a + `","delegate":"` + a + `","scope":["x"],"until":"2030-01-01T00:00:00Z"}`, "delegate"},
		{"no scope", `{"delegator":"` + a + `","delegate":"` + b + `","scope":[],"until":"2030-01-01T00:00:00Z"}`, "scope"},
		{"bad pattern", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["[x"],"until":"2030-01-01T00:00:00Z"}`, "scope[0]"},
		{"inner **", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["a/**/b"],"until":"2030-01-01T00:00:00Z"}`, "scope[0]"},
		{"no until", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"]}`, "until"},
		{"window backwards", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"],"notBefore":"2031-01-01T00:00:00Z","until":"2030-01-01T00:00:00Z"}`, "until"},
		{"depth", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z","maxDepth":99}`, "maxDepth"},
		{"trailing data", `{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z"} {}`, "data after"},
		{"wrong type", `{"delegator":1}`, "delegator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDelegation([]byte(tc.in))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !d.Matches("release/a/b") || !d.Matches("x.tar") || d.Matches("dir/x.tar") {
					t.Errorf("scope matching wrong for %v", d.Scope)
				}
				if d.CheckSigners([]string{b}) == nil || d.CheckSigners([]string{a}) != nil {
					t.Errorf("CheckSigners")
				}
				return
			}
			if !errors.Is(err, ErrInvalidPredicate) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
	r, err := ParseRotation([]byte(`{"old":"` + a + `","new":"` + b + `","effective":"2030-01-01T00:00:00Z","reason":"yearly"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckSigners([]string{a}); !errors.Is(err, ErrInvalidPredicate) || !strings.Contains(err.Error(), "new key") {
		t.Errorf("rotation signed by the old key only: %v", err)
	}
	if err := r.CheckSigners([]string{b, a}); err != nil {
		t.Errorf("rotation signed by both: %v", err)
	}
	for _, in := range []string{
		`{"old":"` + a + `","new":"` + a + `","effective":"2030-01-01T00:00:00Z"}`,
		`{"old":"` + a + `","new":"` + b + `"}`,
		`{"old":"` + a + `","new":"` + b + `","effective":"2030-01-01T00:00:00Z","reason":"` + strings.Repeat("x", MaxReasonBytes+1) + `"}`,
	} {
		if _, err := ParseRotation([]byte(in)); err == nil {
			t.Errorf("accepted %.80s", in)
		}
	}
	if _, err := ParseDelegation(make([]byte, MaxPredicateBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if f, err := NormalizeFingerprint("0x" + strings.ToUpper(a[:20]) + " " + a[20:]); err != nil || f != a {
		t.Errorf("NormalizeFingerprint: %q %v", f, err)
	}
}

// TestStrictFields: a delegation or rotation with a field the predicate
// does not define is refused, naming the field.
func TestStrictFields(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 64)
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		in    string
	}{
		{"delegation", func(d []byte) error { _, err := ParseDelegation(d); return err },
			`{"delegator":"` + a + `","delegate":"` + b + `","scope":["x"],"until":"2030-01-01T00:00:00Z","admin":true}`},
		{"rotation", func(d []byte) error { _, err := ParseRotation(d); return err },
			`{"old":"` + a + `","new":"` + b + `","effective":"2030-01-01T00:00:00Z","admin":true}`},
	} {
		var e *Error
		if err := tc.parse([]byte(tc.in)); !errors.Is(err, ErrInvalidPredicate) || !errors.As(err, &e) || e.Field != "admin" {
			t.Errorf("%s with an unknown field = %v, want ErrInvalidPredicate on field admin", tc.name, err)
		}
	}
}
