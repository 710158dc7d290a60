package pgp

// ManifestRecord is what trustd's log stores for a published manifest:
// the signed bytes exactly as given, as JSON with fields in this order (so
// the same publication gives the same bytes, hence the same log entry).
// Either Manifest and Signature are set, or Clearsigned. The log entry's
// leaf is this JSON, so anyone holding the entry can verify the signature.
type ManifestRecord struct {
	Name        string `json:"name"`
	Manifest    []byte `json:"manifest,omitempty"`
	Signature   []byte `json:"signature,omitempty"`
	Clearsigned []byte `json:"clearsigned,omitempty"`
}

// RevocationRecord is what trustd's log stores for an OpenPGP revocation
// certificate: the bytes exactly as given, as JSON.
type RevocationRecord struct {
	Revocation []byte `json:"revocation"`
}

// TransitionRecord is what trustd's log stores for a key transition
// statement imported as a rotation: the clearsigned statement exactly as
// given, as JSON, so anyone holding the entry can verify both signatures.
type TransitionRecord struct {
	Transition []byte `json:"transition"`
}

// CertificateUpdateRecord is what trustd's log stores for an accepted
// certificate update (pgplog.UpdateCertificate): the certificate's primary
// fingerprint, the export exactly as given, and the binary packets that
// Merge accepted from it, in certificate order, as JSON. Replaying the
// records of a certificate in log order onto its first registration gives
// the certificate as registered now; every added signature re-verifies
// against the certificate (or, for a certification, its issuer's).
type CertificateUpdateRecord struct {
	Certificate string `json:"certificate"`
	Update      []byte `json:"update"`
	Added       []byte `json:"added"`
}
