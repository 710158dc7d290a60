package digest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/multiformats/go-multihash"
)

// TestMultihashSpecVectors checks the rows of the multihash spec's
// tests/values/test_cases.csv. Their multihash column is the hash of the
// empty input (the spec's generator ignores the input column).
func TestMultihashSpecVectors(t *testing.T) {
	cases := multihashCases(t)
	if len(cases) != 5 {
		t.Fatalf("want 5 spec rows, got %d", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name, _, _ := strings.Cut(c.name, "/")
			alg, ok := algByCode[multihash.Names[name]]
			if !ok {
				t.Fatalf("spec algorithm %q is not supported", name)
			}
			d, err := FromMultihash(c.multihash)
			if c.bits < alg.Size()*8 {
				if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrWrongLength) {
					t.Errorf("truncated %s multihash: error %v, want ErrWrongLength", c.name, err)
				}
				if _, err := Parse("f" + hex.EncodeToString(c.multihash)); !errors.Is(err, ErrWrongLength) {
					t.Errorf("truncated %s multibase: error %v, want ErrWrongLength", c.name, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := Sum(context.Background(), strings.NewReader(""), []Algorithm{alg})
			if err != nil {
				t.Fatal(err)
			}
			if d != res.Digests[0] {
				t.Errorf("FromMultihash = %v, Sum of empty input = %v", d, res.Digests[0])
			}
			if got := d.Multihash(); !bytes.Equal(got, c.multihash) {
				t.Errorf("Multihash() = %x, want %x", got, c.multihash)
			}
		})
	}
}

// TestMultihashREADMEExample is the example from the multihash README,
// checked against sha256sum: sha2-256 of "multihash".
func TestMultihashREADMEExample(t *testing.T) {
	const want = "12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47"
	res, err := Sum(context.Background(), strings.NewReader("multihash"), []Algorithm{SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(res.Digests[0].Multihash()); got != want {
		t.Errorf("multihash of sha2-256(\"multihash\") = %s, want %s", got, want)
	}
}

// TestMultihashMatchesGoMultihash compares our multihashes with those the
// go-multihash registry computes (different implementations for sha256 and
// blake3), for every algorithm it registers.
func TestMultihashMatchesGoMultihash(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	compared := map[Algorithm]bool{}
	for _, n := range []int{0, 1, 3, 1000, 70000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		res, err := Sum(context.Background(), bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Digests {
			want, err := multihash.Sum(data, d.Algorithm().MultihashCode(), -1)
			if errors.Is(err, multihash.ErrSumNotSupported) {
				continue // sha2-384 is not in go-multihash v0.2.3
			}
			if err != nil {
				t.Fatalf("%s: %v", d.Algorithm(), err)
			}
			if !bytes.Equal(d.Multihash(), want) {
				t.Errorf("%s of %d bytes: multihash %x, go-multihash %x", d.Algorithm(), n, d.Multihash(), []byte(want))
			}
			compared[d.Algorithm()] = true
		}
	}
	if len(compared) < len(Algorithms())-1 {
		t.Errorf("go-multihash computed only %v", compared)
	}
}
