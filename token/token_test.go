package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	t0      = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	artDig  = digest.MustParse("sha256:" + strings.Repeat("ab", 32))
	otherD  = digest.MustParse("sha256:" + strings.Repeat("cd", 32))
	polDig  = digest.MustParse("sha256:" + strings.Repeat("12", 32))
	polURI  = "trustd:policy/production"
	baseExp = Expect{Digests: []digest.Digest{artDig}, PolicyURI: polURI, PolicyDigest: polDig, MaxAge: 24 * time.Hour}
)

// fixedIssuer signs with the committed test key, so tokens are
// reproducible (ed25519 signatures are deterministic).
func fixedIssuer(t testing.TB) *Issuer {
	t.Helper()
	data, err := os.ReadFile("testdata/token-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	s, pub, err := envelope.LoadPrivateKey(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewIssuer(s, pub)
}

func claims() Claims {
	return Claims{
		Subject: []digest.Digest{artDig}, Name: "app.tar.gz", ResourceURI: "oci://registry.example/acme/app@" + artDig.String(),
		VerifierVersion: "v1.0.0", TimeVerified: t0, Expires: t0.Add(48 * time.Hour),
		PolicyName: "production", PolicyURI: polURI, PolicyDigest: polDig,
		Inputs: []Input{{URI: "trustd:log/12", Digest: otherD}}, Result: ResultPassed,
		Levels: []string{"SLSA_BUILD_LEVEL_2"}, RevocationListSeq: 42,
	}
}

func TestIssueVerifyGolden(t *testing.T) {
	iss := fixedIssuer(t)
	env, id, err := iss.Issue(context.Background(), claims())
	if err != nil {
		t.Fatal(err)
	}
	if id != ID(env) || !strings.HasPrefix(id, "sha256:") {
		t.Errorf("id %s is not the sha256 of the envelope", id)
	}
	var e struct{ Payload string }
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, "vsa-statement.json", pretty.Bytes())
	golden(t, "token.dsse.json", env)

	v, err := NewVerifier(context.Background(), Keys{iss.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims
	if tok.ID != id || tok.KeyID != iss.PublicKey().ID || c.RevocationListSeq != 42 || c.PolicyName != "production" ||
		!c.Expires.Equal(t0.Add(48*time.Hour)) || c.Subject[0] != artDig || c.Inputs[0].Digest != otherD || c.Levels[0] != "SLSA_BUILD_LEVEL_2" {
		t.Errorf("claims did not round-trip: %+v", tok)
	}
	if err := tok.Check(baseExp, t0.Add(time.Hour)); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestCheckRefusals(t *testing.T) {
	iss := fixedIssuer(t)
	ctx := context.Background()
	env, _, err := iss.Issue(ctx, claims())
	if err != nil {
		t.Fatal(err)
	}
	failed := claims()
	failed.Result = ResultFailed
	failedEnv, _, _ := iss.Issue(ctx, failed)
	_, otherPub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    []byte
		keys   Keys
		expect func(*Expect)
		at     time.Time
		want   error
	}{
		{"ok", env, nil, nil, t0.Add(time.Hour), nil},
		{"expired", env, nil, func(e *Expect) { e.MaxAge = 0 }, t0.Add(49 * time.Hour), ErrExpired},
		{"too old", env, nil, func(e *Expect) { e.MaxAge = time.Hour }, t0.Add(2 * time.Hour), ErrTooOld},
		{"other digest", env, nil, func(e *Expect) { e.Digests = []digest.Digest{otherD} }, t0, ErrDigestMismatch},
		{"no common algorithm", env, nil, func(e *Expect) {
			e.Digests = []digest.Digest{digest.MustParse("sha512:" + strings.Repeat("ab", 64))}
		}, t0, ErrDigestMismatch},
		{"other policy digest", env, nil, func(e *Expect) { e.PolicyDigest = otherD }, t0, ErrPolicyMismatch},
		{"other policy name", env, nil, func(e *Expect) { e.PolicyURI = "trustd:policy/staging" }, t0, ErrPolicyMismatch},
		{"unknown key", env, Keys{otherPub}, nil, t0, ErrUntrustedKey},
		{"failed verification", failedEnv, nil, nil, t0, ErrFailed},
		{"tampered payload", tamper(t, env), nil, nil, t0, ErrBadSignature},
		{"not an envelope", []byte(`{"hello":1}`), nil, nil, t0, ErrInvalid},
		{"too large", bytes.Repeat([]byte(" "), MaxTokenBytes+1), nil, nil, t0, ErrInvalid},
	}
	// Names: the resourceUri the token was issued for against the
	// reference verified, both normalised.
	named := func(uri string) []byte {
		c := claims()
		c.ResourceURI = uri
		e, _, err := iss.Issue(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tag13 := named("oci://registry.example/acme/app:1.3@" + artDig.String())
	file := named("file:///ci/dist/app-1.3.tar.gz")
	noName := named("")
	junk := named("s3://bucket/app")
	ask := func(name string, required bool) func(*Expect) {
		return func(e *Expect) { e.Name, e.NameRequired = name, required }
	}
	tests = append(tests, []struct {
		name   string
		env    []byte
		keys   Keys
		expect func(*Expect)
		at     time.Time
		want   error
	}{
		{"same tag", tag13, nil, ask("oci://registry.example/acme/app:1.3@"+artDig.String(), false), t0, nil},
		{"same tag, Docker Hub spelling", tag13, nil, ask("Registry.Example/acme/app:1.3", true), t0, nil},
		{"retagged: the token is for 1.3", tag13, nil, ask("oci://registry.example/acme/app:1.4@"+artDig.String(), false), t0, ErrNameMismatch},
		{"other repository", tag13, nil, ask("registry.example/acme/other:1.3", false), t0, ErrNameMismatch},
		{"other registry", tag13, nil, ask("mirror.example/acme/app:1.3", false), t0, ErrNameMismatch},
		{"digest reference binds no tag", env, nil, ask("registry.example/acme/app:1.3", false), t0, ErrNameMismatch},
		{"verifying by digest needs no tag", tag13, nil, ask("registry.example/acme/app@"+artDig.String(), true), t0, nil},
		{"file anywhere", file, nil, ask("file:///home/u/app-1.3.tar.gz", true), t0, nil},
		{"file over https", file, nil, ask("https://example.com/app-1.3.tar.gz", true), t0, nil},
		{"renamed file", file, nil, ask("file:///home/u/app-1.4.tar.gz", false), t0, ErrNameMismatch},
		{"a file is not an image", file, nil, ask("registry.example/acme/app:1.3", false), t0, ErrNameMismatch},
		{"no name asked", tag13, nil, ask("", false), t0, nil},
		{"standard input", tag13, nil, ask("stdin:", false), t0, nil},
		{"standard input, names required", tag13, nil, ask("stdin:", true), t0, ErrNameMismatch},
		{"token for a bare digest", noName, nil, ask("file:///app-1.3.tar.gz", false), t0, nil},
		{"token for a bare digest, names required", noName, nil, ask("file:///app-1.3.tar.gz", true), t0, ErrNameMismatch},
		{"token names no reference", junk, nil, ask("file:///app", false), t0, ErrNameMismatch},
		// A name mismatch does not hide a token for other bytes.
		{"other bytes and other name", tag13, nil, func(e *Expect) {
			e.Digests = []digest.Digest{otherD}
			e.Name = "registry.example/acme/app:1.4"
		}, t0, ErrDigestMismatch},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = Keys{iss.PublicKey()}
			}
			v, err := NewVerifier(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			exp := baseExp
			if tc.expect != nil {
				tc.expect(&exp)
			}
			tok, err := v.Verify(ctx, tc.env)
			if err == nil {
				err = tok.Check(exp, tc.at)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// tamper re-encodes env with its statement's subject digest changed and
// the original signature kept.
func tamper(t *testing.T, env []byte) []byte {
	var e map[string]any
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(e["payload"].(string))
	p = bytes.Replace(p, []byte(artDig.Hex()), []byte(otherD.Hex()), 1)
	e["payload"] = base64.StdEncoding.EncodeToString(p)
	out, _ := json.Marshal(e)
	return out
}

func TestVerifierCache(t *testing.T) {
	iss := fixedIssuer(t)
	ctx := context.Background()
	env, _, err := iss.Issue(ctx, claims())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ctx, Keys{iss.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.Verify(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(ctx, env)
	if err != nil || a != b {
		t.Fatalf("second Verify of the same bytes: %v, same token %v", err, a == b)
	}
	// The cache is keyed by the exact bytes: a tampered copy is verified,
	// and refused, even with the original cached.
	if _, err := v.Verify(ctx, tamper(t, env)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered token after a cached one: %v", err)
	}
	// Check still judges a cached token.
	if err := b.Check(baseExp, t0.Add(49*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("cached token past expiry: %v", err)
	}
}

func TestIssueRejects(t *testing.T) {
	iss := fixedIssuer(t)
	for name, mut := range map[string]func(*Claims){
		"no subject": func(c *Claims) { c.Subject = nil },
		"no policy":  func(c *Claims) { c.PolicyURI = "" },
		"no expiry":  func(c *Claims) { c.Expires = time.Time{} },
		"bad result": func(c *Claims) { c.Result = "MAYBE" },
	} {
		c := claims()
		mut(&c)
		if _, _, err := iss.Issue(context.Background(), c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token.key")
	_, pub1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	_, pub2, err := LoadOrCreateKey(p)
	if err != nil || pub1.ID != pub2.ID {
		t.Fatalf("second load gave key %s (%v), want the same %s", pub2.ID, err, pub1.ID)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	iss := fixedIssuer(f)
	env, _, err := iss.Issue(context.Background(), claims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`))
	v, err := NewVerifier(context.Background(), Keys{iss.PublicKey()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := v.Verify(context.Background(), data)
		if err != nil {
			return
		}
		if tok.ID != ID(data) {
			t.Fatal("ID is not the digest of the bytes")
		}
		_ = tok.Check(baseExp, t0)
	})
}

// benchVerify measures Verify and Check of one token, cold (every call
// verifies the signature) or warm (the verifier's cache answers), on one
// goroutine or on GOMAXPROCS.
func benchVerify(b *testing.B, cold, parallel bool) {
	iss := fixedIssuer(b)
	env, _, err := iss.Issue(context.Background(), claims())
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Keys{iss.PublicKey()})
	if err != nil {
		b.Fatal(err)
	}
	v.noCache = cold
	one := func() bool {
		tok, err := v.Verify(context.Background(), env)
		if err == nil {
			err = tok.Check(baseExp, t0)
		}
		if err != nil {
			b.Error(err)
			return false
		}
		return true
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && one() {
			}
		})
	} else {
		for b.Loop() {
			if !one() {
				return
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkVerifyCold(b *testing.B)         { benchVerify(b, true, false) }
func BenchmarkVerifyColdParallel(b *testing.B) { benchVerify(b, true, true) }
func BenchmarkVerifyWarm(b *testing.B)         { benchVerify(b, false, false) }

// BenchmarkEd25519Baseline is one bare ed25519 verification of a message
// of a token's size: the floor of the cold path, for reading the figures
// on a loaded machine.
func BenchmarkEd25519Baseline(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 1200)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestSignerTimesRoundTrip: the signers a token names and the times their
// signatures are judged at survive issue and verification, so an offline
// verifier applies the time rule as trustd did.
func TestSignerTimesRoundTrip(t *testing.T) {
	iss := fixedIssuer(t)
	c := claims()
	c.Signers = []string{"k1", "k2"}
	c.SignerTimes = map[string]time.Time{"k1": t0.Add(-time.Hour), "k2": t0.Add(-90 * time.Second)}
	env, _, err := iss.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Keys{iss.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	got := tok.Claims
	if len(got.Signers) != 2 || len(got.SignerTimes) != 2 || !got.SignerTimes["k1"].Equal(c.SignerTimes["k1"]) || !got.SignerTimes["k2"].Equal(c.SignerTimes["k2"]) {
		t.Errorf("signers %v, times %v; want %v, %v", got.Signers, got.SignerTimes, c.Signers, c.SignerTimes)
	}
}
