package tlog_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

// cosigner is a torchwood cosignature/v1 signer, an implementation
// independent of this package's verifier.
func cosigner(t *testing.T, name string, seed byte) *torchwood.CosignatureSigner {
	t.Helper()
	s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCosignatures: cosignatures made by torchwood verify with the keys
// ParseWitnessKey reads; RequireWitnesses counts distinct named witnesses
// and names the missing ones; a bad signature under a named key, bad
// keys and thresholds are errors.
func TestCosignatures(t *testing.T) {
	skey, vkey := testKey(t, testOrigin, 1)
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: 0, Hash: tlog.EmptyRoot()}, skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.OpenCheckpoint(signed, vkey); err != nil {
		t.Fatal(err)
	}
	a, b, c := cosigner(t, "w.example/a", 1), cosigner(t, "w.example/b", 2), cosigner(t, "w.example/c", 3)
	keys := []string{a.Verifier().String(), b.Verifier().String(), c.Verifier().String()}
	n, err := note.Open(signed, note.VerifierList(must(note.NewVerifier(vkey))))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, a, b)
	if err != nil {
		t.Fatal(err)
	}

	// The witness's answer (its signature lines) opens with its key.
	_, linesA, _ := bytes.Cut(must(note.Sign(&note.Note{Text: n.Text}, a)), []byte("\n\n"))
	wa, err := tlog.ParseWitnessKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	cos, err := tlog.OpenCosignatures(signed, linesA, wa)
	if err != nil || len(cos) != 1 || cos[0].Witness != keys[0] || !strings.HasPrefix(cos[0].Line, "— w.example/a ") || cos[0].Time.IsZero() {
		t.Fatalf("OpenCosignatures = %+v, %v", cos, err)
	}
	wb, _ := tlog.ParseWitnessKey(keys[1])
	if _, err := tlog.OpenCosignatures(signed, linesA, wb); err == nil || !strings.Contains(err.Error(), "no cosignature by its key") {
		t.Fatalf("OpenCosignatures of a's lines with b's key = %v", err)
	}

	for _, tc := range []struct {
		keys      []string
		threshold int
		problem   string
	}{
		{keys[:2], 2, ""},
		{keys, 2, ""},
		{keys, 3, "cosigned by 2 of the 3 named witnesses, 3 required (cosigned: w.example/a+"},
		{keys[2:], 1, "missing: w.example/c+"},
		{keys, 0, "witness threshold 0"},
		{keys[:1], 2, "witness threshold 2"},
		{[]string{keys[0], keys[0]}, 1, "named twice"},
		{[]string{vkey}, 1, "not a cosignature/v1 key"},
		{[]string{"w.example/a+00000000+" + strings.SplitN(keys[0], "+", 3)[2]}, 1, "key hash 00000000 does not match"},
	} {
		names, err := tlog.RequireWitnesses(cosigned, tc.keys, tc.threshold)
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("RequireWitnesses(%d of %d) = %v", tc.threshold, len(tc.keys), err)
		case tc.problem == "" && len(names) < tc.threshold:
			t.Errorf("RequireWitnesses(%d of %d) named %v", tc.threshold, len(tc.keys), names)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("RequireWitnesses(%d of %d) = %v, want an error saying %q", tc.threshold, len(tc.keys), err, tc.problem)
		}
	}
	if _, err := tlog.RequireWitnesses(cosigned, keys, 3); !errors.Is(err, tlog.ErrWitnessQuorum) {
		t.Errorf("quorum shortfall = %v, want ErrWitnessQuorum", err)
	}
	// A signature line under a named witness's key that does not verify.
	forged := bytes.Clone(cosigned)
	i := bytes.Index(forged, []byte("— w.example/a ")) + len("— w.example/a ") + 20
	forged[i] ^= 'A' ^ 'B'
	if forged[i] == '\n' {
		t.Fatal("test corrupted a newline")
	}
	if _, err := tlog.RequireWitnesses(forged, keys, 1); err == nil || errors.Is(err, tlog.ErrWitnessQuorum) {
		t.Errorf("a bad cosignature by a named witness = %v, want an error other than a shortfall", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzCosignatures feeds arbitrary witness answers to OpenCosignatures and
// arbitrary cosigned checkpoints to RequireWitnesses (both untrusted: a
// witness's HTTP answer, a server's checkpoint). Neither may panic; what
// OpenCosignatures accepts is by the witness it was asked about, and
// RequireWitnesses never reports more witnesses than it was given.
func FuzzCosignatures(f *testing.F) {
	skey, vkey := testKey(f, testOrigin, 1)
	signed, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: 0, Hash: tlog.EmptyRoot()}, skey)
	if err != nil {
		f.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner("w.example/a", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		f.Fatal(err)
	}
	key := s.Verifier().String()
	w, err := tlog.ParseWitnessKey(key)
	if err != nil {
		f.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(must(note.NewVerifier(vkey))))
	if err != nil {
		f.Fatal(err)
	}
	cosigned := must(note.Sign(n, s))
	_, lines, _ := bytes.Cut(must(note.Sign(&note.Note{Text: n.Text}, s)), []byte("\n\n"))
	f.Add(lines, cosigned)
	f.Add([]byte("— w.example/a AAAA\n"), signed)
	f.Add([]byte{}, []byte("not a note"))
	f.Fuzz(func(t *testing.T, answer, checkpoint []byte) {
		if cos, err := tlog.OpenCosignatures(signed, answer, w); err == nil {
			for _, c := range cos {
				if c.Witness != key {
					t.Fatalf("accepted a cosignature by %s, asked about %s", c.Witness, key)
				}
			}
		}
		if names, err := tlog.RequireWitnesses(checkpoint, []string{key}, 1); err == nil && len(names) != 1 {
			t.Fatalf("RequireWitnesses named %v of one witness", names)
		}
	})
}
