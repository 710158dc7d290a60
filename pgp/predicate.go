package pgp

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/strictjson"
	"github.com/trustd-dev/trustd/recordtype"
)

// Predicate types of trustd's OpenPGP authority statements (in-toto
// statements in DSSE envelopes whose signatures are OpenPGP signatures).
const (
	DelegationPredicateType = recordtype.PGPDelegation
	RotationPredicateType   = recordtype.PGPRotation
)

// Limits on predicates.
const (
	MaxPredicateBytes  = 64 << 10
	MaxScopePatterns   = 64
	MaxPatternBytes    = 256
	MaxReasonBytes     = 1024
	MaxDelegationDepth = 8 // the largest maxDepth a delegation may grant
)

// Delegation is the predicate of a delegation statement: Delegator grants
// Delegate the right to sign for names matching Scope from NotBefore until
// Until, and to delegate further down MaxDepth more levels (0: no further
// delegation). The statement must be signed by Delegator.
type Delegation struct {
	Delegator string    `json:"delegator"`
	Delegate  string    `json:"delegate"`
	Scope     []string  `json:"scope"`
	NotBefore time.Time `json:"notBefore,omitzero"`
	Until     time.Time `json:"until"`
	MaxDepth  int       `json:"maxDepth"`
}

// Rotation is the predicate of a key transition statement: from Effective
// on, New replaces Old (it inherits Old's authority, and Old's signatures
// made from then on are refused). The statement must be signed by both.
type Rotation struct {
	Old       string    `json:"old"`
	New       string    `json:"new"`
	Effective time.Time `json:"effective"`
	Reason    string    `json:"reason,omitempty"`
}

// decodeStrict decodes a JSON object into v, rejecting unknown fields,
// trailing data and oversized input.
func decodeStrict(kind string, data []byte, v any) error {
	if len(data) > MaxPredicateBytes {
		return inputerr.New(opPredicate, "", ErrTooLarge, fmt.Sprintf("%s predicate is %d bytes, over the limit of %d", kind, len(data), MaxPredicateBytes))
	}
	if field, reason, err := strictjson.Decode(data, v); err != nil {
		return inputerr.Wrap(opPredicate, field, ErrInvalidPredicate, fmt.Sprintf("%s predicate: %s", kind, reason), err)
	}
	return nil
}

// ValidFingerprint reports whether s is a fingerprint as trustd writes
// them: lowercase hex, 40 (v4) or 64 (v6) characters.
func ValidFingerprint(s string) bool {
	return (len(s) == 40 || len(s) == 64) && isHex(s) && strings.ToLower(s) == s
}

// NormalizeFingerprint lowercases a fingerprint and removes the spaces gpg
// prints in it, then checks it.
func NormalizeFingerprint(s string) (string, error) {
	f := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "0x"), " ", ""))
	if !ValidFingerprint(f) {
		return "", inputerr.New("pgp: fingerprint", "", ErrMalformed, fmt.Sprintf("%q is not a 40- or 64-character hex fingerprint (64-bit key ids are not accepted)", s))
	}
	return f, nil
}

func checkFpr(field, s string) error {
	if !ValidFingerprint(s) {
		return inputerr.New(opPredicate, field, ErrInvalidPredicate, fmt.Sprintf("%q is not a lowercase 40- or 64-character hex fingerprint", s))
	}
	return nil
}

// ParseDelegation parses and validates a delegation predicate.
func ParseDelegation(data []byte) (Delegation, error) {
	var d Delegation
	if err := decodeStrict("delegation", data, &d); err != nil {
		return Delegation{}, err
	}
	if err := d.Validate(); err != nil {
		return Delegation{}, err
	}
	return d, nil
}

// Validate checks a delegation: fingerprints, distinct parties, 1 to
// MaxScopePatterns valid patterns, a time window, and the depth bound.
func (d Delegation) Validate() error {
	bad := func(field, reason string) error { return inputerr.New(opPredicate, field, ErrInvalidPredicate, reason) }
	if err := checkFpr("delegator", d.Delegator); err != nil {
		return err
	}
	if err := checkFpr("delegate", d.Delegate); err != nil {
		return err
	}
	if d.Delegator == d.Delegate {
		return bad("delegate", "a key cannot delegate to itself")
	}
	if len(d.Scope) == 0 {
		return bad("scope", "at least one name pattern is required")
	}
	if len(d.Scope) > MaxScopePatterns {
		return inputerr.New(opPredicate, "scope", ErrTooLarge, fmt.Sprintf("%d patterns, over the limit of %d", len(d.Scope), MaxScopePatterns))
	}
	for i, p := range d.Scope {
		if err := checkPattern(p); err != nil {
			return bad(fmt.Sprintf("scope[%d]", i), err.Error())
		}
	}
	if d.Until.IsZero() {
		return bad("until", "required")
	}
	if !d.NotBefore.IsZero() && !d.Until.After(d.NotBefore) {
		return bad("until", "must be after notBefore")
	}
	if d.MaxDepth < 0 || d.MaxDepth > MaxDelegationDepth {
		return bad("maxDepth", fmt.Sprintf("%d is outside 0..%d", d.MaxDepth, MaxDelegationDepth))
	}
	return nil
}

// checkPattern checks a scope pattern: path.Match syntax ("*" does not
// cross "/"), optionally ending in "/**" (everything below) or just "**"
// (every name); non-empty and bounded.
func checkPattern(p string) error {
	switch {
	case p == "":
		return errors.New("empty pattern")
	case len(p) > MaxPatternBytes:
		return fmt.Errorf("pattern longer than %d bytes", MaxPatternBytes)
	case strings.ContainsAny(p, "\x00\n"):
		return errors.New("pattern contains a NUL or newline")
	}
	if p == "**" {
		return nil
	}
	base := strings.TrimSuffix(p, "/**")
	if strings.Contains(base, "**") {
		return errors.New(`"**" is only allowed as the whole pattern or as a final "/**"`)
	}
	if _, err := path.Match(base, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", p, err)
	}
	return nil
}

// Matches reports whether name matches one of the delegation's patterns.
func (d Delegation) Matches(name string) bool {
	for _, p := range d.Scope {
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}

// matchPattern matches name against one scope pattern (see checkPattern).
func matchPattern(p, name string) bool {
	if p == "**" {
		return true
	}
	if base, ok := strings.CutSuffix(p, "/**"); ok {
		for i := 0; i < len(name); i++ {
			if name[i] == '/' && i+1 < len(name) {
				if m, err := path.Match(base, name[:i]); err == nil && m {
					return true
				}
			}
		}
		return false
	}
	m, err := path.Match(p, name)
	return err == nil && m
}

// CheckSigners checks that the delegation statement is signed by the
// delegator (signers are the primary fingerprints of verified signatures).
func (d Delegation) CheckSigners(signers []string) error {
	if !slices.Contains(signers, d.Delegator) {
		return inputerr.New(opPredicate, "signatures", ErrInvalidPredicate, "a delegation must be signed by its delegator "+d.Delegator)
	}
	return nil
}

// ParseRotation parses and validates a rotation predicate.
func ParseRotation(data []byte) (Rotation, error) {
	var r Rotation
	if err := decodeStrict("rotation", data, &r); err != nil {
		return Rotation{}, err
	}
	if err := r.Validate(); err != nil {
		return Rotation{}, err
	}
	return r, nil
}

// Validate checks a rotation: fingerprints, distinct keys, an effective
// time, a bounded reason.
func (r Rotation) Validate() error {
	if err := checkFpr("old", r.Old); err != nil {
		return err
	}
	if err := checkFpr("new", r.New); err != nil {
		return err
	}
	if r.Old == r.New {
		return inputerr.New(opPredicate, "new", ErrInvalidPredicate, "a key cannot rotate to itself")
	}
	if r.Effective.IsZero() {
		return inputerr.New(opPredicate, "effective", ErrInvalidPredicate, "required")
	}
	if len(r.Reason) > MaxReasonBytes {
		return inputerr.New(opPredicate, "reason", ErrTooLarge, fmt.Sprintf("longer than %d bytes", MaxReasonBytes))
	}
	return nil
}

// CheckSigners checks that the rotation statement is signed by both the old
// and the new key (signers are primary fingerprints of verified signatures).
func (r Rotation) CheckSigners(signers []string) error {
	var missing []string
	if !slices.Contains(signers, r.Old) {
		missing = append(missing, "old key "+r.Old)
	}
	if !slices.Contains(signers, r.New) {
		missing = append(missing, "new key "+r.New)
	}
	if len(missing) > 0 {
		return inputerr.New(opPredicate, "signatures", ErrInvalidPredicate, "a rotation must be signed by both keys; missing "+strings.Join(missing, " and "))
	}
	return nil
}
