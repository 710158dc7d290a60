// Package token issues and verifies trustd tokens: SLSA Verification
// Summary Attestations (in-toto statement, predicate
// https://slsa.dev/verification_summary/v1) in a DSSE envelope signed by
// trustd's token key. A token says "trustd evaluated policy P for these
// bytes and it passed"; it travels beside the bytes (an OCI referrer or a
// FILE.trust.json sidecar) so a deploy pipeline can check it with no
// network, knowing only the token key.
//
// What the VSA has no field for travels in one extension member of the
// predicate, keyed by the URI ExtensionKey (consumers that do not know it
// ignore it, as in-toto requires of unknown fields):
//
//	"https://trustd.dev/token/v1": {
//	  "expires": "2026-11-24T12:00:00Z",     // the token is void after this
//	  "revocationListSeq": 42,               // the revocation list it was checked against
//	  "policyName": "production",            // the policy's name (its URI and digest are in "policy")
//	  "signers": ["3e63ed31…"],              // keys whose signatures counted (omitted when none)
//	  "signerTimes": {"3e63ed31…": "…"},     // when each signer is judged to have signed (omitted when none)
//	  "log": {                               // omitted when trustd has no log proof to give
//	    "checkpoint": "trustd.example/log\n42\n…\n\n— trustd.example/log …\n— witness.example …\n",
//	    "inclusion": [{"uri": "trustd:log/7", "leafIndex": 6, "leafHash": "base64", "hashes": ["base64", …]}]
//	  }
//	}
//
// "log" is the checkpoint of trustd's log (a signed note with the witness
// cosignatures trustd held for it) and the RFC 6962 inclusion proof of
// every input that names a log entry: an offline verifier that pins the
// log key requires k of n witnesses with them (Claims.VerifyLog).
//
// A token's ID is the sha256 digest of its envelope bytes exactly as issued
// ("sha256:…"), stable across copies, so a revocation can name it.
package token

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// PredicateType is the SLSA VSA v1 predicate type.
const PredicateType = "https://slsa.dev/verification_summary/v1"

// ExtensionKey names the predicate member that carries trustd's fields.
const ExtensionKey = "https://trustd.dev/token/v1"

// KeyTarget is the target name under which trustd publishes the token
// public key in its trustd/keys TUF repository, so verifiers pin only
// that repository's root.
const KeyTarget = "token.pub"

// VerifierID is the VSA verifier.id trustd writes unless its operator
// names the deployment otherwise (trustd --token-verifier-id).
const VerifierID = "https://trustd.dev/trustd"

// Verification results, as the VSA spells them.
const (
	ResultPassed = "PASSED"
	ResultFailed = "FAILED"
)

// MaxTokenBytes bounds a token read from disk or a registry.
const MaxTokenBytes = 256 << 10

// Sentinel errors, one per reason a token is refused.
var (
	// ErrInvalid: not a well-formed token (envelope, statement or VSA).
	ErrInvalid = errors.New("invalid token")
	// ErrUntrustedKey: signed by no trusted token key.
	ErrUntrustedKey = errors.New("token signed by an untrusted key")
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature = errors.New("token signature does not verify")
	// ErrExpired: past its expiry.
	ErrExpired = errors.New("token expired")
	// ErrTooOld: issued longer ago than the caller allows.
	ErrTooOld = errors.New("token older than allowed")
	// ErrDigestMismatch: the token is about other bytes.
	ErrDigestMismatch = errors.New("token is for another digest")
	// ErrPolicyMismatch: the token is for another policy.
	ErrPolicyMismatch = errors.New("token is for another policy")
	// ErrNameMismatch: the token was issued for another name (its
	// resourceUri: another tag, repository or file name) than the one
	// being verified.
	ErrNameMismatch = errors.New("token is for another name")
	// ErrFailed: the token records a failed verification.
	ErrFailed = errors.New("token records a failed verification")
)

const (
	opIssue  = "token: issue"
	opVerify = "token: verify"
)

// Input is one attestation the verification consumed (a VSA
// inputAttestations entry).
type Input struct {
	URI    string
	Digest digest.Digest
}

// Claims are the contents of a token.
type Claims struct {
	// Subject are the digests of the bytes; Name optionally names them.
	Subject []digest.Digest
	Name    string
	// ResourceURI is where the bytes were found (VSA resourceUri).
	ResourceURI     string
	VerifierID      string
	VerifierVersion string
	TimeVerified    time.Time
	Expires         time.Time
	PolicyName      string
	PolicyURI       string
	PolicyDigest    digest.Digest
	Inputs          []Input
	Result          string
	Levels          []string
	// RevocationListSeq is the revocation list sequence the verification
	// consulted; 0 when none was.
	RevocationListSeq uint64
	// Signers are the keys whose signatures the verification counted, so
	// an offline verifier can check them against its revocation list.
	Signers []string
	// SignerTimes are, by signer, the time the one time rule (package
	// timerule) judges the earliest signature the verification counted
	// from it at: the later of its claimed time and when the log first
	// observed it. An offline verifier judges a soft revocation of the
	// signer against it; a signer without one is judged at TimeVerified.
	SignerTimes map[string]time.Time
	// Log, when set, proves the log inputs in a checkpoint of trustd's
	// log carrying the witness cosignatures trustd held for it, so an
	// offline verifier can require k of n witnesses (VerifyLog).
	Log *LogProof
}

// Token is a verified token.
type Token struct {
	ID       string // sha256 of the envelope bytes
	Envelope []byte
	KeyID    string // the token key that signed
	Claims   Claims
}

// ID returns a token's ID: "sha256:" and the hex sha256 of its bytes.
func ID(envelopeBytes []byte) string {
	sum := sha256.Sum256(envelopeBytes)
	d, _ := digest.New(digest.SHA256, sum[:])
	return d.String()
}

type digestSet map[string]string

func toSet(d digest.Digest) digestSet { return digestSet{string(d.Algorithm()): d.Hex()} }

type resourceDescriptor struct {
	URI    string    `json:"uri"`
	Digest digestSet `json:"digest"`
}

type extension struct {
	Expires           time.Time `json:"expires"`
	RevocationListSeq uint64    `json:"revocationListSeq"`
	PolicyName        string    `json:"policyName"`
	Signers           []string  `json:"signers,omitempty"`
	// SignerTimes: see Claims.SignerTimes.
	SignerTimes map[string]time.Time `json:"signerTimes,omitempty"`
	// Log: see Claims.Log.
	Log *logJSON `json:"log,omitempty"`
}

type predicate struct {
	Verifier struct {
		ID      string            `json:"id"`
		Version map[string]string `json:"version,omitempty"`
	} `json:"verifier"`
	TimeVerified       time.Time            `json:"timeVerified"`
	ResourceURI        string               `json:"resourceUri"`
	Policy             resourceDescriptor   `json:"policy"`
	InputAttestations  []resourceDescriptor `json:"inputAttestations,omitempty"`
	VerificationResult string               `json:"verificationResult"`
	VerifiedLevels     []string             `json:"verifiedLevels"`
	SLSAVersion        string               `json:"slsaVersion"`
	Extension          *extension           `json:"https://trustd.dev/token/v1"`
}

// Issuer signs tokens with trustd's token key.
type Issuer struct {
	signer envelope.Signer
	pub    envelope.PublicKey
}

// NewIssuer returns an Issuer signing with signer, whose public key is pub.
func NewIssuer(signer envelope.Signer, pub envelope.PublicKey) *Issuer {
	return &Issuer{signer: signer, pub: pub}
}

// PublicKey is the token key's public half, which verifiers pin.
func (i *Issuer) PublicKey() envelope.PublicKey { return i.pub }

// Issue signs c as a VSA in a DSSE envelope and returns the envelope bytes
// and the token's ID.
func (i *Issuer) Issue(ctx context.Context, c Claims) (envBytes []byte, id string, err error) {
	bad := func(fld, reason string) ([]byte, string, error) {
		return nil, "", inputerr.New(opIssue, fld, ErrInvalid, reason)
	}
	switch {
	case len(c.Subject) == 0:
		return bad("subject", "at least one digest is required")
	case c.PolicyURI == "" || c.PolicyDigest.IsZero():
		return bad("policy", "uri and digest are required")
	case c.Expires.IsZero() || !c.Expires.After(c.TimeVerified):
		return bad("expires", "must be after timeVerified")
	case c.Result != ResultPassed && c.Result != ResultFailed:
		return bad("verificationResult", fmt.Sprintf("%q: want PASSED or FAILED", c.Result))
	}
	var p predicate
	p.Verifier.ID = c.VerifierID
	if p.Verifier.ID == "" {
		p.Verifier.ID = VerifierID
	}
	if c.VerifierVersion != "" {
		p.Verifier.Version = map[string]string{"trustd": c.VerifierVersion}
	}
	p.TimeVerified = c.TimeVerified.UTC().Truncate(time.Second)
	p.ResourceURI = c.ResourceURI
	p.Policy = resourceDescriptor{URI: c.PolicyURI, Digest: toSet(c.PolicyDigest)}
	for _, in := range c.Inputs {
		p.InputAttestations = append(p.InputAttestations, resourceDescriptor{URI: in.URI, Digest: toSet(in.Digest)})
	}
	p.VerificationResult = c.Result
	p.VerifiedLevels = c.Levels
	if p.VerifiedLevels == nil {
		p.VerifiedLevels = []string{}
	}
	p.SLSAVersion = "1.0"
	lj := c.Log.toJSON()
	if _, err := parseLogProof(opIssue, lj, c.Inputs); err != nil {
		return nil, "", err
	}
	p.Extension = &extension{Expires: c.Expires.UTC().Truncate(time.Second), RevocationListSeq: c.RevocationListSeq, PolicyName: c.PolicyName, Signers: c.Signers, SignerTimes: c.SignerTimes, Log: lj}
	pred, err := json.Marshal(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", opIssue, err)
	}
	payload, err := envelope.NewStatement(PredicateType, pred, envelope.Subject{Name: c.Name, Digests: c.Subject})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", opIssue, err)
	}
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, payload, i.signer)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", opIssue, err)
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", opIssue, err)
	}
	if len(out) > MaxTokenBytes {
		return bad("", fmt.Sprintf("the token would be %d bytes, more than a verifier reads (%d)", len(out), MaxTokenBytes))
	}
	return out, ID(out), nil
}

// LoadOrCreateKey reads the token key (PEM private key) at path, creating
// an ed25519 key there with mode 0600 when the file does not exist yet.
func LoadOrCreateKey(path string) (envelope.Signer, envelope.PublicKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		priv, _, gerr := envelope.GenerateKey(envelope.KeyTypeED25519)
		if gerr != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("token: generate key: %w", gerr)
		}
		if werr := envelope.WritePrivateKeyFile(path, priv); werr != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("token: %w", werr)
		}
		data = priv
	} else if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("token: read key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, envelope.PublicKey{}, fmt.Errorf("token: key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	s, pub, err := envelope.LoadPrivateKey(data, nil)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("token: key file %s: %w", path, err)
	}
	return s, pub, nil
}
