package digest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"
)

func TestAlgorithms(t *testing.T) {
	want := []struct {
		alg  Algorithm
		size int
		code uint64
	}{
		{SHA256, 32, 0x12},
		{SHA384, 48, 0x20},
		{SHA512, 64, 0x13},
		{SHA3_256, 32, 0x16},
		{SHA3_512, 64, 0x14},
		{BLAKE2b_256, 32, 0xb220},
		{BLAKE2b_512, 64, 0xb240},
		{BLAKE3, 32, 0x1e},
	}
	got := Algorithms()
	if len(got) != len(want) {
		t.Fatalf("Algorithms() = %v", got)
	}
	for i, w := range want {
		a := got[i]
		if a != w.alg || a.Size() != w.size || a.MultihashCode() != w.code {
			t.Errorf("Algorithms()[%d] = %s size %d code %#x, want %s size %d code %#x", i, a, a.Size(), a.MultihashCode(), w.alg, w.size, w.code)
		}
		if n := len(a.New().Sum(nil)); n != w.size {
			t.Errorf("%s: New().Sum is %d bytes, want %d", a, n, w.size)
		}
		if p, err := ParseAlgorithm(string(a)); err != nil || p != a {
			t.Errorf("ParseAlgorithm(%q) = %q, %v", a, p, err)
		}
	}
	got[0] = "mutated"
	if Algorithms()[0] != SHA256 {
		t.Error("Algorithms returns a shared slice")
	}
	if Algorithm("md5").Size() != 0 || Algorithm("md5").MultihashCode() != 0 || Algorithm("md5").Valid() {
		t.Error("unknown algorithm reports a size, code or validity")
	}
}

func TestParseAlgorithmRejects(t *testing.T) {
	for _, s := range []string{"", "md5", "SHA256", "sha-256", "sha2-256", "sha3", "blake2b", "sha256 ", "blake3-256"} {
		_, err := ParseAlgorithm(s)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("ParseAlgorithm(%q) error = %v, want ErrInvalid and ErrUnknownAlgorithm", s, err)
		}
	}
	_, err := ParseAlgorithm("SHA256")
	if want := `algorithm "SHA256": unknown algorithm: "SHA256" (algorithm names are lowercase: "sha256")`; err == nil || err.Error() != want {
		t.Errorf("ParseAlgorithm(SHA256) error = %v, want %s", err, want)
	}
}

func TestFormats(t *testing.T) {
	want := []Format{FormatOCI, FormatMultihash, FormatMultihashBase32, FormatMultihashHex}
	got := Formats()
	if len(got) != len(want) {
		t.Fatalf("Formats() = %v", got)
	}
	for i, f := range want {
		if got[i] != f {
			t.Errorf("Formats()[%d] = %q, want %q", i, got[i], f)
		}
		if p, err := ParseFormat(string(f)); err != nil || p != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, p, err)
		}
	}
	for _, s := range []string{"", "OCI", "base58", "multihash-base58", "hex"} {
		_, err := ParseFormat(s)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "multihash-base32") {
			t.Errorf("ParseFormat(%q) error = %v", s, err)
		}
	}
}

// TestKnownDigests checks every algorithm against digests computed with
// independent tools, through Sum and through Algorithm.New.
func TestKnownDigests(t *testing.T) {
	seen := map[Algorithm]map[string]bool{}
	for _, k := range knownDigests(t) {
		want := MustParse(string(k.alg) + ":" + k.hex)
		res, err := Sum(context.Background(), strings.NewReader(k.input), []Algorithm{k.alg})
		if err != nil {
			t.Fatal(err)
		}
		if res.Digests[0] != want || res.Size != int64(len(k.input)) {
			t.Errorf("Sum(%s, %q) = %v size %d, want %v", k.alg, k.input, res.Digests[0], res.Size, want)
		}
		h := k.alg.New()
		h.Write([]byte(k.input))
		if got := hex.EncodeToString(h.Sum(nil)); got != k.hex {
			t.Errorf("%s.New() over %q = %s, want %s", k.alg, k.input, got, k.hex)
		}
		if seen[k.alg] == nil {
			seen[k.alg] = map[string]bool{}
		}
		seen[k.alg][k.input] = true
	}
	for _, a := range Algorithms() {
		if !seen[a][""] || !seen[a]["abc"] {
			t.Errorf("testdata/known_digests.csv lacks the empty input or \"abc\" for %s", a)
		}
	}
}

func TestBLAKE3OfficialVectors(t *testing.T) {
	for _, row := range readCSV(t, "blake3_vectors.csv", "input_len,hash") {
		var n int
		for _, c := range row[0] {
			n = n*10 + int(c-'0')
		}
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(i % 251)
		}
		res, err := Sum(context.Background(), bytes.NewReader(in), []Algorithm{BLAKE3})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Digests[0].Hex(); got != row[1] {
			t.Errorf("blake3 of %d pattern bytes = %s, want %s", n, got, row[1])
		}
	}
}

// TestRoundTrip formats every algorithm's digest in every format and parses
// it back.
func TestRoundTrip(t *testing.T) {
	for _, k := range knownDigests(t) {
		sum, _ := hex.DecodeString(k.hex)
		d, err := New(k.alg, sum)
		if err != nil {
			t.Fatal(err)
		}
		if d.Algorithm() != k.alg || d.Hex() != k.hex || !bytes.Equal(d.Bytes(), sum) || d.IsZero() {
			t.Errorf("New(%s, %x) = %#v", k.alg, sum, d)
		}
		if s := d.String(); s != string(k.alg)+":"+k.hex {
			t.Errorf("String() = %q", s)
		}
		mh := d.Multihash()
		for _, f := range Formats() {
			s := d.Format(f)
			got, err := Parse(s)
			if err != nil {
				t.Errorf("Parse(%s.Format(%s) = %q): %v", d, f, s, err)
				continue
			}
			if got != d {
				t.Errorf("Parse(%q) = %v, want %v", s, got, d)
			}
			wantPrefix := map[Format]string{FormatOCI: string(k.alg) + ":", FormatMultihash: "z", FormatMultihashBase32: "b", FormatMultihashHex: "f"}[f]
			if !strings.HasPrefix(s, wantPrefix) {
				t.Errorf("Format(%s) = %q, want prefix %q", f, s, wantPrefix)
			}
		}
		if s := d.Format(FormatMultihashHex); s != "f"+hex.EncodeToString(mh) {
			t.Errorf("Format(multihash-hex) = %q, want f%x", s, mh)
		}
		if got, err := FromMultihash(mh); err != nil || got != d {
			t.Errorf("FromMultihash(%x) = %v, %v; want %v", mh, got, err, d)
		}
		// Every base go-multibase writes is accepted, as long as it fits.
		for enc, name := range multibase.EncodingToStr {
			s, err := multibase.Encode(enc, mh)
			if err != nil {
				t.Fatalf("multibase %s: %v", name, err)
			}
			got, err := Parse(s)
			if len(s) > MaxStringLength {
				if !errors.Is(err, ErrTooLong) {
					t.Errorf("Parse(%s in %s, %d bytes) error = %v, want ErrTooLong", d, name, len(s), err)
				}
				continue
			}
			if err != nil || got != d {
				t.Errorf("Parse(%s in %s = %q) = %v, %v", d, name, s, got, err)
			}
		}
	}
}

func TestDigestComparable(t *testing.T) {
	d := MustParse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	m := map[Digest]int{d: 1}
	for _, f := range Formats() {
		if m[MustParse(d.Format(f))] != 1 {
			t.Errorf("digest parsed from %s form is not the same map key", f)
		}
	}
	other := MustParse("blake3:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if other == d {
		t.Error("digests of different algorithms with the same value compare equal")
	}
}

func TestZeroDigest(t *testing.T) {
	var d Digest
	if !d.IsZero() || d.String() != "" || d.Format(FormatMultihash) != "" || d.Multihash() != nil || len(d.Bytes()) != 0 || d.OCI() != "" {
		t.Errorf("zero Digest: %q %q %x", d.String(), d.Format(FormatMultihash), d.Multihash())
	}
	if MustParse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").IsZero() {
		t.Error("non-zero digest reports IsZero")
	}
}

func TestFormatUnknownFallsBackToOCI(t *testing.T) {
	d := MustParse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	for _, f := range []Format{"", "bogus"} {
		if got := d.Format(f); got != d.String() {
			t.Errorf("Format(%q) = %q, want %q", f, got, d.String())
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		alg    Algorithm
		sum    []byte
		target error
		reason string
	}{
		{"md5", make([]byte, 16), ErrUnknownAlgorithm, `unknown algorithm: "md5"`},
		{"", nil, ErrUnknownAlgorithm, "unknown algorithm"},
		{SHA256, make([]byte, 31), ErrWrongLength, "sha256 needs 32 bytes, got 31"},
		{SHA512, make([]byte, 32), ErrWrongLength, "sha512 needs 64 bytes, got 32"},
		{BLAKE3, nil, ErrWrongLength, "blake3 needs 32 bytes, got 0"},
	}
	for _, tt := range tests {
		_, err := New(tt.alg, tt.sum)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("New(%q, %d bytes) error = %v, want %v containing %q", tt.alg, len(tt.sum), err, tt.target, tt.reason)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("MustParse of a bad digest did not panic")
		}
	}()
	MustParse("sha256:abc")
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// badInputs is shared by TestParseRejects and the fuzz seed corpus.
var badInputs = []struct {
	name   string
	in     string
	target error
	reason string
}{
	{"empty", "", ErrEmpty, "no digest given"},
	{"no colon", "sha256" + emptySHA256, ErrBadEncoding, `neither "algorithm:hex" nor multibase`},
	{"no colon short", "abc", ErrBadEncoding, "unknown multibase prefix 'a'"},
	{"missing algorithm", ":" + emptySHA256, ErrBadEncoding, "missing algorithm"},
	{"unknown algorithm", "md5:d41d8cd98f00b204e9800998ecf8427e", ErrUnknownAlgorithm, `unknown algorithm: "md5"`},
	{"uppercase algorithm", "SHA256:" + emptySHA256, ErrUnknownAlgorithm, "algorithm names are lowercase"},
	{"multihash name", "sha2-256:" + emptySHA256, ErrUnknownAlgorithm, `unknown algorithm: "sha2-256"`},
	{"wrong length short", "sha256:abc", ErrWrongLength, "sha256 needs 64 hex characters, got 3"},
	{"wrong length empty", "sha256:", ErrWrongLength, "sha256 needs 64 hex characters, got 0"},
	{"wrong length long", "sha256:" + emptySHA256 + "00", ErrWrongLength, "sha256 needs 64 hex characters, got 66"},
	{"wrong algorithm length", "sha512:" + emptySHA256, ErrWrongLength, "sha512 needs 128 hex characters, got 64"},
	{"non-hex", "sha256:" + emptySHA256[:63] + "g", ErrBadEncoding, "non-hex character 'g' at offset 70"},
	{"second colon", "sha256:" + emptySHA256[:32] + ":" + emptySHA256[33:], ErrBadEncoding, "non-hex character ':'"},
	{"base64 value", "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", ErrBadEncoding, "non-hex character"},
	{"uppercase hex", "sha256:" + strings.ToUpper(emptySHA256), ErrBadEncoding, "hex must be lowercase"},
	{"mixed case hex", "sha256:" + emptySHA256[:60] + "B855", ErrBadEncoding, "hex must be lowercase"},
	{"oversized", "sha256:" + strings.Repeat("a", MaxStringLength), ErrTooLong, "519 bytes, the limit is 512"},
	{"oversized multibase", "z" + strings.Repeat("1", MaxStringLength), ErrTooLong, "513 bytes"},
	{"leading space", " sha256:" + emptySHA256, ErrBadEncoding, "whitespace at offset 0"},
	{"trailing newline", "sha256:" + emptySHA256 + "\n", ErrBadEncoding, "whitespace at offset 71"},
	{"inner space", "sha256: " + emptySHA256, ErrBadEncoding, "whitespace at offset 7"},
	{"tab", "sha256:\t" + emptySHA256, ErrBadEncoding, "whitespace"},
	{"nbsp", "sha256:\u00a0" + emptySHA256, ErrBadEncoding, "whitespace"},
	{"control", "sha256:\x01" + emptySHA256, ErrBadEncoding, "control character"},
	{"invalid utf-8", "sha256:\xff" + emptySHA256, ErrBadEncoding, "invalid UTF-8"},
	{"truncated multihash", "f1220" + emptySHA256[:8], ErrWrongLength, "multihash length says 32 bytes but 4 follow"},
	{"truncated multihash base58", "zkcSfUmWwgEvUiapFMRFnA7wR", ErrWrongLength, "multihash length says 32 bytes but 16 follow"},
	{"multihash header only", "f1220", ErrWrongLength, "says 32 bytes but 0 follow"},
	{"multihash one byte", "f12", ErrWrongLength, "too short"},
	{"truncated digest", "f120ae3b0c44298fc1c149afb", ErrWrongLength, "sha256 needs a 32-byte digest, multihash has 10"},
	{"unsupported code sha1", "f1114da39a3ee5e6b4b0d3255bfef95601890afd80709", ErrUnknownAlgorithm, "unsupported multihash code 0x11 (sha1)"},
	{"unsupported code md5", "fd50110d41d8cd98f00b204e9800998ecf8427e", ErrUnknownAlgorithm, "unsupported multihash code 0xd5 (md5)"},
	{"unsupported code identity", "f0000", ErrUnknownAlgorithm, "unsupported multihash code 0x0 (identity)"},
	{"unsupported code unlisted", "f7f00", ErrUnknownAlgorithm, "0x7f (not in the multicodec table)"},
	{"length byte too big", "f1221" + emptySHA256, ErrWrongLength, "multihash length says 33 bytes but 32 follow"},
	{"length byte too small", "f121f" + emptySHA256, ErrWrongLength, "multihash length says 31 bytes but 32 follow"},
	{"non-minimal varint", "f920020" + emptySHA256, ErrBadEncoding, "malformed multihash code varint"},
	{"unterminated varint", "fffff", ErrBadEncoding, "malformed multihash code varint"},
	{"garbage base58", "z0OIl", ErrBadEncoding, "invalid multibase base58btc"},
	{"garbage hex", "fxyz", ErrBadEncoding, "invalid multibase base16"},
	{"garbage base32", "b1!", ErrBadEncoding, "invalid multibase base32"},
	{"odd hex", "f122", ErrBadEncoding, "invalid multibase base16"},
	{"unknown multibase", "qabcdef", ErrBadEncoding, "unknown multibase prefix 'q'"},
}

func TestParseRejects(t *testing.T) {
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tt.in, d)
			}
			if !d.IsZero() {
				t.Errorf("Parse(%q) returned %v with its error", tt.in, d)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %v does not match %v", err, tt.target)
			}
			for _, other := range []error{ErrEmpty, ErrTooLong, ErrUnknownAlgorithm, ErrWrongLength, ErrBadEncoding} {
				if other != tt.target && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("error %q does not give the reason %q", msg, tt.reason)
			}
			if !strings.HasPrefix(msg, "digest \"") {
				t.Errorf("error %q does not name the input", msg)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Input != tt.in {
				t.Errorf("error %v is not a *ParseError with the input", err)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse("sha256:abc")
	if want := `digest "sha256:abc": wrong length: sha256 needs 64 hex characters, got 3`; err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	long := "sha256:" + strings.Repeat("ab", 100)
	_, err = Parse(long)
	msg := err.Error()
	if want := `digest "` + long[:80] + `...": wrong length: sha256 needs 64 hex characters, got 200`; msg != want {
		t.Errorf("error = %s\nwant    %s", msg, want)
	}
	// Truncation never splits a multi-byte character.
	if got := truncate(strings.Repeat("a", 79) + "é" + strings.Repeat("b", 10)); got != strings.Repeat("a", 79)+"..." {
		t.Errorf("truncate split a rune: %q", got)
	}
	// ParseError built by hand still satisfies the contract.
	pe := &ParseError{Input: "x", Err: ErrEmpty}
	if !errors.Is(pe, ErrInvalid) || !errors.Is(pe, ErrEmpty) || pe.Error() != `digest "x": empty` {
		t.Errorf("hand-made ParseError: %v", pe)
	}
}

func TestFromMultihashRejects(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		target error
		reason string
	}{
		{"empty", "", ErrWrongLength, "multihash is 0 bytes, too short"},
		{"truncated", "1220e3b0", ErrWrongLength, "says 32 bytes but 2 follow"},
		{"trailing bytes", "1220" + emptySHA256 + "00", ErrWrongLength, "says 32 bytes but 33 follow"},
		{"unsupported code", "1114da39a3ee5e6b4b0d3255bfef95601890afd80709", ErrUnknownAlgorithm, "0x11 (sha1)"},
		{"truncated digest", "1320cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce", ErrWrongLength, "sha512 needs a 64-byte digest, multihash has 32"},
		{"varint overflow", "ffffffffffffffffff0100", ErrBadEncoding, "malformed multihash code varint"},
		{"bad length varint", "12ff", ErrBadEncoding, "malformed multihash length varint"},
		{"too long", "1220" + strings.Repeat("00", MaxStringLength), ErrTooLong, "514 bytes, the limit is 256"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		_, err := FromMultihash(b)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s: FromMultihash(%s) error = %v, want %v containing %q", tt.name, tt.hex, err, tt.target, tt.reason)
		}
		if err != nil && !strings.HasPrefix(err.Error(), `multihash "`+tt.hex[:min(len(tt.hex), maxQuoted)]) {
			t.Errorf("%s: error %q does not name the input", tt.name, err)
		}
	}
}

func TestTextMarshaling(t *testing.T) {
	type doc struct {
		Subject  Digest         `json:"subject"`
		Optional Digest         `json:"optional"`
		Seen     map[Digest]int `json:"seen"`
	}
	d := MustParse("sha256:" + emptySHA256)
	in := doc{Subject: d, Seen: map[Digest]int{d: 2}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"subject":"sha256:` + emptySHA256 + `","optional":"","seen":{"sha256:` + emptySHA256 + `":2}}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out.Subject != d || !out.Optional.IsZero() || out.Seen[d] != 2 {
		t.Errorf("round trip = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"subject":"`+d.Format(FormatMultihash)+`"}`), &out); err != nil || out.Subject != d {
		t.Errorf("multihash in JSON = %v, %v", out.Subject, err)
	}
	err = json.Unmarshal([]byte(`{"subject":"sha256:abc"}`), &out)
	if !errors.Is(err, ErrWrongLength) {
		t.Errorf("bad digest in JSON: error %v, want ErrWrongLength", err)
	}
}
