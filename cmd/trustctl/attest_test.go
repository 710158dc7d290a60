package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// golden compares got with testdata/name, or rewrites it under -update
// (the flag reputation_test.go declares).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestAttestationText(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	var out bytes.Buffer
	for _, a := range []*trustv1.Attestation{
		{Seq: 7, Kind: "sigstore-bundle", PredicateType: "https://slsa.dev/provenance/v1", RecordedAt: at,
			Signers:  []string{"sigstore:https://token.actions.githubusercontent.com#https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.0.0"},
			Subjects: []*trustv1.StatementSubject{{Name: "app.tar.gz", Digests: []string{"sha256:" + string(bytes.Repeat([]byte("ab"), 32))}}},
			Index: &trustv1.AttestationIndex{BuilderId: "https://github.com/actions/runner/github-hosted", BuildType: "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
				SourceRepository: "https://github.com/example/app", SourceRef: "refs/tags/v1.0.0"}},
		{Seq: 3, Kind: "dsse", PredicateType: "https://spdx.dev/Document", RecordedAt: at, Signers: []string{"5c3b0a"},
			Subjects: []*trustv1.StatementSubject{{Digests: []string{"sha512:" + string(bytes.Repeat([]byte("cd"), 64))}}},
			Index:    &trustv1.AttestationIndex{DocumentName: "app-1.0.0", DocumentVersion: "SPDX-2.3"}, Revoked: true, RevokedReason: "signing key compromised"},
		{Seq: 2, Kind: "dsse", PredicateType: "https://example.com/test-result/v1", RecordedAt: at, Signers: []string{"5c3b0a"}},
	} {
		printAttestation(&out, a)
	}
	golden(t, "attest-list.golden", out.Bytes())

	out.Reset()
	printLayoutChecks(&out, &trustv1.VerifyLayoutResponse{Checks: []*trustv1.LayoutCheck{
		{Kind: "layout", Name: "expires", Passed: true, Detail: "valid until 2026-12-01T00:00:00Z"},
		{Kind: "step", Name: "write-code", Passed: true, Detail: "1 of 1 required link(s) signed by authorised functionaries; artifact rules hold", LinkSeqs: []uint64{4}},
		{Kind: "step", Name: "package", Detail: "missing link: no link was submitted for this step (threshold 1)"},
		{Kind: "inspection", Name: "untar", Detail: "artifact rules for foo.tar.gz (sha256:…): …"},
	}})
	golden(t, "attest-verify-layout.golden", out.Bytes())
}
