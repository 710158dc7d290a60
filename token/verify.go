package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/refname"
)

// KeySource gives the token keys a verifier trusts. A file of pinned keys
// (Keys, ReadKeyFiles) is one source; a key published in a trustd-managed
// TUF repository and read through a pinned TUF root is another.
type KeySource interface {
	TokenKeys(ctx context.Context) ([]envelope.PublicKey, error)
}

// Keys is a fixed set of trusted token keys.
type Keys []envelope.PublicKey

// TokenKeys returns k.
func (k Keys) TokenKeys(context.Context) ([]envelope.PublicKey, error) { return k, nil }

// ReadKeyFiles reads public keys (PEM or TUF JSON, as envelope parses
// them) from files.
func ReadKeyFiles(paths ...string) (Keys, error) {
	var out Keys
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("token: key file: %w", err)
		}
		k, err := envelope.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("token: key file %s: %w", p, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// verifiedCacheSize bounds the verifier's cache of verified tokens.
const verifiedCacheSize = 4096

// Verifier checks token signatures against trusted token keys. It is safe
// for concurrent use, and remembers the last verifiedCacheSize tokens it
// verified by their ID (the sha256 of their exact bytes), so a token seen
// again (every pod of a deployment carries the same one) costs a hash and
// a lookup instead of a signature verification. Check runs in full every
// time.
type Verifier struct {
	keys    map[string]envelope.PublicKey
	enc     map[string][]byte
	mu      sync.Mutex
	cache   map[string]*Token
	noCache bool // benchmarks of the cold path
}

// NewVerifier reads the trusted keys from src once.
func NewVerifier(ctx context.Context, src KeySource) (*Verifier, error) {
	keys, err := src.TokenKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: trusted keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("token: no trusted token keys")
	}
	v := &Verifier{keys: map[string]envelope.PublicKey{}, enc: map[string][]byte{}, cache: map[string]*Token{}}
	for _, k := range keys {
		v.keys[k.ID] = k
		v.enc[k.ID] = k.Encode()
	}
	return v, nil
}

func (v *Verifier) lookup(_ context.Context, id string) (string, []byte, error) {
	k, ok := v.keys[id]
	if !ok {
		return "", nil, fmt.Errorf("key %s is not a trusted token key: %w", id, envelope.ErrUnknownKey)
	}
	return k.Type, v.enc[id], nil
}

// Verify checks data's signature with the trusted keys and parses it as a
// VSA. It does not judge expiry, subject or policy: Check does. The
// envelope is bounded (MaxTokenBytes) and its signature is checked before
// the payload is parsed; the payload is read with a plain JSON decode into
// the statement's fields, which keeps one verification well under 100 µs
// of work beyond the signature itself.
func (v *Verifier) Verify(ctx context.Context, data []byte) (*Token, error) {
	if len(data) > MaxTokenBytes {
		return nil, inputerr.New(opVerify, "", ErrInvalid, fmt.Sprintf("larger than %d bytes", MaxTokenBytes))
	}
	id := ID(data)
	if !v.noCache {
		v.mu.Lock()
		t, ok := v.cache[id]
		v.mu.Unlock()
		if ok {
			return t, nil
		}
	}
	t, err := v.verify(ctx, data, id)
	if err != nil || v.noCache {
		return t, err
	}
	v.mu.Lock()
	if len(v.cache) >= verifiedCacheSize {
		clear(v.cache)
	}
	v.cache[id] = t
	v.mu.Unlock()
	return t, nil
}

// verify is Verify without the cache.
func (v *Verifier) verify(ctx context.Context, data []byte, id string) (*Token, error) {
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, inputerr.Wrap(opVerify, "", ErrInvalid, "not a DSSE envelope", err)
	}
	if env.PayloadType != envelope.PayloadTypeInToto {
		return nil, inputerr.New(opVerify, "payloadType", ErrInvalid, fmt.Sprintf("%q; a token is %s", env.PayloadType, envelope.PayloadTypeInToto))
	}
	signers, err := envelope.Verify(ctx, &env, v.lookup)
	switch {
	case errors.Is(err, envelope.ErrUnknownKey):
		return nil, inputerr.Wrap(opVerify, "signatures", ErrUntrustedKey, "no trusted token key made it", err)
	case errors.Is(err, envelope.ErrBadSignature), errors.Is(err, envelope.ErrWrongKeyType):
		return nil, inputerr.Wrap(opVerify, "signatures", ErrBadSignature, "does not verify", err)
	case err != nil:
		return nil, inputerr.Wrap(opVerify, "", ErrInvalid, "envelope", err)
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return nil, inputerr.Wrap(opVerify, "payload", ErrInvalid, "not base64", err)
	}
	var st statementJSON
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, inputerr.Wrap(opVerify, "payload", ErrInvalid, "not an in-toto statement", err)
	}
	c, err := st.claims()
	if err != nil {
		return nil, err
	}
	return &Token{ID: id, Envelope: data, KeyID: signers[0], Claims: c}, nil
}

// statementJSON is the in-toto v1 statement of a token.
type statementJSON struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string    `json:"name"`
		Digest digestSet `json:"digest"`
	} `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     *predicate `json:"predicate"`
}

func (st *statementJSON) claims() (Claims, error) {
	bad := func(fld, reason string) (Claims, error) {
		return Claims{}, inputerr.New(opVerify, fld, ErrInvalid, reason)
	}
	if st.Type != envelope.StatementTypeV1 {
		return bad("_type", fmt.Sprintf("%q; a token is an in-toto %s", st.Type, envelope.StatementTypeV1))
	}
	if len(st.Subject) != 1 || len(st.Subject[0].Digest) == 0 {
		return bad("subject", "a token names exactly one artifact, with its digests")
	}
	var subject []digest.Digest
	for alg, hex := range st.Subject[0].Digest {
		d, err := digest.Parse(alg + ":" + hex)
		if err != nil {
			return bad("subject[0].digest."+alg, err.Error())
		}
		subject = append(subject, d)
	}
	slices.SortFunc(subject, func(a, b digest.Digest) int { return strings.Compare(a.String(), b.String()) })
	if st.Predicate == nil {
		return bad("predicate", "required")
	}
	return parseClaims(st.PredicateType, st.Subject[0].Name, subject, st.Predicate)
}

func parseClaims(predicateType, name string, subject []digest.Digest, p *predicate) (Claims, error) {
	bad := func(fld, reason string) (Claims, error) {
		return Claims{}, inputerr.New(opVerify, fld, ErrInvalid, reason)
	}
	if predicateType != PredicateType {
		return bad("predicateType", fmt.Sprintf("%q; a token is a %s", predicateType, PredicateType))
	}
	switch {
	case p.Verifier.ID == "":
		return bad("predicate.verifier.id", "required")
	case p.TimeVerified.IsZero():
		return bad("predicate.timeVerified", "required")
	case p.Policy.URI == "":
		return bad("predicate.policy.uri", "required")
	case p.VerificationResult != ResultPassed && p.VerificationResult != ResultFailed:
		return bad("predicate.verificationResult", fmt.Sprintf("%q: want PASSED or FAILED", p.VerificationResult))
	case p.Extension == nil || p.Extension.Expires.IsZero():
		return bad("predicate."+ExtensionKey+".expires", "required: trustd tokens expire")
	}
	pd, err := oneDigest(p.Policy.Digest)
	if err != nil {
		return bad("predicate.policy.digest", err.Error())
	}
	c := Claims{
		Subject: subject, Name: name, ResourceURI: p.ResourceURI,
		VerifierID: p.Verifier.ID, VerifierVersion: p.Verifier.Version["trustd"],
		TimeVerified: p.TimeVerified, Expires: p.Extension.Expires,
		PolicyName: p.Extension.PolicyName, PolicyURI: p.Policy.URI, PolicyDigest: pd,
		Result: p.VerificationResult, Levels: p.VerifiedLevels, RevocationListSeq: p.Extension.RevocationListSeq,
		Signers: p.Extension.Signers, SignerTimes: p.Extension.SignerTimes,
	}
	for i, in := range p.InputAttestations {
		d, err := oneDigest(in.Digest)
		if err != nil {
			return bad(fmt.Sprintf("predicate.inputAttestations[%d].digest", i), err.Error())
		}
		c.Inputs = append(c.Inputs, Input{URI: in.URI, Digest: d})
	}
	if c.Log, err = parseLogProof(opVerify, p.Extension.Log, c.Inputs); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func oneDigest(s digestSet) (digest.Digest, error) {
	if len(s) != 1 {
		return digest.Digest{}, fmt.Errorf("want exactly one digest, got %d", len(s))
	}
	for alg, hex := range s {
		return digest.Parse(alg + ":" + hex)
	}
	panic("unreachable")
}

// Expect is what a verifier requires of a token.
type Expect struct {
	// Digests are the digests the verifier computed over the bytes.
	Digests []digest.Digest
	// PolicyURI and PolicyDigest identify the policy being enforced.
	PolicyURI    string
	PolicyDigest digest.Digest
	// MaxAge, when positive, bounds how long ago the token was issued.
	MaxAge time.Duration
	// Name is the reference being verified (a file, an https URL, an OCI
	// reference, or the URI trustctl's resolver gives one). When it names
	// something, a token whose resourceUri names something else, after
	// refname.Normalize on both, is refused (ErrNameMismatch): a token
	// issued for registry/app:1.3 does not admit the same bytes pulled as
	// registry/app:1.4. Leave it empty only where names do not matter.
	Name string
	// NameRequired refuses a token that names nothing (one issued for a
	// bare digest) and a reference that names nothing (standard input):
	// set it when the policy binds names.
	NameRequired bool
}

// Check judges t against what the verifier knows at now: it must record a
// pass, be unexpired, no older than MaxAge, about the same bytes (every
// token digest of an algorithm the verifier computed must equal its
// digest, and at least one must be compared), for the same policy, and
// issued for the name being verified (see Expect.Name).
func (t *Token) Check(want Expect, now time.Time) error {
	c := t.Claims
	compared := 0
	for _, d := range c.Subject {
		i := slices.IndexFunc(want.Digests, func(w digest.Digest) bool { return w.Algorithm() == d.Algorithm() })
		if i < 0 {
			continue
		}
		if want.Digests[i] != d {
			return fmt.Errorf("%s: %w: token names %s, the bytes are %s", opVerify, ErrDigestMismatch, d, want.Digests[i])
		}
		compared++
	}
	if compared == 0 {
		return fmt.Errorf("%s: %w: no token digest is of an algorithm that was computed", opVerify, ErrDigestMismatch)
	}
	if c.PolicyURI != want.PolicyURI || c.PolicyDigest != want.PolicyDigest {
		return fmt.Errorf("%s: %w: token is for %s (%s), enforcing %s (%s)", opVerify, ErrPolicyMismatch, c.PolicyURI, c.PolicyDigest, want.PolicyURI, want.PolicyDigest)
	}
	if err := checkName(c.ResourceURI, want); err != nil {
		return err
	}
	if c.Result != ResultPassed {
		return fmt.Errorf("%s: %w", opVerify, ErrFailed)
	}
	if !now.Before(c.Expires) {
		return fmt.Errorf("%s: %w at %s", opVerify, ErrExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	if want.MaxAge > 0 && now.Sub(c.TimeVerified) > want.MaxAge {
		return fmt.Errorf("%s: %w: issued %s, more than %s ago", opVerify, ErrTooOld, c.TimeVerified.UTC().Format(time.RFC3339), want.MaxAge)
	}
	return nil
}

// checkName compares the token's resourceUri with the reference being
// verified, both normalised by refname.Normalize (refname.Name.Binds).
func checkName(resourceURI string, want Expect) error {
	mismatch := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", opVerify, ErrNameMismatch, fmt.Sprintf(format, a...))
	}
	asked, err := refname.Normalize(want.Name)
	if errors.Is(err, refname.ErrNoName) && !want.NameRequired {
		return nil
	}
	if err != nil {
		return mismatch("the policy binds names, and the reference verified names none: %v", err)
	}
	got, err := refname.Normalize(resourceURI)
	if errors.Is(err, refname.ErrNoName) && !want.NameRequired {
		return nil // issued for a bare digest: binds no name, and none is required
	}
	if err != nil {
		return mismatch("the token names no artifact (resourceUri %.200q), and the policy binds names", resourceURI)
	}
	if err := got.Binds(asked); err != nil {
		return mismatch("%v", err)
	}
	return nil
}
