package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	tdigest "github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// notationImage is the descriptor of an image manifest with these bytes.
func notationImage(content string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(content), Size: int64(len(content))}
}

// notationSetup is a trust store holding acme's CA, and a policy that
// trusts it for registry.example/acme/* only.
func notationSetup(t *testing.T) (*attesttest.NotationCA, *attest.NotationTrust, string, string) {
	t.Helper()
	acme := attesttest.NewNotationCA(t, "acme")
	dir := t.TempDir()
	storeDir := acme.WriteTrustStore(t, filepath.Join(dir, "truststore"), "acme")
	policy := attesttest.WriteTrustPolicy(t, filepath.Join(dir, "trustpolicy.json"),
		attesttest.NotationPolicy{Name: "acme", Scopes: []string{"registry.example/acme/app"}, Stores: []string{"ca:acme"}})
	nt, err := attest.LoadNotationTrust(storeDir, policy)
	if err != nil {
		t.Fatal(err)
	}
	return acme, nt, storeDir, policy
}

func notationDoc(t *testing.T, mediaType string, env []byte, ref string) []byte {
	t.Helper()
	doc, err := attest.MarshalNotationDocument(attest.NotationSignature{MediaType: mediaType, Envelope: env, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

var notationFormats = []string{attest.NotationMediaTypeCOSE, attest.NotationMediaTypeJWS}

// TestNotationStranger: someone with their own self-signed certificate
// (or their own CA) signs acme's image; whatever reference they give, the
// signature is refused and nothing about the image is stored.
func TestNotationStranger(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b, 0)
			_, nt, _, _ := notationSetup(t)
			svc := attest.New(e.store, e.log, attest.Options{Notation: nt})
			img := notationImage("acme app v1")
			ref := "registry.example/acme/app@" + img.Digest.String()
			stranger := attesttest.NewNotationCA(t, "acme") // same names, other keys
			for _, mt := range notationFormats {
				t.Run(mt, func(t *testing.T) {
					sig := stranger.Sign(t, img, mt)
					_, _, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, mt, sig, ref)})
					if !errors.Is(err, attest.ErrNotationVerification) {
						t.Fatalf("stranger's signature: err = %v, want ErrNotationVerification", err)
					}
					t.Log(err)
					if !strings.Contains(err.Error(), `trust policy "acme"`) {
						t.Errorf("error does not name the policy: %v", err)
					}
				})
			}
			d, err := tdigest.Parse(img.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			list, _, err := svc.List(ctx, attest.Query{Digest: d, PageSize: 10})
			if err != nil || len(list) != 0 {
				t.Fatalf("stored after refusals: %v, %v", list, err)
			}
		})
	}
}

func TestNotationSignatures(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b, 0)
			acme, nt, _, _ := notationSetup(t)
			svc := attest.New(e.store, e.log, attest.Options{Notation: nt})
			img := notationImage("acme app v2")
			other := notationImage("acme app v3")
			ref := "registry.example/acme/app@" + img.Digest.String()
			d, err := tdigest.Parse(img.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, mt := range notationFormats {
				t.Run(mt, func(t *testing.T) {
					sig := acme.Sign(t, img, mt)
					cases := []struct {
						name string
						doc  []byte
						want error
					}{
						{"signature for another digest", notationDoc(t, mt, acme.Sign(t, other, mt), ref), attest.ErrDigestMismatch},
						{"tampered envelope", notationDoc(t, mt, tamperNotation(t, mt, sig), ref), attest.ErrNotationVerification},
						{"no policy covers the repository", notationDoc(t, mt, sig, "registry.example/other/app@"+img.Digest.String()), attest.ErrNotationVerification},
						{"reference without a digest", notationDoc(t, mt, sig, "registry.example/acme/app:v2"), attest.ErrInvalidNotation},
						{"wrong media type", notationDoc(t, "application/json", sig, ref), attest.ErrInvalidNotation},
						{"other format's media type", notationDoc(t, otherFormat(mt), sig, ref), attest.ErrInvalidNotation},
						{"garbage envelope", notationDoc(t, mt, []byte("not an envelope"), ref), attest.ErrInvalidNotation},
						{"empty envelope", notationDoc(t, mt, nil, ref), attest.ErrInvalidNotation},
						{"oversized envelope", notationDoc(t, mt, make([]byte, attest.MaxNotationEnvelopeBytes+1), ref), attest.ErrTooLarge},
						{"unknown field", []byte(`{"notationSignature":{"mediaType":"` + mt + `","envelope":"","reference":"","extra":1}}`), attest.ErrInvalidNotation},
					}
					for _, c := range cases {
						t.Run(c.name, func(t *testing.T) {
							_, _, err := svc.Put(ctx, attest.PutRequest{Data: c.doc})
							if !errors.Is(err, c.want) {
								t.Fatalf("err = %v, want %v", err, c.want)
							}
						})
					}
					if list, _, err := svc.List(ctx, attest.Query{Digest: d, PredicateType: attest.NotationPredicateType, SignerID: attest.NotationSignerID(acme.Leaf.Raw), PageSize: 10}); err != nil || len(list) != indexOf(notationFormats, mt) {
						t.Fatalf("stored after refusals: %d entries, %v", len(list), err)
					}

					_, _, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, mt, sig, ref), Digest: tdigest.MustParse(other.Digest.String())})
					if !errors.Is(err, attest.ErrDigestMismatch) {
						t.Fatalf("Put with another expected digest: %v", err)
					}

					a, created, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, mt, sig, ref), Digest: d})
					if err != nil || !created {
						t.Fatalf("Put = %v, created %v", err, created)
					}
					if a.Kind != attest.KindNotation || a.PredicateType != attest.NotationPredicateType || !bytes.Equal(a.Envelope, sig) ||
						len(a.SignerIDs) != 1 || a.SignerIDs[0] != attest.NotationSignerID(acme.Leaf.Raw) ||
						len(a.Subjects) != 1 || len(a.Subjects[0].Digests) != 1 || a.Subjects[0].Digests[0] != d {
						t.Fatalf("Put = %+v", a)
					}
					again, created, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, mt, sig, ref)})
					if err != nil || created || again.Seq != a.Seq {
						t.Fatalf("again: seq %d created %v err %v, want seq %d not created", again.Seq, created, err, a.Seq)
					}
				})
			}

			t.Run("no trust configured", func(t *testing.T) {
				bare := attest.New(e.store, e.log, attest.Options{})
				_, _, err := bare.Put(ctx, attest.PutRequest{Data: notationDoc(t, attest.NotationMediaTypeJWS, acme.Sign(t, img, attest.NotationMediaTypeJWS), ref)})
				if !errors.Is(err, attest.ErrNoNotationTrust) {
					t.Fatalf("err = %v", err)
				}
			})
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func otherFormat(mt string) string {
	if mt == attest.NotationMediaTypeCOSE {
		return attest.NotationMediaTypeJWS
	}
	return attest.NotationMediaTypeCOSE
}

// tamperNotation changes a signed envelope: a JWS's payload says another size
// (same digest), a COSE signature loses a bit of its signature.
func tamperNotation(t *testing.T, mt string, sig []byte) []byte {
	t.Helper()
	if mt == attest.NotationMediaTypeCOSE {
		out := bytes.Clone(sig)
		out[len(out)-2] ^= 1
		return out
	}
	var env map[string]any
	if err := json.Unmarshal(sig, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	p["targetArtifact"]["size"] = 1
	payload, _ = json.Marshal(p)
	env["payload"] = base64.RawURLEncoding.EncodeToString(payload)
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadNotationTrust(t *testing.T) {
	acme := attesttest.NewNotationCA(t, "acme")
	dir := t.TempDir()
	storeDir := acme.WriteTrustStore(t, filepath.Join(dir, "truststore"), "acme")
	cases := []struct {
		name   string
		policy attesttest.NotationPolicy
		want   string
	}{
		{"strict", attesttest.NotationPolicy{Name: "p", Scopes: []string{"*"}, Stores: []string{"ca:acme"}}, ""},
		{"permissive", attesttest.NotationPolicy{Name: "p", Level: "permissive", Scopes: []string{"*"}, Stores: []string{"ca:acme"}}, ""},
		{"audit logs authenticity", attesttest.NotationPolicy{Name: "p", Level: "audit", Scopes: []string{"*"}, Stores: []string{"ca:acme"}}, "authenticity check is not enforced"},
		{"skip", attesttest.NotationPolicy{Name: "p", Level: "skip", Scopes: []string{"*"}}, "skip verifies nothing"},
		{"missing store", attesttest.NotationPolicy{Name: "p", Scopes: []string{"*"}, Stores: []string{"ca:nobody"}}, `trustStores "ca:nobody"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.policy
			if p.Level == "skip" {
				p.TrustedIdentities = []string{}
			}
			path := attesttest.WriteTrustPolicy(t, filepath.Join(t.TempDir(), "trustpolicy.json"), p)
			_, err := attest.LoadNotationTrust(storeDir, path)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	t.Run("not a trust policy", func(t *testing.T) {
		if _, err := attest.LoadNotationTrust(storeDir, filepath.Join("testdata", "notation", "not-a-policy.json")); err == nil || !strings.Contains(err.Error(), "not a trustpolicy.json") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no trust store", func(t *testing.T) {
		path := attesttest.WriteTrustPolicy(t, filepath.Join(t.TempDir(), "trustpolicy.json"), cases[0].policy)
		if _, err := attest.LoadNotationTrust(filepath.Join(dir, "absent"), path); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestNotationOtherScope: beta's CA is trusted for beta's repositories.
// Beta signs acme's image and names a beta repository, so beta's policy
// verifies it: the record says beta's certificate signed the digest, never
// acme's, so a policy that trusts acme's signer is not fooled.
func TestNotationOtherScope(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, b, 0)
			acme, beta := attesttest.NewNotationCA(t, "acme"), attesttest.NewNotationCA(t, "beta")
			dir := t.TempDir()
			storeDir := acme.WriteTrustStore(t, filepath.Join(dir, "truststore"), "acme")
			beta.WriteTrustStore(t, storeDir, "beta")
			policy := attesttest.WriteTrustPolicy(t, filepath.Join(dir, "trustpolicy.json"),
				attesttest.NotationPolicy{Name: "acme", Scopes: []string{"registry.example/acme/app"}, Stores: []string{"ca:acme"}},
				attesttest.NotationPolicy{Name: "beta", Scopes: []string{"registry.example/beta/app"}, Stores: []string{"ca:beta"}})
			nt, err := attest.LoadNotationTrust(storeDir, policy)
			if err != nil {
				t.Fatal(err)
			}
			svc := attest.New(e.store, e.log, attest.Options{Notation: nt})
			img := notationImage("acme app v4")
			sig := beta.Sign(t, img, attest.NotationMediaTypeCOSE)
			if _, _, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, attest.NotationMediaTypeCOSE, sig, "registry.example/acme/app@"+img.Digest.String())}); !errors.Is(err, attest.ErrNotationVerification) {
				t.Fatalf("beta's signature under acme's repository: %v", err)
			}
			a, _, err := svc.Put(ctx, attest.PutRequest{Data: notationDoc(t, attest.NotationMediaTypeCOSE, sig, "registry.example/beta/app@"+img.Digest.String())})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.SignerIDs) != 1 || a.SignerIDs[0] != attest.NotationSignerID(beta.Leaf.Raw) || a.SignerIDs[0] == attest.NotationSignerID(acme.Leaf.Raw) {
				t.Fatalf("signers %v, want beta's only", a.SignerIDs)
			}
			list, _, err := svc.List(ctx, attest.Query{Digest: tdigest.MustParse(img.Digest.String()), SignerID: attest.NotationSignerID(acme.Leaf.Raw), PageSize: 10})
			if err != nil || len(list) != 0 {
				t.Fatalf("acme is said to have signed: %v, %v", list, err)
			}
		})
	}
}
