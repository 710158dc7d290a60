package envelope

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/trustd-dev/trustd/store"
)

var testPayload = []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}}],"predicateType":"https://trustd.dev/test/v1"}`)

func allTestPublic(t testing.TB) []PublicKey {
	var keys []PublicKey
	for _, tk := range testKeys {
		keys = append(keys, mustPublic(t, tk.stem))
	}
	return keys
}

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(allTestPublic(t)...)
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			env, err := Sign(ctx, PayloadTypeInToto, testPayload, mustSigner(t, tk.stem))
			if err != nil {
				t.Fatal(err)
			}
			ids, err := Verify(ctx, env, reg.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustPublic(t, tk.stem).ID; len(ids) != 1 || ids[0] != want {
				t.Errorf("signers %v, want [%s]", ids, want)
			}
		})
	}
}

func TestVerifyAllSigners(t *testing.T) {
	ctx := context.Background()
	keys := allTestPublic(t)
	var signers []Signer
	var want []string
	for i, tk := range testKeys {
		signers = append(signers, mustSigner(t, tk.stem))
		want = append(want, keys[i].ID)
	}
	// The first signer again: its key id is reported once.
	signers = append(signers, signers[0])
	env, err := Sign(ctx, PayloadTypeInToto, testPayload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Signatures) != 5 {
		t.Fatalf("%d signatures, want 5", len(env.Signatures))
	}
	ids, err := Verify(ctx, env, newRegistry(keys...).lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("signers %v, want %v", ids, want)
	}
}

// signedBy returns an envelope over testPayload with one signature per stem,
// each by that key.
func signedBy(t *testing.T, stems ...string) *dsse.Envelope {
	t.Helper()
	var signers []Signer
	for _, s := range stems {
		signers = append(signers, mustSigner(t, s))
	}
	env, err := Sign(context.Background(), PayloadTypeInToto, testPayload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestVerifyRejects(t *testing.T) {
	keys := allTestPublic(t)
	byStem := map[string]PublicKey{}
	for i, tk := range testKeys {
		byStem[tk.stem] = keys[i]
	}
	otherPEM, other, err := GenerateKey(KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _, err := LoadPrivateKey(otherPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(append(keys, other)...)

	// claim puts signature i under the key id of stem.
	claim := func(env *dsse.Envelope, i int, stem string) *dsse.Envelope {
		env.Signatures[i].KeyID = byStem[stem].ID
		return env
	}
	tests := []struct {
		name string
		env  func(t *testing.T) *dsse.Envelope
		want error
		msgs []string
	}{
		{"signature by A under B's id", func(t *testing.T) *dsse.Envelope {
			env, err := Sign(context.Background(), PayloadTypeInToto, testPayload, otherSigner)
			if err != nil {
				t.Fatal(err)
			}
			return claim(env, 0, "ed25519")
		}, ErrBadSignature, []string{"signatures[0]", "does not verify with key " + byStem["ed25519"].ID + " (ed25519)"}},
		{"one of two signatures bad", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "p256", "ed25519")
			// Signature 1 is by the right key, but over another payload.
			env2, err := Sign(context.Background(), PayloadTypeInToto, []byte("other payload"), mustSigner(t, "ed25519"))
			if err != nil {
				t.Fatal(err)
			}
			env.Signatures[1] = env2.Signatures[0]
			return env
		}, ErrBadSignature, []string{"signatures[1]", "ed25519 verification failed"}},
		{"tampered payload", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "rsa3072")
			env.Payload = base64.StdEncoding.EncodeToString(append(slices.Clone(testPayload), ' '))
			return env
		}, ErrBadSignature, []string{"rsassa-pss-sha256 verification failed"}},
		{"changed payload type", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "p384")
			env.PayloadType = "application/json"
			return env
		}, ErrBadSignature, []string{"ecdsa-sha2-nistp384 verification failed"}},
		{"unknown key", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "ed25519", "p256")
			env.Signatures[1].KeyID = strings.Repeat("ab", 32)
			return env
		}, ErrUnknownKey, []string{"signatures[1]", "key id " + strings.Repeat("ab", 32) + " is not registered"}},
		{"ed25519 signature under an rsa key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "ed25519"), 0, "rsa3072") },
			ErrWrongKeyType, []string{"is rsa, which cannot have made this signature", "form of an ed25519 signature"}},
		{"ed25519 signature under an ecdsa key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "ed25519"), 0, "p256") },
			ErrWrongKeyType, []string{"is ecdsa-p256", "form of an ed25519 signature"}},
		{"ecdsa signature under an ed25519 key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "p256"), 0, "ed25519") },
			ErrWrongKeyType, []string{"is ed25519", "form of an ecdsa signature"}},
		{"rsa signature under an ecdsa key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "rsa3072"), 0, "p384") },
			ErrWrongKeyType, []string{"is ecdsa-p384", "form of an rsa signature"}},
		{"ecdsa signature under an rsa key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "p384"), 0, "rsa3072") },
			ErrWrongKeyType, []string{"form of an ecdsa signature"}},
		{"P-384 signature under a P-256 key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "p384"), 0, "p256") },
			ErrWrongKeyType, []string{"looks like one by a P-384 key"}},
		{"P-256 signature under a P-384 key", func(t *testing.T) *dsse.Envelope { return claim(signedBy(t, "p256"), 0, "p384") },
			ErrBadSignature, []string{"ecdsa-sha2-nistp384 verification failed"}},
		{"truncated rsa signature", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "rsa3072")
			sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
			env.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig[:100])
			return env
		}, ErrBadSignature, []string{"are 384 bytes, got 100"}},
		{"no signatures", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "ed25519")
			env.Signatures = nil
			return env
		}, ErrMalformed, []string{"signatures: at least one"}},
		{"empty keyid", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "ed25519", "p256")
			env.Signatures[1].KeyID = ""
			return env
		}, ErrMalformed, []string{"signatures[1].keyid: required: trustd looks signers up by key id"}},
		{"bad sig base64", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "ed25519")
			env.Signatures[0].Sig = "!!"
			return env
		}, ErrMalformed, []string{"signatures[0].sig"}},
		{"bad payload base64", func(t *testing.T) *dsse.Envelope {
			env := signedBy(t, "ed25519")
			env.Payload = "!!"
			return env
		}, ErrMalformed, []string{"payload: not valid base64"}},
		{"nil envelope", func(*testing.T) *dsse.Envelope { return nil }, ErrMalformed, []string{"no envelope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := Verify(context.Background(), tt.env(t), reg.lookup)
			checkError(t, err, tt.want, append([]string{"envelope: verify"}, tt.msgs...)...)
			checkOneSentinel(t, err)
			if ids != nil {
				t.Errorf("returned signers %v with the error", ids)
			}
		})
	}
}

func TestVerifyRegistryProblems(t *testing.T) {
	ctx := context.Background()
	ed, p256 := mustPublic(t, "ed25519"), mustPublic(t, "p256")
	env := signedBy(t, "ed25519")

	t.Run("lookup fails", func(t *testing.T) {
		reg := newRegistry(ed)
		reg.err = fmt.Errorf("connection refused: %w", store.ErrUnavailable)
		_, err := Verify(ctx, env, reg.lookup)
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("error %v: want the store's error, not ErrUnknownKey", err)
		}
		if !strings.Contains(err.Error(), "envelope: verify: signatures[0]: look up key "+ed.ID) {
			t.Errorf("error %q lacks context", err)
		}
	})
	t.Run("row holds another key", func(t *testing.T) {
		reg := newRegistry()
		reg.put(ed.ID, KeyTypeECDSAP256, p256.Encode())
		_, err := Verify(ctx, env, reg.lookup)
		checkError(t, err, ErrInvalidKey, "the registry row for key id "+ed.ID+" holds the key "+p256.ID)
	})
	t.Run("row type does not match its key", func(t *testing.T) {
		reg := newRegistry()
		reg.put(ed.ID, KeyTypeRSA, ed.Encode())
		_, err := Verify(ctx, env, reg.lookup)
		checkError(t, err, ErrInvalidKey, "cannot be loaded", "registry row says rsa")
	})
	t.Run("unregistered key type", func(t *testing.T) {
		reg := newRegistry()
		reg.put(ed.ID, "x-unknown", ed.Encode())
		_, err := Verify(ctx, env, reg.lookup)
		checkError(t, err, ErrInvalidKey, `of type "x-unknown", which this program cannot verify`)
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Verify(cctx, env, newRegistry(ed).lookup)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

// The plugin key type "test-sslib-ed25519" stores hex ed25519 keys and
// verifies with go-securesystemslib, standing in for the OpenPGP package.
const pluginKeyType = "test-sslib-ed25519"

var registerPlugin sync.Once

type wrongTypeVerifier struct{ dsse.Verifier }

func (v wrongTypeVerifier) Verify(ctx context.Context, data, sig []byte) error {
	if len(sig) != 64 {
		return fmt.Errorf("%w: not an ed25519 signature", ErrWrongKeyType)
	}
	return v.Verifier.Verify(ctx, data, sig)
}

func TestRegisterKeyType(t *testing.T) {
	registerPlugin.Do(func() {
		RegisterKeyType(pluginKeyType, func(encoded []byte) (dsse.Verifier, error) {
			sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(&signerverifier.SSLibKey{
				KeyType: "ed25519", Scheme: "ed25519", KeyVal: signerverifier.KeyVal{Public: string(encoded)}})
			if err != nil {
				return nil, err
			}
			return wrongTypeVerifier{sv}, nil
		})
	})
	ctx := context.Background()
	ed := mustPublic(t, "ed25519")
	reg := newRegistry()
	reg.put(ed.ID, pluginKeyType, []byte(hex.EncodeToString(ed.Public.(ed25519.PublicKey))))

	ids, err := Verify(ctx, signedBy(t, "ed25519"), reg.lookup)
	if err != nil || len(ids) != 1 || ids[0] != ed.ID {
		t.Fatalf("plugin verify: %v, %v", ids, err)
	}
	env := signedBy(t, "p256")
	env.Signatures[0].KeyID = ed.ID
	_, err = Verify(ctx, env, reg.lookup)
	checkError(t, err, ErrWrongKeyType, "is "+pluginKeyType)

	env = signedBy(t, "ed25519")
	env.PayloadType = "x"
	_, err = Verify(ctx, env, reg.lookup)
	checkError(t, err, ErrBadSignature, "failed to verify signature")
	if !errors.Is(err, signerverifier.ErrSignatureVerificationFailed) {
		t.Errorf("the plugin's own error is not kept: %v", err)
	}

	for name, f := range map[string]func(){
		"duplicate": func() { RegisterKeyType(KeyTypeRSA, func([]byte) (dsse.Verifier, error) { return nil, nil }) },
		"empty":     func() { RegisterKeyType("", func([]byte) (dsse.Verifier, error) { return nil, nil }) },
		"nil":       func() { RegisterKeyType("x-nil", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterKeyType %s did not panic", name)
				}
			}()
			f()
		}()
	}
}

type noIDSigner struct{ Signer }

func (noIDSigner) KeyID() (string, error) { return "", nil }

func TestSignRejects(t *testing.T) {
	ctx := context.Background()
	s := mustSigner(t, "ed25519")
	_, err := Sign(ctx, PayloadTypeInToto, testPayload)
	checkError(t, err, ErrInvalidKey, "no signers")
	_, err = Sign(ctx, PayloadTypeInToto, testPayload, s, nil)
	checkError(t, err, ErrInvalidKey, "signers[1]: nil signer")
	_, err = Sign(ctx, "", testPayload, s)
	checkError(t, err, ErrMalformed, "payloadType: required")
	_, err = Sign(ctx, PayloadTypeInToto, testPayload, noIDSigner{s})
	checkError(t, err, ErrInvalidKey, "signers[0]: required")
}

// TestInteropSSLibSignsWeVerify verifies envelopes made by go-securesystemslib's
// own dsse.EnvelopeSigner and signerverifier, not by Sign.
func TestInteropSSLibSignsWeVerify(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(allTestPublic(t)...)
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			key, err := signerverifier.LoadKey(readTestdata(t, tk.stem+".key"))
			if err != nil {
				t.Fatal(err)
			}
			// LoadKey computes the classic securesystemslib key id; the
			// envelope must carry the TUF key id trustd registers keys under.
			key.KeyID = mustPublic(t, tk.stem).ID
			var sv dsse.SignerVerifier
			switch tk.keyType {
			case KeyTypeED25519:
				sv, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
			case KeyTypeECDSAP256, KeyTypeECDSAP384:
				sv, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
			case KeyTypeRSA:
				sv, err = signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(key)
			}
			if err != nil {
				t.Fatal(err)
			}
			es, err := dsse.NewEnvelopeSigner(sv)
			if err != nil {
				t.Fatal(err)
			}
			env, err := es.SignPayload(ctx, PayloadTypeInToto, testPayload)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := Verify(ctx, env, reg.lookup)
			if err != nil {
				t.Fatal(err)
			}
			if ids[0] != key.KeyID {
				t.Errorf("signer %s, want %s", ids[0], key.KeyID)
			}
		})
	}
}

// TestInteropSSLibVerifiesOurs has go-securesystemslib's dsse.EnvelopeVerifier
// accept envelopes made by Sign.
func TestInteropSSLibVerifiesOurs(t *testing.T) {
	ctx := context.Background()
	for _, tk := range testKeys {
		t.Run(tk.stem, func(t *testing.T) {
			env := signedBy(t, tk.stem)
			key, err := signerverifier.LoadKey(readTestdata(t, tk.stem+".pub"))
			if err != nil {
				t.Fatal(err)
			}
			key.KeyID = mustPublic(t, tk.stem).ID
			var v dsse.Verifier
			switch tk.keyType {
			case KeyTypeED25519:
				v, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
			case KeyTypeECDSAP256, KeyTypeECDSAP384:
				v, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
			case KeyTypeRSA:
				v, err = signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(key)
			}
			if err != nil {
				t.Fatal(err)
			}
			ev, err := dsse.NewEnvelopeVerifier(v)
			if err != nil {
				t.Fatal(err)
			}
			accepted, err := ev.Verify(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			if len(accepted) != 1 || accepted[0].KeyID != key.KeyID {
				t.Errorf("accepted %+v", accepted)
			}
		})
	}
}

// TestInteropPython verifies envelopes signed by python-securesystemslib.
func TestInteropPython(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(allTestPublic(t)...)
	ids := pythonKeyIDs(t)
	for _, name := range []string{"ed25519", "p256", "p384", "rsa3072", "all"} {
		t.Run(name, func(t *testing.T) {
			env, err := Decode(readTestdata(t, "python-"+name+".dsse.json"), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			signers, err := Verify(ctx, env, reg.lookup)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if name == "all" {
				for _, tk := range testKeys {
					want = append(want, ids[tk.stem].TUF)
				}
			} else {
				want = []string{ids[name].TUF}
			}
			if !slices.Equal(signers, want) {
				t.Errorf("signers %v, want %v", signers, want)
			}
			payload, err := env.DecodeB64Payload()
			if err != nil {
				t.Fatal(err)
			}
			st, err := ParseStatement(env.PayloadType, payload, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Subjects) != 1 || st.Subjects[0].Name != "hello.tar.gz" {
				t.Errorf("statement %+v", st)
			}
		})
	}
}

// TestVerifierCache checks that a cached verifier is reused for the same
// key and never stands in for another: a registry row holding a different
// key under a cached key's id is still refused.
func TestVerifierCache(t *testing.T) {
	pubs := allTestPublic(t)
	a, b := pubs[0], pubs[1]
	calls := 0
	factory := func(encoded []byte) (dsse.Verifier, error) {
		calls++
		f, _ := verifierFactory(a.Type)
		return f(encoded)
	}
	var c verifierCache
	v1, err := c.load(a.Type, a.Encode(), factory)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.load(a.Type, a.Encode(), factory)
	if err != nil || v1 != v2 || calls != 1 {
		t.Fatalf("second load: same=%v calls=%d err=%v; want the cached verifier and one factory call", v1 == v2, calls, err)
	}

	lookup := func(_ context.Context, id string) (string, []byte, error) { return b.Type, b.Encode(), nil }
	if _, _, err := loadVerifier(context.Background(), lookup, "signatures[0]", b.ID); err != nil {
		t.Fatalf("prime the shared cache with b: %v", err)
	}
	if _, _, err := loadVerifier(context.Background(), lookup, "signatures[0]", a.ID); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a row holding b under a's id, from the cache: %v, want ErrInvalidKey", err)
	}
}
