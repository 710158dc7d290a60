package policy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/refname"
)

// imageRole is a targets role as a release pipeline that names targets by
// the rule leaves it: 1.3 (the older image, still validly signed) and 1.4.
func imageRole() *TUFRole {
	return &TUFRole{Repo: "acme/images", Role: "targets", Version: 7, Expires: now.Add(time.Hour),
		Input:   Input{URI: "trustd:tuf/acme/images/7.targets.json", Digest: otherSH},
		Targets: map[string][]digest.Digest{"acme/app:1.3": {artSHA}, "acme/app:1.4": {otherSH}, "app-1.3.tar.gz": {artSHA}}}
}

func TestEvaluateName(t *testing.T) {
	tufReq := "      name: {tuf: {repo: acme/images}}\n"
	pgpReq := "      name: {pgp: {roots: [" + fprRoot + "]}}\n"
	tests := []struct {
		name     string
		req      string
		resource string
		mutate   func(*Sources)
		offline  bool
		outcome  Outcome
		reasons  []Reason
		detail   string
	}{
		{"tag bound to these bytes", tufReq, "oci://registry.example/acme/app:1.3@" + artSHA.String(), nil, false, Pass, nil, "target acme/app:1.3 in repo acme/images, role targets, binds registry.example/acme/app:1.3@"},
		{"unschemed tag reference", tufReq, "registry.example/acme/app:1.3", nil, false, Pass, nil, ""},
		// The retag: the registry serves the older, validly signed image
		// under the new tag.
		{"retagged older image", tufReq, "oci://registry.example/acme/app:1.4@" + artSHA.String(), nil, false, Fail, []Reason{ReasonNameMismatch},
			"registry.example/acme/app:1.4@" + artSHA.String() + " asks for target acme/app:1.4, but the bytes are target acme/app:1.3"},
		{"tag bound to other bytes only", tufReq, "oci://registry.example/acme/app:1.4", func(s *Sources) {
			s.TUF.(tufData)["acme/images/targets"].Targets = map[string][]digest.Digest{"acme/app:1.4": {otherSH}}
		}, false, Fail, []Reason{ReasonNameMismatch}, "asks for target acme/app:1.4, which lists other bytes"},
		{"no target at all", tufReq, "oci://registry.example/acme/app:2.0", func(s *Sources) {
			s.TUF.(tufData)["acme/images/targets"].Targets = nil
		}, false, Fail, []Reason{ReasonUnsigned}, "no target acme/app:2.0"},
		// A digest reference binds no tag: any tag of the repository that
		// lists the bytes binds it.
		{"digest reference", tufReq, "oci://registry.example/acme/app@" + artSHA.String(), nil, false, Pass, nil, "target acme/app:1.3"},
		{"digest reference, other repository", tufReq, "oci://registry.example/acme/other@" + artSHA.String(), nil, false, Fail, []Reason{ReasonNameMismatch}, "asks for target acme/other:*"},
		{"docker hub defaults", "      name: {tuf: {repo: acme/images}, template: '{ref}'}\n", "oci://alpine:3.19", func(s *Sources) {
			s.TUF.(tufData)["acme/images/targets"].Targets = map[string][]digest.Digest{"docker.io/library/alpine:3.19": {artSHA}}
		}, false, Pass, nil, "target docker.io/library/alpine:3.19"},
		{"file by base name", tufReq, "file:///home/ci/dist/app-1.3.tar.gz", nil, false, Pass, nil, "target app-1.3.tar.gz"},
		{"file under a template", "      name: {tuf: {repo: acme/images}, template: 'releases/{file}'}\n", "https://example.com/dl/app-1.3.tar.gz", func(s *Sources) {
			s.TUF.(tufData)["acme/images/targets"].Targets = map[string][]digest.Digest{"releases/app-1.3.tar.gz": {artSHA}}
		}, false, Pass, nil, "target releases/app-1.3.tar.gz"},
		{"renamed file", tufReq, "file:///dist/app-1.4.tar.gz", nil, false, Fail, []Reason{ReasonNameMismatch}, "but the bytes are target acme/app:1.3, app-1.3.tar.gz"},
		{"template variable the reference lacks", "      name: {tuf: {repo: acme/images}, template: '{repository}:{tag}'}\n", "file:///dist/app-1.3.tar.gz", nil, false, Fail, []Reason{ReasonNameMismatch}, "uses {repository}, which app-1.3.tar.gz does not have"},
		{"glob characters are literal", tufReq, "file:///dist/app-1.*", func(s *Sources) {
			s.TUF.(tufData)["acme/images/targets"].Targets = map[string][]digest.Digest{"app-1.3": {artSHA}}
		}, false, Fail, []Reason{ReasonNameMismatch}, ""},
		{"expired role", tufReq, "registry.example/acme/app:1.3", func(s *Sources) { s.TUF.(tufData)["acme/images/targets"].Expires = now.Add(-time.Second) }, false, Fail, []Reason{ReasonStaleMetadata}, ""},
		{"stale from a TUF client", tufReq, "registry.example/acme/app:1.3", func(s *Sources) { s.TUF = staleTUF{} }, false, Fail, []Reason{ReasonStaleMetadata}, ""},
		{"unreachable", tufReq, "registry.example/acme/app:1.3", func(s *Sources) { s.TUF = failing{} }, false, Undecided, []Reason{ReasonEvidenceUnavailable}, ""},
		// No reference: nothing to bind, so undecided, never a pass.
		{"no reference", tufReq, "", nil, false, Undecided, []Reason{ReasonEvidenceUnavailable}, "no name to bind to the bytes"},
		{"standard input", tufReq, "stdin:", nil, false, Undecided, []Reason{ReasonEvidenceUnavailable}, "no name to bind to the bytes"},
		{"not a reference", tufReq, "s3://bucket/app", nil, false, Undecided, []Reason{ReasonEvidenceUnavailable}, "not an artifact reference"},
		{"offline", tufReq, "registry.example/acme/app:1.3", func(s *Sources) { *s = Sources{} }, true, Fail, []Reason{ReasonOffline}, ""},
		{"not configured", pgpReq, "file:///app-1.0.tar.gz", func(s *Sources) { s.PGP = nil }, false, Undecided, []Reason{ReasonEvidenceUnavailable}, ""},
		// OpenPGP: the manifest line's file name binds.
		{"pgp manifest line", pgpReq, "file:///dist/app-1.0.tar.gz", nil, false, Pass, nil, "manifest line app-1.0.tar.gz, signed by " + fprDev},
		{"pgp other line name", pgpReq, "file:///dist/app-1.1.tar.gz", nil, false, Fail, []Reason{ReasonNameMismatch}, "asks for manifest name app-1.1.tar.gz, but the manifests name these bytes app-1.0.tar.gz (manifest seq 9)"},
		{"pgp right name, untrusted signer", pgpReq, "file:///dist/app-1.0.tar.gz", func(s *Sources) { s.PGP = pgpData{sigs: s.PGP.(pgpData).sigs} }, false, Fail, []Reason{ReasonUntrustedSigner}, ""},
		{"pgp revoked chain", pgpReq, "file:///dist/app-1.0.tar.gz", func(s *Sources) {
			s.PGP = pgpData{sigs: []PGPSignature{{Name: "app-1.0.tar.gz", Signer: "revoked", Seq: 9}}}
		}, false, Fail, []Reason{ReasonRevoked}, ""},
		{"pgp unsigned", pgpReq, "file:///dist/app-1.0.tar.gz", func(s *Sources) { s.PGP = pgpData{} }, false, Fail, []Reason{ReasonUnsigned}, ""},
		// Inside the README's tree: a name mismatch fails the all branch.
		{"any: token or bound name", "      any: [{token: {maxAge: 1h}}, {all: [{name: {tuf: {repo: acme/images}}}, {revocation: {}}]}]\n", "oci://registry.example/acme/app:1.4@" + artSHA.String(), func(s *Sources) {
			s.Tokens = tokenData{Reason: ReasonNameMismatch, Detail: "token names registry.example/acme/app:1.3"}
		}, false, Fail, []Reason{ReasonNameMismatch}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := good()
			src.TUF = tufData{"acme/images/targets": imageRole()}
			if tc.mutate != nil {
				tc.mutate(&src)
			}
			ev := &Evaluator{Sources: src, Now: func() time.Time { return now }, Offline: tc.offline}
			v := ev.Evaluate(context.Background(), mustPolicy(t, tc.req), tc.resource, []digest.Digest{artSHA})
			var b bytes.Buffer
			_ = v.WriteText(&b)
			if v.Outcome != tc.outcome || !equalReasons(v.Reasons(), tc.reasons) {
				t.Errorf("outcome %s reasons %v, want %s %v\n%s", v.Outcome, v.Reasons(), tc.outcome, tc.reasons, b.String())
			}
			if !strings.Contains(b.String(), tc.detail) {
				t.Errorf("verdict does not say %q:\n%s", tc.detail, b.String())
			}
		})
	}
}

// A passing name requirement names what it relied on, so a token lists
// the TUF role or manifest and its signers are checked for revocation.
func TestNameInputsAndSigners(t *testing.T) {
	src := good()
	src.TUF = tufData{"acme/images/targets": imageRole()}
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }}
	v := ev.Evaluate(context.Background(), mustPolicy(t, "      name: {tuf: {repo: acme/images}}\n"), "registry.example/acme/app:1.3", []digest.Digest{artSHA})
	if in := v.Inputs(); v.Outcome != Pass || len(in) != 1 || in[0].URI != "trustd:tuf/acme/images/7.targets.json" {
		t.Errorf("tuf inputs: %s %+v", v.Outcome, in)
	}
	p := mustPolicy(t, "      all: [{name: {pgp: {roots: ["+fprRoot+"]}}}, {revocation: {}}]\n")
	src.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{Kind: "key", ID: fprDev, Seq: 41, Reason: "compromised"}}}
	ev.Sources = src
	if v := ev.Evaluate(context.Background(), p, "file:///app-1.0.tar.gz", []digest.Digest{artSHA}); v.Outcome != Fail || !equalReasons(v.Reasons(), []Reason{ReasonRevoked}) {
		t.Errorf("revoked manifest signer: %s %v", v.Outcome, v.Reasons())
	}
}

func TestDeriveName(t *testing.T) {
	tests := []struct {
		template, ref, pattern, shown, err string
	}{
		{"", "registry.example/acme/app:1.4", "acme/app:1.4", "acme/app:1.4", ""},
		{"", "oci://registry.example/acme/app@" + artSHA.String(), "acme/app:*", "acme/app:*", ""},
		{"", "file:///a/b/app-1.4.tar.gz", "app-1.4.tar.gz", "app-1.4.tar.gz", ""},
		{"", "file:///a/b/app%5B1%5D*.tar.gz", `app\[1\]\*.tar.gz`, "app[1]*.tar.gz", ""},
		{"{ref}", "index.docker.io/library/alpine", "docker.io/library/alpine:latest", "docker.io/library/alpine:latest", ""},
		{"images/{registry}/{repository}/{tag}", "localhost:5000/app:v1", "images/localhost:5000/app/v1", "images/localhost:5000/app/v1", ""},
		{"*{tag}", "localhost:5000/app:v1", `\*v1`, "*v1", ""},
		{"{tag}", "file:///app.tar.gz", "", "", "uses {tag}, which app.tar.gz does not have"},
		{"{file}", "localhost:5000/app:v1", "", "", "uses {file}"},
	}
	for _, tc := range tests {
		n, err := refname.Normalize(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		pattern, shown, err := (&NameRequirement{Template: tc.template}).DeriveName(n)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %s: err %v, want %q", tc.template, tc.ref, err, tc.err)
			}
			continue
		}
		if err != nil || shown != tc.shown || pattern != tc.pattern {
			t.Errorf("%q %s = %q %q %v, want %q %q", tc.template, tc.ref, pattern, shown, err, tc.pattern, tc.shown)
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	schema := compileSchema(t)
	for _, tc := range []struct{ doc, field string }{
		{"      name: {}\n", "policies[0].require.name"},
		{"      name: {tuf: {repo: r}, pgp: {roots: [" + fprRoot + "]}}\n", "policies[0].require.name"},
		{"      name: {tuf: {}}\n", "policies[0].require.name.tuf.repo"},
		{"      name: {pgp: {roots: []}}\n", "policies[0].require.name.pgp.roots"},
		{"      name: {pgp: {roots: [abc]}}\n", "policies[0].require.name.pgp.roots[0]"},
		{"      name: {tuf: {repo: r}, template: 'app-1.4'}\n", "policies[0].require.name.template"},
		{"      name: {tuf: {repo: r}, template: '{version}'}\n", "policies[0].require.name.template"},
		{"      name: {tuf: {repo: r}, template: '{tag'}\n", "policies[0].require.name.template"},
		{"      name: {tuf: {repo: r}, template: 'tag}'}\n", "policies[0].require.name.template"},
		{"      name: {tuf: {repo: r}, colour: red}\n", ""},
	} {
		_, err := Parse([]byte(head + tc.doc))
		if !errors.Is(err, ErrInvalid) || tc.field != "" && !strings.Contains(err.Error(), ": "+tc.field+": ") {
			t.Errorf("%s: err = %v, want ErrInvalid naming %s", strings.TrimSpace(tc.doc), err, tc.field)
		}
		if schema.Validate(yamlToJSONValue(t, []byte(head+tc.doc))) == nil {
			t.Errorf("%s: the schema accepts what Parse rejects", strings.TrimSpace(tc.doc))
		}
	}
}

// TestReadmePolicyBindsNames: the deploy policy the README teaches parses
// and binds names to digests.
func TestReadmePolicyBindsNames(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## Deploy-time verification")
	if !ok {
		t.Fatal("README has no deploy-time verification section")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("the deploy section shows no policy")
	}
	block, _, _ = strings.Cut(block, "```")
	f, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("README policy: %v", err)
	}
	if !f.Policies[0].BindsNames() {
		t.Errorf("the README's policy %s has no name requirement", f.Policies[0].Name)
	}
}
