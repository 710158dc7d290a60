package pgp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/trustd-dev/trustd/envelope"
)

// TestParseCertificate covers the gpg-made fixtures and malformed input.
func TestParseCertificate(t *testing.T) {
	ed := fixture(t, "ed25519.asc")
	rsa := fixture(t, "rsa3072.asc")
	for _, tc := range []struct {
		name    string
		in      []byte
		want    error
		subkeys int
	}{
		{"ed25519 armored", ed, nil, 2},
		{"rsa3072 armored", rsa, nil, 1},
		{"rsa3072 binary", fixture(t, "rsa3072.gpg"), nil, 1},
		{"expired key still parses", fixture(t, "expired.asc"), nil, 0},
		{"secret key", fixture(t, "ed25519.sec.asc"), ErrSecretKey, 0},
		{"sha1-only self-signatures", fixture(t, "sha1-selfsig.asc"), ErrUntrusted, 0},
		{"dsa", fixture(t, "dsa.asc"), ErrUnsupportedAlgorithm, 0},
		{"two certificates", append(fixture(t, "rsa3072.gpg"), fixture(t, "rsa3072.gpg")...), ErrMalformed, 0},
		{"two armored blocks", append(append([]byte{}, ed...), rsa...), ErrMalformed, 0},
		{"signature, not a key", fixture(t, "SHA256SUMS.ed25519.gpg"), ErrMalformed, 0},
		{"armored signature", fixture(t, "SHA256SUMS.ed25519.asc"), ErrMalformed, 0},
		{"empty", nil, ErrMalformed, 0},
		{"garbage", []byte("hello"), ErrMalformed, 0},
		{"truncated", fixture(t, "rsa3072.gpg")[:300], ErrMalformed, 0},
		{"oversized", make([]byte, MaxCertificateBytes+1), ErrTooLarge, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCertificate(tc.in)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				var e *Error
				if !errors.As(err, &e) || e.Reason == "" {
					t.Errorf("not a precise *Error: %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Subkeys) != tc.subkeys || !ValidFingerprint(c.Fingerprint) || len(c.UserIDs) != 1 {
				t.Errorf("certificate %+v", c.KeyInfo)
			}
			again, err := ParseCertificate(c.Encode())
			if err != nil || again.Fingerprint != c.Fingerprint {
				t.Errorf("Encode does not round-trip: %v", err)
			}
		})
	}
}

// TestCertificateKeepsOldSelfSignatures checks that stored bytes keep every
// packet: a certificate with two self-signatures (expiry changed) encodes
// both, and the newer one sets the expiry.
func TestCertificateKeepsOldSelfSignatures(t *testing.T) {
	k := genKey(t, "keep")
	for _, id := range k.entity.Identities {
		life := uint32(400 * 86400)
		sig := &packet.Signature{Version: 4, SigType: packet.SigTypePositiveCert, PubKeyAlgo: k.entity.PrimaryKey.PubKeyAlgo,
			Hash: crypto.SHA256, CreationTime: t0.Add(24 * time.Hour), IssuerKeyId: &k.entity.PrimaryKey.KeyId,
			IssuerFingerprint: k.entity.PrimaryKey.Fingerprint, FlagsValid: true, FlagCertify: true, FlagSign: true, KeyLifetimeSecs: &life}
		if err := sig.SignUserId(id.Name, k.entity.PrimaryKey, k.entity.PrivateKey, genConfig(t0.Add(24*time.Hour))); err != nil {
			t.Fatal(err)
		}
		id.SelfCertifications = append(id.SelfCertifications, packet.NewVerifiableSig(sig))
	}
	var raw bytes.Buffer
	if err := k.entity.Serialize(&raw); err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificate(raw.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Encode(), raw.Bytes()) {
		t.Errorf("stored bytes differ from the input")
	}
	if n := len(c.keys[0].bindings); n != 2 {
		t.Errorf("%d self-signatures, want 2", n)
	}
	if want := t0.Add(400 * 24 * time.Hour); !c.Expires.Equal(want) {
		t.Errorf("expiry %v, want %v from the newest self-signature", c.Expires, want)
	}
	if st := c.Status(t0.Add(500 * 24 * time.Hour)); st.State != StateExpired {
		t.Errorf("status after expiry: %s", st)
	}
}

// TestVerifyDetachedFixtures verifies the committed gpg signatures and the
// failure modes.
func TestVerifyDetachedFixtures(t *testing.T) {
	ed := fixtureCert(t, "ed25519.asc")
	rsa := fixtureCert(t, "rsa3072.asc")
	old := fixtureCert(t, "expired.asc")
	sums := fixture(t, "SHA256SUMS")
	for _, tc := range []struct {
		name string
		cert *Certificate
		msg  []byte
		sig  []byte
		want error
	}{
		{"ed25519 binary", ed, sums, fixture(t, "SHA256SUMS.ed25519.gpg"), nil},
		{"ed25519 armored", ed, sums, fixture(t, "SHA256SUMS.ed25519.asc"), nil},
		{"rsa3072", rsa, sums, fixture(t, "SHA256SUMS.rsa3072.gpg"), nil},
		{"made while valid by a now expired key", old, sums, fixture(t, "SHA256SUMS.expired.gpg"), nil},
		{"wrong certificate", ed, sums, fixture(t, "SHA256SUMS.rsa3072.gpg"), ErrWrongKey},
		{"tampered", ed, append([]byte("x"), sums...), fixture(t, "SHA256SUMS.ed25519.gpg"), ErrBadSignature},
		{"not a signature", ed, sums, fixture(t, "rsa3072.gpg"), ErrMalformed},
		{"oversized", ed, sums, make([]byte, MaxSignatureBytes+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := VerifyDetached(tc.cert, tc.msg, tc.sig)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || info.Primary != tc.cert.Fingerprint {
				t.Fatalf("%+v %v", info, err)
			}
		})
	}
	issuers, err := SignatureIssuers(fixture(t, "SHA256SUMS.ed25519.clear"))
	if err != nil || len(issuers) != 1 || issuers[0].Fingerprint != ed.Subkeys[0].Fingerprint {
		t.Errorf("issuers %+v %v", issuers, err)
	}
}

// handSign makes a detached signature by priv over msg with a chosen
// creation time and hash, which go-crypto's own signing API refuses to do
// for times before the key's creation or for SHA-1.
func handSign(t *testing.T, priv *packet.PrivateKey, msg []byte, at time.Time, h crypto.Hash) []byte {
	t.Helper()
	cfg := genConfig(at)
	off := false
	cfg.NonDeterministicSignaturesViaNotation = &off // its salt notation has no SHA-1 size
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: priv.PubKeyAlgo, Hash: h,
		CreationTime: at, IssuerKeyId: &priv.KeyId, IssuerFingerprint: priv.Fingerprint}
	hash, err := sig.PrepareSign(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hash.Write(msg)
	if err := sig.Sign(hash, priv, cfg); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sig.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyTimeSemantics checks signatures dated before key creation,
// made with SHA-1, made by an encryption subkey, and by a compromised
// subkey.
func TestVerifyTimeSemantics(t *testing.T) {
	k := genKey(t, "times")
	msg := []byte("manifest")
	signing := k.entity.Subkeys[len(k.entity.Subkeys)-1].PrivateKey
	enc := k.entity.Subkeys[0].PrivateKey
	if _, err := VerifyDetached(k.cert, msg, signAt(t, k.entity, msg, t0.Add(time.Hour))); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	if _, err := VerifyDetached(k.cert, msg, handSign(t, signing, msg, t0.Add(time.Hour), crypto.SHA256)); err != nil {
		t.Fatalf("hand-made signature: %v", err)
	}
	if _, err := VerifyDetached(k.cert, msg, handSign(t, signing, msg, t0.Add(-time.Hour), crypto.SHA256)); !errors.Is(err, ErrKeyExpired) {
		t.Errorf("signature before key creation: %v, want ErrKeyExpired", err)
	}
	// Ed25519 (algorithm 27) cannot even make SHA-1 signatures; a legacy
	// EdDSA key, as gpg 2.2 makes, can.
	lcfg := genConfig(t0)
	lcfg.Algorithm, lcfg.Curve = packet.PubKeyAlgoEdDSA, packet.Curve25519
	legacy, err := openpgp.NewEntity("legacy", "", "legacy@example.org", lcfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyDetached(certOf(t, legacy), msg, handSign(t, legacy.PrivateKey, msg, t0.Add(time.Hour), crypto.SHA1)); !errors.Is(err, ErrWeakHash) {
		t.Errorf("SHA-1 signature: %v, want ErrWeakHash", err)
	}
	if enc.PubKeyAlgo.CanSign() {
		if _, err := VerifyDetached(k.cert, msg, handSign(t, enc, msg, t0.Add(time.Hour), crypto.SHA256)); !errors.Is(err, ErrNotSigningKey) {
			t.Errorf("encryption subkey signature: %v, want ErrNotSigningKey", err)
		}
	}
	sig := handSign(t, signing, msg, t0.Add(time.Hour), crypto.SHA256)
	if err := k.entity.Subkeys[len(k.entity.Subkeys)-1].Revoke(packet.KeyCompromised, "", genConfig(t0.Add(48*time.Hour))); err != nil {
		t.Fatal(err)
	}
	revoked := certOf(t, k.entity)
	if _, err := VerifyDetached(revoked, msg, sig); !errors.Is(err, ErrKeyRevoked) {
		t.Errorf("signature by a compromised subkey: %v, want ErrKeyRevoked", err)
	}
	if _, err := VerifyDetached(revoked, msg, handSign(t, k.entity.PrivateKey, msg, t0.Add(time.Hour), crypto.SHA256)); err != nil {
		t.Errorf("the primary key stays valid: %v", err)
	}
}

// TestKeyIDCollision simulates a 64-bit key id collision: the attacker's
// certificate is listed first under the victim's key id. Lookup by full
// fingerprint must still pick the victim's certificate, and a signature by
// the attacker must not be accepted as the victim's.
func TestKeyIDCollision(t *testing.T) {
	victim, attacker := genKey(t, "victim"), genKey(t, "attacker")
	msg := []byte("release")
	ring := NewKeyring(victim.cert)
	vid := victim.cert.Subkeys[len(victim.cert.Subkeys)-1].KeyID
	ring.byID[vid] = append([]*Certificate{attacker.cert}, ring.byID[vid]...)
	sig := signAt(t, victim.entity, msg, t0.Add(time.Hour))
	c, info, err := ring.VerifyDetached(msg, sig)
	if err != nil || c != victim.cert || info.Primary != victim.cert.Fingerprint {
		t.Fatalf("victim's signature: %v %+v %v", c, info, err)
	}
	if got := ring.Lookup(Issuer{Fingerprint: info.SigningKey, KeyID: vid}); len(got) != 1 || got[0] != victim.cert {
		t.Errorf("lookup by fingerprint returned %d certificates", len(got))
	}
	// The attacker's signature with the victim's key id: verified against the
	// attacker-free single-certificate key ring, it fails.
	forged := signAt(t, attacker.entity, msg, t0.Add(time.Hour))
	if _, err := VerifyDetached(victim.cert, msg, forged); !errors.Is(err, ErrWrongKey) {
		t.Errorf("attacker's signature against the victim: %v", err)
	}
	if _, _, err := ring.VerifyDetached(msg, forged); err == nil {
		t.Errorf("attacker's signature accepted through the key id index")
	}
}

// TestRevocationParse covers the fixtures and malformed revocations.
func TestRevocationParse(t *testing.T) {
	ed := fixtureCert(t, "ed25519.asc")
	for _, tc := range []struct {
		file   string
		reason Reason
		hard   bool
	}{
		{"rev-none.asc", ReasonNone, true},
		{"rev-compromised.asc", ReasonCompromised, true},
		{"rev-superseded.asc", ReasonSuperseded, false},
		{"rev-retired.asc", ReasonRetired, false},
	} {
		r, err := ParseRevocation(fixture(t, tc.file))
		if err != nil || r.Reason != tc.reason || r.Hard != tc.hard || r.Verified || r.Primary != ed.Fingerprint {
			t.Errorf("%s: %+v %v", tc.file, r, err)
		}
		v, err := VerifyRevocation(ed, fixture(t, tc.file))
		if err != nil || !v.Verified || v.Fingerprint != ed.Fingerprint || len(v.Encode()) == 0 {
			t.Errorf("%s: verify %+v %v", tc.file, v, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"colon-protected", fixture(t, "rev-generated.rev"), ErrMalformed},
		{"a certificate", fixture(t, "ed25519.asc"), ErrMalformed},
		{"a document signature", fixture(t, "SHA256SUMS.ed25519.gpg"), ErrMalformed},
		{"oversized", make([]byte, MaxRevocationBytes+1), ErrTooLarge},
		{"empty", nil, ErrMalformed},
	} {
		if _, err := ParseRevocation(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	fixed := bytes.Replace(fixture(t, "rev-generated.rev"), []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	r, err := VerifyRevocation(ed, fixed)
	if err != nil || !r.Hard {
		t.Errorf("gpg's pre-made revocation: %+v %v", r, err)
	}
	if _, err := VerifyRevocation(fixtureCert(t, "rsa3072.asc"), fixed); !errors.Is(err, ErrWrongKey) {
		t.Errorf("against another key: %v", err)
	}
}

// TestDSSE signs envelopes with KeySigner and verifies them through the
// envelope registry, including the wrong-key-type detection.
func TestDSSE(t *testing.T) {
	ctx := context.Background()
	signer, err := NewKeySigner(fixture(t, "ed25519.sec.asc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%#v %v %s", signer, signer, signer); strings.Contains(s, "PRIVATE") || !strings.Contains(s, signer.Certificate().Fingerprint) {
		t.Errorf("signer prints %s", s)
	}
	fpr := signer.Certificate().Fingerprint
	lookup := func(_ context.Context, id string) (string, []byte, error) {
		if id == fpr {
			return KeyType, signer.Certificate().Encode(), nil
		}
		return "", nil, envelope.ErrUnknownKey
	}
	env, err := envelope.Sign(ctx, "application/vnd.in-toto+json", []byte(`{"x":1}`), signer)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := envelope.Verify(ctx, env, lookup); err != nil || len(ids) != 1 || ids[0] != fpr {
		t.Fatalf("verify: %v %v", ids, err)
	}
	infos, err := VerifyEnvelope(env, func(f string) (*Certificate, bool) { return signer.Certificate(), f == fpr })
	if err != nil || len(infos) != 1 || infos[0].SigningKey != signer.Certificate().Subkeys[0].Fingerprint {
		t.Errorf("VerifyEnvelope: %+v %v", infos, err)
	}
	v := NewVerifier(signer.Certificate())
	pae := []byte("pae")
	if err := v.Verify(ctx, pae, ed25519.Sign(ed25519.NewKeyFromSeed(make([]byte, 32)), pae)); !errors.Is(err, envelope.ErrWrongKeyType) {
		t.Errorf("raw ed25519 signature: %v, want ErrWrongKeyType", err)
	}
	good, _ := signer.Sign(ctx, pae)
	if err := v.Verify(ctx, []byte("other"), good); !errors.Is(err, envelope.ErrBadSignature) || !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong data: %v", err)
	}
	if err := v.Verify(ctx, pae, fixture(t, "SHA256SUMS.rsa3072.gpg")); !errors.Is(err, envelope.ErrBadSignature) || !errors.Is(err, ErrWrongKey) {
		t.Errorf("signature by another key: %v", err)
	}
	if _, err := NewKeySigner(fixture(t, "ed25519.asc"), nil); err == nil {
		t.Errorf("public key accepted as a secret key")
	}
}
