package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/trustd-dev/trustd/internal/gpgtest"
)

// kinds lists the kinds of changes.
func kinds(cs []Change) []ChangeKind {
	var out []ChangeKind
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

// keepsAll fails unless every packet of old is in merged.
func keepsAll(t *testing.T, old, merged *Certificate) {
	t.Helper()
	ps, err := certPackets("test", old.raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if !bytes.Contains(merged.raw, p.bytes) {
			t.Errorf("packet %d of the old certificate was dropped", i)
		}
	}
}

// TestGPGCertificateUpdates edits a certificate with real gpg the ways
// people do (a new signing subkey, a new user id, a new expiry, a
// certification by another key, a revocation imported from gpg
// --gen-revoke, a subkey revocation) and merges each re-export into the
// registered certificate: every change is accepted and verified, nothing
// old is dropped, and merging the same export again changes nothing.
func TestGPGCertificateUpdates(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Alice <alice@example.org>", "ed25519", "sign", "0")
	fpr := g.Fingerprints("alice@example.org")[0]
	cur, err := ParseCertificate(g.Run(nil, "--armor", "--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	// Bob certifies Alice's user id in his own home.
	b := gpgtest.New(t)
	b.Run(nil, "--quick-gen-key", "Bob <bob@example.org>", "ed25519", "sign", "0")
	bobFpr := b.Fingerprints("bob@example.org")[0]
	bob, err := ParseCertificate(b.Run(nil, "--export", bobFpr))
	if err != nil {
		t.Fatal(err)
	}
	registered := func(f string, id uint64) *Certificate {
		if f == bob.Fingerprint || (f == "" && id == bob.KeyID) {
			return bob
		}
		return nil
	}

	for _, step := range []struct {
		name    string
		edit    func() []byte // returns the export
		certify Certifier
		want    []ChangeKind
		check   func(t *testing.T, c *Certificate)
	}{
		{"addkey", func() []byte {
			g.Run(nil, "--quick-add-key", fpr, "ed25519", "sign", "0")
			return g.Run(nil, "--export", fpr)
		}, nil, []ChangeKind{ChangeSubkey, ChangeSelfSignature}, func(t *testing.T, c *Certificate) {
			if len(c.Subkeys) != 1 || !c.Subkeys[0].Capabilities.Sign {
				t.Errorf("subkeys %+v", c.Subkeys)
			}
		}},
		{"adduid", func() []byte {
			g.Run(nil, "--quick-add-uid", fpr, "Alice Work <alice@work.example>")
			return g.Run(nil, "--armor", "--export", fpr)
		}, nil, []ChangeKind{ChangeUserID, ChangeSelfSignature}, func(t *testing.T, c *Certificate) {
			if len(c.UserIDs) != 2 {
				t.Errorf("user ids %v", c.UserIDs)
			}
		}},
		{"expire", func() []byte {
			g.Run(nil, "--quick-set-expire", fpr, "3y")
			return g.Run(nil, "--export", fpr)
		}, nil, nil, func(t *testing.T, c *Certificate) {
			if c.Expires.IsZero() || c.Expires.Before(time.Now().AddDate(2, 0, 0)) {
				t.Errorf("expires %v, want in about 3 years", c.Expires)
			}
		}},
		{"certification", func() []byte {
			b.Run(g.Run(nil, "--export", fpr), "--import")
			b.Run(nil, "--yes", "--quick-sign-key", fpr)
			return b.Run(nil, "--export", fpr)
		}, registered, nil, func(t *testing.T, c *Certificate) {}},
		{"revkey", func() []byte {
			g.Run(g.GenRevoke(fpr, "2", "moved to a new key"), "--import")
			return g.Run(nil, "--export", fpr)
		}, nil, []ChangeKind{ChangeKeyRevocation}, func(t *testing.T, c *Certificate) {
			st := c.Status(time.Now().Add(time.Hour))
			if st.State != StateRevoked || st.Revocation.Reason != ReasonSuperseded || st.Revocation.Hard {
				t.Errorf("status %s", st)
			}
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			export := step.edit()
			m, err := Merge(cur, export, step.certify)
			if err != nil {
				t.Fatal(err)
			}
			got := kinds(m.Changes)
			switch step.name {
			case "expire": // one new self-signature per user id
				if len(got) == 0 || slices.ContainsFunc(got, func(k ChangeKind) bool { return k != ChangeSelfSignature }) {
					t.Errorf("changes %v, want self-signatures", got)
				}
			case "certification":
				// Bob certified both user ids.
				if !slices.Equal(got, []ChangeKind{ChangeCertification, ChangeCertification}) ||
					slices.ContainsFunc(m.Changes, func(c Change) bool { return c.Issuer != bob.Fingerprint }) {
					t.Errorf("changes %+v, want Bob's certifications", m.Changes)
				}
				// Not registered: not accepted, and said so.
				un, err := Merge(cur, export, nil)
				if err != nil || len(un.Changes) != 0 || len(un.Ignored) != 2 {
					t.Errorf("unregistered certifier: %+v, %v", un, err)
				}
			default:
				if !slices.Equal(got, step.want) {
					t.Errorf("changes %v, want %v (ignored %+v)", got, step.want, m.Ignored)
				}
			}
			keepsAll(t, cur, m.Certificate)
			step.check(t, m.Certificate)
			again, err := Merge(m.Certificate, export, step.certify)
			if err != nil || len(again.Changes) != 0 || !bytes.Equal(again.Certificate.Encode(), m.Certificate.Encode()) {
				t.Errorf("merging again: %v changes, %v", kinds(again.Changes), err)
			}
			// An older export adds nothing either.
			if old, err := Merge(m.Certificate, cur.Encode(), step.certify); err != nil || len(old.Changes) != 0 {
				t.Errorf("merging the older certificate: %v, %v", kinds(old.Changes), err)
			}
			cur = m.Certificate
		})
	}
}

// splice returns export's packets with extra inserted after the packet
// at index at.
func splice(t *testing.T, export []byte, at int, extra ...[]byte) []byte {
	t.Helper()
	raw, _, err := dearmor("test", export, "PGP PUBLIC KEY BLOCK")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := certPackets("test", raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i, p := range ps {
		out = append(out, p.bytes...)
		if i == at {
			for _, e := range extra {
				out = append(out, e...)
			}
		}
	}
	return out
}

// TestMergeForgeries is what a stranger who holds only their own key can
// try: graft their own subkey, user id or revocation (signed by their key)
// onto someone else's certificate export, or a tampered copy of the
// owner's own signature. None of it is accepted.
func TestMergeForgeries(t *testing.T) {
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Alice <alice@example.org>", "ed25519", "sign", "0")
	fpr := g.Fingerprints("alice@example.org")[0]
	export := g.Run(nil, "--export", fpr)
	alice, err := ParseCertificate(export)
	if err != nil {
		t.Fatal(err)
	}
	s := gpgtest.New(t)
	s.Run(nil, "--quick-gen-key", "Alice <alice@example.org>", "ed25519", "sign", "0")
	strangerFpr := s.Fingerprints("alice@example.org")[0]
	s.Run(nil, "--quick-add-key", strangerFpr, "ed25519", "sign", "0")
	s.Run(nil, "--quick-add-uid", strangerFpr, "Mallory <m@example.org>")
	stranger, err := ParseCertificate(s.Run(nil, "--export", strangerFpr))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := partsOf("test", stranger.raw)
	if err != nil {
		t.Fatal(err)
	}
	strangerRev, err := RevocationSignatures(s.GenRevoke(strangerFpr, "1", "x"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := partsOf("test", alice.raw)
	if err != nil {
		t.Fatal(err)
	}
	last := len(ap.primary.sigs) + 1 + len(ap.ids[0].sigs) // the last packet of the first user id
	aliceRev, err := RevocationSignatures(g.GenRevoke(fpr, "1", "x"))
	if err != nil {
		t.Fatal(err)
	}
	revRaw, _, err := dearmor("test", aliceRev[0], "PGP PUBLIC KEY BLOCK")
	if err != nil {
		t.Fatal(err)
	}
	tampered := slices.Clone(revRaw)
	tampered[len(tampered)-3] ^= 1 // inside the signature value
	selfSig := ap.ids[0].sigs[0].bytes
	tamperedSelf := slices.Clone(selfSig)
	tamperedSelf[len(tamperedSelf)-3] ^= 1

	mallory := slices.IndexFunc(sp.ids, func(c component) bool { return bytes.Contains(c.head.bytes, []byte("Mallory")) })
	strangerRevRaw, _, _ := dearmor("test", strangerRev[0], "PGP PUBLIC KEY BLOCK")
	trust := func(f string, id uint64) *Certificate { // even when the stranger is registered
		if f == stranger.Fingerprint || id == stranger.KeyID {
			return stranger
		}
		return nil
	}
	for _, tc := range []struct {
		name   string
		update []byte
	}{
		{"stranger's subkey with its binding", append(slices.Clone(export), append(sp.subkeys[0].head.bytes, sp.subkeys[0].sigs[0].bytes...)...)},
		{"stranger's user id with its self-signature", splice(t, export, last, sp.ids[mallory].head.bytes, sp.ids[mallory].sigs[0].bytes)},
		{"stranger's certification of a same-named user id copied over", splice(t, export, last, sp.ids[0].sigs[0].bytes)},
		{"stranger's revocation", splice(t, export, 0, strangerRevRaw)},
		{"tampered revocation by the owner", splice(t, export, 0, tampered)},
		{"tampered self-signature", splice(t, export, last, tamperedSelf)},
		{"new user id without a self-signature", splice(t, export, last, sp.ids[mallory].head.bytes)},
		{"stranger's subkey under the owner's user id", append(slices.Clone(export), sp.subkeys[0].head.bytes...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, certify := range []Certifier{nil, trust} {
				m, err := Merge(alice, tc.update, certify)
				if err != nil {
					if errors.Is(err, ErrUntrusted) || errors.Is(err, ErrMalformed) {
						continue // refused outright as a certificate
					}
					t.Fatal(err)
				}
				if len(m.Changes) != 0 || !bytes.Equal(m.Certificate.Encode(), alice.Encode()) {
					t.Fatalf("accepted %+v", m.Changes)
				}
				if len(m.Ignored) == 0 {
					t.Errorf("nothing reported as ignored")
				}
			}
		})
	}
	if _, err := Merge(alice, stranger.Encode(), nil); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another certificate: %v, want ErrWrongKey", err)
	}
}

// TestRevocationSignatures takes the revocation out of a revoked
// certificate's export, armored and binary, for every gpg reason code,
// and passes a bare revocation through as given.
func TestRevocationSignatures(t *testing.T) {
	for _, tc := range []struct {
		menu   string
		reason Reason
		hard   bool
	}{
		{"0", ReasonNone, true},
		{"1", ReasonCompromised, true},
		{"2", ReasonSuperseded, false},
		{"3", ReasonRetired, false},
	} {
		g := gpgtest.New(t)
		g.Run(nil, "--quick-gen-key", "Rev <rev@example.org>", "ed25519", "sign", "0")
		fpr := g.Fingerprints("rev@example.org")[0]
		cert, err := ParseCertificate(g.Run(nil, "--export", fpr))
		if err != nil {
			t.Fatal(err)
		}
		bare := g.GenRevoke(fpr, tc.menu, "text "+tc.menu)
		if got, err := RevocationSignatures(bare); err != nil || len(got) != 1 || !bytes.Equal(got[0], bare) {
			t.Fatalf("bare revocation: %v", err)
		}
		g.Run(bare, "--import")
		for _, armor := range []bool{false, true} {
			args := []string{"--export", fpr}
			if armor {
				args = append([]string{"--armor"}, args...)
			}
			sigs, err := RevocationSignatures(g.Run(nil, args...))
			if err != nil || len(sigs) != 1 {
				t.Fatalf("menu %s armor %v: %d signatures, %v", tc.menu, armor, len(sigs), err)
			}
			r, err := VerifyRevocation(cert, sigs[0])
			if err != nil {
				t.Fatal(err)
			}
			if r.Reason != tc.reason || r.Hard != tc.hard || r.Text != "text "+tc.menu {
				t.Errorf("menu %s: %+v", tc.menu, r)
			}
		}
	}
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Fine <fine@example.org>", "ed25519", "sign", "0")
	fpr := g.Fingerprints("fine@example.org")[0]
	if _, err := RevocationSignatures(g.Run(nil, "--export", fpr)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unrevoked certificate: %v, want ErrMalformed", err)
	}
}

// TestMergeFixture merges the fixture re-export (new user id, subkey,
// expiry, superseded revocation) into the fixture certificate.
func TestMergeFixture(t *testing.T) {
	base := fixtureCert(t, "ed25519.asc")
	m, err := Merge(base, fixture(t, "ed25519-updated.asc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ChangeKind]int{}
	for _, c := range m.Changes {
		got[c.Kind]++
	}
	if got[ChangeUserID] != 1 || got[ChangeSubkey] != 1 || got[ChangeKeyRevocation] != 1 || got[ChangeSelfSignature] < 3 || len(m.Ignored) != 0 {
		t.Errorf("changes %v, ignored %+v", got, m.Ignored)
	}
	c := m.Certificate
	if len(c.UserIDs) != 2 || len(c.Subkeys) != len(base.Subkeys)+1 || c.Expires.IsZero() {
		t.Errorf("merged: user ids %v, %d subkeys, expires %v", c.UserIDs, len(c.Subkeys), c.Expires)
	}
	if st := c.Status(time.Now()); st.State != StateRevoked || st.Revocation.Reason != ReasonSuperseded {
		t.Errorf("status %s", st)
	}
	keepsAll(t, base, c)
}

// TestMergeBadInput: bounded, precise errors, and nothing half-merged.
func TestMergeBadInput(t *testing.T) {
	base := fixtureCert(t, "ed25519.asc")
	raw := base.Encode()
	ps, err := certPackets("test", raw)
	if err != nil {
		t.Fatal(err)
	}
	flood := slices.Clone(raw)
	for range MaxCertificatePackets {
		flood = append(flood, ps[len(ps)-1].bytes...)
	}
	for _, tc := range []struct {
		name   string
		old    *Certificate
		update []byte
		want   error
		text   string
	}{
		{"no certificate", nil, raw, ErrMalformed, "no certificate"},
		{"empty", base, nil, ErrMalformed, "empty"},
		{"garbage", base, []byte{0x99, 0x00}, ErrMalformed, ""},
		{"secret key", base, fixture(t, "ed25519.sec.asc"), ErrSecretKey, "secret"},
		{"another certificate", base, fixture(t, "rsa3072.asc"), ErrWrongKey, "not " + base.Fingerprint},
		{"too many packets", base, flood, ErrTooLarge, "packets"},
		{"too large", base, make([]byte, MaxCertificateBytes+1), ErrTooLarge, "bytes"},
		{"two certificates", base, append(slices.Clone(raw), fixtureCert(t, "rsa3072.asc").Encode()...), ErrMalformed, "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Merge(tc.old, tc.update, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Merge = %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
	if !bytes.Equal(base.Encode(), raw) {
		t.Error("the registered certificate changed")
	}
}

// TestMergeCertificationFlood: whoever registers a key may certify
// anyone's user id, so a stranger could flood a certificate until its
// holder's own updates no longer fit. One certification per issuer and
// user id, and MaxCertifications in all, are kept; the holder's own
// packets still merge past the bound.
func TestMergeCertificationFlood(t *testing.T) {
	alice := genKey(t, "alice")
	base := alice.cert
	uid := base.UserIDs[0]
	var certifiers []*openpgp.Entity
	byKeyID := map[uint64]*Certificate{}
	for i := range MaxCertifications + 5 {
		e, err := openpgp.NewEntity(fmt.Sprintf("c%d", i), "", fmt.Sprintf("c%d@example.org", i), genConfig(t0))
		if err != nil {
			t.Fatal(err)
		}
		certifiers = append(certifiers, e)
		c := certOf(t, e)
		byKeyID[c.KeyID] = c
	}
	certify := func(_ string, id uint64) *Certificate { return byKeyID[id] }
	// The first certifier signs three times (three distinct packets).
	for i := range 3 {
		if err := alice.entity.SignIdentity(uid, certifiers[0], genConfig(t0.Add(time.Duration(i+1)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := alice.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	m, err := Merge(base, buf.Bytes(), certify)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(m.Changes); !slices.Equal(got, []ChangeKind{ChangeCertification}) || len(m.Ignored) != 2 {
		t.Fatalf("three certifications by one issuer: changes %v, ignored %+v", got, m.Ignored)
	}
	cur := m.Certificate
	for _, c := range certifiers[1:] {
		if err := alice.entity.SignIdentity(uid, c, genConfig(t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	buf.Reset()
	if err := alice.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	m, err = Merge(cur, buf.Bytes(), certify)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Changes) != MaxCertifications-1 {
		t.Errorf("%d certifications accepted, want %d to reach the bound", len(m.Changes), MaxCertifications-1)
	}
	if !slices.ContainsFunc(m.Ignored, func(ig Ignored) bool { return strings.Contains(ig.Reason, "limit") }) {
		t.Errorf("nothing ignored for the limit: %+v", m.Ignored)
	}
	// The holder's own new subkey still merges.
	cur = m.Certificate
	if err := alice.entity.AddSigningSubkey(genConfig(t0.Add(2 * time.Hour))); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := alice.entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	m, err = Merge(cur, buf.Bytes(), certify)
	if err != nil || !slices.Contains(kinds(m.Changes), ChangeSubkey) {
		t.Errorf("the holder's subkey after the flood: %v, %v", kinds(m.Changes), err)
	}
}
