package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures (c2sp.org/tlog-cosignature): a witness that checked
// a checkpoint is consistent with everything it saw of the log before
// signs "cosignature/v1\ntime <T>\n" followed by the checkpoint body with
// its Ed25519 key, and the signature is an ordinary signed-note signature
// line whose bytes are the 8-byte big-endian timestamp T and the 64-byte
// Ed25519 signature. Its key is a note verifier key whose key bytes start
// with the algorithm byte 0x04 (cosignature/v1).

// algCosignatureV1 is the signed-note algorithm byte of cosignature/v1.
const algCosignatureV1 = 0x04

// ErrWitnessQuorum reports a checkpoint that fewer of the required
// witnesses cosigned than the threshold asks.
var ErrWitnessQuorum = errors.New("witness quorum not met")

// WitnessVerifier verifies the cosignatures of one witness; it is a
// note.Verifier for the witness's cosignature/v1 key.
type WitnessVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	vkey string
}

// ParseWitnessKey parses a witness's cosignature/v1 verifier key
// ("name+hash+base64(0x04 || Ed25519 public key)"), checking that the key
// hash matches the name and key.
func ParseWitnessKey(vkey string) (*WitnessVerifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || len(hash16) != 8 {
		return nil, fmt.Errorf("tlog: witness key %q: not of the form name+hash+key", vkey)
	}
	if err := validateOrigin(name); err != nil {
		return nil, fmt.Errorf("tlog: witness key: name: %w", err)
	}
	h, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("tlog: witness key %q: %w", vkey, err)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("tlog: witness key %q: not a cosignature/v1 key (algorithm byte 0x04 and a 32-byte Ed25519 key)", name)
	}
	if uint32(h) != cosignKeyHash(name, key) {
		return nil, fmt.Errorf("tlog: witness key %q: key hash %s does not match the name and key", name, hash16)
	}
	return &WitnessVerifier{name: name, hash: uint32(h), key: ed25519.PublicKey(key[1:]), vkey: vkey}, nil
}

// cosignKeyHash is the signed-note key hash: the first four bytes of
// SHA-256(name || "\n" || algorithm byte || key).
func cosignKeyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Name is the witness's name.
func (v *WitnessVerifier) Name() string { return v.name }

// KeyHash is the witness key's signed-note key hash.
func (v *WitnessVerifier) KeyHash() uint32 { return v.hash }

// String returns the verifier key as parsed.
func (v *WitnessVerifier) String() string { return v.vkey }

// Verify checks a cosignature (timestamp || Ed25519 signature) over msg, a
// checkpoint body.
func (v *WitnessVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	return ed25519.Verify(v.key, CosignedMessage(t, msg), sig[8:])
}

// CosignedMessage is what a cosignature/v1 signs: the header lines with
// the timestamp t (Unix seconds) followed by the checkpoint body.
func CosignedMessage(t uint64, body []byte) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t), body...)
}

// Cosignature is one witness's verified cosignature of a checkpoint.
type Cosignature struct {
	// Witness is the witness's verifier key.
	Witness string
	// Line is the note signature line, "— name base64\n".
	Line string
	// Time is when the witness signed, from the cosignature.
	Time time.Time
}

// OpenCosignatures verifies the signature lines a witness returned for
// the signed checkpoint (its tlog-witness add-checkpoint response) and
// returns the ones by w that verify over the checkpoint body; lines by
// other keys are ignored, as the protocol asks. None by w is an error.
func OpenCosignatures(signed, lines []byte, w *WitnessVerifier) ([]Cosignature, error) {
	if len(lines) > MaxCheckpointSize {
		return nil, fmt.Errorf("tlog: cosignatures of %s: %d bytes, limit %d", w.name, len(lines), MaxCheckpointSize)
	}
	body, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("tlog: cosignatures of %s: %w: not a signed note", w.name, ErrBadCheckpoint)
	}
	text := append(append(body, '\n', '\n'), lines...)
	n, err := note.Open(text, note.VerifierList(w))
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return nil, fmt.Errorf("tlog: cosignatures of %s: the answer holds no cosignature by its key %s", w.name, keyLabel(w))
	}
	if err != nil {
		return nil, fmt.Errorf("tlog: cosignatures of %s: %w", w.name, err)
	}
	var out []Cosignature
	for _, s := range n.Sigs {
		out = append(out, cosignatureOf(w, s))
	}
	return out, nil
}

// cosignatureOf turns a verified note signature by w into a Cosignature.
func cosignatureOf(w *WitnessVerifier, s note.Signature) Cosignature {
	raw, _ := base64.StdEncoding.DecodeString(s.Base64) // note.Open decoded it
	t := binary.BigEndian.Uint64(raw[4:])
	return Cosignature{Witness: w.vkey, Line: "— " + s.Name + " " + s.Base64 + "\n", Time: time.Unix(int64(t), 0).UTC()}
}

// AddSignatures appends signature lines (such as stored cosignatures) to a
// signed note, leaving out lines the note already carries.
func AddSignatures(signed []byte, lines ...string) []byte {
	out := bytes.Clone(signed)
	for _, l := range lines {
		if !bytes.Contains(out, []byte(l)) {
			out = append(out, l...)
		}
	}
	return out
}

// RequireWitnesses checks that at least threshold of the witnesses (their
// cosignature/v1 verifier keys) cosigned the signed checkpoint, and
// returns their names. Signatures by other keys are ignored; a signature
// that names a required witness's key but does not verify is an error.
// Fewer valid cosignatures than threshold wraps ErrWitnessQuorum, naming
// the witnesses that did and did not cosign.
func RequireWitnesses(signed []byte, witnesses []string, threshold int) ([]string, error) {
	if threshold < 1 || threshold > len(witnesses) {
		return nil, fmt.Errorf("tlog: witness threshold %d: want 1 to the number of witnesses (%d)", threshold, len(witnesses))
	}
	if len(signed) > MaxCheckpointSize {
		return nil, fmt.Errorf("tlog: %w: %d bytes, limit %d", ErrBadCheckpoint, len(signed), MaxCheckpointSize)
	}
	vs := make([]note.Verifier, len(witnesses))
	var names []string
	for i, k := range witnesses {
		w, err := ParseWitnessKey(k)
		if err != nil {
			return nil, err
		}
		if slices.Contains(names, keyLabel(w)) {
			return nil, fmt.Errorf("tlog: witness key %s named twice", keyLabel(w))
		}
		vs[i] = w
		names = append(names, keyLabel(w))
	}
	var cosigned []string
	n, err := note.Open(signed, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
	case err != nil:
		return nil, fmt.Errorf("tlog: witness cosignatures: %w: %v", ErrBadCheckpoint, err)
	default:
		for _, s := range n.Sigs {
			label := fmt.Sprintf("%s+%08x", s.Name, s.Hash)
			if !slices.Contains(cosigned, label) {
				cosigned = append(cosigned, label)
			}
		}
	}
	if len(cosigned) < threshold {
		var missing []string
		for _, l := range names {
			if !slices.Contains(cosigned, l) {
				missing = append(missing, l)
			}
		}
		return cosigned, fmt.Errorf("tlog: %w: the checkpoint is cosigned by %d of the %d named witnesses, %d required (cosigned: %s; missing: %s)",
			ErrWitnessQuorum, len(cosigned), len(witnesses), threshold, listOrNone(cosigned), listOrNone(missing))
	}
	return cosigned, nil
}

// listOrNone joins names for a message.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
