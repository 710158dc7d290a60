package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/trustd-dev/trustd/digest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlToJSONValue turns a YAML document into the value the schema checks.
func yamlToJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExamplesParseAndMatchSchema(t *testing.T) {
	schema := compileSchema(t)
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 2 {
		t.Fatalf("want example policies in testdata, got %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data); err != nil {
			t.Errorf("%s: Parse: %v", f, err)
		}
		if err := schema.Validate(yamlToJSONValue(t, data)); err != nil {
			t.Errorf("%s: schema: %v", f, err)
		}
	}
}

const head = "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: p\n    require:\n"

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, doc, field string
		schemaToo        bool
	}{
		{"version", "apiVersion: v9\npolicies: []\n", "apiVersion", true},
		{"no policies", "apiVersion: trustd.dev/policy/v1\npolicies: []\n", "policies", true},
		{"bad name", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: Prod!\n    require: {revocation: {}}\n", "policies[0].name", true},
		{"name starts with a dash", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: -prod\n    require: {revocation: {}}\n", "policies[0].name", true},
		{"name too long", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: " + strings.Repeat("a", 64) + "\n    require: {revocation: {}}\n", "policies[0].name", true},
		{"bad level", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: a\n    levels: [slsa_build_level_3]\n    require: {revocation: {}}\n", "policies[0].levels[0]", true},
		{"uppercase key id", head + "      threshold: {k: 1, signers: [{key: " + strings.Repeat("A", 64) + "}]}\n", "policies[0].require.threshold.signers[0].key", true},
		{"duplicate name", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: a\n    require: {revocation: {}}\n  - name: a\n    require: {revocation: {}}\n", "policies[1].name", false},
		{"unknown field", head + "      tuf: {repo: r, target: t, colour: red}\n", "", true},
		{"two kinds", head + "      tuf: {repo: r, target: t}\n      revocation: {}\n", "policies[0].require", true},
		{"no kind", head + "      {}\n", "policies[0].require", true},
		{"empty all", head + "      all: []\n", "policies[0].require.all", true},
		{"tuf no repo", head + "      tuf: {target: t}\n", "policies[0].require.tuf.repo", true},
		{"tuf target and pattern", head + "      tuf: {repo: r, target: t, pattern: 'a*'}\n", "policies[0].require.tuf", true},
		{"tuf bad pattern", head + "      tuf: {repo: r, pattern: '[a'}\n", "policies[0].require.tuf.pattern", false},
		{"pgp root", head + "      pgp: {roots: [abc]}\n", "policies[0].require.pgp.roots[0]", true},
		{"attestation condition", head + "      attestation: {predicateType: x, conditions: {colour: red}}\n", "policies[0].require.attestation.conditions.colour", true},
		{"identity regexp", head + "      attestation: {predicateType: x, identities: [{issuer: i, subject: '('}]}\n", "policies[0].require.attestation.identities[0].subject", false},
		{"threshold k", head + "      threshold: {k: 3, signers: [{key: " + strings.Repeat("a", 64) + "}]}\n", "policies[0].require.threshold.k", false},
		{"threshold two", head + "      threshold: {k: 1, signers: [{key: " + strings.Repeat("a", 64) + ", pgp: " + strings.Repeat("b", 40) + "}]}\n", "policies[0].require.threshold.signers[0]", true},
		{"threshold dup", head + "      threshold: {k: 1, signers: [{key: " + strings.Repeat("a", 64) + "}, {key: " + strings.Repeat("a", 64) + "}]}\n", "policies[0].require.threshold.signers[1]", false},
		{"token age", head + "      token: {}\n", "policies[0].require.token.maxAge", true},
		{"token duration", head + "      token: {maxAge: soon}\n", "", true},
		{"token duration line", head + "      token: {maxAge: soon}\n", "line 5: \"soon\": want a duration", false},
		{"reputation empty", head + "      reputation: {}\n", "policies[0].require.reputation", true},
		{"digest alg", "apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: a\n    digests: [md5]\n    require: {revocation: {}}\n", "policies[0].digests[0]", true},
		{"two documents", head + "      revocation: {}\n---\nx: 1\n", "", false},
		{"not yaml", "\t::", "", false},
		{"empty", "", "", false},
	}
	schema := compileSchema(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse: err = %v, want ErrInvalid", err)
			}
			if strings.HasPrefix(tc.field, "line ") {
				if !strings.Contains(err.Error(), tc.field) {
					t.Errorf("err = %q, want it to contain %s", err, tc.field)
				}
			} else if tc.field != "" && !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Errorf("err = %q, want it to name field %s", err, tc.field)
			}
			if tc.schemaToo {
				var v any
				if yaml.Unmarshal([]byte(tc.doc), &v) == nil {
					if schema.Validate(yamlToJSONValue(t, []byte(tc.doc))) == nil {
						t.Errorf("the schema accepts what Parse rejects")
					}
				}
			}
		})
	}
}

func TestDeepNestingRejected(t *testing.T) {
	doc := head + "      " + strings.Repeat("{all: [", MaxDepth+1) + "{revocation: {}}" + strings.Repeat("]}", MaxDepth+1) + "\n"
	if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("err = %v, want a depth rejection", err)
	}
}

func TestPolicyDigestIgnoresLayout(t *testing.T) {
	a, err := Parse([]byte(head + "      tuf: {repo: r, target: t}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte("# comment\napiVersion: trustd.dev/policy/v1\npolicies:\n- name: p\n  require:\n    tuf:\n      target: t\n      repo: r\n      role: targets\n- name: other\n  require: {revocation: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := Parse([]byte(head + "      tuf: {repo: r, target: u}\n"))
	if a.Policies[0].Digest() != b.Policies[0].Digest() {
		t.Error("equal policies in different layouts have different digests")
	}
	if a.Policies[0].Digest() == c.Policies[0].Digest() {
		t.Error("different policies have equal digests")
	}
	if _, err := b.Policy("nope"); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("Policy(nope) = %v, want ErrNoPolicy", err)
	}
	if _, err := b.Policy(""); err == nil {
		t.Error("Policy(\"\") chose one of two policies")
	}
}

func TestReasonCodesDocumented(t *testing.T) {
	src, err := os.ReadFile("reason.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := regexp.MustCompile(`(?m)^\t(Reason\w+)\s+Reason = "([A-Z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(consts) < 10 {
		t.Fatalf("found %d reason constants", len(consts))
	}
	listed := map[Reason]bool{}
	for _, r := range Reasons {
		if listed[r.Code] || r.Meaning == "" {
			t.Errorf("%s listed twice or without meaning", r.Code)
		}
		listed[r.Code] = true
	}
	for _, c := range consts {
		if !listed[Reason(c[2])] {
			t.Errorf("%s (%s) is not in Reasons", c[1], c[2])
		}
	}
	if len(listed) != len(consts) {
		t.Errorf("Reasons lists %d codes, reason.go declares %d", len(listed), len(consts))
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte(head + "      any: [{token: {maxAge: 1d}}, {all: [{revocation: {}}]}]\n"))
	f.Add([]byte("apiVersion: trustd.dev/policy/v1\npolicies: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		for i := range pf.Policies {
			p := &pf.Policies[i]
			_ = p.Digest()
			// Evaluating with no sources must terminate and never pass a
			// requirement that needs evidence.
			v := (&Evaluator{}).Evaluate(context.Background(), p, "", []digest.Digest{digest.MustParse("sha256:" + strings.Repeat("0", 64))})
			if v.Outcome == Pass {
				t.Fatalf("policy %s passed with no evidence", p.Name)
			}
		}
	})
}
