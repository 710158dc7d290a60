package pgplog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
)

// TestUpdateCertificate merges the fixture re-export (new user id,
// subkey, expiry, superseded revocation) into the registered fixture: one
// update entry holding the export as given and the packets added, one
// revocation entry, the registry holding the merged certificate; the same
// update again, and bad input, change nothing.
func TestUpdateCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	update := fixture(t, "ed25519-updated.asc")
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"unregistered", update, pgplog.ErrUnknownSigner},
		{"empty", nil, pgp.ErrMalformed},
		{"garbage", []byte("not a certificate"), pgp.ErrMalformed},
		{"secret key", fixture(t, "ed25519.sec.asc"), pgp.ErrSecretKey},
	} {
		if _, err := e.svc.UpdateCertificate(ctx, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if e.size(t) != 0 {
		t.Fatalf("refused updates logged %d entries", e.size(t))
	}
	cert := e.register(t, fixture(t, "ed25519.asc"))
	u, err := e.svc.UpdateCertificate(ctx, update)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Changes) == 0 || len(u.Revocations) != 1 || u.Entry.PredicateType != pgplog.CertUpdatePredicateType ||
		u.Entry.SignerKeyIDs[0] != cert.Fingerprint || u.Revocations[0].PredicateType != pgplog.RevocationPredicateType {
		t.Fatalf("update %+v", u)
	}
	var rec pgplog.CertificateUpdateRecord
	if err := json.Unmarshal(u.Entry.Envelope, &rec); err != nil || !bytes.Equal(rec.Update, update) || rec.Certificate != cert.Fingerprint {
		t.Fatalf("record %+v, %v: not the export as given", rec, err)
	}
	var added []byte
	for _, c := range u.Changes {
		added = append(added, c.Packet...)
	}
	if !bytes.Equal(rec.Added, added) {
		t.Errorf("record's added packets differ from the changes")
	}
	k, err := e.store.Key(ctx, cert.Fingerprint)
	if err != nil || !bytes.Equal(k.PublicKey, u.Certificate.Encode()) {
		t.Fatalf("registry does not hold the merged certificate: %v", err)
	}
	for _, sk := range u.Certificate.Subkeys {
		if got, err := e.store.PGPKey(ctx, sk.Fingerprint); err != nil || got.Primary != cert.Fingerprint {
			t.Errorf("subkey %s not indexed: %+v, %v", sk.Fingerprint, got, err)
		}
	}
	size := e.size(t)
	// The same update again, armored or binary: nothing.
	block, err := armor.Decode(bytes.NewReader(update))
	if err != nil {
		t.Fatal(err)
	}
	var bin bytes.Buffer
	if _, err := bin.ReadFrom(block.Body); err != nil {
		t.Fatal(err)
	}
	for _, again := range [][]byte{update, bin.Bytes(), fixture(t, "ed25519.asc")} {
		u2, err := e.svc.UpdateCertificate(ctx, again)
		if err != nil || len(u2.Changes) != 0 || u2.Entry.Seq != 0 || e.size(t) != size {
			t.Errorf("again: %d changes, entry %d, %v", len(u2.Changes), u2.Entry.Seq, err)
		}
	}
	st, err := e.svc.Status(ctx, cert.Fingerprint, u.Revocations[0].RecordedAt)
	if err != nil || st.State != pgp.StateRevoked || st.Revocation.Reason != pgp.ReasonSuperseded {
		t.Errorf("status %s, %v", st, err)
	}
}
