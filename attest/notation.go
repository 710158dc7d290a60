package attest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/notaryproject/notation-core-go/signature"
	// notation-core-go parses the envelope formats these register.
	_ "github.com/notaryproject/notation-core-go/signature/cose"
	_ "github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/trustd-dev/trustd/attest/notationdoc"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
)

// Notation envelope media types (the two formats notation signs in).
const (
	NotationMediaTypeCOSE = notationdoc.MediaTypeCOSE
	NotationMediaTypeJWS  = notationdoc.MediaTypeJWS
)

// NotationPredicateType labels a verified Notation signature in the log.
const NotationPredicateType = recordtype.NotationSignature

// Payload types trustd stores a Notation envelope under, by its format:
// recordtype.NotationPayloadTypePrefix and the envelope's format.
const (
	NotationPayloadTypeCOSE = recordtype.NotationPayloadTypePrefix + "+cose"
	NotationPayloadTypeJWS  = recordtype.NotationPayloadTypePrefix + "+jws"
)

// NotationPayloadContentType is the content type of the payload every
// Notation signature signs: {"targetArtifact": descriptor}.
const NotationPayloadContentType = "application/vnd.cncf.notary.payload.v1+json"

// NotationSignerIDPrefix starts the signer id of a Notation signature,
// followed by the hex SHA-256 of the signing (leaf) certificate's DER.
const NotationSignerIDPrefix = "notation:x509-sha256:"

// Bounds on Notation input (see notationdoc).
const (
	// MaxNotationEnvelopeBytes bounds one signature envelope.
	MaxNotationEnvelopeBytes = notationdoc.MaxEnvelopeBytes
	// maxNotationPolicyBytes bounds trustpolicy.json.
	maxNotationPolicyBytes = 1 << 20
	// maxNotationReferenceBytes bounds an artifact reference.
	maxNotationReferenceBytes = notationdoc.MaxReferenceBytes
)

// NotationSignerID is the signer id trustd records for a Notation
// signature made with the leaf certificate whose DER is der.
func NotationSignerID(der []byte) string {
	sum := sha256.Sum256(der)
	return NotationSignerIDPrefix + hex.EncodeToString(sum[:])
}

// NotationTrust is the server's Notation configuration: an X.509 trust
// store directory laid out as Notation's own (DIR/x509/{ca,signingAuthority,tsa}/NAME/*.pem)
// and a trust policy document (Notation's trustpolicy.json, version 1.0).
// The trust store's certificates are read at every verification, so
// adding or removing one needs no restart; the policy is read once.
type NotationTrust struct {
	storeDir string
	policy   *trustpolicy.Document
	verifier notation.Verifier
}

// trustStoreFS serves Notation's trust store paths (truststore/x509/…)
// from a directory that is the trust store itself.
type trustStoreFS struct {
	dir.SysFS
	root string
}

func (t trustStoreFS) SysPath(items ...string) (string, error) {
	parts := append([]string{t.root}, items...)
	if len(items) > 0 {
		parts[1] = strings.TrimPrefix(strings.TrimPrefix(items[0], dir.TrustStoreDir), "/")
	}
	return filepath.Join(parts...), nil
}

// LoadNotationTrust reads the trust policy at policyPath and checks the
// trust store directory storeDir: every trust store the policy names must
// exist there and hold valid certificates, and no policy may skip
// verification or only log the authenticity check, which would let any
// certificate sign.
func LoadNotationTrust(storeDir, policyPath string) (*NotationTrust, error) {
	data, err := readBounded(policyPath, maxNotationPolicyBytes)
	if err != nil {
		return nil, fmt.Errorf("attest: notation trust policy: %w", err)
	}
	var doc trustpolicy.Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("attest: notation trust policy %s: not a trustpolicy.json document: %w", policyPath, err)
	}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("attest: notation trust policy %s: %w", policyPath, err)
	}
	st, err := os.Stat(storeDir)
	if err != nil {
		return nil, fmt.Errorf("attest: notation trust store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("attest: notation trust store %s: not a directory", storeDir)
	}
	ts := truststore.NewX509TrustStore(trustStoreFS{SysFS: dir.NewSysFS(storeDir), root: storeDir})
	for _, p := range doc.TrustPolicies {
		level, err := p.SignatureVerification.GetVerificationLevel()
		if err != nil {
			return nil, fmt.Errorf("attest: notation trust policy %s: trustPolicies[%q].signatureVerification: %w", policyPath, p.Name, err)
		}
		if level.Name == trustpolicy.LevelSkip.Name {
			return nil, fmt.Errorf("attest: notation trust policy %s: trustPolicies[%q].signatureVerification.level: skip verifies nothing; trustd stores only verified signatures (remove the policy, or give it a trust store)", policyPath, p.Name)
		}
		for _, vt := range []trustpolicy.ValidationType{trustpolicy.TypeIntegrity, trustpolicy.TypeAuthenticity} {
			if level.Enforcement[vt] != trustpolicy.ActionEnforce {
				return nil, fmt.Errorf("attest: notation trust policy %s: trustPolicies[%q].signatureVerification: the %s check is not enforced (level %s); trustd requires it, or a certificate outside the trust store could sign", policyPath, p.Name, vt, level.Name)
			}
		}
		for _, s := range p.TrustStores {
			typ, name, _ := strings.Cut(s, ":")
			if _, err := ts.GetCertificates(context.Background(), truststore.Type(typ), name); err != nil {
				return nil, fmt.Errorf("attest: notation trust store %s: trustPolicies[%q].trustStores %q: %w", storeDir, p.Name, s, err)
			}
		}
	}
	v, err := verifier.New(&doc, ts, nil)
	if err != nil {
		return nil, fmt.Errorf("attest: notation verifier: %w", err)
	}
	return &NotationTrust{storeDir: storeDir, policy: &doc, verifier: v}, nil
}

// NotationSignature is a Notation signature as a caller submits it (see
// notationdoc.Signature).
type NotationSignature = notationdoc.Signature

// NotationDocumentKey is the top-level key of a Notation signature in a
// PutAttestation document.
const NotationDocumentKey = notationdoc.DocumentKey

// MarshalNotationDocument makes the PutAttestation document that carries s.
func MarshalNotationDocument(s NotationSignature) ([]byte, error) { return notationdoc.Marshal(s) }

// ParseNotationDocument reads the value of a PutAttestation document's
// notationSignature key.
func ParseNotationDocument(raw []byte) (NotationSignature, error) {
	s, err := notationdoc.Parse(raw)
	if err != nil {
		return NotationSignature{}, inputerr.Wrap(opNotation, NotationDocumentKey, ErrInvalidNotation, "", err)
	}
	return s, nil
}

// NotationResult is what a verified Notation signature says.
type NotationResult struct {
	// PayloadType is the payload type trustd stores the envelope under.
	PayloadType string
	// Payload is the signed payload ({"targetArtifact": …}).
	Payload []byte
	// Target is the signed artifact's descriptor; Digest its digest.
	Target ocispec.Descriptor
	Digest digest.Digest
	// SignerID identifies the signing certificate (NotationSignerID);
	// Subject is its subject DN.
	SignerID, Subject string
	// Policy is the name of the trust policy that verified it.
	Policy string
	// SigningTime is the time the signer claims (signed, not proven).
	SigningTime time.Time
}

// notationPayload is the payload a Notation signature signs.
type notationPayload struct {
	TargetArtifact *ocispec.Descriptor `json:"targetArtifact"`
}

// ParseNotationEnvelope checks the shape of a Notation signature without
// verifying it: the media type, the size, the reference (a digest
// reference), and that the envelope parses and signs a Notation payload
// whose target artifact has the reference's digest. It returns the
// envelope's payload type in trustd's log, the payload, and the target.
func ParseNotationEnvelope(s NotationSignature) (payloadType string, payload []byte, target ocispec.Descriptor, ref name.Digest, err error) {
	switch s.MediaType {
	case NotationMediaTypeCOSE:
		payloadType = NotationPayloadTypeCOSE
	case NotationMediaTypeJWS:
		payloadType = NotationPayloadTypeJWS
	default:
		err = inputerr.New(opNotation, "mediaType", ErrInvalidNotation,
			fmt.Sprintf("%q is not a Notation envelope media type (%s or %s)", s.MediaType, NotationMediaTypeCOSE, NotationMediaTypeJWS))
		return
	}
	if len(s.Envelope) == 0 {
		err = inputerr.New(opNotation, "envelope", ErrInvalidNotation, "empty")
		return
	}
	if len(s.Envelope) > MaxNotationEnvelopeBytes {
		err = inputerr.New(opNotation, "envelope", ErrTooLarge, fmt.Sprintf("%d bytes, over the %d a Notation envelope may have", len(s.Envelope), MaxNotationEnvelopeBytes))
		return
	}
	if len(s.Reference) > maxNotationReferenceBytes {
		err = inputerr.New(opNotation, "reference", ErrInvalidNotation, fmt.Sprintf("%d bytes, over %d", len(s.Reference), maxNotationReferenceBytes))
		return
	}
	ref, err = name.NewDigest(s.Reference)
	if err != nil {
		err = inputerr.Wrap(opNotation, "reference", ErrInvalidNotation, "want REGISTRY/REPOSITORY@sha256:HEX", err)
		return
	}
	env, perr := signature.ParseEnvelope(s.MediaType, s.Envelope)
	if perr != nil {
		err = inputerr.Wrap(opNotation, "envelope", ErrInvalidNotation, "not a "+s.MediaType+" signature envelope", perr)
		return
	}
	content, perr := env.Content()
	if perr != nil {
		err = inputerr.Wrap(opNotation, "envelope", ErrInvalidNotation, "unreadable content", perr)
		return
	}
	if ct := content.Payload.ContentType; ct != NotationPayloadContentType {
		err = inputerr.New(opNotation, "envelope.payload.contentType", ErrInvalidNotation, fmt.Sprintf("%q, want %s", ct, NotationPayloadContentType))
		return
	}
	payload = content.Payload.Content
	var p notationPayload
	if perr := json.Unmarshal(payload, &p); perr != nil {
		err = inputerr.Wrap(opNotation, "envelope.payload", ErrInvalidNotation, "not a Notation payload", perr)
		return
	}
	if p.TargetArtifact == nil {
		err = inputerr.New(opNotation, "envelope.payload.targetArtifact", ErrInvalidNotation, "missing")
		return
	}
	target = *p.TargetArtifact
	if target.Digest.String() != ref.DigestStr() {
		err = inputerr.New(opNotation, "envelope.payload.targetArtifact.digest", ErrDigestMismatch,
			fmt.Sprintf("the signature signs %q, not %s", target.Digest, ref.DigestStr()))
		return
	}
	return payloadType, payload, target, ref, nil
}

// VerifyNotation verifies a Notation signature with notation-go against
// the trust store and the trust policy whose registry scope covers the
// reference: the envelope's integrity, the certificate chain to a trusted
// root of the policy's trust stores, its trusted identities, expiry and
// revocation as the policy's level enforces them. Any check that fails is
// a refusal, even one the policy would only log. A nil t refuses every
// signature (ErrNoNotationTrust).
func VerifyNotation(ctx context.Context, t *NotationTrust, s NotationSignature) (NotationResult, error) {
	payloadType, payload, target, ref, err := ParseNotationEnvelope(s)
	if err != nil {
		return NotationResult{}, err
	}
	d, err := digest.Parse(target.Digest.String())
	if err != nil {
		return NotationResult{}, inputerr.Wrap(opNotation, "envelope.payload.targetArtifact.digest", ErrInvalidNotation, "not a digest trustd indexes", err)
	}
	if t == nil {
		return NotationResult{}, inputerr.New(opNotation, "", ErrNoNotationTrust, "start trustd with --notation-trust-store and --notation-trust-policy")
	}
	artifactRef := ref.Context().Name() + "@" + ref.DigestStr()
	pol, err := t.policy.GetApplicableTrustPolicy(artifactRef)
	if err != nil {
		return NotationResult{}, inputerr.Wrap(opNotation, "reference", ErrNotationVerification,
			fmt.Sprintf("no trust policy's registryScopes covers %s", ref.Context().Name()), err)
	}
	outcome, verr := t.verifier.Verify(ctx, target, s.Envelope, notation.VerifierVerifyOptions{
		ArtifactReference: artifactRef, SignatureMediaType: s.MediaType,
	})
	if verr == nil && outcome != nil {
		verr = checkOutcome(outcome)
	}
	if verr != nil {
		return NotationResult{}, inputerr.Wrap(opNotation, "envelope", ErrNotationVerification,
			fmt.Sprintf("does not verify under trust policy %q", pol.Name), verr)
	}
	if outcome == nil || outcome.EnvelopeContent == nil || len(outcome.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return NotationResult{}, inputerr.New(opNotation, "envelope", ErrNotationVerification, "notation-go returned no verified certificate")
	}
	leaf := outcome.EnvelopeContent.SignerInfo.CertificateChain[0]
	return NotationResult{
		PayloadType: payloadType, Payload: payload, Target: target, Digest: d,
		SignerID: NotationSignerID(leaf.Raw), Subject: leaf.Subject.String(), Policy: pol.Name,
		SigningTime: outcome.EnvelopeContent.SignerInfo.SignedAttributes.SigningTime,
	}, nil
}

// checkOutcome refuses an outcome any of whose checks failed, whatever the
// policy's action for it, and one without the integrity and authenticity
// checks (a skipped verification).
func checkOutcome(o *notation.VerificationOutcome) error {
	seen := map[trustpolicy.ValidationType]bool{}
	for _, r := range o.VerificationResults {
		if r == nil {
			continue
		}
		if r.Error != nil {
			return fmt.Errorf("%s check failed: %w", r.Type, r.Error)
		}
		seen[r.Type] = true
	}
	for _, vt := range []trustpolicy.ValidationType{trustpolicy.TypeIntegrity, trustpolicy.TypeAuthenticity} {
		if !seen[vt] {
			return fmt.Errorf("the %s check was not performed", vt)
		}
	}
	return nil
}

// notationDocument reports whether a PutAttestation document carries a
// Notation signature (its only key), and its value.
func notationDocument(top map[string]json.RawMessage) (json.RawMessage, bool) {
	raw, ok := top[NotationDocumentKey]
	return raw, ok && len(top) == 1
}
