package pgp

import (
	"crypto"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// certify adds to member's user ids a certification by certifier of the
// given type, hash and lifetime (0: none), made at at.
func certify(t *testing.T, member, certifier *openpgp.Entity, typ packet.SignatureType, h crypto.Hash, at time.Time, lifetime time.Duration) {
	t.Helper()
	for name, id := range member.Identities {
		pk := certifier.PrimaryKey
		sig := &packet.Signature{Version: pk.Version, SigType: typ, PubKeyAlgo: pk.PubKeyAlgo, Hash: h, CreationTime: at,
			IssuerKeyId: &pk.KeyId, IssuerFingerprint: pk.Fingerprint}
		if lifetime > 0 {
			secs := uint32(lifetime / time.Second)
			sig.SigLifetimeSecs = &secs
		}
		if err := sig.SignUserId(name, member.PrimaryKey, certifier.PrivateKey, genConfig(at)); err != nil {
			t.Fatal(err)
		}
		id.OtherCertifications = append(id.OtherCertifications, packet.NewVerifiableSig(sig))
	}
}

func TestCertifiedBy(t *testing.T) {
	root, other := genKey(t, "root"), genKey(t, "other")
	at := t0.Add(time.Hour)
	tests := []struct {
		name    string
		certify func(t *testing.T, member *openpgp.Entity)
		check   time.Time
		want    int
	}{
		{"generic certification", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
		}, at.Add(time.Hour), 1},
		{"positive certification", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypePositiveCert, crypto.SHA512, at, 0)
		}, at.Add(time.Hour), 1},
		{"asked about a time before it", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
		}, at.Add(-time.Minute), 0},
		{"by another key", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, other.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
		}, at.Add(time.Hour), 0},
		{"persona certification (nothing checked)", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypePersonaCert, crypto.SHA256, at, 0)
		}, at.Add(time.Hour), 0},
		{"within its lifetime", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 2*time.Hour)
		}, at.Add(time.Hour), 1},
		{"expired", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 2*time.Hour)
		}, at.Add(3 * time.Hour), 0},
		{"revoked by its certifier", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
			certify(t, m, root.entity, packet.SigTypeCertificationRevocation, crypto.SHA256, at.Add(time.Hour), 0)
		}, at.Add(2 * time.Hour), 0},
		{"before its revocation", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
			certify(t, m, root.entity, packet.SigTypeCertificationRevocation, crypto.SHA256, at.Add(time.Hour), 0)
		}, at.Add(30 * time.Minute), 1},
		{"revocation by someone else", func(t *testing.T, m *openpgp.Entity) {
			certify(t, m, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
			certify(t, m, other.entity, packet.SigTypeCertificationRevocation, crypto.SHA256, at.Add(time.Hour), 0)
		}, at.Add(2 * time.Hour), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := genKey(t, "member")
			tc.certify(t, m.entity)
			got := certOf(t, m.entity).CertifiedBy(root.cert, tc.check)
			if len(got) != tc.want {
				t.Fatalf("CertifiedBy = %+v, want %d", got, tc.want)
			}
			if tc.want > 0 && (got[0].Certifier != root.cert.Fingerprint || got[0].UserID != m.cert.UserIDs[0] || !got[0].Created.Equal(at)) {
				t.Errorf("certification = %+v", got[0])
			}
		})
	}
}

// TestCertifiedByRevokedCertifier: a certifier's own hard revocation voids
// every certification it made; a soft one only those made after it.
func TestCertifiedByRevokedCertifier(t *testing.T) {
	at := t0.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		reason packet.ReasonForRevocation
		want   int
	}{
		{"compromised (hard)", packet.KeyCompromised, 0},
		{"retired after the certification (soft)", packet.KeyRetired, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, m := genKey(t, "root"), genKey(t, "member")
			certify(t, m.entity, root.entity, packet.SigTypeGenericCert, crypto.SHA256, at, 0)
			if err := root.entity.Revoke(tc.reason, "", genConfig(at.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			if got := certOf(t, m.entity).CertifiedBy(certOf(t, root.entity), at.Add(2*time.Hour)); len(got) != tc.want {
				t.Fatalf("CertifiedBy = %+v, want %d", got, tc.want)
			}
		})
	}
}
