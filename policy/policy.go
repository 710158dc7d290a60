// Package policy reads trustd deploy policies (a versioned YAML file of
// named policies whose requirements combine with all/any) and evaluates
// them against evidence about an artifact's digests, giving a verdict in
// which every requirement passed, failed with a stable reason code, or
// could not be decided.
//
// The evaluator asks for evidence through the small source interfaces in
// evidence.go, so the same code runs inside trustd (IssueToken), in
// trustctl verify against a server, and offline over a token.
package policy

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// APIVersion is the only policy file version this package reads.
const APIVersion = "trustd.dev/policy/v1"

// Limits on a policy file, so that a hostile file cannot make the parser or
// the evaluator do unbounded work.
const (
	MaxFileBytes    = 1 << 20
	MaxPolicies     = 256
	MaxDepth        = 16
	MaxRequirements = 1024
)

// Schema is the JSON schema (draft 2020-12) of a policy file, for editors
// and CI checks; Parse enforces the same rules and more.
//
//go:embed schema.json
var Schema []byte

// ErrInvalid is the sentinel of every rejected policy file.
var ErrInvalid = errors.New("invalid policy")

// ErrNoPolicy means the file has no policy of the asked name.
var ErrNoPolicy = errors.New("no such policy")

const opParse = "policy: parse"

// File is a parsed policy file.
type File struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Policies   []Policy `yaml:"policies" json:"policies"`
}

// Policy is one named set of requirements.
type Policy struct {
	// Name identifies the policy; a token names the policy it satisfied.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Digests lists the algorithms the verifier computes over the bytes
	// besides sha256 (which is always computed).
	Digests []string `yaml:"digests,omitempty" json:"digests,omitempty"`
	// Levels are the SLSA levels a token for this policy asserts in its
	// verifiedLevels ("SLSA_BUILD_LEVEL_3", …); the policy's requirements
	// must justify them.
	Levels []string `yaml:"levels,omitempty" json:"levels,omitempty"`
	// Require is the requirement tree.
	Require Requirement `yaml:"require" json:"require"`
}

// Requirement is one node of a policy: exactly one of its fields is set.
// All and Any combine child requirements; the others are leaves.
type Requirement struct {
	All         []Requirement           `yaml:"all,omitempty" json:"all,omitempty"`
	Any         []Requirement           `yaml:"any,omitempty" json:"any,omitempty"`
	TUF         *TUFRequirement         `yaml:"tuf,omitempty" json:"tuf,omitempty"`
	PGP         *PGPRequirement         `yaml:"pgp,omitempty" json:"pgp,omitempty"`
	Attestation *AttestationRequirement `yaml:"attestation,omitempty" json:"attestation,omitempty"`
	Revocation  *RevocationRequirement  `yaml:"revocation,omitempty" json:"revocation,omitempty"`
	Reputation  *ReputationRequirement  `yaml:"reputation,omitempty" json:"reputation,omitempty"`
	Threshold   *ThresholdRequirement   `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	Token       *TokenRequirement       `yaml:"token,omitempty" json:"token,omitempty"`
	Name        *NameRequirement        `yaml:"name,omitempty" json:"name,omitempty"`
}

// TUFRequirement: the artifact is a target (by exact name or path.Match
// pattern) of a TUF repository, listed by the given role.
type TUFRequirement struct {
	Repo    string `yaml:"repo" json:"repo"`
	Role    string `yaml:"role,omitempty" json:"role,omitempty"` // default "targets"
	Target  string `yaml:"target,omitempty" json:"target,omitempty"`
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
}

// PGPRequirement: the artifact is listed in an OpenPGP-signed manifest by a
// key that chains, through the delegations and rotations in trustd's log,
// to one of the pinned root fingerprints for the artifact's name.
type PGPRequirement struct {
	Roots []string `yaml:"roots" json:"roots"`
	// Name, when set, is a path.Match pattern the manifest line's file name
	// must match.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// Identity is a Sigstore (Fulcio certificate) identity: the OIDC issuer
// exactly, and the subject (SAN) as an anchored regular expression.
type Identity struct {
	Issuer  string `yaml:"issuer" json:"issuer"`
	Subject string `yaml:"subject" json:"subject"`
}

// AttestationRequirement: at least Min attestations of PredicateType about
// the artifact, each by one of Signers (key ids) or Identities (either list
// empty means any verified signer), whose indexed fields satisfy
// Conditions (field name to path.Match pattern).
type AttestationRequirement struct {
	PredicateType string            `yaml:"predicateType" json:"predicateType"`
	Min           int               `yaml:"min,omitempty" json:"min,omitempty"` // default 1
	Signers       []string          `yaml:"signers,omitempty" json:"signers,omitempty"`
	Identities    []Identity        `yaml:"identities,omitempty" json:"identities,omitempty"`
	Conditions    map[string]string `yaml:"conditions,omitempty" json:"conditions,omitempty"`
}

// ConditionFields are the indexed attestation fields a condition may name.
var ConditionFields = []string{"builderId", "buildType", "sourceRepository", "sourceRef",
	"documentName", "documentVersion", "verifierId", "verificationResult"}

// RevocationRequirement: nothing involved (the artifact's digests, the
// signers of the evidence) is revoked, by a revocation list no older than
// MaxAge (zero: any age).
type RevocationRequirement struct {
	MaxAge Duration `yaml:"maxAge,omitempty" json:"maxAge,omitempty"`
}

// ReputationRequirement: the artifact's score and vote count reach the
// thresholds, counting all voters or only those in TrustSet (key ids).
type ReputationRequirement struct {
	MinScore *float64 `yaml:"minScore,omitempty" json:"minScore,omitempty"`
	MinVotes int      `yaml:"minVotes,omitempty" json:"minVotes,omitempty"`
	TrustSet []string `yaml:"trustSet,omitempty" json:"trustSet,omitempty"`
}

// SignerRef names one member of a threshold set: exactly one field is set.
type SignerRef struct {
	// Key is a trustd key id (ed25519, ECDSA or RSA key).
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// PGP is an OpenPGP primary key fingerprint.
	PGP string `yaml:"pgp,omitempty" json:"pgp,omitempty"`
	// Sigstore is a keyless identity.
	Sigstore *Identity `yaml:"sigstore,omitempty" json:"sigstore,omitempty"`
}

// ThresholdRequirement: at least K distinct members of Signers signed
// evidence about the artifact (k-of-n release approval).
type ThresholdRequirement struct {
	K       int         `yaml:"k" json:"k"`
	Signers []SignerRef `yaml:"signers" json:"signers"`
}

// TokenRequirement: a trustd token (SLSA VSA) for these bytes and this
// policy, issued no longer than MaxAge ago, satisfies the requirement.
type TokenRequirement struct {
	MaxAge Duration `yaml:"maxAge" json:"maxAge"`
}

// NameRequirement: the evidence binds the name being verified (the
// reference given to trustctl verify or to token issue: an image tag, a
// file name) to these bytes, so a registry that points the tag at an
// older image that is still validly signed does not pass. The name a TUF
// target or an OpenPGP manifest line must carry is Template filled in
// from the normalised reference (package refname); exactly one of TUF and
// PGP says which evidence binds it.
type NameRequirement struct {
	// TUF: a target of this repository and role, named by Template,
	// lists these bytes.
	TUF *NameTUF `yaml:"tuf,omitempty" json:"tuf,omitempty"`
	// PGP: a line of an OpenPGP-signed manifest, named by Template, lists
	// these bytes, signed by a key that chains to one of Roots for that
	// name.
	PGP *NamePGP `yaml:"pgp,omitempty" json:"pgp,omitempty"`
	// Template derives the name from the reference: {registry},
	// {repository} and {tag} of an image, {file} of a file, {ref} the
	// whole reference ("{registry}/{repository}:{tag}" or "{file}").
	// Empty means DefaultImageTemplate for images and DefaultFileTemplate
	// for files.
	Template string `yaml:"template,omitempty" json:"template,omitempty"`
}

// NameTUF names the TUF repository and targets role whose targets bind
// names.
type NameTUF struct {
	Repo string `yaml:"repo" json:"repo"`
	Role string `yaml:"role,omitempty" json:"role,omitempty"` // default "targets"
}

// NamePGP pins the OpenPGP roots whose manifests bind names.
type NamePGP struct {
	Roots []string `yaml:"roots" json:"roots"`
}

// Duration is a time.Duration written as Go duration text ("90m", "24h"),
// or as whole days ("7d").
type Duration time.Duration

// ParseDuration reads a Duration.
func ParseDuration(s string) (Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return 0, fmt.Errorf("%q: want a whole number of days such as 7d", s)
		}
		return Duration(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration such as 90m, 24h or 7d", s)
	}
	return Duration(d), nil
}

// String formats d as Go duration text.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads duration text, naming the line of a bad one.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 24h", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalJSON writes duration text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Parse reads and checks a policy file. Every rejection is an
// *inputerr.Error matching ErrInvalid that names the field at fault.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, inputerr.New(opParse, "", ErrInvalid, fmt.Sprintf("larger than %d bytes", MaxFileBytes))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, inputerr.New(opParse, "", ErrInvalid, "empty file")
		}
		return nil, inputerr.Wrap(opParse, "", ErrInvalid, "not a policy document", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, inputerr.New(opParse, "", ErrInvalid, "more than one YAML document")
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Policy returns the named policy, or the only one when name is empty.
func (f *File) Policy(name string) (*Policy, error) {
	if name == "" {
		if len(f.Policies) == 1 {
			return &f.Policies[0], nil
		}
		return nil, fmt.Errorf("policy: the file holds %d policies; name one (--policy-name)", len(f.Policies))
	}
	for i := range f.Policies {
		if f.Policies[i].Name == name {
			return &f.Policies[i], nil
		}
	}
	return nil, fmt.Errorf("policy: %q: %w", name, ErrNoPolicy)
}

// Digest identifies the policy's content: the sha256 of its JSON encoding
// (fields in declaration order, maps sorted), so equal policies have equal
// digests whatever their YAML layout or the other policies in the file.
// A token records it and an offline verifier compares it.
func (p *Policy) Digest() digest.Digest {
	b, err := json.Marshal(p)
	if err != nil {
		// Policy holds only strings, numbers, slices and maps of strings.
		panic("policy: encode: " + err.Error())
	}
	sum := sha256.Sum256(b)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic("policy: digest: " + err.Error())
	}
	return d
}

// URI names the policy in a token: "trustd:policy/NAME".
func (p *Policy) URI() string { return "trustd:policy/" + p.Name }

// Algorithms returns the digest algorithms a verifier must compute for p:
// sha256 first, then the policy's extra ones.
func (p *Policy) Algorithms() []digest.Algorithm {
	algs := []digest.Algorithm{digest.SHA256}
	for _, a := range p.Digests {
		if alg := digest.Algorithm(a); alg != digest.SHA256 {
			algs = append(algs, alg)
		}
	}
	return algs
}

// ValidName reports whether s is a policy name: 1-63 characters of
// [a-z0-9._-], starting with a letter or digit.
func ValidName(s string) bool { return validName(s) }

// validName reports whether s is a policy name: 1-63 characters of
// [a-z0-9._-], starting with a letter or digit.
func validName(s string) bool {
	return validToken(s, 63, func(c byte, first bool) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || !first && (c == '.' || c == '_' || c == '-')
	})
}

// validLevel reports whether s is a SLSA level name: 1-64 characters of
// [A-Z0-9_], starting with a letter.
func validLevel(s string) bool {
	return validToken(s, 64, func(c byte, first bool) bool {
		return c >= 'A' && c <= 'Z' || !first && (c >= '0' && c <= '9' || c == '_')
	})
}

// validToken checks s's length (1 to max) and every byte with ok. The
// checks are plain loops rather than regular expressions so that trustctl
// starts without compiling any.
func validToken(s string, max int, ok func(c byte, first bool) bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i], i == 0) {
			return false
		}
	}
	return true
}

// lowerHex reports whether s is lowercase hex of one of the lengths.
func lowerHex(s string, lengths ...int) bool {
	okLen := false
	for _, n := range lengths {
		okLen = okLen || len(s) == n
	}
	if !okLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isFingerprint: an OpenPGP v4 (40) or v6 (64) fingerprint in lowercase hex.
func isFingerprint(s string) bool { return lowerHex(s, 40, 64) }

// isKeyID: a trustd (TUF) key id, 64 lowercase hex digits.
func isKeyID(s string) bool { return lowerHex(s, 64) }

func (f *File) check() error {
	bad := func(fld, reason string) error { return inputerr.New(opParse, fld, ErrInvalid, reason) }
	if f.APIVersion != APIVersion {
		return bad("apiVersion", fmt.Sprintf("%q; this trustctl reads %s", f.APIVersion, APIVersion))
	}
	if len(f.Policies) == 0 {
		return bad("policies", "at least one policy is required")
	}
	if len(f.Policies) > MaxPolicies {
		return bad("policies", fmt.Sprintf("more than %d policies", MaxPolicies))
	}
	seen := map[string]int{}
	count := 0
	for i := range f.Policies {
		p := &f.Policies[i]
		fld := fmt.Sprintf("policies[%d]", i)
		if !validName(p.Name) {
			return bad(fld+".name", fmt.Sprintf("%q: want 1-63 characters of [a-z0-9._-], starting with a letter or digit", p.Name))
		}
		if j, dup := seen[p.Name]; dup {
			return bad(fld+".name", fmt.Sprintf("%q is also the name of policies[%d]", p.Name, j))
		}
		seen[p.Name] = i
		for k, a := range p.Digests {
			if !digest.Algorithm(a).Valid() {
				return bad(fmt.Sprintf("%s.digests[%d]", fld, k), fmt.Sprintf("%q is not a digest algorithm trustd knows", a))
			}
		}
		for k, l := range p.Levels {
			if !validLevel(l) {
				return bad(fmt.Sprintf("%s.levels[%d]", fld, k), fmt.Sprintf("%q: want a SLSA level such as SLSA_BUILD_LEVEL_3", l))
			}
		}
		if err := p.Require.check(fld+".require", 1, &count); err != nil {
			return err
		}
	}
	return nil
}

// kinds returns the names of the set fields of r.
func (r *Requirement) kinds() []string {
	var k []string
	add := func(set bool, name string) {
		if set {
			k = append(k, name)
		}
	}
	add(r.All != nil, "all")
	add(r.Any != nil, "any")
	add(r.TUF != nil, "tuf")
	add(r.PGP != nil, "pgp")
	add(r.Attestation != nil, "attestation")
	add(r.Revocation != nil, "revocation")
	add(r.Reputation != nil, "reputation")
	add(r.Threshold != nil, "threshold")
	add(r.Token != nil, "token")
	add(r.Name != nil, "name")
	return k
}

// Kind names the requirement's kind ("all", "tuf", …).
func (r *Requirement) Kind() string {
	if k := r.kinds(); len(k) == 1 {
		return k[0]
	}
	return ""
}

func checkGlob(fld, pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return inputerr.New(opParse, fld, ErrInvalid, fmt.Sprintf("%q is not a valid pattern", pattern))
	}
	return nil
}

func checkIdentity(fld string, id *Identity) error {
	if id.Issuer == "" {
		return inputerr.New(opParse, fld+".issuer", ErrInvalid, "required: the OIDC issuer URL")
	}
	if id.Subject == "" {
		return inputerr.New(opParse, fld+".subject", ErrInvalid, "required: a regular expression for the certificate subject")
	}
	if _, err := regexp.Compile(id.Subject); err != nil {
		return inputerr.Wrap(opParse, fld+".subject", ErrInvalid, "not a regular expression", err)
	}
	return nil
}

func (r *Requirement) check(fld string, depth int, count *int) error {
	bad := func(f, reason string) error { return inputerr.New(opParse, f, ErrInvalid, reason) }
	if depth > MaxDepth {
		return bad(fld, fmt.Sprintf("nested deeper than %d levels", MaxDepth))
	}
	if *count++; *count > MaxRequirements {
		return bad(fld, fmt.Sprintf("more than %d requirements in the file", MaxRequirements))
	}
	k := r.kinds()
	if len(k) != 1 {
		return bad(fld, fmt.Sprintf("want exactly one of all, any, tuf, pgp, attestation, revocation, reputation, threshold, token, name; got %d (%s)", len(k), strings.Join(k, ", ")))
	}
	switch {
	case r.All != nil || r.Any != nil:
		list, name := r.All, "all"
		if r.Any != nil {
			list, name = r.Any, "any"
		}
		if len(list) == 0 {
			return bad(fld+"."+name, "at least one requirement is required")
		}
		for i := range list {
			if err := list[i].check(fmt.Sprintf("%s.%s[%d]", fld, name, i), depth+1, count); err != nil {
				return err
			}
		}
	case r.TUF != nil:
		t, f := r.TUF, fld+".tuf"
		if t.Repo == "" {
			return bad(f+".repo", "required")
		}
		if t.Role == "" {
			t.Role = "targets"
		}
		if (t.Target == "") == (t.Pattern == "") {
			return bad(f, "want exactly one of target and pattern")
		}
		if t.Pattern != "" {
			return checkGlob(f+".pattern", t.Pattern)
		}
	case r.PGP != nil:
		p, f := r.PGP, fld+".pgp"
		if len(p.Roots) == 0 {
			return bad(f+".roots", "at least one pinned root fingerprint is required")
		}
		for i, root := range p.Roots {
			p.Roots[i] = strings.ToLower(strings.ReplaceAll(root, " ", ""))
			if !isFingerprint(p.Roots[i]) {
				return bad(fmt.Sprintf("%s.roots[%d]", f, i), fmt.Sprintf("%q is not an OpenPGP fingerprint (40 or 64 hex digits)", root))
			}
		}
		if p.Name != "" {
			return checkGlob(f+".name", p.Name)
		}
	case r.Attestation != nil:
		a, f := r.Attestation, fld+".attestation"
		if a.PredicateType == "" {
			return bad(f+".predicateType", "required")
		}
		if a.Min == 0 {
			a.Min = 1
		}
		if a.Min < 0 {
			return bad(f+".min", "must be at least 1")
		}
		for i, s := range a.Signers {
			if !isKeyID(s) && !isFingerprint(s) {
				return bad(fmt.Sprintf("%s.signers[%d]", f, i), fmt.Sprintf("%q is not a key id or OpenPGP fingerprint", s))
			}
		}
		for i := range a.Identities {
			if err := checkIdentity(fmt.Sprintf("%s.identities[%d]", f, i), &a.Identities[i]); err != nil {
				return err
			}
		}
		for name, pattern := range a.Conditions {
			known := false
			for _, c := range ConditionFields {
				known = known || c == name
			}
			if !known {
				return bad(f+".conditions."+name, fmt.Sprintf("not an indexed field (want one of %s)", strings.Join(ConditionFields, ", ")))
			}
			if err := checkGlob(f+".conditions."+name, pattern); err != nil {
				return err
			}
		}
	case r.Revocation != nil:
	case r.Reputation != nil:
		p, f := r.Reputation, fld+".reputation"
		if p.MinScore == nil && p.MinVotes == 0 {
			return bad(f, "want minScore, minVotes or both")
		}
		if p.MinVotes < 0 {
			return bad(f+".minVotes", "must not be negative")
		}
		if p.MinScore != nil && (*p.MinScore < -1 || *p.MinScore > 1) {
			return bad(f+".minScore", "must be between -1 and 1")
		}
		for i, s := range p.TrustSet {
			if !isKeyID(s) && !isFingerprint(s) {
				return bad(fmt.Sprintf("%s.trustSet[%d]", f, i), fmt.Sprintf("%q is not a key id or OpenPGP fingerprint", s))
			}
		}
	case r.Threshold != nil:
		t, f := r.Threshold, fld+".threshold"
		if len(t.Signers) == 0 {
			return bad(f+".signers", "at least one signer is required")
		}
		if t.K < 1 || t.K > len(t.Signers) {
			return bad(f+".k", fmt.Sprintf("%d: must be between 1 and the number of signers (%d)", t.K, len(t.Signers)))
		}
		seen := map[string]int{}
		for i := range t.Signers {
			s, sf := &t.Signers[i], fmt.Sprintf("%s.signers[%d]", f, i)
			n := 0
			for _, set := range []bool{s.Key != "", s.PGP != "", s.Sigstore != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return bad(sf, "want exactly one of key, pgp, sigstore")
			}
			switch {
			case s.Key != "" && !isKeyID(s.Key):
				return bad(sf+".key", fmt.Sprintf("%q is not a trustd key id (64 hex digits)", s.Key))
			case s.PGP != "":
				s.PGP = strings.ToLower(s.PGP)
				if !isFingerprint(s.PGP) {
					return bad(sf+".pgp", fmt.Sprintf("%q is not an OpenPGP fingerprint", s.PGP))
				}
			case s.Sigstore != nil:
				if err := checkIdentity(sf+".sigstore", s.Sigstore); err != nil {
					return err
				}
			}
			id := s.String()
			if j, dup := seen[id]; dup {
				return bad(sf, fmt.Sprintf("same signer as signers[%d]", j))
			}
			seen[id] = i
		}
	case r.Token != nil:
		if r.Token.MaxAge <= 0 {
			return bad(fld+".token.maxAge", "required: how old a token may be, such as 24h")
		}
	case r.Name != nil:
		return r.Name.check(fld + ".name")
	}
	return nil
}

// String names the signer as a verdict prints it.
func (s SignerRef) String() string {
	switch {
	case s.Key != "":
		return "key:" + s.Key
	case s.PGP != "":
		return "pgp:" + s.PGP
	case s.Sigstore != nil:
		return "sigstore:" + s.Sigstore.Issuer + "#" + s.Sigstore.Subject
	}
	return ""
}
