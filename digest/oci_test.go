package digest

import (
	"errors"
	"strings"
	"testing"

	godigest "github.com/opencontainers/go-digest"
)

// TestGoDigestCompatibility checks that for sha256, sha384 and sha512 Parse
// accepts exactly the strings go-digest's Parse (which validates) accepts.
// Multihash strings are out of scope: go-digest knows no such form.
func TestGoDigestCompatibility(t *testing.T) {
	sha384Empty := "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
	sha512Empty := "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	inputs := []string{
		"sha256:" + emptySHA256,
		"sha384:" + sha384Empty,
		"sha512:" + sha512Empty,
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:" + strings.Repeat("0", 64),
		"sha256:" + strings.Repeat("f", 64),
		"",
		"sha256",
		"sha256:",
		":" + emptySHA256,
		emptySHA256,
		"sha256:abc",
		"sha256:" + emptySHA256[:63],
		"sha256:" + emptySHA256 + "0",
		"sha256:" + strings.ToUpper(emptySHA256),
		"sha256:" + emptySHA256[:63] + "E",
		"sha256:" + emptySHA256[:63] + "g",
		"sha256:" + emptySHA256[:63] + "=",
		"sha256:" + emptySHA256[:63] + "-",
		"sha256:" + emptySHA256[:63] + "_",
		"sha256:" + emptySHA256[:32] + ":" + emptySHA256[33:],
		"sha256::" + emptySHA256,
		"SHA256:" + emptySHA256,
		"Sha256:" + emptySHA256,
		" sha256:" + emptySHA256,
		"sha256:" + emptySHA256 + " ",
		"sha256:" + emptySHA256 + "\n",
		"sha256 :" + emptySHA256,
		"sha384:" + emptySHA256,
		"sha512:" + sha384Empty,
		"sha384:" + sha512Empty,
		"sha512:" + sha512Empty[:127],
		"sha512:" + strings.ToUpper(sha512Empty),
		"sha256+b64:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
		"sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
		"sha256:\xff" + emptySHA256[1:],
		"sha256:" + strings.Repeat("a", 1000),
	}
	for _, s := range inputs {
		want, gerr := godigest.Parse(s)
		got, err := Parse(s)
		if (gerr == nil) != (err == nil) {
			t.Errorf("%q: go-digest error %v, ours %v", s, gerr, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: error %v does not match ErrInvalid", s, err)
			}
			continue
		}
		if got.OCI() != want || string(got.Algorithm()) != string(want.Algorithm()) || got.Hex() != want.Encoded() {
			t.Errorf("%q: ours %v, go-digest %v", s, got, want)
		}
		back, err := FromOCI(want)
		if err != nil || back != got {
			t.Errorf("FromOCI(%q) = %v, %v", want, back, err)
		}
	}
}

func TestOCIRoundTrip(t *testing.T) {
	for _, k := range knownDigests(t) {
		d := MustParse(string(k.alg) + ":" + k.hex)
		o := d.OCI()
		if string(o) != d.String() {
			t.Errorf("OCI() = %q, want %q", o, d.String())
		}
		if o.Algorithm() != godigest.Algorithm(k.alg) || o.Encoded() != k.hex {
			t.Errorf("go-digest sees %q as %s / %s", o, o.Algorithm(), o.Encoded())
		}
		back, err := FromOCI(o)
		if err != nil || back != d {
			t.Errorf("FromOCI(%q) = %v, %v", o, back, err)
		}
		if k.alg == SHA256 || k.alg == SHA384 || k.alg == SHA512 {
			if err := o.Validate(); err != nil {
				t.Errorf("go-digest rejects %q: %v", o, err)
			}
			if g := godigest.Algorithm(k.alg).FromString(k.input); g != o {
				t.Errorf("go-digest computes %q for %q, we have %q", g, k.input, o)
			}
		}
	}
}

func TestFromOCIRejects(t *testing.T) {
	d := MustParse("sha256:" + emptySHA256)
	tests := []struct {
		in     godigest.Digest
		target error
	}{
		{"", ErrEmpty},
		{godigest.Digest(d.Format(FormatMultihash)), ErrBadEncoding},
		{godigest.Digest(d.Format(FormatMultihashHex)), ErrBadEncoding},
		{"sha256:abc", ErrWrongLength},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ErrUnknownAlgorithm},
		{godigest.Digest("\x00" + string(d.Multihash()) + ":"), ErrBadEncoding},
		{godigest.Digest("sha256:" + strings.Repeat("a", 1000)), ErrTooLong},
	}
	for _, tt := range tests {
		_, err := FromOCI(tt.in)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, tt.target) {
			t.Errorf("FromOCI(%q) error = %v, want %v", tt.in, err, tt.target)
		}
	}
}
