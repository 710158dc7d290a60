package pgp

import (
	"bytes"
	"testing"
)

// FuzzParseCertificate feeds armored and binary packet input to the
// certificate parser: it must never panic and must respect the bound. The
// RSA fixtures are left out of the seeds: under the fuzzer's coverage
// instrumentation RSA verification (pure-Go modular arithmetic) runs so
// slowly that the fuzzer stalls; RSA parsing is covered by the unit tests.
func FuzzParseCertificate(f *testing.F) {
	for _, name := range []string{"ed25519.asc", "expired.asc", "dsa.asc", "ed25519.sec.asc"} {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCertificate(data)
		if err != nil {
			return
		}
		if len(data) > MaxCertificateBytes || !ValidFingerprint(c.Fingerprint) {
			t.Fatalf("accepted %d bytes, fingerprint %q", len(data), c.Fingerprint)
		}
		if _, err := ParseCertificate(c.Encode()); err != nil {
			t.Fatalf("Encode does not re-parse: %v", err)
		}
	})
}

// FuzzVerifyDetached feeds arbitrary signature bytes to the verifier.
func FuzzVerifyDetached(f *testing.F) {
	for _, name := range []string{"SHA256SUMS.ed25519.gpg", "SHA256SUMS.ed25519.asc", "SHA256SUMS.rsa3072.gpg", "SHA256SUMS.ed25519.clear"} {
		f.Add(fixture(f, name))
	}
	cert := fixtureCert(f, "ed25519.asc")
	sums := fixture(f, "SHA256SUMS")
	f.Fuzz(func(t *testing.T, sig []byte) {
		_, _ = VerifyDetached(cert, sums, sig)
		_, _, _ = VerifyCleartext(cert, sig)
		_, _ = SignatureIssuers(sig)
	})
}

// FuzzParseRevocation feeds arbitrary input to the revocation parser.
func FuzzParseRevocation(f *testing.F) {
	for _, name := range []string{"rev-none.asc", "rev-compromised.asc", "rev-superseded.asc", "rev-retired.asc", "rev-generated.rev"} {
		f.Add(fixture(f, name))
	}
	cert := fixtureCert(f, "ed25519.asc")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocation(data)
		if err == nil && r.Hard == r.Reason.Soft() && r.HasReason {
			t.Fatalf("hard/soft inconsistent: %+v", r)
		}
		_, _ = VerifyRevocation(cert, data)
	})
}

// FuzzParseManifest checks the manifest parser's invariants: every
// non-blank line is either indexed or reported, never both.
func FuzzParseManifest(f *testing.F) {
	f.Add(fixture(f, "SHA256SUMS"))
	f.Add([]byte("SHA256 (a) = " + h256 + "\n\\" + h256 + "  a\\nb\n" + h512 + " *c\r\n"))
	f.Add([]byte(h256 + "  a\n" + h256b + "  a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, problems, err := ParseManifest(data)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, e := range entries {
			if e.Name == "" || e.Digest.IsZero() || seen[e.Line] {
				t.Fatalf("bad entry %+v", e)
			}
			seen[e.Line] = true
		}
		for _, p := range problems {
			if seen[p.Line] || p.Reason == "" {
				t.Fatalf("line %d both indexed and reported: %v", p.Line, p)
			}
		}
	})
}

// FuzzParseRelease checks the deb822 Release parser's invariants: it never
// panics, an error comes with no entries, every entry is a SHA-256 or
// SHA-512 digest of a named path with a size, no line is both indexed and
// reported, and a path's entries agree on its size.
func FuzzParseRelease(f *testing.F) {
	f.Add(fixture(f, "debian/Release"))
	f.Add([]byte("Origin: x\nSHA256:\n " + h256 + " 0 a\n " + h256b + " 0 a\nSHA512:\n " + h512 + " 1 a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, problems, err := ParseRelease(data)
		if err != nil {
			if entries != nil || problems != nil {
				t.Fatalf("error %v with %d entries", err, len(entries))
			}
			return
		}
		lines := map[int]bool{}
		size := map[string]int64{}
		for _, e := range entries {
			if e.Name == "" || e.Digest.IsZero() || !e.HasSize || e.Size < 0 || lines[e.Line] {
				t.Fatalf("bad entry %+v", e)
			}
			if s, ok := size[e.Name]; ok && s != e.Size {
				t.Fatalf("%q indexed with sizes %d and %d", e.Name, s, e.Size)
			}
			lines[e.Line], size[e.Name] = true, e.Size
		}
		for _, p := range problems {
			if lines[p.Line] || p.Reason == "" {
				t.Fatalf("line %d both indexed and reported: %v", p.Line, p)
			}
		}
	})
}

// FuzzParseTransitionText checks the transition statement parser: it never
// panics, and what it accepts names two different well-formed fingerprints
// that appear in the text on the lines it reports.
func FuzzParseTransitionText(f *testing.F) {
	f.Add(fixture(f, "transition/transition.txt"))
	f.Add([]byte("old key: 0x" + fprA + "\nnew key: " + fprB + "\n"))
	f.Add([]byte("the old key and the new key:\n" + grouped(fprA) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tt, err := ParseTransitionText(data)
		if err != nil {
			return
		}
		if !ValidFingerprint(tt.Old) || !ValidFingerprint(tt.New) || tt.Old == tt.New || tt.OldLine < 1 || tt.NewLine < 1 {
			t.Fatalf("accepted %+v", tt)
		}
		if !LooksLikeTransition(data) {
			t.Fatalf("accepted but LooksLikeTransition is false")
		}
	})
}

// FuzzVerifyTransition feeds arbitrary clearsigned input to the transition
// verifier with the fixture certificates.
func FuzzVerifyTransition(f *testing.F) {
	for _, name := range []string{"transition/transition.asc", "transition/old-only.asc", "transition/mallory-claims-old.asc"} {
		f.Add(fixture(f, name))
	}
	all := map[string]*Certificate{}
	for _, name := range []string{"transition/old.asc", "transition/new.asc", "transition/mallory.asc"} {
		c := fixtureCert(f, name)
		all[c.Fingerprint] = c
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := VerifyTransition(data, func(fp string) (*Certificate, bool) { c, ok := all[fp]; return c, ok })
		if err == nil && (len(tr.Signatures) != 2 || tr.Signatures[0].Primary != tr.Old || tr.Signatures[1].Primary != tr.New) {
			t.Fatalf("accepted %+v", tr)
		}
	})
}

// FuzzMerge feeds arbitrary certificate updates to Merge over the Ed25519
// fixture: it must never panic, never drop a packet of the registered
// certificate, stay within the bounds, and change nothing when the same
// update is merged again. RevocationSignatures reads the same input.
func FuzzMerge(f *testing.F) {
	for _, name := range []string{"ed25519-updated.asc", "ed25519.asc", "expired.asc", "rev-superseded.asc", "ed25519.sec.asc"} {
		f.Add(fixture(f, name))
	}
	base := fixtureCert(f, "ed25519.asc")
	basePackets, err := certPackets("fuzz", base.raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = RevocationSignatures(data)
		m, err := Merge(base, data, nil)
		if err != nil {
			return
		}
		raw := m.Certificate.raw
		if len(raw) > MaxCertificateBytes {
			t.Fatalf("merged certificate of %d bytes", len(raw))
		}
		for i, p := range basePackets {
			if !bytes.Contains(raw, p.bytes) {
				t.Fatalf("packet %d of the registered certificate dropped", i)
			}
		}
		again, err := Merge(m.Certificate, data, nil)
		if err != nil || len(again.Changes) != 0 {
			t.Fatalf("merging again: %d changes, %v", len(again.Changes), err)
		}
	})
}
