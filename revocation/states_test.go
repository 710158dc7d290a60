package revocation_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
)

// TestBatchedChecksAnswerAsSingle: the batched checks (StatementsRevoked,
// States, AttestationView.StatementsRevoked) answer for every entry and
// key exactly as the one-at-a-time checks do, over entries whose
// statement, signer or co-signer is revoked (hard, soft before and after
// the entry was recorded), reinstated, or untouched, judged at several
// claimed signing times.
func TestBatchedChecksAnswerAsSingle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		clean, hard, softOld, softNew, back := e.key(t), e.key(t), e.key(t), e.key(t), e.key(t)
		var entries []store.Statement
		for i, signers := range [][]testKey{{clean}, {hard}, {softOld}, {softNew}, {back}, {hard, clean}, {hard, softOld}, {clean}, {clean}} {
			var ss []envelope.Signer
			for _, k := range signers {
				ss = append(ss, k.signer)
			}
			entries = append(entries, e.attest(t, fmt.Sprint("entry-", i), ss...))
		}
		// The last two entries are withdrawn by their signer; the last is
		// reinstated.
		for _, st := range entries[7:] {
			if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: st.EnvelopeDigest.String()},
				Reason: revocation.ReasonWithdrawn, Effective: e.now.Add(-time.Hour)}, clean.signer); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindStatement, ID: entries[8].EnvelopeDigest.String()},
			Action: revocation.ActionReinstate, Reason: revocation.ReasonWithdrawn}, clean.signer); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			k      testKey
			reason revocation.Reason
			eff    time.Time
			lift   bool
		}{
			{hard, revocation.ReasonCompromised, e.now.Add(time.Hour), false},
			{softOld, revocation.ReasonSuperseded, e.now.Add(-48 * time.Hour), false},
			{softNew, revocation.ReasonRetired, e.now.Add(48 * time.Hour), false},
			{back, revocation.ReasonRetired, e.now.Add(time.Hour), true},
		} {
			if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: r.k.id}, Reason: r.reason, Effective: r.eff}, r.k.signer); err != nil {
				t.Fatal(err)
			}
			if r.lift {
				if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: r.k.id}, Action: revocation.ActionReinstate,
					Reason: r.reason}, r.k.signer); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, signedAt := range []time.Time{e.now.Add(-72 * time.Hour), e.now, e.now.Add(72 * time.Hour)} {
			var refs []revocation.StatementRef
			for _, st := range entries {
				refs = append(refs, revocation.StatementRef{Seq: st.Seq, SignedAt: signedAt})
			}
			batch, err := e.svc.StatementsRevoked(ctx, refs)
			if err != nil {
				t.Fatal(err)
			}
			revokedSome := false
			for i, ref := range refs {
				one, err := e.svc.StatementRevoked(ctx, ref.Seq, ref.SignedAt)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(one) != fmt.Sprint(batch[i]) {
					t.Errorf("entry %d signed at %s: batched %v, single %v", ref.Seq, signedAt, batch[i], one)
				}
				revokedSome = revokedSome || one != nil
			}
			if !revokedSome {
				t.Errorf("signed at %s: nothing revoked; the cases test nothing", signedAt)
			}
		}
		var targets []revocation.Target
		for _, k := range []testKey{clean, hard, softOld, softNew, back} {
			targets = append(targets, revocation.Target{Kind: revocation.KindKey, ID: k.id})
		}
		states, err := e.svc.States(ctx, targets)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			one, err := e.svc.Lookup(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(one) != fmt.Sprint(states.Lookup(tg)) {
				t.Errorf("%s: States %v, Lookup %v", tg, states.Lookup(tg), one)
			}
			for _, at := range []time.Time{e.now.Add(-72 * time.Hour), e.now, e.now.Add(72 * time.Hour)} {
				one, err := e.svc.KeyRevoked(ctx, tg.ID, at, at)
				if err != nil {
					t.Fatal(err)
				}
				many, err := states.KeyRevoked(ctx, tg.ID, at, at)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(one) != fmt.Sprint(many) {
					t.Errorf("key %s at %s: States %v, KeyRevoked %v", tg.ID, at, many, one)
				}
			}
		}
		view := e.svc.AttestationView()
		whys, err := view.StatementsRevoked(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range entries {
			why, revoked, err := view.StatementRevoked(ctx, st.Seq, nil)
			if err != nil {
				t.Fatal(err)
			}
			if why != whys[i] || revoked != (whys[i] != "") {
				t.Errorf("attestation view of %d: batched %q, single %q %v", st.Seq, whys[i], why, revoked)
			}
		}
		if _, err := e.svc.StatementsRevoked(ctx, []revocation.StatementRef{{Seq: 99999, SignedAt: e.now}}); err == nil {
			t.Error("StatementsRevoked of an entry not in the log: no error")
		}
	})
}

// TestRememberedStatesFollowTheHead: the states of a large set of targets
// are remembered, in any order the targets come in, and read again once a
// revocation has been appended, so a remembered answer is never stale.
func TestRememberedStatesFollowTheHead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		k, k2 := e.key(t), e.key(t)
		targets := []revocation.Target{{Kind: revocation.KindKey, ID: k.id}, {Kind: revocation.KindKey, ID: k2.id}}
		for i := range 300 {
			targets = append(targets, revocation.Target{Kind: revocation.KindKey, ID: fmt.Sprintf("%064x", i)})
		}
		revoked := func(ts []revocation.Target) bool {
			t.Helper()
			st, err := e.svc.States(ctx, ts)
			if err != nil {
				t.Fatal(err)
			}
			r, err := st.KeyRevoked(ctx, k.id, e.now, e.now)
			if err != nil {
				t.Fatal(err)
			}
			return r != nil
		}
		if revoked(targets) {
			t.Fatal("revoked before any revocation")
		}
		reversed := slices.Clone(targets)
		slices.Reverse(reversed)
		if revoked(reversed) {
			t.Fatal("revoked before any revocation (targets in another order)")
		}
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: k.id},
			Reason: revocation.ReasonCompromised, Effective: e.now.Add(-time.Hour)}, k.signer); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(targets))
		for i, tg := range targets {
			ids[i] = tg.ID
		}
		if !revoked(targets) || !revoked(reversed) {
			t.Fatal("a revocation appended after the states were remembered is not seen")
		}
		// KeysRevokedAt keeps its answer for a large set the same way.
		for range 2 {
			got, err := e.svc.KeysRevokedAt(ctx, ids)
			if _, ok := got[k.id]; err != nil || !ok || len(got) != 1 {
				t.Fatalf("KeysRevokedAt = %v, %v; want %s alone", got, err, k.id)
			}
		}
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: k2.id},
			Reason: revocation.ReasonCompromised, Effective: e.now.Add(-time.Hour)}, k2.signer); err != nil {
			t.Fatal(err)
		}
		if got, err := e.svc.KeysRevokedAt(ctx, ids); err != nil || len(got) != 2 {
			t.Fatalf("after a second revocation KeysRevokedAt = %v, %v; want both keys", got, err)
		}
	})
}
