package attest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/policy"
)

// SigstoreSignerID is the signer id trustd records for a keyless Sigstore
// signature, "sigstore:ISSUER#SUBJECT" (see policy.SigstoreIdentity.SignerID).
func SigstoreSignerID(issuer, subject string) string {
	return policy.SigstoreIdentity{Issuer: issuer, Subject: subject}.SignerID()
}

// ParseSigstoreSignerID splits an id made by SigstoreSignerID; ok is false
// for any other signer id.
func ParseSigstoreSignerID(id string) (issuer, subject string, ok bool) {
	si, ok := policy.ParseSignerID(id)
	return si.Issuer, si.Subject, ok
}

// TrustedRoot holds a Sigstore trusted root (trusted_root.json, as the
// Sigstore TUF repository distributes it) read from a file, and re-reads
// it on Reload or when Watch sees the file change, so a deployment can
// rotate Fulcio, Rekor and TSA keys without a restart. A failed re-read
// keeps the last good root.
type TrustedRoot struct {
	path string

	mu       sync.RWMutex
	material root.TrustedMaterial
	sum      [32]byte
}

// LoadTrustedRoot reads the trusted root at path.
func LoadTrustedRoot(path string) (*TrustedRoot, error) {
	t := &TrustedRoot{path: path}
	if _, err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Material returns the current trusted material.
func (t *TrustedRoot) Material() root.TrustedMaterial {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.material
}

// maxTrustedRootBytes bounds trusted_root.json (the public-good one is
// about 10 KiB).
const maxTrustedRootBytes = 4 << 20

// Reload re-reads the file and reports whether its content changed. On
// error the previous root stays in use.
func (t *TrustedRoot) Reload() (bool, error) {
	data, err := readBounded(t.path, maxTrustedRootBytes)
	if err != nil {
		return false, fmt.Errorf("attest: sigstore trusted root: %w", err)
	}
	sum := sha256.Sum256(data)
	t.mu.RLock()
	same := t.material != nil && sum == t.sum
	t.mu.RUnlock()
	if same {
		return false, nil
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return false, fmt.Errorf("attest: sigstore trusted root %s: %w", t.path, err)
	}
	t.mu.Lock()
	t.material, t.sum = tr, sum
	t.mu.Unlock()
	return true, nil
}

// Watch calls Reload every interval until ctx is done, reporting each
// change and each failure to report.
func (t *TrustedRoot) Watch(ctx context.Context, interval time.Duration, report func(changed bool, err error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			changed, err := t.Reload()
			if changed || err != nil {
				report(changed, err)
			}
		}
	}
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// Identity is the certificate identity a caller requires of a keyless
// Sigstore signature: the OIDC issuer and the subject (the certificate's
// SAN: an email, a workflow URI), each exact or as a regular expression
// (unanchored, as sigstore-go evaluates it; write ^…$ to anchor). The zero
// Identity requires nothing; the identity is still recorded.
type Identity struct {
	Issuer, IssuerRegexp   string
	Subject, SubjectRegexp string
}

// IsZero reports whether i requires nothing.
func (i Identity) IsZero() bool { return i == Identity{} }

// BundleResult is what a verified Sigstore bundle says.
type BundleResult struct {
	// MediaType is the bundle's media type (its version).
	MediaType string
	// Issuer and Subject are the verified certificate identity.
	Issuer, Subject string
	// Statement, Payload and PayloadType are the DSSE-enveloped in-toto
	// statement of an attestation bundle.
	Statement   envelope.Statement
	Payload     []byte
	PayloadType string
	// MessageDigest is the artifact digest a message-signature bundle
	// signs (zero for a DSSE bundle).
	MessageDigest digest.Digest
	// SignedAt are the verified times the signature was observed (log
	// integration times, signed timestamps).
	SignedAt []time.Time
}

// SignerID is the bundle's signer id (see SigstoreSignerID).
func (r BundleResult) SignerID() string { return SigstoreSignerID(r.Issuer, r.Subject) }

// hashNames maps sigstore's message digest algorithms to trustd's.
var hashNames = map[protocommon.HashAlgorithm]digest.Algorithm{
	protocommon.HashAlgorithm_SHA2_256: digest.SHA256,
	protocommon.HashAlgorithm_SHA2_384: digest.SHA384,
	protocommon.HashAlgorithm_SHA2_512: digest.SHA512,
}

// BundlePolicy is what VerifyBundle requires beyond a valid signature.
type BundlePolicy struct {
	// Identity, when not zero, must match the certificate (ErrIdentity).
	Identity Identity
	// Digest, when not zero, must be what the bundle is about: a subject of
	// its statement, or the digest a message signature signs
	// (ErrDigestMismatch).
	Digest digest.Digest
	// RequireSCT requires the certificate to carry a signed certificate
	// timestamp from a CT log of the trusted root, as Fulcio issues them.
	RequireSCT bool
}

// VerifyBundle verifies a Sigstore bundle (JSON, media types v0.1 to v0.3)
// with sigstore-go against tm: the certificate chain to a trusted Fulcio
// CA, the signature, and a trusted time for the short-lived certificate —
// transparency log inclusion (with its signed entry timestamp) when the
// bundle has log entries, else an RFC 3161 signed timestamp; a bundle with
// neither is ErrNoTimestamp — and what p requires. A DSSE bundle's payload
// must be an in-toto statement within lim.
func VerifyBundle(tm root.TrustedMaterial, raw []byte, p BundlePolicy, lim envelope.Limits) (BundleResult, error) {
	id, want := p.Identity, p.Digest
	if tm == nil {
		return BundleResult{}, inputerr.New(opBundle, "", ErrNoTrustedRoot, "start trustd with --sigstore-trusted-root")
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return BundleResult{}, inputerr.Wrap(opBundle, "", ErrInvalidBundle, "not a Sigstore bundle sigstore-go accepts", err)
	}
	res := BundleResult{MediaType: b.GetMediaType()}
	vc, err := b.VerificationContent()
	if err != nil {
		return BundleResult{}, inputerr.Wrap(opBundle, "verificationMaterial", ErrInvalidBundle, "unreadable", err)
	}
	if vc.Certificate() == nil {
		return BundleResult{}, inputerr.New(opBundle, "verificationMaterial", ErrInvalidBundle,
			"signed with a public key; trustd accepts keyless (certificate) bundles, and DSSE envelopes for registered keys")
	}

	var artifact verify.ArtifactPolicyOption
	if env := b.GetDsseEnvelope(); env != nil {
		res.Payload, res.PayloadType = env.GetPayload(), env.GetPayloadType()
		res.Statement, err = envelope.ParseStatement(res.PayloadType, res.Payload, lim)
		if err != nil {
			return BundleResult{}, inputerr.Wrap(opBundle, "dsseEnvelope.payload", ErrInvalidBundle, "not an in-toto statement", err)
		}
		artifact = verify.WithoutArtifactUnsafe()
		if !want.IsZero() {
			if !statementNames(res.Statement, want) {
				return BundleResult{}, inputerr.New(opBundle, "dsseEnvelope.payload.subject", ErrDigestMismatch,
					fmt.Sprintf("the statement does not name %s", want))
			}
			artifact = verify.WithArtifactDigest(string(want.Algorithm()), want.Bytes())
		}
	} else {
		ms := b.GetMessageSignature()
		alg, ok := hashNames[ms.GetMessageDigest().GetAlgorithm()]
		if !ok {
			return BundleResult{}, inputerr.New(opBundle, "messageSignature.messageDigest.algorithm", ErrInvalidBundle,
				fmt.Sprintf("%s is not an algorithm trustd indexes", ms.GetMessageDigest().GetAlgorithm()))
		}
		res.MessageDigest, err = digest.New(alg, ms.GetMessageDigest().GetDigest())
		if err != nil {
			return BundleResult{}, inputerr.Wrap(opBundle, "messageSignature.messageDigest.digest", ErrInvalidBundle, "malformed", err)
		}
		if !want.IsZero() && want != res.MessageDigest {
			return BundleResult{}, inputerr.New(opBundle, "messageSignature.messageDigest", ErrDigestMismatch,
				fmt.Sprintf("the bundle signs %s, not %s", res.MessageDigest, want))
		}
		artifact = verify.WithArtifactDigest(string(alg), res.MessageDigest.Bytes())
	}

	entries, err := b.TlogEntries()
	if err != nil {
		return BundleResult{}, inputerr.Wrap(opBundle, "verificationMaterial.tlogEntries", ErrInvalidBundle, "unreadable", err)
	}
	stamps, err := b.Timestamps()
	if err != nil {
		return BundleResult{}, inputerr.Wrap(opBundle, "verificationMaterial.timestampVerificationData", ErrInvalidBundle, "unreadable", err)
	}
	var opts []verify.VerifierOption
	switch {
	case len(entries) > 0:
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	case len(stamps) > 0:
		opts = append(opts, verify.WithSignedTimestamps(1))
	default:
		return BundleResult{}, inputerr.New(opBundle, "verificationMaterial", ErrNoTimestamp,
			"neither a transparency log entry nor a signed timestamp proves when the short-lived certificate signed")
	}
	if p.RequireSCT {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(tm, opts...)
	if err != nil {
		return BundleResult{}, fmt.Errorf("attest: bundle: verifier: %w", err)
	}
	policy := []verify.PolicyOption{verify.WithoutIdentitiesUnsafe()}
	if !id.IsZero() {
		if (id.Issuer == "" && id.IssuerRegexp == "") || (id.Subject == "" && id.SubjectRegexp == "") {
			return BundleResult{}, inputerr.New(opBundle, "identity", ErrIdentity, "give both an issuer and a subject (exact or regexp)")
		}
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			return BundleResult{}, inputerr.Wrap(opBundle, "identity", ErrIdentity, "unusable", err)
		}
		policy = []verify.PolicyOption{verify.WithCertificateIdentity(ci)}
	}
	vr, err := v.Verify(&b, verify.NewPolicy(artifact, policy...))
	if err != nil {
		var idErr *verify.ErrNoMatchingCertificateIdentity
		if errors.As(err, &idErr) {
			return BundleResult{}, inputerr.Wrap(opBundle, "identity", ErrIdentity, "", err)
		}
		return BundleResult{}, inputerr.Wrap(opBundle, "", ErrBundleVerification, "does not verify against the trusted root", err)
	}
	cert := vr.Signature.Certificate
	res.Issuer, res.Subject = cert.Issuer, cert.SubjectAlternativeName
	if res.Issuer == "" || res.Subject == "" {
		return BundleResult{}, inputerr.New(opBundle, "verificationMaterial.certificate", ErrInvalidBundle,
			"the certificate names no OIDC issuer or no subject")
	}
	for _, ts := range vr.VerifiedTimestamps {
		res.SignedAt = append(res.SignedAt, ts.Timestamp)
	}
	return res, nil
}

func statementNames(st envelope.Statement, d digest.Digest) bool {
	for _, s := range st.Subjects {
		for _, sd := range s.Digests {
			if sd == d {
				return true
			}
		}
	}
	return false
}
