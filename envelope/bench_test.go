package envelope

import (
	"context"
	"testing"
)

// BenchmarkVerifyED25519 measures Verify of a one-signature ed25519 envelope
// over a small statement, including the registry lookup and key decoding.
func BenchmarkVerifyED25519(b *testing.B) {
	ctx := context.Background()
	env, err := Sign(ctx, PayloadTypeInToto, testPayload, mustSigner(b, "ed25519"))
	if err != nil {
		b.Fatal(err)
	}
	lookup := newRegistry(mustPublic(b, "ed25519")).lookup
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(ctx, env, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode measures Decode of a four-signature envelope.
func BenchmarkDecode(b *testing.B) {
	data := readTestdata(b, "python-all.dsse.json")
	lim := DefaultLimits()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, lim); err != nil {
			b.Fatal(err)
		}
	}
}
