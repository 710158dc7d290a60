package revocation

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/strictjson"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
)

// PredicateType is the in-toto predicate type of a revocation or
// reinstatement statement.
const PredicateType = recordtype.Revocation

// Limits of a revocation predicate.
const (
	MaxPredicateBytes = 16 << 10
	MaxIDBytes        = 256
	MaxCommentBytes   = 1024
)

// Errors callers branch on.
var (
	// ErrInvalid means a revocation statement is malformed.
	ErrInvalid = errors.New("invalid revocation")
	// ErrUnauthorized means the signers hold no authority to revoke (or
	// reinstate) the target.
	ErrUnauthorized = errors.New("not authorized to revoke")
	// ErrNothingToReinstate means a reinstatement names a target that is
	// not revoked.
	ErrNothingToReinstate = errors.New("nothing to reinstate")
)

// Kind is what a revocation targets.
type Kind string

// Target kinds.
const (
	KindKey       Kind = "key"       // a registered key, by key id
	KindStatement Kind = "statement" // a logged statement, by envelope digest (sha256:…)
	KindDigest    Kind = "digest"    // an artifact digest: known bad, do not deploy
	KindToken     Kind = "token"     // an issued token, by its token id: the sha256 of its envelope (sha256:…)
)

// Kinds lists every target kind.
var Kinds = []Kind{KindKey, KindStatement, KindDigest, KindToken}

// Reason says why a target is revoked.
type Reason string

// Revocation reasons. Compromised, malicious and other are hard: a key
// revoked for them voids every signature it made, whenever made or
// observed, and the revocation of anything else holds at once. Superseded,
// retired and withdrawn are soft: they void what was first observed in
// the log at or after the effective time (see package timerule, the one
// rule every path applies).
const (
	ReasonCompromised Reason = "compromised"
	ReasonSuperseded  Reason = "superseded"
	ReasonRetired     Reason = "retired"
	ReasonMalicious   Reason = "malicious"
	ReasonWithdrawn   Reason = "withdrawn"
	ReasonOther       Reason = "other"
)

// Reasons lists every reason, in their one-byte encoding's order.
var Reasons = []Reason{ReasonCompromised, ReasonSuperseded, ReasonRetired, ReasonMalicious, ReasonWithdrawn, ReasonOther}

// Hard reports whether the reason voids every signature, whenever made
// (timerule.Hard): compromised, malicious, other, and any reason this
// trustd does not know.
func (r Reason) Hard() bool { return timerule.Hard(string(r)) }

// Action is revoke or reinstate.
type Action string

// Actions.
const (
	ActionRevoke    Action = "revoke"
	ActionReinstate Action = "reinstate"
)

// Target names what is revoked.
type Target struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
}

// String is "kind:id".
func (t Target) String() string { return string(t.Kind) + ":" + t.ID }

// Key is the target's fixed-width lookup key (see TargetKey).
func (t Target) Key() [32]byte { return TargetKey(t.Kind, t.ID) }

// TargetKey is the 32-byte id of a target in the index and in offline
// lists: SHA-256 over a short domain tag, the kind and the canonical id (a
// digest's algorithm and raw bytes: see DigestKey), so ids of any length
// and kind share one sorted table and a sha256 digest's key takes one
// SHA-256 block.
func TargetKey(kind Kind, id string) [32]byte {
	if kind == KindDigest {
		if d, err := digest.Parse(id); err == nil {
			return DigestKey(d)
		}
	}
	var buf [8 + 2*MaxIDBytes]byte
	b := append(buf[:0], targetKeyTag...)
	b = append(b, kindByte(kind))
	b = append(b, id...)
	return sha256.Sum256(b)
}

// DigestKey is TargetKey(KindDigest, d.String()), computed from d without
// parsing or allocating: the check path of offline clients.
func DigestKey(d digest.Digest) [32]byte {
	var buf [160]byte // tag, kind, algorithm name, raw value (64 bytes at most)
	b := append(buf[:0], targetKeyTag...)
	b = append(b, kindByte(KindDigest))
	b = append(b, d.Algorithm()...)
	b = append(b, 0)
	h := d.Hex()
	for i := 0; i+1 < len(h); i += 2 {
		b = append(b, unhex(h[i])<<4|unhex(h[i+1]))
	}
	return sha256.Sum256(b)
}

// targetKeyTag separates target keys from every other SHA-256 use.
const targetKeyTag = "rv1"

// kindByte is a kind's one-byte code in a target key: its index in Kinds.
func kindByte(k Kind) byte { return byte(slices.Index(Kinds, k) + 1) }

// unhex decodes one lowercase hex digit (digest.Digest holds only those).
func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// Predicate is the predicate of a revocation statement.
type Predicate struct {
	Action    Action    `json:"action"`
	Target    Target    `json:"target"`
	Reason    Reason    `json:"reason"`
	Effective time.Time `json:"effective"`
	Comment   string    `json:"comment,omitempty"`
}

const opParse = "revocation: parse"

func reject(field, reason string) error { return inputerr.New(opParse, field, ErrInvalid, reason) }

// ParsePredicate decodes and checks a revocation predicate: known fields
// only, each present and valid, the target id in canonical form (see
// CanonicalID).
func ParsePredicate(data []byte) (Predicate, error) {
	if len(data) > MaxPredicateBytes {
		return Predicate{}, reject("predicate", fmt.Sprintf("%d bytes, the limit is %d", len(data), MaxPredicateBytes))
	}
	var p Predicate
	if field, reason, err := strictjson.Decode(data, &p); err != nil {
		if field == "" {
			field = "predicate"
		}
		return Predicate{}, inputerr.Wrap(opParse, field, ErrInvalid, "not a revocation predicate: "+reason, err)
	}
	if err := p.Validate(); err != nil {
		return Predicate{}, err
	}
	return p, nil
}

// Validate checks every field of p.
func (p Predicate) Validate() error {
	if p.Action != ActionRevoke && p.Action != ActionReinstate {
		return reject("action", fmt.Sprintf("%q; want revoke or reinstate", p.Action))
	}
	if !slices.Contains(Reasons, p.Reason) {
		return reject("reason", fmt.Sprintf("%q; want one of %s", p.Reason, joinReasons()))
	}
	if p.Effective.IsZero() {
		return reject("effective", "required (RFC 3339 time)")
	}
	if len(p.Comment) > MaxCommentBytes || !utf8.ValidString(p.Comment) {
		return reject("comment", fmt.Sprintf("must be UTF-8 of at most %d bytes", MaxCommentBytes))
	}
	id, err := CanonicalID(p.Target.Kind, p.Target.ID)
	if err != nil {
		return err
	}
	if id != p.Target.ID {
		return reject("target.id", fmt.Sprintf("%q is not in canonical form %q", p.Target.ID, id))
	}
	return nil
}

func joinReasons() string {
	s := make([]string, len(Reasons))
	for i, r := range Reasons {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// ParseReason checks a reason given on a command line.
func ParseReason(s string) (Reason, error) {
	if r := Reason(s); slices.Contains(Reasons, r) {
		return r, nil
	}
	return "", reject("reason", fmt.Sprintf("%q; want one of %s", s, joinReasons()))
}

// CanonicalID checks id as an id of kind and returns its canonical form:
// digests (and statement envelope digests and token ids, which must be
// sha256) in the OCI "algorithm:hex" form, key ids as given (printable, no
// spaces, at most MaxIDBytes). A token id is the sha256 of the token's
// envelope (token.ID): a revocation naming anything else could never match
// a token, so it is refused rather than stored to revoke nothing.
func CanonicalID(kind Kind, id string) (string, error) {
	switch kind {
	case KindDigest, KindStatement, KindToken:
		d, err := digest.Parse(id)
		if err != nil {
			if kind == KindToken {
				return "", inputerr.Wrap(opParse, "target.id", ErrInvalid, "not a token id (sha256: and the 64 hex digits of the sha256 of the token's envelope, as 'trustctl token issue' prints it)", err)
			}
			return "", inputerr.Wrap(opParse, "target.id", ErrInvalid, "not a digest", err)
		}
		switch {
		case kind == KindStatement && d.Algorithm() != digest.SHA256:
			return "", reject("target.id", "a statement is named by the sha256 digest of its envelope")
		case kind == KindToken && d.Algorithm() != digest.SHA256:
			return "", reject("target.id", "a token is named by the sha256 digest of its envelope (sha256:…), not "+string(d.Algorithm()))
		}
		return d.String(), nil
	case KindKey:
		if id == "" || len(id) > MaxIDBytes {
			return "", reject("target.id", fmt.Sprintf("required, at most %d bytes", MaxIDBytes))
		}
		for _, r := range id {
			if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
				return "", reject("target.id", fmt.Sprintf("character %U is not allowed", r))
			}
		}
		return id, nil
	}
	return "", reject("target.kind", fmt.Sprintf("%q; want key, statement, digest or token", kind))
}

// Subject is the in-toto subject a revocation statement must carry: for a
// digest, the digest itself (so a lookup of the artifact finds the
// revocation); otherwise the target's key as a sha256 digest, named
// "kind:id".
func (t Target) Subject() envelope.Subject {
	if t.Kind == KindDigest {
		if d, err := digest.Parse(t.ID); err == nil {
			return envelope.Subject{Name: t.String(), Digests: []digest.Digest{d}}
		}
	}
	k := t.Key()
	d, err := digest.New(digest.SHA256, k[:])
	if err != nil {
		panic("revocation: sha256 digest of 32 bytes: " + err.Error()) // cannot happen
	}
	return envelope.Subject{Name: t.String(), Digests: []digest.Digest{d}}
}

// NewStatement returns the in-toto statement (JSON) of p, ready to sign.
func NewStatement(p Predicate) ([]byte, error) {
	p.Effective = p.Effective.UTC()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pred, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("revocation: encode predicate: %w", err)
	}
	return envelope.NewStatement(PredicateType, pred, p.Target.Subject())
}

// Parse checks a parsed in-toto statement as a revocation: its predicate
// (ParsePredicate) and its one subject (Target.Subject).
func Parse(st envelope.Statement) (Predicate, error) {
	if st.PredicateType != PredicateType {
		return Predicate{}, reject("predicateType", fmt.Sprintf("%q; want %s", st.PredicateType, PredicateType))
	}
	p, err := ParsePredicate(st.Predicate)
	if err != nil {
		return Predicate{}, err
	}
	want := p.Target.Subject()
	if len(st.Subjects) != 1 || !slices.Contains(st.Subjects[0].Digests, want.Digests[0]) {
		return Predicate{}, reject("subject", fmt.Sprintf("must be one subject with digest %s (the target)", want.Digests[0]))
	}
	return p, nil
}

// ParseEntry parses a logged revocation statement (see Parse).
func ParseEntry(entry store.Statement) (Predicate, error) {
	st, err := envelope.ParseStatement(entry.PayloadType, entry.Payload, envelope.DefaultLimits())
	if err != nil {
		return Predicate{}, fmt.Errorf("revocation: entry %d: %w", entry.Seq, err)
	}
	return Parse(st)
}

// CheckEnvelope checks, without verifying signatures, that raw is a DSSE
// envelope of a well-formed revocation statement, so a front end can
// refuse other statements before they reach the log.
func CheckEnvelope(raw []byte) error {
	env, err := envelope.Decode(raw, envelope.DefaultLimits())
	if err != nil {
		return err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return inputerr.Wrap(opParse, "payload", ErrInvalid, "not base64", err)
	}
	st, err := envelope.ParseStatement(env.PayloadType, payload, envelope.DefaultLimits())
	if err != nil {
		return err
	}
	_, err = Parse(st)
	return err
}
