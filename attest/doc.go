// Package attest collects, verifies and finds attestations: in-toto
// statements in DSSE envelopes (verified against the key registry by
// statement.Log), Sigstore bundles (verified with sigstore-go against a
// deployment's trusted root, the signer recorded as its certificate
// identity), and in-toto layouts with their links (verified with
// in-toto-golang). It indexes the predicates it understands (SLSA
// provenance, SPDX and CycloneDX SBOMs, SLSA VSAs) so that they can be
// found by builder, source or document, and lists attestations by any
// digest of their subjects.
package attest
