// Package notationdoc is the wire form of Notation signatures between
// trustctl and trustd, and the parser of the OCI signature manifests
// Notation stores as referrers: no verification and no notation-go, so
// the CLI can read a registry without the verifier's weight (attest
// verifies on the server).
package notationdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Media and artifact types of Notation signatures.
const (
	// MediaTypeCOSE and MediaTypeJWS are the envelope formats Notation
	// signs in (the signature manifest's layer media type).
	MediaTypeCOSE = "application/cose"
	MediaTypeJWS  = "application/jose+json"
	// ArtifactType is a Notation signature manifest's artifactType (and,
	// in the OCI 1.0 form, its config media type).
	ArtifactType = "application/vnd.cncf.notary.signature"
	// ManifestMediaType is the OCI image manifest media type signature
	// manifests use.
	ManifestMediaType = "application/vnd.oci.image.manifest.v1+json"
)

// Bounds on Notation input.
const (
	// MaxEnvelopeBytes bounds one signature envelope: a small payload, a
	// certificate chain and perhaps a timestamp token, a few KiB in use.
	MaxEnvelopeBytes = 1 << 20
	// MaxManifestBytes bounds a signature manifest (one layer, a few
	// annotations).
	MaxManifestBytes = 64 << 10
	// MaxReferenceBytes bounds an artifact reference.
	MaxReferenceBytes = 4096
)

// ErrInvalid reports a document or signature manifest that is not one
// Notation writes; errors name the field.
var ErrInvalid = errors.New("invalid Notation signature")

// DocumentKey is the top-level key of a Notation signature in a
// PutAttestation document.
const DocumentKey = "notationSignature"

// Signature is a Notation signature as trustctl sends it: the envelope
// exactly as the registry holds it, its media type, and the reference of
// the image it signs, REGISTRY/REPOSITORY@DIGEST, whose registry and
// repository select the server's trust policy.
type Signature struct {
	MediaType string `json:"mediaType"`
	Envelope  []byte `json:"envelope"`
	Reference string `json:"reference"`
}

// Marshal makes the PutAttestation document that carries s:
// {"notationSignature": {"mediaType", "envelope" (base64), "reference"}}.
func Marshal(s Signature) ([]byte, error) {
	return json.Marshal(map[string]Signature{DocumentKey: s})
}

// Parse reads the value of a PutAttestation document's notationSignature
// key; unknown fields are refused.
func Parse(raw []byte) (Signature, error) {
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Signature{}, fmt.Errorf("%s: %w: want an object of mediaType, envelope (base64) and reference: %w", DocumentKey, ErrInvalid, err)
	}
	if dec.More() {
		return Signature{}, fmt.Errorf("%s: %w: data after the object", DocumentKey, ErrInvalid)
	}
	return s, nil
}

// Descriptor is the part of an OCI descriptor a signature manifest's
// fields need.
type Descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// Manifest is a Notation signature manifest, checked.
type Manifest struct {
	// Subject is the signed image's manifest digest.
	Subject digest.Digest
	// Envelope is the one layer: the signature envelope's media type,
	// digest and size.
	Envelope Descriptor
}

// ParseManifest checks that raw is a Notation signature manifest about
// subject: an OCI image manifest whose artifactType (or config media
// type) is ArtifactType, whose subject is subject, with exactly one layer,
// a COSE or JWS envelope within MaxEnvelopeBytes.
func ParseManifest(raw []byte, subject digest.Digest) (Manifest, error) {
	if len(raw) > MaxManifestBytes {
		return Manifest{}, fmt.Errorf("manifest: %w: %d bytes, over %d", ErrInvalid, len(raw), MaxManifestBytes)
	}
	var m struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		ArtifactType  string       `json:"artifactType"`
		Config        Descriptor   `json:"config"`
		Layers        []Descriptor `json:"layers"`
		Subject       *Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w: not JSON: %w", ErrInvalid, err)
	}
	switch {
	case m.SchemaVersion != 2:
		return Manifest{}, fmt.Errorf("manifest.schemaVersion: %w: %d, want 2", ErrInvalid, m.SchemaVersion)
	case m.MediaType != ManifestMediaType:
		return Manifest{}, fmt.Errorf("manifest.mediaType: %w: %q, want %s", ErrInvalid, m.MediaType, ManifestMediaType)
	case m.ArtifactType != ArtifactType && !(m.ArtifactType == "" && m.Config.MediaType == ArtifactType):
		return Manifest{}, fmt.Errorf("manifest.artifactType: %w: %q (config %q), want %s", ErrInvalid, m.ArtifactType, m.Config.MediaType, ArtifactType)
	case m.Subject == nil:
		return Manifest{}, fmt.Errorf("manifest.subject: %w: missing", ErrInvalid)
	case m.Subject.Digest != subject:
		return Manifest{}, fmt.Errorf("manifest.subject.digest: %w: %q, not the image %s", ErrInvalid, m.Subject.Digest, subject)
	case len(m.Layers) != 1:
		return Manifest{}, fmt.Errorf("manifest.layers: %w: %d layers, want the one envelope", ErrInvalid, len(m.Layers))
	}
	l := m.Layers[0]
	switch {
	case l.MediaType != MediaTypeCOSE && l.MediaType != MediaTypeJWS:
		return Manifest{}, fmt.Errorf("manifest.layers[0].mediaType: %w: %q, want %s or %s", ErrInvalid, l.MediaType, MediaTypeCOSE, MediaTypeJWS)
	case l.Digest.Validate() != nil:
		return Manifest{}, fmt.Errorf("manifest.layers[0].digest: %w: %q: %v", ErrInvalid, l.Digest, l.Digest.Validate())
	case l.Size <= 0 || l.Size > MaxEnvelopeBytes:
		return Manifest{}, fmt.Errorf("manifest.layers[0].size: %w: %d, want 1 to %d", ErrInvalid, l.Size, MaxEnvelopeBytes)
	}
	return Manifest{Subject: subject, Envelope: l}, nil
}
