package pgp

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// day is a day; T is the reference time of the chain tests.
const day = 24 * time.Hour

var T = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

// sigBy is a verified signature by k's signing subkey claimed at `at`.
func sigBy(k *testKey, at time.Time) SignatureInfo {
	return SignatureInfo{Primary: k.cert.Fingerprint, SigningKey: k.signingSubkey(), Created: at, Hash: crypto.SHA256}
}

func deleg(id string, from, to *testKey, scope string, until time.Time, depth int, signed time.Time) DelegationFact {
	return DelegationFact{
		Delegation: Delegation{Delegator: from.cert.Fingerprint, Delegate: to.cert.Fingerprint,
			Scope: strings.Fields(scope), Until: until, MaxDepth: depth},
		ID: id, Signature: sigBy(from, signed), Observed: signed,
	}
}

func rot(id string, old, new *testKey, eff, observed time.Time, signers ...*testKey) RotationFact {
	r := RotationFact{Rotation: Rotation{Old: old.cert.Fingerprint, New: new.cert.Fingerprint, Effective: eff}, ID: id, Observed: observed}
	for _, s := range signers {
		r.Signatures = append(r.Signatures, sigBy(s, observed))
	}
	return r
}

func revFact(id string, k *testKey, fpr string, reason Reason, at time.Time) RevocationFact {
	return RevocationFact{Revocation: Revocation{Fingerprint: fpr, Primary: k.cert.Fingerprint, Reason: reason, HasReason: true,
		Created: at, Hard: !reason.Soft(), Verified: true}, ID: id, Observed: at}
}

// TestDecide is the adversarial table for the chain verifier.
func TestDecide(t *testing.T) {
	keys := keyPool(t, 6)
	R, A, B, C, D, X := keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]

	// A key that expires 30 days after t0.
	cfg := genConfig(t0)
	cfg.KeyLifetimeSecs = 30 * 86400
	ee, err := openpgp.NewEntity("exp", "", "exp@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ee.AddSigningSubkey(cfg); err != nil {
		t.Fatal(err)
	}
	E := &testKey{entity: ee, cert: certOf(t, ee)}

	// A key whose signing subkey is revoked as compromised; its primary
	// key (sign-capable) stays valid.
	se, err := openpgp.NewEntity("sub", "", "sub@example.org", genConfig(t0))
	if err != nil {
		t.Fatal(err)
	}
	if err := se.AddSigningSubkey(genConfig(t0)); err != nil {
		t.Fatal(err)
	}
	if err := se.Subkeys[len(se.Subkeys)-1].Revoke(packet.KeyCompromised, "stolen", genConfig(t0.Add(day))); err != nil {
		t.Fatal(err)
	}
	S := &testKey{entity: se, cert: certOf(t, se)}

	certs := []*Certificate{R.cert, A.cert, B.cert, C.cert, D.cert, X.cert, E.cert, S.cert}
	roots := []string{R.cert.Fingerprint}
	far := T.Add(365 * day)
	base := []DelegationFact{deleg("d-RA", R, A, "release/*", far, 1, T.Add(-30*day))}
	withAB := append(base, deleg("d-AB", A, B, "release/*", far, 0, T.Add(-20*day)))
	name := "release/foo.tar.gz"

	type tc struct {
		name     string
		facts    Facts
		sig      SignatureInfo
		observed time.Time
		qname    string
		wantCode RefusalCode // "" means accepted
		wantLen  int         // links in the chain when accepted
	}
	F := func(d []DelegationFact, r []RotationFact, v []RevocationFact) Facts {
		return Facts{Certificates: certs, Delegations: d, Rotations: r, Revocations: v}
	}
	sigSHA1 := sigBy(A, T)
	sigSHA1.Hash = crypto.SHA1
	sigEnc := sigBy(A, T)
	sigEnc.SigningKey = A.encryptionSubkey()
	sigForeign := sigBy(A, T)
	sigForeign.SigningKey = B.signingSubkey()
	sigSubRevoked := sigBy(S, T)
	sigSubRevoked.SigningKey = S.cert.Subkeys[len(S.cert.Subkeys)-1].Fingerprint
	sigSPrimary := sigBy(S, T)
	sigSPrimary.SigningKey = S.cert.Fingerprint
	unsignedDeleg := deleg("d-RA-bad", R, A, "release/*", far, 0, T.Add(-30*day))
	unsignedDeleg.Signature = sigBy(X, T.Add(-30*day))

	cases := []tc{
		{name: "root signs", facts: F(nil, nil, nil), sig: sigBy(R, T), wantLen: 0},
		{name: "one delegation", facts: F(base, nil, nil), sig: sigBy(A, T), wantLen: 1},
		{name: "two delegations", facts: F(withAB, nil, nil), sig: sigBy(B, T), wantLen: 2},
		{name: "unknown signer", facts: Facts{Certificates: []*Certificate{R.cert}}, sig: sigBy(A, T), wantCode: CodeUnknownKey},
		{name: "no path", facts: F(nil, nil, nil), sig: sigBy(A, T), wantCode: CodeNoPath},
		{name: "weak hash", facts: F(base, nil, nil), sig: sigSHA1, wantCode: CodeWeakHash},
		{name: "encryption-only subkey used to sign", facts: F(base, nil, nil), sig: sigEnc, wantCode: CodeNotSigningKey},
		{name: "subkey of another certificate", facts: F(base, nil, nil), sig: sigForeign, wantCode: CodeUnboundSubkey},
		{name: "signature dated before key creation", facts: F(base, nil, nil), sig: sigBy(A, t0.Add(-day)), wantCode: CodeNotYetValid},
		{name: "claimed time after observation", facts: F(base, nil, nil), sig: sigBy(A, T.Add(day)), observed: T, wantCode: CodeNotYetValid},
		{name: "key expired at signature time", facts: F([]DelegationFact{deleg("d-RE", R, E, "**", far, 0, t0.Add(day))}, nil, nil), sig: sigBy(E, t0.Add(40*day)), wantCode: CodeKeyExpired},
		{name: "expiring key before expiry", facts: F([]DelegationFact{deleg("d-RE", R, E, "**", far, 0, t0.Add(day))}, nil, nil), sig: sigBy(E, t0.Add(10*day)), wantLen: 1},
		{name: "expiring key, observed before expiry", facts: F([]DelegationFact{deleg("d-RE", R, E, "**", far, 0, t0.Add(day))}, nil, nil), sig: sigBy(E, t0.Add(10*day)), observed: t0.Add(20 * day), wantLen: 1},
		{name: "expired key backdated, observed after expiry", facts: F([]DelegationFact{deleg("d-RE", R, E, "**", far, 0, t0.Add(day))}, nil, nil), sig: sigBy(E, t0.Add(10*day)), observed: t0.Add(40 * day), wantCode: CodeKeyExpired},
		{name: "retired: signed before, observed after", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonRetired, T.Add(10*day))}), sig: sigBy(A, T), observed: T.Add(10 * day), wantCode: CodeRevoked},
		{name: "expired delegation", facts: F([]DelegationFact{deleg("d-RA", R, A, "release/*", T, 0, T.Add(-30*day))}, nil, nil), sig: sigBy(A, T.Add(day)), wantCode: CodeExpiredDelegation},
		{name: "backdated into an expired delegation", facts: F([]DelegationFact{deleg("d-RA", R, A, "release/*", T, 0, T.Add(-30*day))}, nil, nil), sig: sigBy(A, T.Add(-day)), observed: T.Add(day), wantCode: CodeExpiredDelegation},
		{name: "delegation not yet valid", facts: F([]DelegationFact{func() DelegationFact {
			d := deleg("d-RA", R, A, "release/*", far, 0, T.Add(-30*day))
			d.NotBefore = T.Add(day)
			return d
		}()}, nil, nil), sig: sigBy(A, T), wantCode: CodeNotYetValid},
		{name: "scope escape at the leaf", facts: F(base, nil, nil), sig: sigBy(A, T), qname: "other/foo", wantCode: CodeScopeEscape},
		{name: "scope escape through an ancestor", facts: F([]DelegationFact{deleg("d-RA", R, A, "release/*", far, 1, T.Add(-30*day)), deleg("d-AB", A, B, "*/*", far, 0, T.Add(-20*day))}, nil, nil),
			sig: sigBy(B, T), qname: "secret/key", wantCode: CodeScopeEscape},
		{name: "star does not cross slash", facts: F(base, nil, nil), sig: sigBy(A, T), qname: "release/sub/foo", wantCode: CodeScopeEscape},
		{name: "depth exceeded", facts: F([]DelegationFact{deleg("d-RA", R, A, "release/*", far, 0, T.Add(-30*day)), deleg("d-AB", A, B, "release/*", far, 0, T.Add(-20*day))}, nil, nil),
			sig: sigBy(B, T), wantCode: CodeDepthExceeded},
		{name: "delegation not signed by its delegator", facts: F([]DelegationFact{unsignedDeleg}, nil, nil), sig: sigBy(A, T), wantCode: CodeUnsigned},
		{name: "delegation signed by a key compromised later", facts: F(withAB, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonCompromised, T.Add(10*day))}),
			sig: sigBy(B, T), wantCode: CodeRevokedCompromised},
		{name: "signer compromised after signing", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonCompromised, T.Add(10*day))}), sig: sigBy(A, T), wantCode: CodeRevokedCompromised},
		{name: "revocation with no reason is hard", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonNone, T.Add(10*day))}), sig: sigBy(A, T), wantCode: CodeRevokedCompromised},
		{name: "unknown reason is hard", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, Reason(99), T.Add(10*day))}), sig: sigBy(A, T), wantCode: CodeRevokedCompromised},
		{name: "retired: signed before", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonRetired, T.Add(10*day))}), sig: sigBy(A, T), observed: T, wantLen: 1},
		{name: "superseded revocation: signed after", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonSuperseded, T.Add(10*day))}), sig: sigBy(A, T.Add(11*day)), wantCode: CodeRevoked},
		{name: "superseded revocation: backdated, observed after", facts: F(base, nil, []RevocationFact{revFact("rev-A", A, A.cert.Fingerprint, ReasonSuperseded, T.Add(10*day))}), sig: sigBy(A, T), observed: T.Add(11 * day), wantCode: CodeRevoked},
		{name: "revoked subkey, valid primary: subkey signature", facts: F([]DelegationFact{deleg("d-RS", R, S, "**", far, 0, T.Add(-30*day))}, nil, nil), sig: sigSubRevoked, wantCode: CodeRevokedCompromised},
		{name: "revoked subkey, valid primary: primary signature", facts: F([]DelegationFact{deleg("d-RS", R, S, "**", far, 0, T.Add(-30*day))}, nil, nil), sig: sigSPrimary, wantLen: 1},
		{name: "rotation: new key inherits", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)}, nil), sig: sigBy(B, T.Add(day)), observed: T.Add(day), wantLen: 2},
		{name: "rotation: old key after supersession", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)}, nil), sig: sigBy(A, T.Add(day)), observed: T.Add(day), wantCode: CodeSuperseded},
		{name: "rotation: old key before supersession", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)}, nil), sig: sigBy(A, T.Add(-2*day)), observed: T.Add(-2 * day), wantLen: 1},
		{name: "rotation: backdated by the superseded key", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)}, nil), sig: sigBy(A, T.Add(-2*day)), observed: T.Add(day), wantCode: CodeSuperseded},
		{name: "rotation: new key signed before it took effect", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)}, nil), sig: sigBy(B, T.Add(-day)), observed: T.Add(-day), wantCode: CodeNotYetValid},
		{name: "rotation signed by the old key only", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A)}, nil), sig: sigBy(B, T.Add(day)), wantCode: CodeRotationUnsigned},
		{name: "rotation signed by the new key only", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), B)}, nil), sig: sigBy(B, T.Add(day)), wantCode: CodeRotationUnsigned},
		{name: "rotation fork", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B), rot("r-AC", A, C, T, T.Add(-day), A, C)}, nil), sig: sigBy(B, T.Add(day)), wantCode: CodeRotationFork},
		{name: "late fork by a superseded key is ignored", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B), rot("r-AX", A, X, T.Add(-10*day), T.Add(day), A, X)}, nil), sig: sigBy(B, T.Add(2*day)), observed: T.Add(2 * day), wantLen: 2},
		{name: "late fork gives the attacker nothing", facts: F(base, []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B), rot("r-AX", A, X, T.Add(-10*day), T.Add(day), A, X)}, nil), sig: sigBy(X, T.Add(2*day)), observed: T.Add(2 * day), wantCode: CodeSuperseded},
		{name: "rotation chain from a pinned root", facts: F(nil, []RotationFact{rot("r-RC", R, C, T, T.Add(-day), R, C), rot("r-CD", C, D, T.Add(10*day), T.Add(5*day), C, D)}, nil), sig: sigBy(D, T.Add(20*day)), observed: T.Add(20 * day), wantLen: 2},
		{name: "rotation cycle", facts: F(nil, []RotationFact{rot("r-CD", C, D, T, T.Add(-day), C, D), rot("r-DC", D, C, T, T.Add(-day), D, C)}, nil), sig: sigBy(D, T.Add(day)), wantCode: CodeSuperseded},
		{name: "delegation cycle without root", facts: F([]DelegationFact{deleg("d-CD", C, D, "**", far, 8, T.Add(-day)), deleg("d-DC", D, C, "**", far, 8, T.Add(-day))}, nil, nil), sig: sigBy(D, T), wantCode: CodeCycle},
		{name: "delegation cycle next to a valid path", facts: F([]DelegationFact{deleg("d-CD", C, D, "**", far, 8, T.Add(-day)), deleg("d-DC", D, C, "**", far, 8, T.Add(-day)), deleg("d-RC", R, C, "**", far, 8, T.Add(-day))}, nil, nil), sig: sigBy(D, T), wantLen: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := Query{Signature: c.sig, Name: name, Observed: c.observed, Roots: roots}
			if c.qname != "" {
				q.Name = c.qname
			}
			chain, err := Decide(c.facts, q)
			if c.wantCode == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(chain.Links) != c.wantLen || chain.Root != R.cert.Fingerprint || chain.Signer != c.sig.Primary {
					t.Fatalf("chain %+v, want %d links from the root", chain, c.wantLen)
				}
				return
			}
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Code != c.wantCode || !errors.Is(err, c.wantCode) || !errors.Is(err, ErrRefused) {
				t.Fatalf("got %v, want refusal %s", err, c.wantCode)
			}
			if ref.Detail == "" {
				t.Errorf("refusal without detail")
			}
			// Deterministic: the same question gets the same answer.
			_, err2 := Decide(c.facts, q)
			if err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second decision differs: %v vs %v", err2, err)
			}
		})
	}
}

// TestDecideChainLinks checks the chain names every statement in order.
func TestDecideChainLinks(t *testing.T) {
	keys := keyPool(t, 3)
	R, A, B := keys[0], keys[1], keys[2]
	facts := Facts{Certificates: []*Certificate{R.cert, A.cert, B.cert}, Delegations: []DelegationFact{
		deleg("d-RA", R, A, "release/*", T.Add(day), 1, T.Add(-day)),
		deleg("d-AB", A, B, "release/*.tar", T.Add(day), 0, T.Add(-day)),
	}}
	chain, err := Decide(facts, Query{Signature: sigBy(B, T), Name: "release/x.tar", Observed: T, Roots: []string{R.cert.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[{delegation %s %s d-RA} {delegation %s %s d-AB}]", R.cert.Fingerprint, A.cert.Fingerprint, A.cert.Fingerprint, B.cert.Fingerprint)
	if got := fmt.Sprint(chain.Links); got != want {
		t.Errorf("links %s, want %s", got, want)
	}
}

// TestDecideAdversarialGraph checks that a dense delegation graph with no
// root terminates quickly with a refusal.
func TestDecideAdversarialGraph(t *testing.T) {
	keys := keyPool(t, 8)
	var certs []*Certificate
	var ds []DelegationFact
	for i, a := range keys {
		certs = append(certs, a.cert)
		for j, b := range keys {
			if i != j {
				ds = append(ds, deleg(fmt.Sprintf("d-%d-%d", i, j), a, b, "**", T.Add(day), MaxDelegationDepth, T.Add(-time.Duration(i*8+j)*time.Minute)))
			}
		}
	}
	g, err := Compile(Facts{Certificates: certs, Delegations: ds})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = g.Decide(Query{Signature: sigBy(keys[0], T), Name: "x", Roots: []string{strings.Repeat("0", 40)}})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want a refusal", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestGraphStatus checks key show's status with logged revocations and
// rotations.
func TestGraphStatus(t *testing.T) {
	keys := keyPool(t, 3)
	A, B, C := keys[0], keys[1], keys[2]
	g, err := Compile(Facts{Certificates: []*Certificate{A.cert, B.cert, C.cert},
		Rotations:   []RotationFact{rot("r-AB", A, B, T, T.Add(-day), A, B)},
		Revocations: []RevocationFact{revFact("rev-C", C, C.cert.Fingerprint, ReasonRetired, T)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		k    *testKey
		at   time.Time
		want State
	}{
		{A, T.Add(-2 * day), StateValid},
		{A, T.Add(day), StateSuperseded},
		{B, T.Add(day), StateValid},
		{C, T.Add(-day), StateValid},
		{C, T.Add(day), StateRevoked},
		{A, t0.Add(-day), StateNotYetValid},
	} {
		st, err := g.Status(tc.k.cert.Fingerprint, tc.at)
		if err != nil || st.State != tc.want {
			t.Errorf("%s at %v: %s %v, want %s", tc.k.cert.Fingerprint, tc.at, st, err, tc.want)
		}
		if st.String() == "" {
			t.Errorf("empty status string")
		}
	}
	if _, err := g.Status(strings.Repeat("1", 40), T); !errors.Is(err, CodeUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}

// TestGraphReachable: the certificates a root reaches are itself, then
// through valid delegations and rotations breadth first, each once,
// bounded; a delegation its delegator did not sign reaches nothing.
func TestGraphReachable(t *testing.T) {
	keys := keyPool(t, 6)
	R, A, B, C, X, Y := keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
	forged := deleg("d-XY", X, Y, "**", T.Add(day), 1, T)
	forged.Signature = sigBy(Y, T) // signed by the delegate, not the delegator
	g, err := Compile(Facts{Certificates: []*Certificate{R.cert, A.cert, B.cert, C.cert, X.cert, Y.cert},
		Delegations: []DelegationFact{deleg("d-RA", R, A, "**", T.Add(day), 2, T), deleg("d-AB", A, B, "**", T.Add(day), 1, T),
			deleg("d-BA", B, A, "**", T.Add(day), 1, T), forged},
		Rotations: []RotationFact{rot("r-RC", R, C, T.Add(2*day), T, R, C)}})
	if err != nil {
		t.Fatal(err)
	}
	fp := func(ks ...*testKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.cert.Fingerprint)
		}
		return out
	}
	next := fp(A, C)
	slices.Sort(next)
	want := append(fp(R), append(next, fp(B)...)...)
	if got := g.Reachable(fp(R), 10); !slices.Equal(got, want) {
		t.Errorf("Reachable(R) = %v, want %v", got, want)
	}
	if got := g.Reachable(fp(R), 2); !slices.Equal(got, want[:2]) {
		t.Errorf("Reachable(R, 2) = %v, want %v", got, want[:2])
	}
	if got := g.Reachable(fp(X), 10); !slices.Equal(got, fp(X)) {
		t.Errorf("Reachable(X) = %v, want only X: its delegation is not signed by it", got)
	}
}
