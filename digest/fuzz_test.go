package digest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// checkAccepted asserts the invariants of an accepted digest: it formats in
// every format, and each of those parses back to the same Digest.
func checkAccepted(t *testing.T, d Digest) {
	t.Helper()
	if d.IsZero() || !d.Algorithm().Valid() || len(d.Bytes()) != d.Algorithm().Size() {
		t.Fatalf("accepted an inconsistent digest %#v", d)
	}
	for _, f := range Formats() {
		s := d.Format(f)
		got, err := Parse(s)
		if err != nil || got != d {
			t.Fatalf("%s in %s form %q re-parses as %v, %v", d, f, s, got, err)
		}
	}
	if got, err := Parse(d.String()); err != nil || got != d {
		t.Fatalf("String() %q re-parses as %v, %v", d.String(), got, err)
	}
	if got, err := FromMultihash(d.Multihash()); err != nil || got != d {
		t.Fatalf("Multihash() %x re-decodes as %v, %v", d.Multihash(), got, err)
	}
	if got, err := FromOCI(d.OCI()); err != nil || got != d {
		t.Fatalf("OCI() %q converts back as %v, %v", d.OCI(), got, err)
	}
}

func checkRejected(t *testing.T, d Digest, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &pe) || !d.IsZero() {
		t.Fatalf("rejection %v (digest %v) is not a *ParseError matching ErrInvalid", err, d)
	}
	n := 0
	for _, s := range []error{ErrEmpty, ErrTooLong, ErrUnknownAlgorithm, ErrWrongLength, ErrBadEncoding} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("rejection %v matches %d specific sentinels, want 1", err, n)
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range knownDigests(f) {
		d := MustParse(string(k.alg) + ":" + k.hex)
		for _, fm := range Formats() {
			f.Add(d.Format(fm))
		}
	}
	for _, c := range multihashCases(f) {
		f.Add("f" + hex.EncodeToString(c.multihash))
	}
	for _, b := range badInputs {
		f.Add(b.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		checkAccepted(t, d)
	})
}

func FuzzFromMultihash(f *testing.F) {
	for _, k := range knownDigests(f) {
		f.Add(MustParse(string(k.alg) + ":" + k.hex).Multihash())
	}
	for _, c := range multihashCases(f) {
		f.Add(c.multihash)
	}
	for _, h := range []string{"", "12", "1220", "1114da39a3ee5e6b4b0d3255bfef95601890afd80709", "ffffffffffffffffff0100", "920020", "a0e40220"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := FromMultihash(b)
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		if !bytes.Equal(d.Multihash(), b) {
			t.Fatalf("FromMultihash(%x) re-encodes as %x", b, d.Multihash())
		}
		checkAccepted(t, d)
	})
}
