package notationdoc_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/trustd-dev/trustd/attest/notationdoc"
)

// subject is the image the seed manifest signs.
const subject = digest.Digest("sha256:43892ad271882019557224064b8b6a6788531aa38f9e0c25d3e829b9056e5ed3")

func seedManifest(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseManifest(t *testing.T) {
	good := string(seedManifest(t))
	oneZero := strings.Replace(strings.Replace(good, `"artifactType": "application/vnd.cncf.notary.signature",`, "", 1),
		`"mediaType": "application/vnd.oci.empty.v1+json"`, `"mediaType": "application/vnd.cncf.notary.signature"`, 1)
	cases := []struct {
		name, raw, field string
	}{
		{"notation's manifest", good, ""},
		{"OCI 1.0 form (config media type)", oneZero, ""},
		{"not JSON", "{", "manifest"},
		{"schema version", strings.Replace(good, `"schemaVersion": 2`, `"schemaVersion": 1`, 1), "manifest.schemaVersion"},
		{"media type", strings.Replace(good, "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json", 1), "manifest.mediaType"},
		{"artifact type", strings.Replace(good, "application/vnd.cncf.notary.signature", "application/vnd.dev.cosign.artifact.sig.v1+json", 1), "manifest.artifactType"},
		{"another subject", strings.Replace(good, subject.Encoded(), strings.Repeat("0", 64), 1), "manifest.subject.digest"},
		{"no subject", strings.Replace(good, `"subject"`, `"subjectx"`, 1), "manifest.subject"},
		{"layer media type", strings.Replace(good, `"application/cose"`, `"application/json"`, 1), "manifest.layers[0].mediaType"},
		{"layer digest", strings.Replace(good, "sha256:e1", "sha256:zz", 1), "manifest.layers[0].digest"},
		{"layer size", strings.Replace(good, `"size": 1252`, `"size": 2000000`, 1), "manifest.layers[0].size"},
		{"oversized", good + strings.Repeat(" ", notationdoc.MaxManifestBytes), "manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := notationdoc.ParseManifest([]byte(c.raw), subject)
			if c.field == "" {
				if err != nil || m.Subject != subject || m.Envelope.MediaType != notationdoc.MediaTypeCOSE || m.Envelope.Size != 1252 {
					t.Fatalf("ParseManifest = %+v, %v", m, err)
				}
				return
			}
			if !errors.Is(err, notationdoc.ErrInvalid) || !strings.HasPrefix(err.Error(), c.field+":") {
				t.Fatalf("err = %v, want ErrInvalid naming %s", err, c.field)
			}
		})
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	s := notationdoc.Signature{MediaType: notationdoc.MediaTypeJWS, Envelope: []byte("{}"), Reference: "r.example/a@" + subject.String()}
	doc, err := notationdoc.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	inner := bytes.TrimSuffix(bytes.TrimPrefix(doc, []byte(`{"`+notationdoc.DocumentKey+`":`)), []byte("}"))
	got, err := notationdoc.Parse(inner)
	if err != nil || got.MediaType != s.MediaType || string(got.Envelope) != "{}" || got.Reference != s.Reference {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
	for _, bad := range []string{`{"mediaType":1}`, `{"extra":true}`, `{"envelope":"%%%"}`, `{} {}`, `[]`} {
		if _, err := notationdoc.Parse([]byte(bad)); !errors.Is(err, notationdoc.ErrInvalid) || !strings.HasPrefix(err.Error(), notationdoc.DocumentKey+":") {
			t.Errorf("Parse(%s) = %v", bad, err)
		}
	}
}

// FuzzParseManifest: no panic, and an accepted manifest is about the
// subject with one bounded COSE or JWS layer.
func FuzzParseManifest(f *testing.F) {
	f.Add(seedManifest(f))
	f.Add([]byte(`{"schemaVersion":2}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := notationdoc.ParseManifest(raw, subject)
		if err != nil {
			return
		}
		if m.Subject != subject || (m.Envelope.MediaType != notationdoc.MediaTypeCOSE && m.Envelope.MediaType != notationdoc.MediaTypeJWS) ||
			m.Envelope.Size <= 0 || m.Envelope.Size > notationdoc.MaxEnvelopeBytes || m.Envelope.Digest.Validate() != nil {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// FuzzParse: no panic on any document.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/cose","envelope":"0oRA","reference":"r.example/a@sha256:00"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = notationdoc.Parse(raw)
	})
}
