package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
)

// TestVerifyOfflineWitnesses: offline, with witnesses required, a token
// passes only when its checkpoint verifies under the log key, carries k of
// the n named witnesses' cosignatures, and proves its log inputs in it;
// without witnesses required, tokens with and without a checkpoint pass
// as before.
func TestVerifyOfflineWitnesses(t *testing.T) {
	ctx := context.Background()
	f, err := policy.Parse([]byte("apiVersion: trustd.dev/policy/v1\npolicies:\n  - name: deploy\n    require: {token: {maxAge: 1h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Policy("deploy")
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A log of 3 entries whose checkpoint witnesses a and b (not c)
	// cosigned; the token relies on entry 2.
	skey, logKey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)), "trustd.test/log")
	if err != nil {
		t.Fatal(err)
	}
	var nodes tlog.MemNodes
	entries := [][]byte{[]byte("entry 1"), []byte("entry 2"), []byte("entry 3")}
	var leaves [][]byte
	for _, e := range entries {
		leaves = append(leaves, tlog.LeafHash(e))
	}
	root, err := tlog.AppendBatch(ctx, &nodes, 0, leaves)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: "trustd.test/log", Size: 3, Hash: root}, skey)
	if err != nil {
		t.Fatal(err)
	}
	var ws []note.Signer
	var wkeys []string
	for i, name := range []string{"w.example/a", "w.example/b", "w.example/c"} {
		s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		ws, wkeys = append(ws, s), append(wkeys, s.Verifier().String())
	}
	body, _, _ := bytes.Cut(signed, []byte("\n\n"))
	both, err := note.Sign(&note.Note{Text: string(body) + "\n"}, ws[0], ws[1])
	if err != nil {
		t.Fatal(err)
	}
	_, lines, _ := bytes.Cut(both, []byte("\n\n"))
	cosigned := tlog.AddSignatures(signed, strings.SplitAfter(string(lines), "\n")...)
	proof, err := tlog.InclusionProof(ctx, &nodes, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	goodLog := func() *token.LogProof {
		return &token.LogProof{Checkpoint: cosigned, Inclusions: []token.Inclusion{{URI: "trustd:log/2", LeafIndex: 1, LeafHash: leaves[1], Hashes: proof}}}
	}

	dir := t.TempDir()
	for i, tc := range []struct {
		name      string
		log       func() *token.LogProof
		witnesses []string
		k         int
		says      string // the token requirement's detail on failure; empty: it passes
	}{
		{"no witnesses required", goodLog, nil, 0, ""},
		{"old token, no witnesses required", func() *token.LogProof { return nil }, nil, 0, ""},
		{"2 of 3", goodLog, wkeys, 2, ""},
		{"all of a, b", goodLog, wkeys[:2], 0, ""},
		{"3 of 3", goodLog, wkeys, 3, "missing: w.example/c+"},
		{"old token", func() *token.LogProof { return nil }, wkeys, 1, "holds no checkpoint"},
		{"tampered proof", func() *token.LogProof {
			l := goodLog()
			h := bytes.Clone(proof[0])
			h[0] ^= 1
			l.Inclusions[0].Hashes = append([][]byte{h}, proof[1:]...)
			return l
		}, wkeys, 2, "input trustd:log/2"},
		{"tampered checkpoint", func() *token.LogProof {
			l := goodLog()
			l.Checkpoint = bytes.Replace(cosigned, []byte("\n3\n"), []byte("\n4\n"), 1)
			return l
		}, wkeys, 2, "checkpoint"},
		{"no proof of an input", func() *token.LogProof { l := goodLog(); l.Inclusions = nil; return l }, wkeys, 2, "trustd:log/2 has no inclusion proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			artifact := filepath.Join(dir, fmt.Sprintf("app-%d.tar.gz", i))
			if err := os.WriteFile(artifact, []byte("release bytes\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			art, err := Resolve(ctx, artifact, ResolveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			// Each token is signed by the trusted key: a tampered
			// checkpoint or proof is caught by the witness check itself.
			tok, _, err := token.NewIssuer(signer, pub).Issue(ctx, token.Claims{
				Subject: []digest.Digest{art.SHA256()}, TimeVerified: now, Expires: now.Add(time.Hour),
				PolicyName: p.Name, PolicyURI: p.URI(), PolicyDigest: p.Digest(), Result: token.ResultPassed,
				Inputs: []token.Input{{URI: "trustd:log/2", Digest: digest.MustParse("sha256:" + strings.Repeat("ab", 32))}}, Log: tc.log(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(artifact+".trust.json", tok, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := Verify(ctx, artifact, VerifyOptions{Policy: p, TokenKeys: token.Keys{pub}, LogKey: logKey, Witnesses: tc.witnesses, WitnessThreshold: tc.k})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Verdict.Result
			switch {
			case tc.says == "" && res.Verdict.Outcome != policy.Pass:
				t.Fatalf("verdict %s: %s %s", res.Verdict.Outcome, got.Reason, got.Detail)
			case tc.says != "" && (res.Verdict.Outcome != policy.Fail || got.Reason != policy.ReasonTokenInvalid || !strings.Contains(got.Detail, tc.says)):
				t.Fatalf("verdict %s: %s %s, want FAIL TOKEN_INVALID saying %q", res.Verdict.Outcome, got.Reason, got.Detail, tc.says)
			}
		})
	}
	if _, err := Verify(ctx, filepath.Join(dir, "app-0.tar.gz"), VerifyOptions{Policy: p, TokenKeys: token.Keys{pub}, Witnesses: wkeys}); err == nil || !strings.Contains(err.Error(), "LogKey") {
		t.Fatalf("offline witnesses without a log key = %v", err)
	}
}
