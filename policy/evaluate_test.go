package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

func (d pgpData) PGPSignatures(context.Context, []digest.Digest) ([]PGPSignature, error) {
	return d.sigs, nil
}

func (d pgpData) PGPDecide(_ context.Context, name, signer string, _ time.Time, roots []string) (PGPDecision, error) {
	if signer == "revoked" {
		return PGPDecision{Refusal: "revoked-compromised", Detail: "root revoked"}, nil
	}
	if d.allowed[signer] {
		return PGPDecision{Allowed: true, Chain: []string{"root " + roots[0], "delegation " + roots[0] + "→" + signer + " (seq 3)"}}, nil
	}
	return PGPDecision{Refusal: "no-path", Detail: "no delegation from a pinned root"}, nil
}

type attData []Attestation

func (d attData) Attestations(context.Context, []digest.Digest, string) ([]Attestation, error) {
	return d, nil
}

type revData RevocationStatus

func (d revData) Revocations(_ context.Context, _ []digest.Digest, signers []string, _ []digest.Digest) (RevocationStatus, error) {
	st := RevocationStatus(d)
	var out []Revoked
	for _, r := range st.Revoked {
		for _, s := range signers {
			if r.What == s {
				out = append(out, r)
			}
		}
		if r.What == artSHA.String() {
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
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{What: fprDev, Seq: 41, Reason: "key compromised"}}}
		}, Fail, []Reason{ReasonRevoked}},
		{"revoked signer not involved", "      revocation: {}\n", func(s *Sources) {
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{What: fprDev, Seq: 41, Reason: "key compromised"}}}
		}, Pass, nil},
		{"revoked artifact", "      revocation: {}\n", func(s *Sources) {
			s.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{What: artSHA.String(), Seq: 41, Reason: "bad build"}}}
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
	src.Revocations = revData{ListSeq: 41, ListTime: now, Revoked: []Revoked{{What: fprDev, Seq: 41, Reason: "key compromised"}}}
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
