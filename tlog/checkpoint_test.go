package tlog_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

// Golden values: the key of testOrigin derived from seed 1, and checkpoints
// signed with it (Ed25519 signatures are deterministic).
const (
	goldenVKey = "trustd.example/log+84536d18+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
	// goldenRoot5 is the root of entries 0..4 of branch "main", also
	// computed with an independent Python implementation of RFC 6962.
	goldenRoot5   = "ZHwqKcjZ5QmOgmENdCdDqoVJMQcn8o2PwcoO4mKkAh0="
	goldenSigned5 = "trustd.example/log\n5\nZHwqKcjZ5QmOgmENdCdDqoVJMQcn8o2PwcoO4mKkAh0=\n\n— trustd.example/log hFNtGGFvqfjs3O/CO4YSZ7BQpOq4ogOH2t+RvZqOLMt6a7WfqzR790DVCh7uCQE6YPQQK5eRDTgc6Fh8CoylcY/YkQA=\n"
	goldenSigned0 = "trustd.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— trustd.example/log hFNtGPolrkm+VaOCaumc/BPBeSyIkzGGT2L8Wodt6xl7cJ35dr/rps+bdfJaTfqxwNQ+bLdcH1Ck/WoGGH23P3qGggo=\n"
)

func TestCheckpointGolden(t *testing.T) {
	skey, vkey := testKey(t, testOrigin, 1)
	if vkey != goldenVKey {
		t.Fatalf("vkey = %s, want %s", vkey, goldenVKey)
	}
	root := naiveMTH(leafHashes("main", 5))
	if got := base64.StdEncoding.EncodeToString(root); got != goldenRoot5 {
		t.Fatalf("root of 5 = %s, want %s", got, goldenRoot5)
	}
	tests := []struct {
		cp     tlog.Checkpoint
		body   string
		signed string
	}{
		{tlog.Checkpoint{Origin: testOrigin, Size: 5, Hash: root}, "trustd.example/log\n5\n" + goldenRoot5 + "\n", goldenSigned5},
		{tlog.Checkpoint{Origin: testOrigin, Size: 0, Hash: tlog.EmptyRoot()}, "trustd.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", goldenSigned0},
	}
	for _, tc := range tests {
		if got := string(tc.cp.Marshal()); got != tc.body {
			t.Errorf("Marshal = %q, want %q", got, tc.body)
		}
		signed, err := tlog.SignCheckpoint(tc.cp, skey)
		if err != nil {
			t.Fatal(err)
		}
		if string(signed) != tc.signed {
			t.Errorf("SignCheckpoint = %q, want %q", signed, tc.signed)
		}
		got, err := tlog.OpenCheckpoint([]byte(tc.signed), goldenVKey)
		if err != nil {
			t.Fatal(err)
		}
		if !equalCheckpoints(got, tc.cp) {
			t.Errorf("OpenCheckpoint = %+v, want %+v", got, tc.cp)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	skey, vkey, err := tlog.GenerateLogKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+"+testOrigin+"+") || !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Fatalf("unexpected key forms %q / %q", skey[:20], vkey)
	}
	for _, cp := range []tlog.Checkpoint{
		{Origin: testOrigin, Size: 0, Hash: tlog.EmptyRoot()},
		{Origin: testOrigin, Size: 1, Hash: tlog.LeafHash([]byte("a"))},
		{Origin: testOrigin, Size: 1 << 40, Hash: bytes.Repeat([]byte{0xff}, 32)},
		{Origin: testOrigin, Size: math.MaxUint64, Hash: bytes.Repeat([]byte{0}, 32)},
	} {
		signed, err := tlog.SignCheckpoint(cp, skey)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tlog.OpenCheckpoint(signed, vkey)
		if err != nil {
			t.Fatalf("size %d: %v", cp.Size, err)
		}
		if !equalCheckpoints(got, cp) {
			t.Fatalf("round trip: %+v, want %+v", got, cp)
		}
	}
}

// TestOpenCheckpointCosigned accepts a checkpoint that also carries a
// witness cosignature by a key the caller does not know.
func TestOpenCheckpointCosigned(t *testing.T) {
	wskey, _ := testKey(t, "witness.example", 9)
	witness, err := note.NewSigner(wskey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(goldenSigned5), mustVerifiers(t, goldenVKey))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, witness)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.OpenCheckpoint(cosigned, goldenVKey)
	if err != nil || cp.Size != 5 {
		t.Fatalf("cosigned checkpoint: %+v, %v", cp, err)
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	skey, vkey := testKey(t, testOrigin, 1)
	_, otherVKey := testKey(t, testOrigin, 2) // same name, different key
	otherSKey, otherNameVKey := testKey(t, "other.example/log", 3)
	bigSKey, bigVKey := testKey(t, strings.Repeat("a", tlog.MaxCheckpointSize), 4)
	root := naiveMTH(leafHashes("main", 5))
	b64 := base64.StdEncoding.EncodeToString(root)

	// signBody signs an arbitrary body with skey, bypassing SignCheckpoint's checks.
	signBody := func(body, key string) []byte {
		s, err := note.NewSigner(key)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := note.Sign(&note.Note{Text: body}, s)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	bigSigned := signBody(strings.Repeat("a", tlog.MaxCheckpointSize)+"\n5\n"+b64+"\n", bigSKey)

	tests := []struct {
		name    string
		signed  []byte
		vkey    string
		message string
	}{
		{"wrong key, same name", []byte(goldenSigned5), otherVKey, "no signature by log key"},
		{"wrong key, other name", []byte(goldenSigned5), otherNameVKey, "no signature by log key"},
		{"tampered size", []byte(strings.Replace(goldenSigned5, "\n5\n", "\n6\n", 1)), vkey, "invalid signature"},
		{"tampered hash", []byte(strings.Replace(goldenSigned5, "ZHwq", "ZHwr", 1)), vkey, "invalid signature"},
		{"tampered signature", []byte(strings.Replace(goldenSigned5, "hFNtGGFv", "hFNtGGFw", 1)), vkey, "invalid signature"},
		{"signature stripped", []byte("trustd.example/log\n5\n" + b64 + "\n\n"), vkey, "malformed note"},
		{"body only", []byte("trustd.example/log\n5\n" + b64 + "\n"), vkey, "malformed note"},
		{"wrong origin", signBody("other.example/log\n5\n"+b64+"\n", skey), vkey, `origin "other.example/log", want "trustd.example/log"`},
		{"signed by other log", signBody("other.example/log\n5\n"+b64+"\n", otherSKey), vkey, "no signature by log key"},
		{"leading zero size", signBody("trustd.example/log\n05\n"+b64+"\n", skey), vkey, "canonical"},
		{"plus size", signBody("trustd.example/log\n+5\n"+b64+"\n", skey), vkey, "size invalid"},
		{"negative size", signBody("trustd.example/log\n-5\n"+b64+"\n", skey), vkey, "size invalid"},
		{"size overflow", signBody("trustd.example/log\n18446744073709551616\n"+b64+"\n", skey), vkey, "size invalid"},
		{"short hash", signBody("trustd.example/log\n5\n"+base64.StdEncoding.EncodeToString(root[:31])+"\n", skey), vkey, "root hash is 31 bytes, want 32"},
		{"unpadded hash", signBody("trustd.example/log\n5\n"+strings.TrimRight(b64, "=")+"\n", skey), vkey, "invalid hash"},
		{"url base64 hash", signBody("trustd.example/log\n5\n"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))+"\n", skey), vkey, "invalid hash"},
		{"non-canonical base64 bits", signBody("trustd.example/log\n5\n"+b64[:42]+"h=\n", skey), vkey, "canonical"},
		{"extension line", signBody("trustd.example/log\n5\n"+b64+"\nextra\n", skey), vkey, "unexpected lines"},
		{"too few lines", signBody("trustd.example/log\n5\n", skey), vkey, "too few newlines"},
		{"empty size 0 root wrong", signBody("trustd.example/log\n0\n"+b64+"\n", skey), vkey, "of the empty tree"},
		{"empty", nil, vkey, "malformed note"},
		{"garbage", []byte("\x00\xff garbage \x01"), vkey, "malformed note"},
		{"text", []byte("hello, world\n"), vkey, "malformed note"},
		{"oversized", append([]byte(goldenSigned5), bytes.Repeat([]byte("— w x\n"), tlog.MaxCheckpointSize/6)...), vkey, "limit 65536"},
		{"oversized validly signed", bigSigned, bigVKey, "limit 65536"},
	}
	for _, tc := range tests {
		cp, err := tlog.OpenCheckpoint(tc.signed, tc.vkey)
		if !errors.Is(err, tlog.ErrBadCheckpoint) {
			t.Errorf("%s: OpenCheckpoint = %+v, %v; want ErrBadCheckpoint", tc.name, cp, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "tlog: open checkpoint: bad checkpoint: ") || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: error %q, want it to contain %q", tc.name, err, tc.message)
		}
	}

	// A malformed verifier key is the caller's configuration error.
	if _, err := tlog.OpenCheckpoint([]byte(goldenSigned5), "not a key"); err == nil || errors.Is(err, tlog.ErrBadCheckpoint) {
		t.Errorf("bad vkey: %v", err)
	}
}

func TestSignCheckpointRejects(t *testing.T) {
	skey, _ := testKey(t, testOrigin, 1)
	root := tlog.LeafHash([]byte("a"))
	tests := []struct {
		name    string
		cp      tlog.Checkpoint
		skey    string
		bad     bool // wraps ErrBadCheckpoint
		message string
	}{
		{"origin differs from key", tlog.Checkpoint{Origin: "other.example/log", Size: 1, Hash: root}, skey, true, "differs from signer key name"},
		{"empty origin", tlog.Checkpoint{Size: 1, Hash: root}, skey, true, "origin is empty"},
		{"newline in origin", tlog.Checkpoint{Origin: "a\nb", Size: 1, Hash: root}, skey, true, "white space"},
		{"control in origin", tlog.Checkpoint{Origin: "a\x01b", Size: 1, Hash: root}, skey, true, "control character"},
		{"short hash", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root[:16]}, skey, true, "root hash is 16 bytes, want 32"},
		{"empty tree with other root", tlog.Checkpoint{Origin: testOrigin, Size: 0, Hash: root}, skey, true, "empty tree"},
		{"malformed signer key", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root}, "PRIVATE+KEY+nope", false, "log signer key"},
		{"verifier key as signer key", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root}, goldenVKey, false, "log signer key"},
	}
	for _, tc := range tests {
		_, err := tlog.SignCheckpoint(tc.cp, tc.skey)
		if err == nil {
			t.Errorf("%s: signed", tc.name)
			continue
		}
		if errors.Is(err, tlog.ErrBadCheckpoint) != tc.bad || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: error %q (ErrBadCheckpoint: %v), want %q", tc.name, err, errors.Is(err, tlog.ErrBadCheckpoint), tc.message)
		}
		if strings.Contains(err.Error(), "AQEBAQEB") {
			t.Errorf("%s: error leaks the signer key: %q", tc.name, err)
		}
	}
}

func TestGenerateLogKeyRejects(t *testing.T) {
	for _, origin := range []string{"", "a b", "a+b", "a\tb", "\xff", "a\x7fb", "a\u00a0b"} {
		if _, _, err := tlog.GenerateLogKey(origin); err == nil {
			t.Errorf("GenerateLogKey(%q) succeeded", origin)
		}
	}
}

// FuzzOpenCheckpoint checks that OpenCheckpoint never panics, rejects with
// ErrBadCheckpoint, and that anything it accepts is exactly the body that
// signing the result again produces.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey := testKey(f, testOrigin, 1)
	f.Add([]byte(goldenSigned5))
	f.Add([]byte(goldenSigned0))
	f.Add([]byte(strings.Replace(goldenSigned5, "\n5\n", "\n6\n", 1)))
	f.Add([]byte("trustd.example/log\n5\n" + goldenRoot5 + "\n\n— trustd.example/log AAAA\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n— \n"))
	newSKey, newVKey := testKey(f, testOrigin, 2)
	rotating, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: 0, Hash: tlog.EmptyRoot(), NewKey: newVKey}, newSKey, skey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rotating)
	verifiers := mustVerifiers(f, vkey)
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := tlog.OpenCheckpoint(signed, vkey)
		if err != nil {
			if !errors.Is(err, tlog.ErrBadCheckpoint) {
				t.Fatalf("error does not wrap ErrBadCheckpoint: %v", err)
			}
			return
		}
		n, err := note.Open(signed, verifiers)
		if err != nil {
			t.Fatalf("accepted a note that note.Open rejects: %v", err)
		}
		if got := string(cp.Marshal()); got != n.Text {
			t.Fatalf("accepted body %q re-marshals to %q", n.Text, got)
		}
		if cp.NewKey != "" {
			return // announces another key: only that key signs it again
		}
		resigned, err := tlog.SignCheckpoint(cp, skey)
		if err != nil {
			t.Fatalf("cannot re-sign accepted checkpoint %+v: %v", cp, err)
		}
		if !bytes.HasPrefix(resigned, []byte(n.Text+"\n")) {
			t.Fatalf("re-signed body %q differs from accepted body %q", resigned, n.Text)
		}
	})
}

// FuzzCheckpointBody signs arbitrary bodies with the log key, so that the
// body parser itself is fuzzed: what it accepts must re-marshal byte for byte.
func FuzzCheckpointBody(f *testing.F) {
	skey, vkey := testKey(f, testOrigin, 1)
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("trustd.example/log\n5\n" + goldenRoot5 + "\n")
	f.Add("trustd.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
	f.Add("trustd.example/log\n05\n" + goldenRoot5 + "\n")
	f.Add("trustd.example/log\n5\n" + goldenRoot5 + "\nextension\n")
	f.Add("trustd.example/log\n5\n" + goldenRoot5 + "\n" + tlog.NewKeyLine + goldenVKey + "\n")
	f.Add("trustd.example/log\n5\n" + goldenRoot5 + "\n" + tlog.NewKeyLine + goldenVKey + "\nextension\n")
	f.Add("trustd.example/log\n18446744073709551615\n" + goldenRoot5 + "\n")
	f.Fuzz(func(t *testing.T, body string) {
		signed, err := note.Sign(&note.Note{Text: body}, signer)
		if err != nil {
			return // not a note body at all
		}
		cp, err := tlog.OpenCheckpoint(signed, vkey)
		if err != nil {
			if !errors.Is(err, tlog.ErrBadCheckpoint) {
				t.Fatalf("error does not wrap ErrBadCheckpoint: %v", err)
			}
			return
		}
		if got := string(cp.Marshal()); got != body {
			t.Fatalf("accepted body %q re-marshals to %q", body, got)
		}
	})
}

func mustVerifiers(t testing.TB, vkey string) note.Verifiers {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return note.VerifierList(v)
}

func equalCheckpoints(a, b tlog.Checkpoint) bool {
	return a.Origin == b.Origin && a.Size == b.Size && bytes.Equal(a.Hash, b.Hash) && a.NewKey == b.NewKey
}

// TestFollowCheckpoint: a planned rotation of the log key. A checkpoint
// signed by the new key and the old one, announcing the new key in its
// body, moves a client that pinned the old key to the new one; a client
// that pinned the new key reads it as any checkpoint. A stranger cannot
// move anyone's pin: their signature appended to a checkpoint of the old
// key announces nothing, an announcement edited into the body breaks the
// old key's signature, and an announcement the new key did not sign is
// refused.
func TestFollowCheckpoint(t *testing.T) {
	oldSKey, oldVKey := testKey(t, testOrigin, 1)
	newSKey, newVKey := testKey(t, testOrigin, 2)
	strangerSKey, strangerVKey := testKey(t, testOrigin, 3)
	root := naiveMTH(leafHashes("main", 5))
	cp := tlog.Checkpoint{Origin: testOrigin, Size: 5, Hash: root, NewKey: newVKey}
	rotating, err := tlog.SignCheckpoint(cp, newSKey, oldSKey)
	if err != nil {
		t.Fatal(err)
	}
	if want := "trustd.example/log\n5\n" + goldenRoot5 + "\n" + tlog.NewKeyLine + newVKey + "\n\n"; !strings.HasPrefix(string(rotating), want) {
		t.Fatalf("rotating checkpoint %q, want the body %q", rotating, want)
	}
	for _, pinned := range []string{oldVKey, newVKey} {
		got, key, err := tlog.FollowCheckpoint(rotating, pinned)
		if err != nil || key != newVKey || !equalCheckpoints(got, cp) {
			t.Errorf("pinned %s: FollowCheckpoint = %+v, %s, %v; want the new key", pinned, got, key, err)
		}
		if got, err := tlog.OpenCheckpoint(rotating, pinned); err != nil || got.NewKey != newVKey {
			t.Errorf("pinned %s: OpenCheckpoint = %+v, %v", pinned, got, err)
		}
	}
	// Not signed by a key the client pinned: nothing is followed.
	if _, _, err := tlog.FollowCheckpoint(rotating, strangerVKey); !errors.Is(err, tlog.ErrBadCheckpoint) {
		t.Errorf("pinned stranger: %v, want ErrBadCheckpoint", err)
	}

	// An ordinary checkpoint keeps the pin.
	plain, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: testOrigin, Size: 5, Hash: root}, oldSKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, key, err := tlog.FollowCheckpoint(plain, oldVKey); err != nil || key != oldVKey {
		t.Errorf("plain checkpoint: key %s, %v; want the old key kept", key, err)
	}
	// A stranger's signature appended to it announces nothing.
	n, err := note.Open(plain, mustVerifiers(t, oldVKey))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := note.NewSigner(strangerSKey)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, stranger)
	if err != nil {
		t.Fatal(err)
	}
	if _, key, err := tlog.FollowCheckpoint(cosigned, oldVKey); err != nil || key != oldVKey {
		t.Errorf("stranger-cosigned checkpoint: key %s, %v; want the old key kept", key, err)
	}
	// An announcement edited into a checkpoint of the old key does not
	// verify.
	edited := strings.Replace(string(cosigned), goldenRoot5+"\n", goldenRoot5+"\n"+tlog.NewKeyLine+strangerVKey+"\n", 1)
	if _, _, err := tlog.FollowCheckpoint([]byte(edited), oldVKey); !errors.Is(err, tlog.ErrBadCheckpoint) || !strings.Contains(err.Error(), "invalid signature") {
		t.Errorf("edited announcement: %v, want ErrBadCheckpoint (invalid signature)", err)
	}
	// An announcement the announced key did not sign (the old key alone
	// announcing a key it does not hold) is refused.
	oldOnly, err := note.Sign(&note.Note{Text: string(tlog.Checkpoint{Origin: testOrigin, Size: 5, Hash: root, NewKey: strangerVKey}.Marshal())}, mustSigner(t, oldSKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlog.FollowCheckpoint(oldOnly, oldVKey); !errors.Is(err, tlog.ErrBadCheckpoint) || !strings.Contains(err.Error(), "not signed by it") {
		t.Errorf("announcement without the new key's signature: %v", err)
	}
	// The old key's signature stripped: the client that pinned it refuses.
	newOnly, err := tlog.SignCheckpoint(cp, newSKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlog.FollowCheckpoint(newOnly, oldVKey); !errors.Is(err, tlog.ErrBadCheckpoint) {
		t.Errorf("announcement by the new key alone, pinned old: %v", err)
	}
}

// TestSignCheckpointRotationRejects: co-signing keys sign only an
// announcement of the signer's own key, under one origin.
func TestSignCheckpointRotationRejects(t *testing.T) {
	oldSKey, oldVKey := testKey(t, testOrigin, 1)
	newSKey, newVKey := testKey(t, testOrigin, 2)
	otherSKey, otherVKey := testKey(t, "other.example/log", 3)
	root := tlog.LeafHash([]byte("a"))
	tests := []struct {
		name      string
		cp        tlog.Checkpoint
		skey      string
		cosigners []string
		message   string
	}{
		{"cosigner without announcement", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root}, newSKey, []string{oldSKey}, "announces the new key"},
		{"announces another key", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root, NewKey: oldVKey}, newSKey, []string{oldSKey}, "not the signer key's"},
		{"announces a key of another name", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root, NewKey: otherVKey}, newSKey, []string{oldSKey}, "is named"},
		{"cosigner of another name", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root, NewKey: newVKey}, newSKey, []string{otherSKey}, "differs from signer key name"},
		{"malformed announcement", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root, NewKey: "nope"}, newSKey, nil, "new log key"},
		{"announcement with a newline", tlog.Checkpoint{Origin: testOrigin, Size: 1, Hash: root, NewKey: newVKey[:30] + "\n" + newVKey[30:]}, newSKey, nil, "white space"},
	}
	for _, tc := range tests {
		if _, err := tlog.SignCheckpoint(tc.cp, tc.skey, tc.cosigners...); !errors.Is(err, tlog.ErrBadCheckpoint) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: %v, want ErrBadCheckpoint containing %q", tc.name, err, tc.message)
		}
	}
	// Bodies no signer of trustd writes are refused when opened.
	b64 := base64.StdEncoding.EncodeToString(root)
	for name, body := range map[string]string{
		"announcement then another line": "trustd.example/log\n1\n" + b64 + "\n" + tlog.NewKeyLine + newVKey + "\nextra\n",
		"two announcements":              "trustd.example/log\n1\n" + b64 + "\n" + tlog.NewKeyLine + newVKey + "\n" + tlog.NewKeyLine + newVKey + "\n",
		"announcement of another name":   "trustd.example/log\n1\n" + b64 + "\n" + tlog.NewKeyLine + otherVKey + "\n",
		"malformed announced key":        "trustd.example/log\n1\n" + b64 + "\n" + tlog.NewKeyLine + "trustd.example/log+00000000+AAAA\n",
		"empty announcement":             "trustd.example/log\n1\n" + b64 + "\n" + tlog.NewKeyLine + "\n",
	} {
		signed, err := note.Sign(&note.Note{Text: body}, mustSigner(t, oldSKey))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tlog.OpenCheckpoint(signed, oldVKey); !errors.Is(err, tlog.ErrBadCheckpoint) {
			t.Errorf("%s: OpenCheckpoint = %v, want ErrBadCheckpoint", name, err)
		}
	}
}

func mustSigner(t testing.TB, skey string) note.Signer {
	t.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
