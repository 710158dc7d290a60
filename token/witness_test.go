package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

const testOrigin = "trustd.test/log"

// witnessedLog is a log of 7 entries, its checkpoint signed by the log key
// and cosigned by witnesses a and b (not c), and claims whose inputs
// trustd:log/3 and trustd:log/6 it proves.
type witnessedLog struct {
	logKey    string
	witnesses []string // a, b, c
	claims    Claims
}

func newWitnessedLog(t testing.TB) witnessedLog {
	t.Helper()
	ctx := context.Background()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	var nodes tlog.MemNodes
	var leaves [][]byte
	for i := range 7 {
		leaves = append(leaves, tlog.LeafHash(fmt.Appendf(nil, "entry %d", i)))
	}
	root, err := tlog.AppendBatch(ctx, &nodes, 0, leaves)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: 7, Hash: root}, skey)
	if err != nil {
		t.Fatal(err)
	}
	var ws []note.Signer
	var keys []string
	for i, name := range []string{"w.example/a", "w.example/b", "w.example/c"} {
		s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, s)
		keys = append(keys, s.Verifier().String())
	}
	n, err := note.Open(signed, note.VerifierList(mustVerifier(t, vkey)))
	if err != nil {
		t.Fatal(err)
	}
	both, err := note.Sign(&note.Note{Text: n.Text}, ws[0], ws[1])
	if err != nil {
		t.Fatal(err)
	}
	_, lines, _ := bytes.Cut(both, []byte("\n\n"))
	cosigned := tlog.AddSignatures(signed, strings.SplitAfter(string(lines), "\n")...)
	c := claims()
	c.Inputs = []Input{{URI: "trustd:log/3", Digest: otherD}, {URI: "trustd:log/6", Digest: artDig}, {URI: "https://example.com/elsewhere", Digest: polDig}}
	c.Log = &LogProof{Checkpoint: cosigned}
	for _, seq := range []uint64{3, 6} {
		p, err := tlog.InclusionProof(ctx, &nodes, seq-1, 7)
		if err != nil {
			t.Fatal(err)
		}
		c.Log.Inclusions = append(c.Log.Inclusions, Inclusion{URI: fmt.Sprintf("trustd:log/%d", seq), LeafIndex: seq - 1, LeafHash: leaves[seq-1], Hashes: p})
	}
	return witnessedLog{logKey: vkey, witnesses: keys, claims: c}
}

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// reissue signs c and verifies it again, as an offline verifier reads it.
func reissue(t *testing.T, c Claims) Claims {
	t.Helper()
	iss := fixedIssuer(t)
	env, _, err := iss.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Keys{iss.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Claims
}

// TestVerifyLog: a token's checkpoint and proofs round-trip through
// issuance and verification; k of n witnesses pass, fewer fail naming the
// missing ones, and a token (re-signed, so its signature holds) whose
// checkpoint, leaf or proof was changed, or that lacks a proof, fails.
func TestVerifyLog(t *testing.T) {
	wl := newWitnessedLog(t)
	c := reissue(t, wl.claims)
	if c.Log == nil || !bytes.Equal(c.Log.Checkpoint, wl.claims.Log.Checkpoint) || len(c.Log.Inclusions) != 2 {
		t.Fatalf("log proof did not round-trip: %+v", c.Log)
	}
	edit := func(f func(c *Claims)) Claims {
		cc := c
		lp := *c.Log
		lp.Checkpoint = bytes.Clone(lp.Checkpoint)
		lp.Inclusions = nil
		for _, in := range c.Log.Inclusions {
			in.LeafHash = bytes.Clone(in.LeafHash)
			var hs [][]byte
			for _, h := range in.Hashes {
				hs = append(hs, bytes.Clone(h))
			}
			in.Hashes = hs
			lp.Inclusions = append(lp.Inclusions, in)
		}
		cc.Log = &lp
		f(&cc)
		return reissue(t, cc)
	}
	otherKey := func() string {
		_, vk, _ := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), testOrigin)
		return vk
	}()
	for _, tc := range []struct {
		name      string
		c         Claims
		logKey    string
		witnesses []string
		k         int
		want      error
		says      string
	}{
		{"2 of 3", c, wl.logKey, wl.witnesses, 2, nil, ""},
		{"1 of 1", c, wl.logKey, wl.witnesses[1:2], 1, nil, ""},
		{"3 of 3", c, wl.logKey, wl.witnesses, 3, tlog.ErrWitnessQuorum, "missing: w.example/c+"},
		{"only c", c, wl.logKey, wl.witnesses[2:], 1, tlog.ErrWitnessQuorum, "cosigned: none"},
		{"other log key", c, otherKey, wl.witnesses, 2, ErrUnwitnessed, "checkpoint"},
		{"no checkpoint", edit(func(c *Claims) { c.Log = nil }), wl.logKey, wl.witnesses, 2, ErrUnwitnessed, "holds no checkpoint"},
		{"checkpoint size changed", edit(func(c *Claims) {
			c.Log.Checkpoint = bytes.Replace(c.Log.Checkpoint, []byte("\n7\n"), []byte("\n8\n"), 1)
		}), wl.logKey, wl.witnesses, 1, ErrUnwitnessed, "checkpoint"},
		{"proof hash changed", edit(func(c *Claims) { c.Log.Inclusions[0].Hashes[0][0] ^= 1 }), wl.logKey, wl.witnesses, 2, ErrUnwitnessed, "input trustd:log/3"},
		{"leaf hash changed", edit(func(c *Claims) { c.Log.Inclusions[1].LeafHash[5] ^= 1 }), wl.logKey, wl.witnesses, 2, ErrUnwitnessed, "input trustd:log/6"},
		{"proof for another leaf", edit(func(c *Claims) { c.Log.Inclusions[0].LeafIndex = 3 }), wl.logKey, wl.witnesses, 2, ErrUnwitnessed, "leaf index 3, want 2"},
		{"proof missing", edit(func(c *Claims) { c.Log.Inclusions = c.Log.Inclusions[:1] }), wl.logKey, wl.witnesses, 2, ErrUnwitnessed, "trustd:log/6 has no inclusion proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.VerifyLog(tc.logKey, tc.witnesses, tc.k)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("VerifyLog = %v", err)
			case tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("VerifyLog = %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestOldTokenHasNoLog: a token issued before tokens carried a log proof
// (the committed golden one) still verifies, and holds none.
func TestOldTokenHasNoLog(t *testing.T) {
	data, err := os.ReadFile("testdata/token.dsse.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Keys{fixedIssuer(t).PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.Log != nil {
		t.Fatalf("old token has a log proof: %+v", tok.Claims.Log)
	}
	if _, err := tok.Claims.VerifyLog(newWitnessedLog(t).logKey, newWitnessedLog(t).witnesses, 1); !errors.Is(err, ErrUnwitnessed) {
		t.Fatalf("VerifyLog of an old token = %v, want ErrUnwitnessed", err)
	}
}

// TestLogProofRefusals: log proofs out of bounds, or for no input of the
// token, are refused at issuance and when read.
func TestLogProofRefusals(t *testing.T) {
	wl := newWitnessedLog(t)
	for _, tc := range []struct {
		name string
		edit func(p *LogProof)
		says string
	}{
		{"empty checkpoint", func(p *LogProof) { p.Checkpoint = nil }, ".log.checkpoint"},
		{"huge checkpoint", func(p *LogProof) { p.Checkpoint = bytes.Repeat([]byte("x"), MaxLogCheckpoint+1) }, "limit 16384"},
		{"proof of no input", func(p *LogProof) { p.Inclusions[0].URI = "trustd:log/99" }, "names no input"},
		{"two proofs of one input", func(p *LogProof) { p.Inclusions[1].URI = p.Inclusions[0].URI }, "has a proof already"},
		{"short leaf hash", func(p *LogProof) { p.Inclusions[0].LeafHash = []byte{1} }, "leafHash"},
		{"long proof", func(p *LogProof) { p.Inclusions[0].Hashes = make([][]byte, tlog.MaxProofHashes+1) }, "limit 64"},
		{"too many proofs", func(p *LogProof) {
			for len(p.Inclusions) <= MaxLogInclusions {
				p.Inclusions = append(p.Inclusions, p.Inclusions[0])
			}
		}, "65 proofs, limit 64"},
		{"short proof hash", func(p *LogProof) { p.Inclusions[0].Hashes[0] = []byte{1} }, "hashes[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wl.claims
			lp := *c.Log
			lp.Inclusions = []Inclusion{c.Log.Inclusions[0], c.Log.Inclusions[1]}
			lp.Inclusions[0].Hashes = append([][]byte(nil), lp.Inclusions[0].Hashes...)
			tc.edit(&lp)
			c.Log = &lp
			_, _, err := fixedIssuer(t).Issue(context.Background(), c)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Issue = %v, want ErrInvalid saying %q", err, tc.says)
			}
		})
	}
}

// FuzzParseLogProof: the extension's log member, as any token signer may
// write it, is parsed within its bounds or refused, never panics, and what
// parses verifies (or not) without panicking.
func FuzzParseLogProof(f *testing.F) {
	wl := newWitnessedLog(f)
	seed, err := json.Marshal(wl.claims.Log.toJSON())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"checkpoint":"x","inclusion":[{"uri":"trustd:log/3","leafIndex":18446744073709551615,"leafHash":"","hashes":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l logJSON
		if json.Unmarshal(data, &l) != nil {
			return
		}
		p, err := parseLogProof(opVerify, &l, wl.claims.Inputs)
		if err != nil {
			return
		}
		if len(p.Checkpoint) > MaxLogCheckpoint || len(p.Inclusions) > MaxLogInclusions {
			t.Fatal("bounds not enforced")
		}
		c := wl.claims
		c.Log = p
		_, _ = c.VerifyLog(wl.logKey, wl.witnesses, 2)
	})
}
