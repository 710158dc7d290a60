package revocation_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

func TestTimeSemantics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		rotated, backdater, voter, signer := e.key(t), e.key(t), e.key(t), e.key(t)
		// rotated is superseded from an hour from now: what the log
		// observed before then counts.
		effective := e.now.Add(time.Hour)
		old := e.attest(t, "signed-by-rotated", rotated.signer)
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: rotated.id},
			Reason: revocation.ReasonSuperseded, Effective: effective}, rotated.signer); err != nil {
			t.Fatal(err)
		}
		// backdater was superseded an hour ago; its statement is first
		// observed now, whatever time it claims.
		past := e.now.Add(-time.Hour)
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: backdater.id},
			Reason: revocation.ReasonSuperseded, Effective: past}, backdater.signer); err != nil {
			t.Fatal(err)
		}
		late := e.attest(t, "signed-by-superseded", backdater.signer)
		// A vote-like statement by a voter whose key is then revoked as compromised.
		vote := e.attest(t, "vote-by-voter", voter.signer)
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: voter.id},
			Reason: revocation.ReasonCompromised, Effective: e.now}, voter.signer); err != nil {
			t.Fatal(err)
		}
		// A statement withdrawn by its signer from an hour from now on.
		withdrawn := e.attest(t, "withdrawn", signer.signer)
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: withdrawn.EnvelopeDigest.String()},
			Reason: revocation.ReasonWithdrawn, Effective: e.now.Add(time.Hour)}, signer.signer); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name     string
			seq      int64
			signedAt time.Time
			revoked  revocation.Reason // "" = still counts
		}{
			{"superseded key, observed before the effective time", old.Seq, e.now.Add(-time.Minute), ""},
			{"superseded key, observed before, claims the effective time", old.Seq, effective, revocation.ReasonSuperseded},
			{"superseded key, observed before, claims a later time", old.Seq, effective.Add(time.Minute), revocation.ReasonSuperseded},
			{"superseded key, observed after, backdated", late.Seq, past.Add(-time.Minute), revocation.ReasonSuperseded},
			{"superseded key, observed after", late.Seq, e.now, revocation.ReasonSuperseded},
			{"compromised voter, signed long before", vote.Seq, e.now.Add(-365 * 24 * time.Hour), revocation.ReasonCompromised},
			{"compromised voter, signed after", vote.Seq, e.now.Add(time.Hour), revocation.ReasonCompromised},
			{"statement withdrawn from a later time, used now", withdrawn.Seq, e.now.Add(-time.Hour), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, err := e.svc.StatementRevoked(ctx, tc.seq, tc.signedAt)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tc.revoked == "" && r != nil:
					t.Fatalf("revoked by %s; want it to count", r)
				case tc.revoked != "" && (r == nil || r.Reason != tc.revoked || len(r.Revokers) == 0):
					t.Fatalf("StatementRevoked = %v; want %s with its revoker", r, tc.revoked)
				}
			})
		}
		// Once the withdrawal takes effect, the statement stops counting,
		// however long before it was signed.
		later := newEnvOn(t, e, revocation.Config{})
		later.now = e.now.Add(2 * time.Hour)
		if r, err := later.svc.StatementRevoked(ctx, withdrawn.Seq, e.now.Add(-time.Hour)); err != nil || r == nil || r.Reason != revocation.ReasonWithdrawn {
			t.Errorf("StatementRevoked after the withdrawal's effective time = %v, %v; want withdrawn", r, err)
		}
		if r, err := e.svc.KeyRevoked(ctx, rotated.id, effective.Add(-time.Second), effective.Add(-time.Second)); err != nil || r != nil {
			t.Errorf("KeyRevoked before the effective time = %v, %v", r, err)
		}
		if r, err := e.svc.KeyRevoked(ctx, backdater.id, past.Add(-time.Second), e.now); err != nil || r == nil || r.Reason != revocation.ReasonSuperseded {
			t.Errorf("KeyRevoked of a signature backdated before the supersession, observed after = %v, %v; want superseded", r, err)
		}
		if r, err := e.svc.KeyRevoked(ctx, voter.id, time.Unix(0, 0), time.Unix(0, 0)); err != nil || r == nil || r.Reason != revocation.ReasonCompromised {
			t.Errorf("KeyRevoked of a compromised key at 1970 = %v, %v; want compromised", r, err)
		}

		// For the attestation index: revoked in words, as of recording.
		if why, revoked, err := e.svc.AttestationView().StatementRevoked(ctx, vote.Seq, nil); err != nil || !revoked ||
			!strings.Contains(why, "compromised") || !strings.Contains(why, voter.id) {
			t.Errorf("AttestationView of a compromised voter's statement = %q, %v, %v", why, revoked, err)
		}
		if why, revoked, err := e.svc.AttestationView().StatementRevoked(ctx, withdrawn.Seq, nil); err != nil || revoked {
			t.Errorf("AttestationView of a statement withdrawn from later = %q, %v, %v", why, revoked, err)
		}

		// For vote weighting: from when each revoked key's votes stop counting.
		if at, ok, err := e.svc.KeyRevokedAt(ctx, voter.id); err != nil || !ok || !at.IsZero() {
			t.Errorf("KeyRevokedAt(compromised) = %v, %v, %v; want the zero time (every vote)", at, ok, err)
		}
		if at, ok, err := e.svc.KeyRevokedAt(ctx, rotated.id); err != nil || !ok || !at.Equal(effective) {
			t.Errorf("KeyRevokedAt(superseded) = %v, %v, %v; want %v", at, ok, err, effective)
		}
		if _, ok, err := e.svc.KeyRevokedAt(ctx, signer.id); err != nil || ok {
			t.Errorf("KeyRevokedAt(in good standing) = %v, %v", ok, err)
		}
		if keys, err := e.svc.RevokedKeys(ctx); err != nil || len(keys) != 3 || !keys[voter.id].IsZero() || !keys[rotated.id].Equal(effective) || !keys[backdater.id].Equal(past) {
			t.Errorf("RevokedKeys = %v, %v", keys, err)
		}

		// Digests: withdrawn (soft) from the effective time on; malicious
		// (hard) at once, whatever effective time it names.
		bad, gone := sha256Of("bad release"), sha256Of("withdrawn release")
		authority := e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{authority.id}})
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: gone.String()},
			Reason: revocation.ReasonWithdrawn, Effective: e.now.Add(time.Hour)}, authority.signer); err != nil {
			t.Fatal(err)
		}
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindDigest, ID: bad.String()},
			Reason: revocation.ReasonMalicious, Effective: e.now.Add(time.Hour)}, authority.signer); err != nil {
			t.Fatal(err)
		}
		if r, err := e.svc.DigestRevoked(ctx, sha256Of("fine"), gone); err != nil || r != nil {
			t.Errorf("DigestRevoked(withdrawn) before its effective time = %v, %v", r, err)
		}
		if r, err := e.svc.DigestRevoked(ctx, sha256Of("fine"), bad); err != nil || r == nil || r.Target.ID != bad.String() {
			t.Errorf("DigestRevoked(malicious) before its effective time = %v, %v; want in force (hard)", r, err)
		}
		e.now = e.now.Add(2 * time.Hour)
		if r, err := e.svc.DigestRevoked(ctx, sha256Of("fine"), gone); err != nil || r == nil || r.Target.ID != gone.String() {
			t.Errorf("DigestRevoked(withdrawn) after its effective time = %v, %v", r, err)
		}
	})
}

// TestPGPRevocationCertificate: a logged OpenPGP revocation certificate
// (gpg --gen-revoke) revokes the key for the Checker too.
func TestPGPRevocationCertificate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, teststoreSQLite(t), revocation.Config{})
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("..", "pgp", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	k, _, err := e.keys.Add(ctx, read("ed25519.asc"), "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if r, err := e.svc.KeyRevoked(ctx, k.ID, now, now); err != nil || r != nil {
		t.Fatalf("before the certificate: %v, %v", r, err)
	}
	revoked, err := e.pgp.Revoke(ctx, read("rev-compromised.asc"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.KeyRevoked(ctx, k.ID, time.Unix(0, 0), time.Unix(0, 0))
	if err != nil || r == nil || r.Reason != revocation.ReasonCompromised || r.Seq != revoked.Entry.Seq {
		t.Fatalf("KeyRevoked after a compromised certificate = %v, %v; want compromised (hard), log entry %d", r, err, revoked.Entry.Seq)
	}
	// The one index holds it: lookups, lists and policies read it there.
	got, err := e.svc.Lookup(ctx, revocation.Target{Kind: revocation.KindKey, ID: k.ID})
	if err != nil || got == nil || got.Action != revocation.ActionRevoke || got.Reason != revocation.ReasonCompromised ||
		got.Seq != revoked.Entry.Seq || !got.Effective.Equal(revoked.Revocation.Created) || len(got.Revokers) != 1 || got.Revokers[0] != k.ID {
		t.Fatalf("Lookup(key %s) = %+v, %v; want the certificate's revocation at log entry %d", k.ID, got, err, revoked.Entry.Seq)
	}
}
