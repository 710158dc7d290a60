package revocation_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/revocation"
)

func TestParsePredicate(t *testing.T) {
	for _, tc := range []struct {
		file, err string // err: "" = valid, else a substring of the error
	}{
		{"predicate-key.json", ""},
		{"predicate-digest.json", ""},
		{"predicate-statement.json", ""},
		{"predicate-token.json", ""},
		{"predicate-bad-reason.json", `reason: "bored"; want one of compromised, superseded`},
		{"predicate-unknown-field.json", `revocation: parse: extra: not a revocation predicate: unknown field`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = revocation.ParsePredicate(data)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, revocation.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, tc.err)
			}
		})
	}
	for _, tc := range []struct {
		name, json, err string
	}{
		{"bad action", `{"action":"undo","target":{"kind":"token","id":"t"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, `action: "undo"`},
		{"no effective", `{"action":"revoke","target":{"kind":"token","id":"t"},"reason":"other"}`, "effective: required"},
		{"bad kind", `{"action":"revoke","target":{"kind":"user","id":"t"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, `target.kind: "user"`},
		{"bad digest", `{"action":"revoke","target":{"kind":"digest","id":"sha256:abc"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "target.id: not a digest"},
		{"statement by sha512", `{"action":"revoke","target":{"kind":"statement","id":"sha512:` + strings.Repeat("ab", 64) + `"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "sha256 digest of its envelope"},
		{"non-canonical digest", `{"action":"revoke","target":{"kind":"digest","id":"SHA256:` + strings.Repeat("AB", 32) + `"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "target.id"},
		{"space in key id", `{"action":"revoke","target":{"kind":"key","id":"a b"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "target.id: character U+0020"},
		{"token id not a token id", `{"action":"revoke","target":{"kind":"token","id":"tok-2026-0001"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "target.id: not a token id"},
		{"token id by sha512", `{"action":"revoke","target":{"kind":"token","id":"sha512:` + strings.Repeat("ab", 64) + `"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`, "a token is named by the sha256 digest of its envelope"},
		{"trailing data", `{"action":"revoke","target":{"kind":"token","id":"t"},"reason":"other","effective":"2026-01-01T00:00:00Z"} {}`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := revocation.ParsePredicate([]byte(tc.json))
			if !errors.Is(err, revocation.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, tc.err)
			}
		})
	}
}

func TestDigestKey(t *testing.T) {
	for _, s := range []string{"abc", "", "bad release"} {
		d := sha256Of(s)
		if revocation.DigestKey(d) != revocation.TargetKey(revocation.KindDigest, d.String()) {
			t.Errorf("DigestKey(%s) differs from TargetKey of its string", d)
		}
	}
}
