package pgp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// Limits on key transition statements.
const (
	MaxTransitionBytes = 64 << 10 // the clearsigned statement
	MaxTransitionLines = 2000     // lines of its text
)

// TransitionReason is the Reason of a rotation imported from a key
// transition statement.
const TransitionReason = "OpenPGP key transition statement signed by both keys"

const opTransition = "pgp: key transition statement"

// TransitionFormat describes the text ParseTransitionText accepts; it is
// shown in help and documentation.
const TransitionFormat = `A key transition statement is a clearsigned text (gpg --clearsign with
two --local-user options, the old key's and the new key's) in the common
template: a line naming the old key ("The old key was:", "old key:")
followed by its fingerprint, and a line naming the new key ("And the new
key is:", "new key:") followed by its fingerprint. A fingerprint is the
full one, 40 (v4) or 64 (v6) hex digits, as one word (0x allowed) or in
gpg's groups of four ("Key fingerprint = 1234 ABCD ..."). Each fingerprint
belongs to the nearest line above it (or its own line) that names the old
or the new key; repeats of the two fingerprints further down are allowed,
other full fingerprints are not. The statement must carry exactly two
signatures, one by each key (primary or signing subkey), and both keys
must be registered and in force. The rotation takes effect at the later
of the two signatures' creation times.`

// markerRE finds the words naming the old or the new key in a line.
var markerRE = regexp.MustCompile(`(?i)\b(old|new)\s+(?:(?:open)?pgp\s+|gpg\s+)?key\b`)

// TransitionText is what the text of a key transition statement names.
type TransitionText struct {
	Old, New         string // lowercase fingerprints
	OldLine, NewLine int    // the 1-based lines where each first appears
}

// LooksLikeTransition reports whether text names an old or new key and
// holds a full fingerprint: then it is meant as a key transition
// statement, and a failure to parse it is worth its precise error.
func LooksLikeTransition(text []byte) bool {
	if len(text) > MaxTransitionBytes {
		return false
	}
	marker, fpr := false, false
	for _, line := range strings.Split(string(text), "\n") {
		marker = marker || markerRE.MatchString(line)
		fpr = fpr || len(lineFingerprints(line)) > 0
	}
	return marker && fpr
}

// ParseTransitionText reads the old and the new key's fingerprints from
// the text of a key transition statement (see TransitionFormat). Errors
// are ErrMalformed or ErrTooLarge and name the line at fault.
func ParseTransitionText(text []byte) (TransitionText, error) {
	bad := func(line int, reason string) error {
		field := ""
		if line > 0 {
			field = fmt.Sprintf("line %d", line)
		}
		return inputerr.New(opTransition, field, ErrMalformed, reason)
	}
	if len(text) > MaxTransitionBytes {
		return TransitionText{}, inputerr.New(opTransition, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(text), MaxTransitionBytes))
	}
	lines := strings.Split(string(text), "\n")
	if len(lines) > MaxTransitionLines {
		return TransitionText{}, inputerr.New(opTransition, "", ErrTooLarge, fmt.Sprintf("%d lines, over the limit of %d", len(lines), MaxTransitionLines))
	}
	var (
		t          TransitionText
		role       string // "old", "new", "both" (a line naming both) or ""
		roleLine   int
		seenMarker bool
	)
	for i, line := range lines {
		n := i + 1
		if ms := markerRE.FindAllStringSubmatch(line, -1); len(ms) > 0 {
			seenMarker = true
			role, roleLine = strings.ToLower(ms[0][1]), n
			for _, m := range ms[1:] {
				if strings.ToLower(m[1]) != role {
					role = "both"
				}
			}
		}
		for _, f := range lineFingerprints(line) {
			if f == t.Old || f == t.New {
				if (role == "new" && t.New == "") || (role == "old" && t.Old == "") {
					return TransitionText{}, bad(n, fmt.Sprintf("fingerprint %s is named as both the old and the new key", f))
				}
				continue // a repeat, e.g. in "gpg --recv-key FPR"
			}
			switch role {
			case "":
				return TransitionText{}, bad(n, fmt.Sprintf("fingerprint %s comes before any line naming the old or the new key", f))
			case "both":
				return TransitionText{}, bad(n, fmt.Sprintf("fingerprint %s follows line %d, which names both the old and the new key; put each fingerprint under its own \"old key\" or \"new key\" line", f, roleLine))
			case "old":
				if t.Old != "" {
					return TransitionText{}, bad(n, fmt.Sprintf("a second old key fingerprint %s (the old key is %s, line %d)", f, t.Old, t.OldLine))
				}
				t.Old, t.OldLine = f, n
			case "new":
				if t.New != "" {
					return TransitionText{}, bad(n, fmt.Sprintf("a second new key fingerprint %s (the new key is %s, line %d)", f, t.New, t.NewLine))
				}
				t.New, t.NewLine = f, n
			}
		}
	}
	switch {
	case !seenMarker:
		return TransitionText{}, bad(0, `no line names the old or the new key ("The old key was:", "And the new key is:")`)
	case t.Old == "":
		return TransitionText{}, bad(0, `no fingerprint follows a line naming the old key ("The old key was:")`)
	case t.New == "":
		return TransitionText{}, bad(0, `no fingerprint follows a line naming the new key ("And the new key is:")`)
	}
	return t, nil
}

// lineFingerprints returns the full fingerprints in a line, lowercase: a
// word of 40 or 64 hex digits (optionally 0x-prefixed, quoted or in angle
// brackets), or exactly ten (or sixteen) consecutive words of four hex
// digits (gpg's spelling of a v4 fingerprint).
func lineFingerprints(line string) []string {
	var out []string
	words := strings.Fields(line)
	for i := range words {
		words[i] = strings.Trim(words[i], `'"<>()[],;.`)
	}
	for i := 0; i < len(words); i++ {
		if w := strings.TrimPrefix(strings.TrimPrefix(words[i], "0x"), "0X"); (len(w) == 40 || len(w) == 64) && isHex(w) {
			out = append(out, strings.ToLower(w))
			continue
		}
		// A run of four-digit groups: a fingerprint if exactly 10 or 16.
		j := i
		for j < len(words) && len(words[j]) == 4 && isHex(words[j]) {
			j++
		}
		if n := j - i; n == 10 || n == 16 {
			out = append(out, strings.ToLower(strings.Join(words[i:j], "")))
		}
		if j > i {
			i = j - 1
		}
	}
	return out
}

// Transition is a verified key transition statement: a rotation from Old
// to New, effective at the later of the two signatures' creation times,
// with both signatures (the old key's first).
type Transition struct {
	Rotation
	Signatures []SignatureInfo
	Text       TransitionText
}

// VerifyTransition verifies a clearsigned key transition statement: its
// text names the old and the new key (ParseTransitionText), it carries
// exactly two signatures, one by each of them, and each verifies against
// the certificate certs returns for that primary fingerprint (the key
// holder's registered certificate). It judges the signatures alone, as
// VerifyCleartext does; whether the keys are in force in the log is the
// chain verifier's to say. Errors name the signature or line at fault:
// ErrMalformed, ErrTooLarge, ErrWrongKey (a signature missing, one not by
// the keys the text names, or a named key certs does not know), and the
// signature sentinels.
func VerifyTransition(signed []byte, certs func(fingerprint string) (*Certificate, bool)) (Transition, error) {
	if len(signed) > MaxTransitionBytes {
		return Transition{}, inputerr.New(opTransition, "", ErrTooLarge, fmt.Sprintf("%d bytes, over the limit of %d", len(signed), MaxTransitionBytes))
	}
	block, sigs, err := readCleartext(opTransition, signed)
	if err != nil {
		return Transition{}, err
	}
	text, err := ParseTransitionText(block.Plaintext)
	if err != nil {
		return Transition{}, err
	}
	t := Transition{Text: text, Rotation: Rotation{Old: text.Old, New: text.New, Reason: TransitionReason}}
	if text.Old == text.New {
		return Transition{}, inputerr.New(opTransition, fmt.Sprintf("line %d", text.NewLine), ErrInvalidPredicate, "the old and the new key are the same")
	}
	if len(sigs) != 2 {
		who := make([]string, len(sigs))
		for i, s := range sigs {
			who[i] = issuerString(s.sig)
		}
		kind := ErrWrongKey // a signature missing: the statement lacks a key's consent
		if len(sigs) > 2 {
			kind = ErrMalformed
		}
		return Transition{}, inputerr.New(opTransition, "signatures", kind,
			fmt.Sprintf("%d signature(s) (by %s); a key transition statement carries exactly two, one by the old key %s and one by the new key %s", len(sigs), strings.Join(who, ", "), text.Old, text.New))
	}
	var used [2]bool
	for _, role := range []struct{ name, fpr string }{{"old", text.Old}, {"new", text.New}} {
		c, ok := certs(role.fpr)
		if !ok {
			return Transition{}, inputerr.New(opTransition, role.name+" key", ErrWrongKey, fmt.Sprintf("%s is not a registered certificate (register it first: trustctl key add)", role.fpr))
		}
		idx := -1
		for i, s := range sigs {
			if !used[i] && c.matchKey(s.sig) != nil {
				idx = i
				break
			}
		}
		if idx < 0 {
			return Transition{}, inputerr.New(opTransition, "signatures", ErrWrongKey,
				fmt.Sprintf("no signature by the %s key %s that the text names on line %d; the statement is signed by %s and %s", role.name, role.fpr, map[string]int{"old": text.OldLine, "new": text.NewLine}[role.name], issuerString(sigs[0].sig), issuerString(sigs[1].sig)))
		}
		used[idx] = true
		info, err := c.verifyOne(block.Bytes, sigs[idx], c.matchKey(sigs[idx].sig), time.Now())
		if err != nil {
			return Transition{}, fmt.Errorf("%s: %s key's signature: %w", opTransition, role.name, err)
		}
		t.Signatures = append(t.Signatures, info)
		if info.Created.After(t.Effective) {
			t.Effective = info.Created.UTC()
		}
	}
	if err := t.Rotation.Validate(); err != nil {
		return Transition{}, err
	}
	return t, nil
}

// ParseTransitionRecord reads a logged TransitionRecord (JSON) without
// verifying its signatures: the rotation its text names, effective at the
// later of the creation times its two signatures claim. Readers that must
// know the rotation of a record whose signatures no longer verify (so the
// chain verifier can refuse it as unsigned) use it.
func ParseTransitionRecord(record []byte) (Rotation, error) {
	var rec TransitionRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		return Rotation{}, inputerr.Wrap(opTransition, "record", ErrMalformed, "not a transition record", err)
	}
	block, sigs, err := readCleartext(opTransition, rec.Transition)
	if err != nil {
		return Rotation{}, err
	}
	text, err := ParseTransitionText(block.Plaintext)
	if err != nil {
		return Rotation{}, err
	}
	r := Rotation{Old: text.Old, New: text.New, Reason: TransitionReason}
	for _, s := range sigs {
		if s.sig.CreationTime.After(r.Effective) {
			r.Effective = s.sig.CreationTime.UTC()
		}
	}
	if err := r.Validate(); err != nil {
		return Rotation{}, err
	}
	return r, nil
}

// VerifyTransitionRecord verifies a logged TransitionRecord (JSON) with
// VerifyTransition.
func VerifyTransitionRecord(record []byte, certs func(fingerprint string) (*Certificate, bool)) (Transition, error) {
	var rec TransitionRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		return Transition{}, inputerr.Wrap(opTransition, "record", ErrMalformed, "not a transition record", err)
	}
	return VerifyTransition(rec.Transition, certs)
}

// ClearsignedText returns the text of a clearsigned document without
// verifying it, so a caller can tell what kind of document it is before
// choosing how to verify it.
func ClearsignedText(signed []byte) ([]byte, error) {
	block, _, err := readCleartext(opVerify, signed)
	if err != nil {
		return nil, err
	}
	return block.Plaintext, nil
}
