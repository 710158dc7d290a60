package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
)

// PayloadTypeInToto is the DSSE payload type of in-toto statements.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// In-toto statement types ParseStatement accepts.
const (
	StatementTypeV1   = intoto.StatementTypeUri
	StatementTypeV0_1 = "https://in-toto.io/Statement/v0.1"
)

// Subject is one artifact a statement is about: its name (possibly empty)
// and its digests, sorted by their "algorithm:hex" form.
type Subject struct {
	Name    string
	Digests []digest.Digest
}

// Statement is a parsed in-toto statement.
type Statement struct {
	Type          string // the "_type" field
	PredicateType string
	Subjects      []Subject
	Predicate     json.RawMessage // the predicate object as given, or nil if absent
}

// intotoAlgorithms maps the in-toto DigestSet spelling of an algorithm to
// trustd's where they differ (in-toto uses "_" where OCI uses "-").
var intotoAlgorithms = map[string]digest.Algorithm{
	"sha3_256": digest.SHA3_256,
	"sha3_512": digest.SHA3_512,
}

// intotoName returns the in-toto DigestSet name of alg.
func intotoName(alg digest.Algorithm) string {
	for name, a := range intotoAlgorithms {
		if a == alg {
			return name
		}
	}
	return string(alg)
}

// ParseStatement parses and checks the payload of an envelope as an in-toto
// statement (v1, or v0.1). payloadType must be PayloadTypeInToto. There must
// be at least one subject, each with at least one digest; every digest must
// be of an algorithm trustd supports, with a well-formed value (digest.Parse
// of "algorithm:value"; in-toto's sha3_256 spelling is accepted), and no
// digest may appear in two subjects. predicateType is required, predicate
// must be an object if present, and lim's size, depth and subject count
// limits apply (too many subjects is ErrTooLarge, named "subject").
// Unknown fields are ignored, as the in-toto spec requires.
func ParseStatement(payloadType string, payload []byte, lim Limits) (Statement, error) {
	lim = lim.withDefaults()
	if payloadType != PayloadTypeInToto {
		return Statement{}, inputerr.New(opStatement, "payloadType", ErrPayloadType,
			fmt.Sprintf("%q; an in-toto statement travels as %s", payloadType, PayloadTypeInToto))
	}
	if len(payload) > lim.MaxEnvelopeBytes {
		return Statement{}, inputerr.New(opStatement, "", ErrTooLarge,
			fmt.Sprintf("statement is %d bytes, the limit is %d", len(payload), lim.MaxEnvelopeBytes))
	}
	if issue := checkJSON(payload, lim.MaxJSONDepth); issue != nil {
		kind := ErrInvalidStatement
		if issue.deep {
			kind = ErrTooDeep
		}
		return Statement{}, inputerr.New(opStatement, issue.field, kind, issue.reason)
	}
	members, _ := objectMembers(payload)
	raw := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		raw[m.key] = m.value
	}
	bad := func(fld, reason string) (Statement, error) {
		return Statement{}, inputerr.New(opStatement, fld, ErrInvalidStatement, reason)
	}

	var st Statement
	t, ok := raw["_type"]
	if !ok {
		return bad("_type", "required")
	}
	if st.Type, ok = jsonString(t); !ok {
		return bad("_type", "must be a string, not "+jsonKind(t))
	}
	if st.Type != StatementTypeV1 && st.Type != StatementTypeV0_1 {
		return bad("_type", fmt.Sprintf("%q is not an in-toto statement type (want %s)", truncate(st.Type), StatementTypeV1))
	}

	subj, ok := raw["subject"]
	if !ok {
		return bad("subject", "required: a statement must name at least one subject")
	}
	elems, ok := jsonArray(subj)
	if !ok {
		return bad("subject", "must be an array, not "+jsonKind(subj))
	}
	if len(elems) == 0 {
		return bad("subject", "empty: a statement must name at least one subject")
	}
	if len(elems) > lim.MaxSubjects {
		return Statement{}, inputerr.New(opStatement, "subject", ErrTooLarge,
			fmt.Sprintf("%d subjects, the limit is %d (trustd --max-statement-subjects): split the statement", len(elems), lim.MaxSubjects))
	}
	seen := make(map[digest.Digest]int)
	st.Subjects = make([]Subject, len(elems))
	for i, e := range elems {
		s, err := parseSubject(i, e, seen)
		if err != nil {
			return Statement{}, err
		}
		st.Subjects[i] = s
	}

	pt, ok := raw["predicateType"]
	if !ok {
		return bad("predicateType", "required")
	}
	if st.PredicateType, ok = jsonString(pt); !ok {
		return bad("predicateType", "must be a string, not "+jsonKind(pt))
	}
	if st.PredicateType == "" {
		return bad("predicateType", "required")
	}
	if p, ok := raw["predicate"]; ok {
		switch jsonKind(p) {
		case "an object":
			st.Predicate = slices.Clone(p)
		case "null":
			// Unset and null mean the same: no predicate parameters.
		default:
			return bad("predicate", "must be an object, not "+jsonKind(p))
		}
	}
	return st, nil
}

// parseSubject parses subject[i]; seen maps every digest of earlier subjects
// to the subject that has it.
func parseSubject(i int, raw json.RawMessage, seen map[digest.Digest]int) (Subject, error) {
	fld := fmt.Sprintf("subject[%d]", i)
	bad := func(f, reason string) (Subject, error) {
		return Subject{}, inputerr.New(opStatement, f, ErrInvalidStatement, reason)
	}
	members, ok := objectMembers(raw)
	if !ok {
		return bad(fld, "must be an object, not "+jsonKind(raw))
	}
	var s Subject
	var digests json.RawMessage
	for _, m := range members {
		switch m.key {
		case "name":
			if s.Name, ok = jsonString(m.value); !ok {
				return bad(fld+".name", "must be a string, not "+jsonKind(m.value))
			}
		case "digest":
			digests = m.value
		}
	}
	if digests == nil {
		return bad(fld+".digest", "required: trustd indexes statements by subject digest")
	}
	entries, ok := objectMembers(digests)
	if !ok {
		return bad(fld+".digest", "must be an object, not "+jsonKind(digests))
	}
	if len(entries) == 0 {
		return bad(fld+".digest", "empty: at least one digest is required")
	}
	algs := make(map[digest.Algorithm]string, len(entries))
	for _, e := range entries {
		f := field(fld+".digest", e.key)
		value, ok := jsonString(e.value)
		if !ok {
			return bad(f, "must be a string, not "+jsonKind(e.value))
		}
		name := e.key
		if a, ok := intotoAlgorithms[name]; ok {
			name = string(a)
		}
		d, err := digest.Parse(name + ":" + value)
		if err != nil {
			reason := "malformed digest"
			if errors.Is(err, digest.ErrUnknownAlgorithm) {
				reason = "unsupported algorithm"
			}
			return Subject{}, inputerr.Wrap(opStatement, f, ErrInvalidStatement, reason, err)
		}
		if other, dup := algs[d.Algorithm()]; dup {
			return bad(f, fmt.Sprintf("same algorithm as %s.digest.%s", fld, pathKey(other)))
		}
		algs[d.Algorithm()] = e.key
		if j, dup := seen[d]; dup {
			return bad(f, fmt.Sprintf("duplicate subject: subject[%d] has the same digest", j))
		}
		seen[d] = i
		s.Digests = append(s.Digests, d)
	}
	sortDigests(s.Digests)
	return s, nil
}

func sortDigests(ds []digest.Digest) {
	slices.SortFunc(ds, func(a, b digest.Digest) int { return strings.Compare(a.String(), b.String()) })
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// NewStatement returns the JSON of an in-toto v1 statement about subjects
// with the given predicate type and predicate (a JSON object, or nil for
// none). The output is compact, with fields in schema order and digest
// names sorted and spelled as in-toto spells them, so that equal input gives
// equal bytes. It applies the rules ParseStatement checks.
func NewStatement(predicateType string, predicate json.RawMessage, subjects ...Subject) ([]byte, error) {
	bad := func(fld, reason string) ([]byte, error) {
		return nil, inputerr.New(opNewStatement, fld, ErrInvalidStatement, reason)
	}
	if predicateType == "" {
		return bad("predicateType", "required")
	}
	if len(subjects) == 0 {
		return bad("subject", "a statement must name at least one subject")
	}
	type subjectJSON struct {
		Name   string            `json:"name,omitempty"`
		Digest map[string]string `json:"digest"`
	}
	out := struct {
		Type          string          `json:"_type"`
		Subject       []subjectJSON   `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate,omitempty"`
	}{Type: StatementTypeV1, PredicateType: predicateType}

	seen := make(map[digest.Digest]int)
	for i, s := range subjects {
		fld := fmt.Sprintf("subject[%d]", i)
		if len(s.Digests) == 0 {
			return bad(fld+".digest", "at least one digest is required")
		}
		sj := subjectJSON{Name: s.Name, Digest: make(map[string]string, len(s.Digests))}
		for _, d := range s.Digests {
			if d.IsZero() {
				return bad(fld+".digest", "zero digest")
			}
			name := intotoName(d.Algorithm())
			if _, dup := sj.Digest[name]; dup {
				return bad(fld+".digest."+name, "two digests of the same algorithm")
			}
			if j, dup := seen[d]; dup {
				return bad(fld+".digest."+name, fmt.Sprintf("duplicate subject: subject[%d] has the same digest", j))
			}
			seen[d] = i
			sj.Digest[name] = d.Hex()
		}
		out.Subject = append(out.Subject, sj)
	}
	if len(predicate) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, predicate); err != nil {
			return nil, inputerr.Wrap(opNewStatement, "predicate", ErrInvalidStatement, "not valid JSON", err)
		}
		if jsonKind(buf.Bytes()) != "an object" {
			return bad("predicate", "must be a JSON object, not "+jsonKind(buf.Bytes()))
		}
		out.Predicate = buf.Bytes()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("%s: %w", opNewStatement, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
