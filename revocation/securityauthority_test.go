package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// refused checks that err is an authority refusal saying want and that
// the log did not grow from before.
func (e *env) refused(t *testing.T, err error, want string, before uint64) {
	t.Helper()
	if !errors.Is(err, statement.ErrRejected) || !errors.Is(err, revocation.ErrUnauthorized) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v; want ErrUnauthorized saying %q", err, want)
	}
	if after, _ := e.store.LogSize(context.Background()); after != before {
		t.Fatalf("log grew from %d to %d on a refused revocation", before, after)
	}
}

// TestSecurityAuthorityThreshold: with a 2-of-3 security authority, one
// authority key alone (or twice, or with a stranger, or with a revoked
// authority key) can neither revoke nor reinstate anything it holds no
// authority of its own for, and the log does not grow; two distinct keys
// in one envelope can, and the entry and the state name both.
func TestSecurityAuthorityThreshold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		a, b, c, stranger, victim := e.key(t), e.key(t), e.key(t), e.key(t), e.key(t)
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{a.id, b.id, c.id}, SecurityThreshold: 2})
		// c retires itself (a key may always revoke itself): a revoked
		// authority key no longer counts.
		if _, err := e.revoke(t, revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: c.id}, Reason: revocation.ReasonCompromised}, c.signer); err != nil {
			t.Fatalf("authority key revokes itself: %v", err)
		}
		dig := revocation.Target{Kind: revocation.KindDigest, ID: sha256Of("backdoored build").String()}
		key := revocation.Target{Kind: revocation.KindKey, ID: victim.id}
		tok := revocation.Target{Kind: revocation.KindToken, ID: "sha256:aa3683708523cf792b31e56f6dfd6213f2efdcf5df27a8fccbd49803270abe11"}

		for _, tc := range []struct {
			name    string
			target  revocation.Target
			signers []envelope.Signer
			reject  string // "" = accepted
		}{
			{"digest by one authority key", dig, []envelope.Signer{a.signer}, "needs 2 of its 3 keys to sign one envelope; 1 did"},
			{"digest by one authority key signing twice", dig, []envelope.Signer{a.signer, a.signer}, "1 did"},
			{"digest by an authority key and a stranger", dig, []envelope.Signer{a.signer, stranger.signer}, "1 did"},
			{"digest by an authority key and a revoked one", dig, []envelope.Signer{a.signer, c.signer}, "is revoked (compromised"},
			{"key by one authority key", key, []envelope.Signer{b.signer}, "1 did"},
			{"token by one authority key", tok, []envelope.Signer{b.signer}, "1 did"},
			{"digest by two authority keys", dig, []envelope.Signer{a.signer, b.signer}, ""},
			{"key by two authority keys", key, []envelope.Signer{b.signer, a.signer}, ""},
			{"token by two authority keys", tok, []envelope.Signer{a.signer, b.signer}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := e.store.LogSize(ctx)
				entry, err := e.revoke(t, revocation.Predicate{Target: tc.target, Reason: revocation.ReasonMalicious}, tc.signers...)
				if tc.reject != "" {
					e.refused(t, err, tc.reject, before)
					if r, err := e.svc.Lookup(ctx, tc.target); err != nil || r != nil {
						t.Fatalf("Lookup after a refused revocation = %+v, %v", r, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ids := signerIDs(t, tc.signers)
				if !slices.Equal(entry.SignerKeyIDs, ids) {
					t.Errorf("entry signers %v, want %v", entry.SignerKeyIDs, ids)
				}
				r, err := e.svc.Lookup(ctx, tc.target)
				if err != nil || r == nil || !slices.Equal(r.Revokers, ids) {
					t.Fatalf("Lookup = %+v, %v; want revoked by %v", r, err, ids)
				}
			})
		}

		// Reinstatement relies on the security authority too.
		before, _ := e.store.LogSize(ctx)
		_, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: dig}, a.signer)
		e.refused(t, err, "1 did", before)
		if r, _ := e.svc.Lookup(ctx, dig); r == nil || r.Action != revocation.ActionRevoke {
			t.Fatalf("after a refused reinstatement: %+v, want still revoked", r)
		}
		if _, err := e.revoke(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: dig}, b.signer, a.signer); err != nil {
			t.Fatalf("reinstatement by two authority keys: %v", err)
		}
		if r, _ := e.svc.Lookup(ctx, dig); r == nil || r.Action != revocation.ActionReinstate || !slices.Equal(r.Revokers, []string{b.id, a.id}) {
			t.Fatalf("after reinstating: %+v", r)
		}
		hist, err := e.svc.History(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist {
			if h.Target == dig && len(h.Revokers) != 2 {
				t.Errorf("history entry %d names %v; want both signers", h.Seq, h.Revokers)
			}
		}
	})
}

// TestSecurityAuthorityScope: a scoped security authority (2 of 2) may
// revoke only within its scopes: digest prefixes, digests a matching TUF
// repository published first (whoever mirrors them later), listed keys;
// never tokens, never a digest a matching repository merely mirrors, never
// a digest a forged record claims a repository published.
func TestSecurityAuthorityScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) store.Store) {
		ctx := context.Background()
		e := newEnv(t, open(t), revocation.Config{})
		a, b, stranger, inScopeKey, outScopeKey := e.key(t), e.key(t), e.key(t), e.key(t), e.key(t)
		var scopes []revocation.Scope
		for _, s := range []string{"sha256:00", "repo:acme/*", "key:" + inScopeKey.id} {
			sc, err := revocation.ParseScope(s)
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", s, err)
			}
			scopes = append(scopes, sc)
		}
		e = newEnvOn(t, e, revocation.Config{SecurityAuthority: []string{a.id, b.id}, SecurityThreshold: 2, SecurityScopes: scopes})

		_, acmeMeta := e.tufKey(t)
		_, otherMeta := e.tufKey(t)
		e.tufPublish(t, "acme/images", acmeMeta, "app.tar.gz", []byte("acme app"))
		e.tufPublish(t, "acmecorp/images", otherMeta, "tool.tar.gz", []byte("acmecorp tool"))
		// A repository under the scope that mirrors someone else's release,
		// and one outside it mirroring acme's: the first publication decides.
		_, mirrorMeta := e.tufKey(t)
		e.tufPublish(t, "upstream/tools", otherMeta, "lib.tar.gz", []byte("upstream lib"))
		e.tufPublish(t, "acme/mirror", mirrorMeta, "lib.tar.gz", []byte("upstream lib"))
		e.tufPublish(t, "elsewhere/mirror", mirrorMeta, "app.tar.gz", []byte("acme app"))
		// A stranger's record claiming that acme/evil published a digest
		// (refused outright once trustd reserves its record types).
		forged := digestWithPrefix(t, "forged", "ff")
		pred, _ := json.Marshal(tufstore.Descriptor{Repo: "acme/evil", Role: "targets", Version: 1})
		stmt, err := envelope.NewStatement(tufstore.PredicateType, pred, envelope.Subject{Name: "evil.tar.gz", Digests: []digestT{forged}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = e.log.Submit(ctx, sign(t, stmt, stranger.signer))

		dig := func(d digestT) revocation.Target {
			return revocation.Target{Kind: revocation.KindDigest, ID: d.String()}
		}
		both := []envelope.Signer{a.signer, b.signer}
		for _, tc := range []struct {
			name   string
			target revocation.Target
			reject string
		}{
			{"digest with a scoped prefix", dig(digestWithPrefix(t, "prefixed", "00")), ""},
			{"digest a matching repository published", dig(sha256Of("acme app")), ""},
			{"key in a key scope", revocation.Target{Kind: revocation.KindKey, ID: inScopeKey.id}, ""},
			{"digest outside every prefix and repository", dig(digestWithPrefix(t, "elsewhere", "11")), "lies outside every scope of the security authority (sha256:00, repo:acme/*, key:"},
			{"digest of a repository whose name only starts alike", dig(sha256Of("acmecorp tool")), "lies outside every scope"},
			{"digest a matching repository only mirrors", dig(sha256Of("upstream lib")), "lies outside every scope"},
			{"digest a forged record places in a matching repository", dig(forged), "lies outside every scope"},
			{"key outside the key scope", revocation.Target{Kind: revocation.KindKey, ID: outScopeKey.id}, "lies outside every scope"},
			{"token (no scope covers tokens)", revocation.Target{Kind: revocation.KindToken, ID: "sha256:65dcf16ea3dfa49069628089eb4a75483070f5584b2a21ee64912b5f621f12da"}, "lies outside every scope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := e.store.LogSize(ctx)
				_, err := e.revoke(t, revocation.Predicate{Target: tc.target, Reason: revocation.ReasonMalicious}, both...)
				if tc.reject == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				e.refused(t, err, tc.reject, before)
			})
		}
	})
}

// digestWithPrefix returns a sha256 digest of some bytes named by seed
// whose hex starts with prefix.
func digestWithPrefix(t *testing.T, seed, prefix string) digestT {
	t.Helper()
	for i := range 1 << 20 {
		d := sha256Of(seed + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		if strings.HasPrefix(d.Hex(), prefix) {
			return d
		}
	}
	t.Fatalf("no digest with prefix %s", prefix)
	return digestT{}
}

// signerIDs returns the distinct key ids of signers, in order.
func signerIDs(t *testing.T, signers []envelope.Signer) []string {
	t.Helper()
	var ids []string
	for _, s := range signers {
		id, err := s.KeyID()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = refused
	}{
		{"sha256:ab12", "sha256:ab12"},
		{"SHA256:AB", ""},
		{"sha256:AB12", "sha256:ab12"},
		{"sha512:0", "sha512:0"},
		{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("a", 64)},
		{"sha256:" + strings.Repeat("a", 65), ""},
		{"sha256:xyz", ""},
		{"sha256:", ""},
		{"md5:ab", ""},
		{"repo:acme/images", "repo:acme/images"},
		{"repo:acme/*", "repo:acme/*"},
		{"repo:*", "repo:*"},
		{"repo:acme*", ""},
		{"repo:*/images", ""},
		{"repo:Acme", ""},
		{"repo:", ""},
		{"key:3e63ed31aa", "key:3e63ed31aa"},
		{"key:a b", ""},
		{"key:", ""},
		{"acme/*", ""},
		{"", ""},
		{strings.Repeat("a", revocation.MaxScopeBytes+1), ""},
	} {
		got, err := revocation.ParseScope(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, revocation.ErrInvalid) {
				t.Errorf("ParseScope(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseScope(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseScope: any input is refused with ErrInvalid or parses into a
// scope whose text form parses back to itself.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"sha256:ab", "repo:acme/*", "repo:*", "key:abc", "sha3-256:F0", "repo:a/b/c/d", ":", "repo:a/*/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := revocation.ParseScope(s)
		if err != nil {
			if !errors.Is(err, revocation.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		back, err := revocation.ParseScope(sc.String())
		if err != nil || back != sc {
			t.Fatalf("%q parsed to %v, which reparses to %v, %v", s, sc, back, err)
		}
	})
}
