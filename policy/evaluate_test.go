package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
)

// The evidence sources below are plain data behind the source interfaces:
// what the real sources return, without a server.

var (
	now     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	artSHA  = digest.MustParse("sha256:" + strings.Repeat("ab", 32))
	otherSH = digest.MustParse("sha256:" + strings.Repeat("cd", 32))
	keyA    = strings.Repeat("a", 64)
	keyB    = strings.Repeat("b", 64)
	fprRoot = strings.Repeat("1", 40)
	fprDev  = strings.Repeat("2", 40)
)

type tufData map[string]*TUFRole

func (d tufData) TUFRole(_ context.Context, repo, role string) (*TUFRole, error) {
	if r, ok := d[repo+"/"+role]; ok {
		return r, nil
	}
	return nil, errors.New("no such role")
}

type pgpData struct {
	sigs    []PGPSignature
	allowed map[string]bool
	// chainKeys are the keys of an allowed chain's statements.
	chainKeys map[string]time.Time
	// rotations are the chain's rotation links (old key → statement seq).
	rotations map[string]uint64
}

func (d pgpData) PGPSignatures(context.Context, []digest.Digest) ([]PGPSignature, error) {
	return d.sigs, nil
}

func (d pgpData) PGPDecide(_ context.Context, name, signer string, _, _ time.Time, roots []string) (PGPDecision, error) {
	if signer == "revoked" {
		return PGPDecision{Refusal: "revoked-compromised", Detail: "root revoked"}, nil
	}
	if d.allowed[signer] {
		return PGPDecision{Allowed: true, Chain: []string{"root " + roots[0], "delegation " + roots[0] + "→" + signer + " (seq 3)"}, ChainKeys: d.chainKeys, Rotations: d.rotations}, nil
	}
	return PGPDecision{Refusal: "no-path", Detail: "no delegation from a pinned root"}, nil
}

type attData []Attestation

func (d attData) Attestations(context.Context, []digest.Digest, string) ([]Attestation, error) {
	return d, nil
}

// revData holds revocations of any targets; it answers with those the
// query names, as the real sources do.
type revData RevocationStatus

func (d revData) Revocations(_ context.Context, q RevocationQuery) (RevocationStatus, error) {
	st := RevocationStatus(d)
	named := map[string]bool{}
	for _, x := range q.Digests {
		named["digest "+x.String()] = true
	}
	for _, x := range q.Keys {
		named["key "+x] = true
	}
	for _, x := range q.Statements {
		named["statement "+x.String()] = true
	}
	for _, x := range q.Tokens {
		named["token "+x] = true
	}
	var out []Revoked
	for _, r := range st.Revoked {
		if named[r.Kind+" "+r.ID] {
			out = append(out, r)
		}
	}
	st.Revoked = out
	return st, nil
}

type repData Reputation

func (d repData) Reputation(context.Context, []digest.Digest, []string) (Reputation, error) {
	return Reputation(d), nil
}

type sigData []Signature

func (d sigData) Signatures(context.Context, []digest.Digest) ([]Signature, error) { return d, nil }

type tokenData TokenCheck

func (d tokenData) CheckToken(context.Context, []digest.Digest, *Policy, time.Duration) (TokenCheck, error) {
	return TokenCheck(d), nil
}

type staleTUF struct{}

func (staleTUF) TUFRole(context.Context, string, string) (*TUFRole, error) {
	return nil, fmt.Errorf("%w: targets.json expired", ErrStaleEvidence)
}

type failing struct{}

func (failing) TUFRole(context.Context, string, string) (*TUFRole, error) {
	return nil, errors.New("server 127.0.0.1:1 unavailable")
}

func good() Sources {
	return Sources{
		TUF: tufData{"acme/app/targets": {Repo: "acme/app", Role: "targets", Version: 4, Expires: now.Add(time.Hour),
			Targets: map[string][]digest.Digest{"app-1.0.tar.gz": {artSHA}, "lib.tar.gz": {otherSH}}}},
		PGP: pgpData{sigs: []PGPSignature{{Name: "app-1.0.tar.gz", Signer: fprDev, Seq: 9, At: now, Input: Input{URI: "trustd:log/9", Digest: otherSH}}}, allowed: map[string]bool{fprDev: true}},
		Attestations: attData{{Seq: 11, Signers: []string{keyA}, Fields: map[string]string{"builderId": "https://github.com/actions/runner/v2", "sourceRepository": "https://github.com/acme/app"}},
			{Seq: 12, Identities: []SigstoreIdentity{{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0"}}, Fields: map[string]string{"builderId": "https://github.com/actions/runner/v2"}}},
		Revocations: revData{ListSeq: 40, ListTime: now.Add(-10 * time.Minute)},
		Reputation:  repData{Score: 0.8, Votes: 5},
		Signers:     sigData{{Kind: "key", ID: keyA, Seq: 11}, {Kind: "pgp", ID: fprDev, Seq: 9}, {Kind: "key", ID: keyA, Seq: 13}},
		Tokens:      tokenData{ID: "sha256:" + strings.Repeat("e", 64), IssuedAt: now.Add(-time.Hour), Expires: now.Add(time.Hour)},
	}
}

func mustPolicy(t *testing.T, req string) *Policy {
	t.Helper()
	f, err := Parse([]byte(head + req))
	if err != nil {
		t.Fatal(err)
	}
	return &f.Policies[0]
}

func TestEvaluate(t *testing.T) {
	pgpReq := "      pgp: {roots: [" + fprRoot + "], name: 'app-*'}\n"
	tests := []struct {
		name    string
		req     string
		mutate  func(*Sources)
		outcome Outcome
		reasons []Reason
	}{
		{"tuf pass", "      tuf: {repo: acme/app, pattern: 'app-*.tar.gz'}\n", nil, Pass, nil},
		{"tuf other name", "      tuf: {repo: acme/app, target: app-2.0.tar.gz}\n", nil, Fail, []Reason{ReasonUntrustedSigner}},
		{"tuf absent", "      tuf: {repo: acme/app, target: x}\n", func(s *Sources) { s.TUF.(tufData)["acme/app/targets"].Targets = nil }, Fail, []Reason{ReasonUnsigned}},
		{"tuf expired", "      tuf: {repo: acme/app, target: app-1.0.tar.gz}\n", func(s *Sources) { s.TUF.(tufData)["acme/app/targets"].Expires = now.Add(-time.Second) }, Fail, []Reason{ReasonStaleMetadata}},
		{"tuf stale from a TUF client", "      tuf: {repo: acme/app, target: app-1.0.tar.gz}\n", func(s *Sources) { s.TUF = staleTUF{} }, Fail, []Reason{ReasonStaleMetadata}},
		{"tuf unreachable", "      tuf: {repo: acme/app, target: app-1.0.tar.gz}\n", func(s *Sources) { s.TUF = failing{} }, Undecided, []Reason{ReasonEvidenceUnavailable}},
		{"pgp pass", pgpReq, nil, Pass, nil},
		{"pgp untrusted", pgpReq, func(s *Sources) { s.PGP = pgpData{sigs: s.PGP.(pgpData).sigs} }, Fail, []Reason{ReasonUntrustedSigner}},
		{"pgp revoked", pgpReq, func(s *Sources) {
			s.PGP = pgpData{sigs: []PGPSignature{{Name: "app-1.0.tar.gz", Signer: "revoked", Seq: 9}}}
		}, Fail, []Reason{ReasonRevoked}},
		{"pgp unsigned", pgpReq, func(s *Sources) { s.PGP = pgpData{} }, Fail, []Reason{ReasonUnsigned}},
		{"attestation by key with conditions", "      attestation: {predicateType: p, signers: [" + keyA + "], conditions: {sourceRepository: 'https://github.com/acme/*'}}\n", nil, Pass, nil},
		{"attestation by identity", "      attestation: {predicateType: p, identities: [{issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/acme/app/.*'}]}\n", nil, Pass, nil},
		{"attestation identity subject anchored", "      attestation: {predicateType: p, identities: [{issuer: 'https://token.actions.githubusercontent.com', subject: 'acme'}]}\n", nil, Fail, []Reason{ReasonUntrustedSigner}},
		{"attestation condition", "      attestation: {predicateType: p, signers: [" + keyA + "], conditions: {builderId: 'https://evil/*'}}\n", nil, Fail, []Reason{ReasonConditionFailed}},
		{"attestation min", "      attestation: {predicateType: p, min: 3}\n", nil, Fail, []Reason{ReasonThresholdNotMet}},
		{"attestation none", "      attestation: {predicateType: p}\n", func(s *Sources) { s.Attestations = attData{} }, Fail, []Reason{ReasonUnsigned}},
		{"revocation pass", "      all: [" + strings.TrimSpace(strings.TrimPrefix(pgpReq, "      ")) + ", {revocation: {maxAge: 1h}}]\n", nil, Pass, nil},
		{"revoked signer", "      all: [{pgp: {roots: [" + fprRoot + "]}}, {revocation: {}}]\n", func(s *Sources) {
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{Kind: "key", ID: fprDev, Seq: 41, Reason: "compromised"}}}
		}, Fail, []Reason{ReasonRevoked}},
		{"revoked signer not involved", "      revocation: {}\n", func(s *Sources) {
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{Kind: "key", ID: fprDev, Seq: 41, Reason: "compromised"}}}
		}, Pass, nil},
		{"revoked artifact", "      revocation: {}\n", func(s *Sources) {
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{Kind: "digest", ID: artSHA.String(), Seq: 41, Reason: "malicious"}}}
		}, Fail, []Reason{ReasonRevoked}},
		{"stale revocation list", "      revocation: {maxAge: 5m}\n", nil, Fail, []Reason{ReasonStaleMetadata}},
		{"reputation pass", "      reputation: {minScore: 0.5, minVotes: 5}\n", nil, Pass, nil},
		{"reputation below", "      reputation: {minScore: 0.9}\n", nil, Fail, []Reason{ReasonReputationBelow}},
		{"reputation votes", "      reputation: {minVotes: 6}\n", nil, Fail, []Reason{ReasonReputationBelow}},
		{"threshold 2 of 3", "      threshold: {k: 2, signers: [{key: " + keyA + "}, {pgp: " + fprDev + "}, {key: " + keyB + "}]}\n", nil, Pass, nil},
		{"threshold counts a signer once", "      threshold: {k: 2, signers: [{key: " + keyA + "}, {key: " + keyB + "}]}\n", nil, Fail, []Reason{ReasonThresholdNotMet}},
		{"threshold sigstore", "      threshold: {k: 1, signers: [{sigstore: {issuer: i, subject: 'a@b'}}]}\n", func(s *Sources) {
			s.Signers = sigData{{Kind: "sigstore", Identity: SigstoreIdentity{Issuer: "i", Subject: "a@b"}, Seq: 3}}
		}, Pass, nil},
		{"token pass", "      token: {maxAge: 24h}\n", nil, Pass, nil},
		{"token expired", "      token: {maxAge: 24h}\n", func(s *Sources) { s.Tokens = tokenData{Reason: ReasonExpired, Detail: "expired"} }, Fail, []Reason{ReasonExpired}},
		{"any: token beats offline", "      any: [{token: {maxAge: 1h}}, {tuf: {repo: acme/app, target: app-1.0.tar.gz}}]\n", func(s *Sources) { s.TUF = nil }, Pass, nil},
		{"any: failed token, offline rest", "      any: [{token: {maxAge: 1h}}, {tuf: {repo: acme/app, target: app-1.0.tar.gz}}]\n", func(s *Sources) {
			s.TUF = nil
			s.Tokens = tokenData{Reason: ReasonPolicyMismatch, Detail: "other policy"}
		}, Undecided, []Reason{ReasonPolicyMismatch, ReasonEvidenceUnavailable}},
		{"offline: failed token is a definite no", "      any: [{token: {maxAge: 1h}}, {all: [{tuf: {repo: acme/app, target: app-1.0.tar.gz}}, {revocation: {}}]}]\n", func(s *Sources) {
			*s = Sources{Tokens: tokenData{Reason: ReasonExpired, Detail: "expired"}}
		}, Fail, []Reason{ReasonExpired, ReasonOffline}},
		{"offline: good token", "      any: [{token: {maxAge: 1h}}, {tuf: {repo: acme/app, target: app-1.0.tar.gz}}]\n", func(s *Sources) {
			*s = Sources{Tokens: s.Tokens}
		}, Pass, nil},
		{"all: failure beats undecided", "      all: [{tuf: {repo: acme/app, target: nope}}, {reputation: {minVotes: 1}}]\n", func(s *Sources) { s.Reputation = nil }, Fail, []Reason{ReasonUntrustedSigner, ReasonEvidenceUnavailable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := good()
			offline := strings.HasPrefix(tc.name, "offline")
			src.TUF.(tufData)["acme/app/targets"] = &TUFRole{Repo: "acme/app", Role: "targets", Version: 4, Expires: now.Add(time.Hour),
				Targets: map[string][]digest.Digest{"app-1.0.tar.gz": {artSHA}, "lib.tar.gz": {otherSH}}}
			if tc.mutate != nil {
				tc.mutate(&src)
			}
			ev := &Evaluator{Sources: src, Now: func() time.Time { return now }, Offline: offline}
			v := ev.Evaluate(context.Background(), mustPolicy(t, tc.req), "app.tar.gz", []digest.Digest{artSHA})
			if v.Outcome != tc.outcome || !equalReasons(v.Reasons(), tc.reasons) {
				var b bytes.Buffer
				_ = v.WriteText(&b)
				t.Errorf("outcome %s reasons %v, want %s %v\n%s", v.Outcome, v.Reasons(), tc.outcome, tc.reasons, b.String())
			}
		})
	}
}

func TestVerdictInputs(t *testing.T) {
	src := good()
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }}
	p := mustPolicy(t, "      any: [{pgp: {roots: ["+fprRoot+"]}}, {tuf: {repo: acme/app, target: nope}}]\n")
	v := ev.Evaluate(context.Background(), p, "", []digest.Digest{artSHA})
	if in := v.Inputs(); v.Outcome != Pass || len(in) != 1 || in[0].URI != "trustd:log/9" {
		t.Errorf("inputs of a pass through pgp: %+v", in)
	}
	src.PGP = pgpData{sigs: src.PGP.(pgpData).sigs}
	ev.Sources = src
	if in := ev.Evaluate(context.Background(), p, "", []digest.Digest{artSHA}).Inputs(); len(in) != 0 {
		t.Errorf("a failed verdict relies on inputs: %+v", in)
	}
}

// TestPGPRefusalsBounded: anyone may publish manifests naming any bytes,
// so a failed OpenPGP requirement says each signer's refusal once and
// lists at most shownRefusals, counting the rest.
func TestPGPRefusalsBounded(t *testing.T) {
	src := good()
	var sigs []PGPSignature
	for i := range 200 {
		sigs = append(sigs, PGPSignature{Name: "app-1.0.tar.gz", Signer: "stranger", Seq: uint64(100 + i), At: now})
		sigs = append(sigs, PGPSignature{Name: fmt.Sprintf("mirror-%d", i), Signer: "stranger", Seq: uint64(300 + i), At: now})
	}
	src.PGP = pgpData{sigs: sigs}
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }}
	v := ev.Evaluate(context.Background(), mustPolicy(t, "      pgp: {roots: ["+fprRoot+"], name: 'app-*'}\n"), "", []digest.Digest{artSHA})
	detail := v.Result.Detail
	if v.Outcome != Fail || strings.Count(detail, "stranger: no-path") != 1 || !strings.Contains(detail, "and 191 more") || len(detail) > 2000 {
		t.Errorf("outcome %s, detail (%d bytes): %s", v.Outcome, len(detail), detail)
	}
}

func equalReasons(a, b []Reason) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVerdictGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	src := good()
	src.Tokens = tokenData{Reason: ReasonNoToken, Detail: "no token found beside the bytes"}
	src.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{Kind: "key", ID: fprDev, Seq: 41, Reason: "compromised"}}}
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }}
	v := ev.Evaluate(context.Background(), &f.Policies[0], "registry.example/acme/app:1.0", []digest.Digest{artSHA})
	var text, js bytes.Buffer
	if err := v.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "verdict.txt", text.Bytes())
	golden(t, "verdict.json", js.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestRevocationAlwaysWins: a revocation in force of the digest, of a key
// the evaluation counted, of a statement or of a token a passing
// requirement relied on fails the verdict REVOKED whatever the requirement
// tree says, with or without a revocation requirement in the policy; the
// one time rule decides what is in force.
func TestRevocationAlwaysWins(t *testing.T) {
	tokenID := "sha256:" + strings.Repeat("e", 64)
	tokenKey := strings.Repeat("9", 64)
	input := digest.MustParse("sha256:" + strings.Repeat("12", 32))
	revoke := func(kind, id, reason string, effective time.Time) func(*Sources) {
		return func(s *Sources) {
			rd := s.Revocations.(revData)
			rd.Revoked = append(slices.Clone(rd.Revoked), Revoked{Kind: kind, ID: id, Seq: 77, Reason: reason, Effective: effective})
			s.Revocations = rd
		}
	}
	withToken := func(s *Sources) {
		s.Tokens = tokenData{ID: tokenID, IssuedAt: now.Add(-time.Hour), Expires: now.Add(time.Hour), KeyID: tokenKey,
			Signers: []string{keyB}, Inputs: []Input{{URI: "trustd:log/5", Digest: input}}}
	}
	both := func(fns ...func(*Sources)) func(*Sources) {
		return func(s *Sources) {
			for _, f := range fns {
				f(s)
			}
		}
	}
	// The README's shape: a token, or the full evidence with a revocation check.
	readme := "      any: [{token: {maxAge: 24h}}, {all: [{tuf: {repo: acme/app, target: app-1.0.tar.gz}}, {revocation: {}}]}]\n"
	tokenOrTUF := "      any: [{token: {maxAge: 24h}}, {tuf: {repo: acme/app, target: app-1.0.tar.gz}}]\n"
	threshold := "      threshold: {k: 1, signers: [{key: " + keyA + "}, {pgp: " + fprDev + "}]}\n"
	pgpObserved := func(s *Sources) {
		// The manifest was first observed two days ago, claiming three.
		s.PGP = pgpData{sigs: []PGPSignature{{Name: "app-1.0.tar.gz", Signer: fprDev, Seq: 9, At: now.Add(-72 * time.Hour), Observed: now.Add(-48 * time.Hour)}}, allowed: map[string]bool{fprDev: true}}
	}
	pgpReq := "      any: [{pgp: {roots: [" + fprRoot + "]}}, {tuf: {repo: acme/app, target: app-1.0.tar.gz}}]\n"
	// The developer's manifest, allowed through the root's delegation,
	// which the log first observed 80 hours ago.
	pgpChain := func(s *Sources) {
		pgpObserved(s)
		d := s.PGP.(pgpData)
		d.chainKeys = map[string]time.Time{fprRoot: now.Add(-80 * time.Hour)}
		s.PGP = d
	}
	// The root rotated to the developer's key by the statement logged as
	// seq 77 (the revocations' seq) an hour ago, effective two hours ago:
	// the chain relies on the root's signature on that rotation.
	pgpRotated := func(seq uint64) func(*Sources) {
		return func(s *Sources) {
			pgpObserved(s)
			d := s.PGP.(pgpData)
			d.chainKeys = map[string]time.Time{fprRoot: now.Add(-time.Hour), fprDev: now.Add(-time.Hour)}
			d.rotations = map[string]uint64{fprRoot: seq}
			s.PGP = d
		}
	}
	// The TUF targets role, signed by tufKey, first observed two days ago.
	tufKey := strings.Repeat("7", 64)
	tufMeta := digest.MustParse("sha256:" + strings.Repeat("34", 32))
	tufOnly := "      tuf: {repo: acme/app, target: app-1.0.tar.gz}\n"
	tufSigned := func(s *Sources) {
		r := s.TUF.(tufData)["acme/app/targets"]
		r.Signers, r.Observed = []string{tufKey}, now.Add(-48*time.Hour)
		r.Input = Input{URI: "trustd:tuf/acme/app/4.targets.json", Digest: tufMeta}
	}
	tests := []struct {
		name    string
		req     string
		mutate  func(*Sources)
		outcome Outcome
		reasons []Reason
	}{
		{"nothing revoked", readme, withToken, Pass, nil},
		{"digest revoked malicious, README policy", readme, both(withToken, revoke("digest", artSHA.String(), "malicious", now.Add(-time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"digest revoked, no revocation requirement", tokenOrTUF, both(withToken, revoke("digest", artSHA.String(), "malicious", now.Add(-time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"digest revoked malicious from tomorrow: hard, in force now", tokenOrTUF, revoke("digest", artSHA.String(), "malicious", now.Add(24*time.Hour)), Fail, []Reason{ReasonRevoked}},
		{"digest withdrawn from tomorrow: soft, not yet", tokenOrTUF, revoke("digest", artSHA.String(), "withdrawn", now.Add(24*time.Hour)), Pass, nil},
		{"digest withdrawn since an hour", tokenOrTUF, revoke("digest", artSHA.String(), "withdrawn", now.Add(-time.Hour)), Fail, []Reason{ReasonRevoked}},
		{"token revoked compromised", tokenOrTUF, both(withToken, revoke("token", tokenID, "compromised", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
		{"token key revoked", tokenOrTUF, both(withToken, revoke("key", tokenKey, "compromised", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
		{"token key superseded: a token is in no log, judged as used now", tokenOrTUF, both(withToken, revoke("key", tokenKey, "superseded", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
		{"token's signer compromised", tokenOrTUF, both(withToken, revoke("key", keyB, "compromised", now.Add(time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"token's signer superseded after issue", tokenOrTUF, both(withToken, revoke("key", keyB, "superseded", now.Add(-time.Minute))), Pass, nil},
		{"token's signer superseded before issue", tokenOrTUF, both(withToken, revoke("key", keyB, "superseded", now.Add(-2*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"token's signer superseded before issue, after the signature the token names", tokenOrTUF, both(withToken, func(s *Sources) {
			tc := s.Tokens.(tokenData)
			tc.SignerTimes = map[string]time.Time{keyB: now.Add(-3 * time.Hour)}
			s.Tokens = tc
		}, revoke("key", keyB, "superseded", now.Add(-2*time.Hour))), Pass, nil},
		{"token's signer time after its issue is not believed", tokenOrTUF, both(withToken, func(s *Sources) {
			tc := s.Tokens.(tokenData)
			tc.SignerTimes = map[string]time.Time{keyB: now.Add(time.Hour)}
			s.Tokens = tc
		}, revoke("key", keyB, "superseded", now.Add(-2*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"token's input statement revoked", tokenOrTUF, both(withToken, revoke("statement", input.String(), "withdrawn", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
		{"failed token's revocation is not relied on", tokenOrTUF, func(s *Sources) {
			s.Tokens = tokenData{ID: tokenID, Reason: ReasonExpired, Detail: "expired"}
			revoke("token", tokenID, "compromised", now.Add(-time.Minute))(s)
		}, Pass, nil},
		{"threshold signer compromised", threshold, revoke("key", fprDev, "compromised", now.Add(time.Hour)), Fail, []Reason{ReasonRevoked}},
		{"pgp signer superseded after the manifest was observed", pgpReq, both(pgpObserved, revoke("key", fprDev, "superseded", now.Add(-24*time.Hour))), Pass, nil},
		{"pgp signer superseded before it was observed, backdated", pgpReq, both(pgpObserved, revoke("key", fprDev, "superseded", now.Add(-60*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"pgp signer compromised long after", pgpReq, both(pgpObserved, revoke("key", fprDev, "compromised", now)), Fail, []Reason{ReasonRevoked}},
		{"attestation signer never observed: judged as now", "      attestation: {predicateType: p, signers: [" + keyA + "]}\n", revoke("key", keyA, "retired", now.Add(-time.Second)), Fail, []Reason{ReasonRevoked}},
		{"a failed tree keeps its own reasons after REVOKED", "      tuf: {repo: acme/app, target: nope}\n", revoke("digest", artSHA.String(), "malicious", now), Fail, []Reason{ReasonRevoked, ReasonUntrustedSigner}},
		{"revocation state unreadable: undecided", tokenOrTUF, func(s *Sources) { s.Revocations = revErr{errors.New("unreachable")} }, Undecided, []Reason{ReasonEvidenceUnavailable}},
		{"revocation state stale: fails", tokenOrTUF, func(s *Sources) { s.Revocations = revErr{fmt.Errorf("%w: list expired", ErrStaleEvidence)} }, Fail, []Reason{ReasonStaleMetadata}},
		{"no revocation source: nothing to check", tokenOrTUF, func(s *Sources) { s.Revocations = nil }, Pass, nil},
		{"pgp chain: the root's delegation, nothing revoked", pgpReq, pgpChain, Pass, nil},
		{"pgp chain: the root that delegated compromised", pgpReq, both(pgpChain, revoke("key", fprRoot, "compromised", now)), Fail, []Reason{ReasonRevoked}},
		{"pgp chain: the root superseded after its delegation was observed", pgpReq, both(pgpChain, revoke("key", fprRoot, "superseded", now.Add(-24*time.Hour))), Pass, nil},
		{"pgp chain: the root superseded before its delegation was observed", pgpReq, both(pgpChain, revoke("key", fprRoot, "superseded", now.Add(-90*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"pgp chain: the root superseded by the rotation the chain passes through", pgpReq, both(pgpRotated(77), revoke("key", fprRoot, "superseded", now.Add(-2*time.Hour))), Pass, nil},
		{"pgp chain: the root superseded by another rotation before this one", pgpReq, both(pgpRotated(70), revoke("key", fprRoot, "superseded", now.Add(-2*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"pgp chain: the rotated root compromised", pgpReq, both(pgpRotated(77), revoke("key", fprRoot, "compromised", now.Add(-2*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"TUF role signed, nothing revoked", tufOnly, tufSigned, Pass, nil},
		{"TUF targets key compromised", tufOnly, both(tufSigned, revoke("key", tufKey, "compromised", now)), Fail, []Reason{ReasonRevoked}},
		{"TUF targets key superseded after the role was observed", tufOnly, both(tufSigned, revoke("key", tufKey, "superseded", now.Add(-24*time.Hour))), Pass, nil},
		{"TUF targets key superseded before the role was observed", tufOnly, both(tufSigned, revoke("key", tufKey, "superseded", now.Add(-60*time.Hour))), Fail, []Reason{ReasonRevoked}},
		{"TUF targets metadata statement withdrawn", tufOnly, both(tufSigned, revoke("statement", tufMeta.String(), "withdrawn", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
		{"TUF name binding's targets key compromised", "      name: {tuf: {repo: acme/app}}\n", both(tufSigned, func(s *Sources) {
			s.TUF.(tufData)["acme/app/targets"].Targets = map[string][]digest.Digest{"app.tar.gz": {artSHA}}
		}, revoke("key", tufKey, "compromised", now)), Fail, []Reason{ReasonRevoked}},
		{"token's TUF metadata input revoked (offline)", "      token: {maxAge: 24h}\n", both(withToken, func(s *Sources) {
			tc := s.Tokens.(tokenData)
			tc.Inputs = []Input{{URI: "trustd:tuf/acme/app/4.targets.json", Digest: tufMeta}}
			s.Tokens = tc
		}, revoke("statement", tufMeta.String(), "withdrawn", now.Add(-time.Minute))), Fail, []Reason{ReasonRevoked}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := good()
			src.TUF.(tufData)["acme/app/targets"] = &TUFRole{Repo: "acme/app", Role: "targets", Version: 4, Expires: now.Add(time.Hour),
				Targets: map[string][]digest.Digest{"app-1.0.tar.gz": {artSHA}}}
			if tc.mutate != nil {
				tc.mutate(&src)
			}
			ev := &Evaluator{Sources: src, Now: func() time.Time { return now }}
			v := ev.Evaluate(context.Background(), mustPolicy(t, tc.req), "app.tar.gz", []digest.Digest{artSHA})
			if v.Outcome != tc.outcome || !equalReasons(v.Reasons(), tc.reasons) {
				var b bytes.Buffer
				_ = v.WriteText(&b)
				t.Errorf("outcome %s reasons %v, want %s %v\n%s", v.Outcome, v.Reasons(), tc.outcome, tc.reasons, b.String())
			}
		})
	}
}
