package feedback

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/strictjson"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// Predicate types of the statements this package owns. Each is an in-toto
// Statement v1 in a DSSE envelope signed by exactly one registered key.
const (
	// VotePredicateType is a vote on the one subject of the statement.
	VotePredicateType = recordtype.Vote
	// TrustPredicateType is a trust statement about another identity; its
	// subject is the trusted key (see KeySubject).
	TrustPredicateType = recordtype.Trust
	// ResponsePredicateType is a publisher's response to a vote on its
	// subject or to the subject's reputation.
	ResponsePredicateType = recordtype.Response
)

// PredicateTypes lists the predicate types of feedback statements, the ones
// export carries.
var PredicateTypes = []string{VotePredicateType, TrustPredicateType, ResponsePredicateType}

// Vote axes: like/dislike says whether the software is good, trust/distrust
// whether it is what it claims to be and safe.
const (
	AxisQuality = "quality"
	AxisTrust   = "trust"
)

// Vote values. Retract withdraws the voter's vote on one axis.
const (
	Like     = "like"
	Dislike  = "dislike"
	Trust    = "trust"
	Distrust = "distrust"
	Retract  = "retract"
)

// Trust levels of a trust statement; LevelNone withdraws an earlier one.
const (
	LevelHigh     = "high"
	LevelMedium   = "medium"
	LevelLow      = "low"
	LevelDistrust = "distrust"
	LevelNone     = "none"
)

// Bounds on the free text of feedback statements (bytes of UTF-8).
const (
	MaxReasonBytes   = 1024
	MaxResponseBytes = 4096
	// MaxPredicateBytes bounds a feedback predicate as a whole.
	MaxPredicateBytes = 16 << 10
)

const opParse = "feedback: parse predicate"

// VotePredicate is the predicate of a vote.
type VotePredicate struct {
	Axis      string    `json:"axis"`
	Value     string    `json:"value"`
	Reason    string    `json:"reason,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// Sign returns the vote as +1, -1 or 0 (retracted).
func (v VotePredicate) Sign() int {
	switch v.Value {
	case Like, Trust:
		return 1
	case Dislike, Distrust:
		return -1
	}
	return 0
}

// TrustPredicate is the predicate of a trust statement.
type TrustPredicate struct {
	// KeyID is the trusted (or distrusted) registered key.
	KeyID     string    `json:"keyid"`
	Level     string    `json:"level"`
	Reason    string    `json:"reason,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// Weight returns the level as stored: 3 high, 2 medium, 1 low, -1
// distrust, 0 none.
func (t TrustPredicate) Weight() int {
	return levelWeights[t.Level]
}

var levelWeights = map[string]int{LevelHigh: 3, LevelMedium: 2, LevelLow: 1, LevelDistrust: -1, LevelNone: 0}

// ResponsePredicate is the predicate of a publisher's response.
type ResponsePredicate struct {
	// InReplyTo is the envelope digest of the vote answered (as the log
	// reports it, "sha256:…"), or empty for a response to the reputation.
	InReplyTo string    `json:"inReplyTo,omitempty"`
	Text      string    `json:"text"`
	Timestamp time.Time `json:"timestamp"`
}

func bad(field, reason string) error {
	return inputerr.New(opParse, field, ErrInvalidPredicate, reason)
}

// decodeStrict decodes a predicate object into v, refusing unknown fields,
// trailing data and oversized input.
func decodeStrict(raw []byte, v any) error {
	if len(raw) == 0 {
		return bad("predicate", "required")
	}
	if len(raw) > MaxPredicateBytes {
		return bad("predicate", fmt.Sprintf("%d bytes, more than the %d allowed", len(raw), MaxPredicateBytes))
	}
	if field, reason, err := strictjson.Decode(raw, v); err != nil {
		return inputerr.Wrap(opParse, strictjson.Join("predicate", field), ErrInvalidPredicate, reason, err)
	}
	return nil
}

func checkText(field, s string, limit int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return bad(field, "required")
	case len(s) > limit:
		return bad(field, fmt.Sprintf("%d bytes, more than the %d allowed", len(s), limit))
	case !utf8.ValidString(s):
		return bad(field, "not valid UTF-8")
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return bad(field, "required (RFC 3339)")
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return bad(field, "out of range")
	}
	return nil
}

// ParseVote parses and checks a vote predicate.
func ParseVote(raw []byte) (VotePredicate, error) {
	var v VotePredicate
	if err := decodeStrict(raw, &v); err != nil {
		return VotePredicate{}, err
	}
	switch v.Axis {
	case AxisQuality:
		if v.Value != Like && v.Value != Dislike && v.Value != Retract {
			return VotePredicate{}, bad("predicate.value", fmt.Sprintf("%q is not a quality vote (like, dislike or retract)", v.Value))
		}
	case AxisTrust:
		if v.Value != Trust && v.Value != Distrust && v.Value != Retract {
			return VotePredicate{}, bad("predicate.value", fmt.Sprintf("%q is not a trust vote (trust, distrust or retract)", v.Value))
		}
	default:
		return VotePredicate{}, bad("predicate.axis", fmt.Sprintf("%q is not an axis (quality or trust)", v.Axis))
	}
	if err := checkText("predicate.reason", v.Reason, MaxReasonBytes, false); err != nil {
		return VotePredicate{}, err
	}
	if err := checkTime("predicate.timestamp", v.Timestamp); err != nil {
		return VotePredicate{}, err
	}
	return v, nil
}

// ParseTrust parses and checks a trust predicate.
func ParseTrust(raw []byte) (TrustPredicate, error) {
	var t TrustPredicate
	if err := decodeStrict(raw, &t); err != nil {
		return TrustPredicate{}, err
	}
	if t.KeyID == "" || len(t.KeyID) > 256 {
		return TrustPredicate{}, bad("predicate.keyid", "required, at most 256 characters")
	}
	if _, ok := levelWeights[t.Level]; !ok {
		return TrustPredicate{}, bad("predicate.level", fmt.Sprintf("%q is not a level (high, medium, low, distrust or none)", t.Level))
	}
	if err := checkText("predicate.reason", t.Reason, MaxReasonBytes, false); err != nil {
		return TrustPredicate{}, err
	}
	if err := checkTime("predicate.timestamp", t.Timestamp); err != nil {
		return TrustPredicate{}, err
	}
	return t, nil
}

// ParseResponse parses and checks a response predicate.
func ParseResponse(raw []byte) (ResponsePredicate, error) {
	var r ResponsePredicate
	if err := decodeStrict(raw, &r); err != nil {
		return ResponsePredicate{}, err
	}
	if r.InReplyTo != "" {
		d, err := digest.Parse(r.InReplyTo)
		if err != nil {
			return ResponsePredicate{}, inputerr.Wrap(opParse, "predicate.inReplyTo", ErrInvalidPredicate, "not a vote envelope digest", err)
		}
		r.InReplyTo = d.String()
	}
	if err := checkText("predicate.text", r.Text, MaxResponseBytes, true); err != nil {
		return ResponsePredicate{}, err
	}
	if err := checkTime("predicate.timestamp", r.Timestamp); err != nil {
		return ResponsePredicate{}, err
	}
	return r, nil
}

// VoteStatement returns the in-toto statement of vote p on subject, ready
// to sign.
func VoteStatement(subject envelope.Subject, p VotePredicate) ([]byte, error) {
	return statementOf(VotePredicateType, p, subject)
}

// TrustStatement returns the in-toto statement of trust statement p about
// the registered key k (p.KeyID is set to k's id), ready to sign.
func TrustStatement(k store.Key, p TrustPredicate) ([]byte, error) {
	p.KeyID = k.ID
	return statementOf(TrustPredicateType, p, KeySubject(k))
}

// ResponseStatement returns the in-toto statement of response p about
// subject, ready to sign.
func ResponseStatement(subject envelope.Subject, p ResponsePredicate) ([]byte, error) {
	return statementOf(ResponsePredicateType, p, subject)
}

func statementOf(predicateType string, p any, subject envelope.Subject) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	return envelope.NewStatement(predicateType, raw, subject)
}
