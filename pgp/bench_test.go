package pgp

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/gpgtest"
)

// BenchmarkVerifyDetached measures detached signature verifications over
// the SHA256SUMS fixture, for gpg-made Ed25519 and RSA-3072 signatures.
func BenchmarkVerifyDetached(b *testing.B) {
	sums := fixture(b, "SHA256SUMS")
	for _, tc := range []struct{ name, cert, sig string }{
		{"ed25519", "ed25519.asc", "SHA256SUMS.ed25519.gpg"},
		{"rsa3072", "rsa3072.asc", "SHA256SUMS.rsa3072.gpg"},
	} {
		cert, sig := fixtureCert(b, tc.cert), fixture(b, tc.sig)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := VerifyDetached(cert, sums, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGPGVerify times `gpg --verify` (one process per verification,
// the way scripts use it) on the same signatures, for comparison.
func BenchmarkGPGVerify(b *testing.B) {
	g := gpgtest.New(b)
	dir := b.TempDir()
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sums, fixture(b, "SHA256SUMS"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, cert, sig string }{
		{"ed25519", "ed25519.asc", "SHA256SUMS.ed25519.gpg"},
		{"rsa3072", "rsa3072.asc", "SHA256SUMS.rsa3072.gpg"},
	} {
		g.Run(fixture(b, tc.cert), "--import")
		sig := filepath.Join("testdata", tc.sig)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("gpg", "--batch", "--no-tty", "--quiet", "--verify", sig, sums)
				cmd.Env = g.Env()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}

// BenchmarkDecide measures one chain decision with 1,000 registered keys
// and a delegation chain of depth 5, with and without compiling the facts.
func BenchmarkDecide(b *testing.B) {
	const n = 1000
	keys := make([]*testKey, n)
	for i := range keys {
		keys[i] = genKey(b, fmt.Sprintf("k%d", i))
	}
	facts := Facts{}
	for _, k := range keys {
		facts.Certificates = append(facts.Certificates, k.cert)
	}
	root := keys[0]
	// The chain root -> 1 -> 2 -> 3 -> 4 -> 5, and noise: the root
	// delegates to every other key, each with a narrow scope.
	for i := 1; i <= 5; i++ {
		facts.Delegations = append(facts.Delegations, deleg(fmt.Sprintf("chain-%d", i), keys[i-1], keys[i], "release/**", T.Add(365*day), 5-i, T.Add(-day)))
	}
	for i := 6; i < n; i++ {
		facts.Delegations = append(facts.Delegations, deleg(fmt.Sprintf("noise-%d", i), root, keys[i], fmt.Sprintf("noise/%d/**", i), T.Add(365*day), 2, T.Add(-day)))
		facts.Delegations = append(facts.Delegations, deleg(fmt.Sprintf("noise-x-%d", i), keys[i], keys[5], fmt.Sprintf("noise/%d/**", i), T.Add(365*day), 0, T.Add(-day)))
	}
	q := Query{Signature: sigBy(keys[5], T), Name: "release/app/v1.tar.gz", Observed: T, Roots: []string{root.cert.Fingerprint}}
	g, err := Compile(facts)
	if err != nil {
		b.Fatal(err)
	}
	if c, err := g.Decide(q); err != nil || len(c.Links) != 5 {
		b.Fatalf("%+v %v", c, err)
	}
	b.Run("graph", func(b *testing.B) {
		for b.Loop() {
			if _, err := g.Decide(q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile+decide", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decide(facts, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkManifest10k verifies, parses and indexes a signed 10,000-line
// SHA256SUMS.
func BenchmarkManifest10k(b *testing.B) {
	k := genKey(b, "manifest")
	var sb strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&sb, "%x  pool/main/p/pkg%05d_1.0_amd64.deb\n", sha256.Sum256([]byte{byte(i), byte(i >> 8)}), i)
	}
	manifest := []byte(sb.String())
	sig := signAt(b, k.entity, manifest, T)
	b.SetBytes(int64(len(manifest)))
	for b.Loop() {
		if _, err := VerifyDetached(k.cert, manifest, sig); err != nil {
			b.Fatal(err)
		}
		entries, problems, err := ParseManifest(manifest)
		if err != nil || len(entries) != 10_000 || len(problems) != 0 {
			b.Fatalf("%d entries, %d problems, %v", len(entries), len(problems), err)
		}
	}
}
