package pgp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/gpgtest"
)

const (
	fprA = "11f704399d37135791d6d68eafa49ace2705cc9e"
	fprB = "55c1fa845183f925bc452aa79c75436d2f61e625"
	fprC = "d7a4f67625bda5f00b3e6fc99cd664a506e3ae21"
)

// grouped spells a v4 fingerprint as gpg prints it.
func grouped(f string) string {
	var b strings.Builder
	for i := 0; i < 40; i += 4 {
		switch {
		case i == 20:
			b.WriteString("  ")
		case i > 0:
			b.WriteString(" ")
		}
		b.WriteString(strings.ToUpper(f[i : i+4]))
	}
	return b.String()
}

func TestParseTransitionText(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		old, new   string
		err        string // substring of the error; "" for success
	}{
		{name: "template", text: "The old key will stay valid.\nI would like this\nnew key signed.\n\nThe old key was:\n\npub ed25519\n      Key fingerprint = " + grouped(fprA) +
			"\n\nAnd the new key is:\n\n      Key fingerprint = " + grouped(fprB) + "\n\n  gpg --recv-key '" + fprB + "'\n\nIf you already know my old key, verify that the new key is signed:\n  gpg --check-sigs '" + fprB + "'\n",
			old: fprA, new: fprB},
		{name: "compact", text: "old key: 0x" + strings.ToUpper(fprA) + "\nnew key: " + fprB + "\n", old: fprA, new: fprB},
		{name: "new first", text: "My new OpenPGP key is " + fprB + ".\nMy old key was " + fprA + ".\n", old: fprA, new: fprB},
		{name: "v6", text: "old key: " + strings.Repeat("ab", 32) + "\nnew key: " + strings.Repeat("cd", 32) + "\n", old: strings.Repeat("ab", 32), new: strings.Repeat("cd", 32)},
		{name: "short key ids are no fingerprints", text: "old key: " + fprA + "\n gpg --recv-key 'AFA4 9ACE'\nnew key: " + fprB + "\n", old: fprA, new: fprB},
		{name: "no marker", text: "hello " + fprA + "\n", err: "line 1: fingerprint " + fprA + " comes before any line naming the old or the new key"},
		{name: "nothing", text: "just text\n", err: "no line names the old or the new key"},
		{name: "fingerprint before marker", text: fprC + "\nold key: " + fprA + "\nnew key: " + fprB + "\n", err: "line 1: fingerprint " + fprC},
		{name: "no new fingerprint", text: "old key: " + fprA + "\nnew key: (see above)\n", err: "no fingerprint follows a line naming the new key"},
		{name: "no old fingerprint", text: "old key: gone\nnew key: " + fprB + "\n", err: "no fingerprint follows a line naming the old key"},
		{name: "second old", text: "old key: " + fprA + "\n" + fprC + "\nnew key: " + fprB + "\n", err: "line 2: a second old key fingerprint " + fprC},
		{name: "second new", text: "old key: " + fprA + "\nnew key: " + fprB + "\nalso " + fprC + "\n", err: "line 3: a second new key fingerprint " + fprC},
		{name: "both on one line", text: "the old key and the new key:\n" + fprA + "\n", err: "line 2: fingerprint " + fprA + " follows line 1, which names both"},
		{name: "same key twice", text: "old key: " + fprA + "\nnew key: " + fprA + "\n", err: "line 2: fingerprint " + fprA + " is named as both the old and the new key"},
		{name: "too large", text: strings.Repeat("x", MaxTransitionBytes+1), err: "over the limit"},
		{name: "too many lines", text: strings.Repeat("\n", MaxTransitionLines), err: "lines, over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTransitionText([]byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTransitionText = %+v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got.Old != tc.old || got.New != tc.new {
				t.Fatalf("ParseTransitionText = %+v, %v; want old %s new %s", got, err, tc.old, tc.new)
			}
			if !LooksLikeTransition([]byte(tc.text)) {
				t.Errorf("LooksLikeTransition = false")
			}
		})
	}
}

// TestVerifyTransitionFixtures checks gpg-made statements (mktransition.sh):
// both keys' signatures in one clearsigned message verify as a rotation;
// one signature, a stranger naming someone else's key, or a signer other
// than the key the text names are refused, each with a precise error.
func TestVerifyTransitionFixtures(t *testing.T) {
	old, nu, mallory := fixtureCert(t, "transition/old.asc"), fixtureCert(t, "transition/new.asc"), fixtureCert(t, "transition/mallory.asc")
	all := map[string]*Certificate{old.Fingerprint: old, nu.Fingerprint: nu, mallory.Fingerprint: mallory}
	certs := func(f string) (*Certificate, bool) { c, ok := all[f]; return c, ok }

	tr, err := VerifyTransition(fixture(t, "transition/transition.asc"), certs)
	if err != nil {
		t.Fatalf("VerifyTransition: %v", err)
	}
	if tr.Old != old.Fingerprint || tr.New != nu.Fingerprint || len(tr.Signatures) != 2 || tr.Signatures[0].Primary != old.Fingerprint ||
		tr.Signatures[1].Primary != nu.Fingerprint || tr.Reason != TransitionReason {
		t.Fatalf("transition = %+v", tr)
	}
	for _, s := range tr.Signatures {
		if s.Created.After(tr.Effective) {
			t.Errorf("effective %s is before signature %+v", tr.Effective, s)
		}
	}
	rec := []byte(`{"transition":` + jsonBytes(t, fixture(t, "transition/transition.asc")) + `}`)
	if r, err := ParseTransitionRecord(rec); err != nil || r != tr.Rotation {
		t.Errorf("ParseTransitionRecord = %+v, %v; want %+v", r, err, tr.Rotation)
	}
	if v, err := VerifyTransitionRecord(rec, certs); err != nil || v.Rotation != tr.Rotation {
		t.Errorf("VerifyTransitionRecord = %+v, %v", v, err)
	}

	for _, tc := range []struct {
		name   string
		signed []byte
		certs  func(string) (*Certificate, bool)
		kind   error
		msg    string
	}{
		{"old key only", fixture(t, "transition/old-only.asc"), certs, ErrWrongKey, "1 signature(s)"},
		{"stranger names someone else's old key", fixture(t, "transition/mallory-claims-old.asc"), certs, ErrWrongKey, "no signature by the old key " + old.Fingerprint},
		{"signer is not the named new key", fixture(t, "transition/wrong-new-signer.asc"), certs, ErrWrongKey, "no signature by the new key " + nu.Fingerprint},
		{"new key not registered", fixture(t, "transition/transition.asc"), func(f string) (*Certificate, bool) {
			if f == nu.Fingerprint {
				return nil, false
			}
			return certs(f)
		}, ErrWrongKey, nu.Fingerprint + " is not a registered certificate"},
		{"tampered text", bytes.Replace(fixture(t, "transition/transition.asc"), []byte("For a number"), []byte("For a numbr"), 1), certs, ErrBadSignature, "does not verify"},
		{"not clearsigned", fixture(t, "transition/transition.txt"), certs, ErrMalformed, "not a clearsigned document"},
		{"a manifest", fixture(t, "SHA256SUMS.ed25519.clear"), certs, ErrMalformed, "comes before any line naming the old or the new key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyTransition(tc.signed, tc.certs)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("VerifyTransition = %v; want %v saying %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func jsonBytes(t *testing.T, b []byte) string {
	t.Helper()
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestGPGTransition makes a transition statement the way people do: the
// fingerprints pasted from gpg --fingerprint, clearsigned by gpg with two
// --local-user options, in a throwaway GNUPGHOME; and checks the refusals
// with statements gpg signed with one key or with a stranger's.
func TestGPGTransition(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Old <old@example.org>", "ed25519", "cert,sign", "0")
	g.Run(nil, "--quick-gen-key", "New <new@example.org>", "rsa3072", "cert", "0")
	g.Run(nil, "--quick-gen-key", "Stranger <stranger@example.org>", "ed25519", "cert,sign", "0")
	oldF := g.Fingerprints("old@example.org")[0]
	newF := g.Fingerprints("new@example.org")[0]
	g.Run(nil, "--quick-add-key", newF, "ed25519", "sign", "0") // the new key signs with a subkey
	strF := g.Fingerprints("stranger@example.org")[0]
	all := map[string]*Certificate{}
	for _, f := range []string{oldF, newF, strF} {
		c, err := ParseCertificate(g.Run(nil, "--armor", "--export", f))
		if err != nil {
			t.Fatal(err)
		}
		all[f] = c
	}
	certs := func(f string) (*Certificate, bool) { c, ok := all[f]; return c, ok }

	dir := t.TempDir()
	write := func(name, oldKey, newKey string) string {
		text := "For a number of reasons, I have set up a new OpenPGP key.\n\nThe old key was:\n\n" +
			string(g.Run(nil, "--fingerprint", oldKey)) + "\nAnd the new key is:\n\n" + string(g.Run(nil, "--fingerprint", newKey)) +
			"\n- this line starts with a dash and is dash-escaped\n"
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.txt", oldF, newF)
	signed := g.Run(nil, "--clearsign", "--local-user", oldF, "--local-user", newF, "--output", "-", good)
	tr, err := VerifyTransition(signed, certs)
	if err != nil {
		t.Fatalf("VerifyTransition: %v\n%s", err, signed)
	}
	if tr.Old != oldF || tr.New != newF || tr.Signatures[1].SigningKey == newF {
		t.Fatalf("transition %+v; want %s -> %s, the new key's signature by its subkey", tr, oldF, newF)
	}
	// The order of the signatures does not matter.
	if tr2, err := VerifyTransition(g.Run(nil, "--clearsign", "--local-user", newF, "--local-user", oldF, "--output", "-", good), certs); err != nil || tr2.Rotation.Old != oldF {
		t.Errorf("signatures in the other order: %+v, %v", tr2, err)
	}

	theft := write("theft.txt", oldF, strF)
	for _, tc := range []struct {
		name   string
		signed []byte
		msg    string
	}{
		{"old key only", g.Run(nil, "--clearsign", "--local-user", oldF, "--output", "-", good), "1 signature(s)"},
		{"new key only", g.Run(nil, "--clearsign", "--local-user", newF, "--output", "-", good), "1 signature(s)"},
		{"stranger alone claims the old key", g.Run(nil, "--clearsign", "--local-user", strF, "--output", "-", theft), "1 signature(s)"},
		{"stranger and the new key claim the old key", g.Run(nil, "--clearsign", "--local-user", strF, "--local-user", newF, "--output", "-", theft), "no signature by the old key " + oldF},
		{"stranger signs in place of the new key", g.Run(nil, "--clearsign", "--local-user", oldF, "--local-user", strF, "--output", "-", good), "no signature by the new key " + newF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyTransition(tc.signed, certs)
			if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("VerifyTransition = %v; want ErrWrongKey saying %q", err, tc.msg)
			}
		})
	}
	three := g.Run(nil, "--clearsign", "--local-user", oldF, "--local-user", newF, "--local-user", strF, "--output", "-", good)
	if _, err := VerifyTransition(three, certs); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "3 signature(s)") {
		t.Errorf("three signatures: %v; want ErrMalformed", err)
	}
}
