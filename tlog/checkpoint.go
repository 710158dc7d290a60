package tlog

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds the size in bytes of a signed checkpoint accepted
// by OpenCheckpoint.
const MaxCheckpointSize = 64 << 10

// Checkpoint is a log's commitment to its first Size entries: the root Hash
// of that tree, under the log's Origin name. It is the transparency-dev
// checkpoint body, and trustd signs it as a note with the log key.
type Checkpoint struct {
	// Origin names the log; it is also the name of the log's signing key.
	Origin string
	// Size is the number of entries in the tree.
	Size uint64
	// Hash is the RFC 6962 root hash of the tree.
	Hash []byte
}

// Marshal returns the checkpoint body: the origin line, the decimal size and
// the standard base64 root hash, each followed by a newline.
func (c Checkpoint) Marshal() []byte {
	return log.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Hash}.Marshal()
}

// GenerateLogKey generates an Ed25519 note key pair for the log named origin
// (the key name is the origin). skey is the secret signer key and vkey the
// public verifier key, both in the sumdb/note text form.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if err := validateOrigin(origin); err != nil {
		return "", "", fmt.Errorf("tlog: generate log key: %w", err)
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("tlog: generate log key: %w", err)
	}
	return skey, vkey, nil
}

// SignCheckpoint signs cp as a note with the log's signer key skey, whose
// name must equal cp.Origin. It returns the signed note bytes.
func SignCheckpoint(cp Checkpoint, skey string) ([]byte, error) {
	if err := validateCheckpoint(cp); err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w: %w", ErrBadCheckpoint, err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		// The error names no part of the key; never echo the key itself.
		return nil, fmt.Errorf("tlog: sign checkpoint: log signer key: %w", err)
	}
	if signer.Name() != cp.Origin {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w: origin %q differs from signer key name %q", ErrBadCheckpoint, cp.Origin, signer.Name())
	}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	return signed, nil
}

// OpenCheckpoint verifies a signed checkpoint against the log's verifier key
// vkey and returns its body. The note must be at most MaxCheckpointSize
// bytes, carry a valid signature by vkey (other signatures, such as witness
// cosignatures, are ignored), and have a canonical body whose origin is the
// key's name; otherwise the error wraps ErrBadCheckpoint.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: log verifier key: %w", err)
	}
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: %d bytes, limit %d", ErrBadCheckpoint, len(signed), MaxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: no signature by log key %s", ErrBadCheckpoint, verifier.Name())
		}
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: %v", ErrBadCheckpoint, err)
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: %w", ErrBadCheckpoint, err)
	}
	if cp.Origin != verifier.Name() {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: origin %q, want %q", ErrBadCheckpoint, cp.Origin, verifier.Name())
	}
	return cp, nil
}

// parseCheckpoint parses a checkpoint body with the transparency-dev parser
// and accepts only the canonical encoding that Marshal produces, without
// extension lines.
func parseCheckpoint(body string) (Checkpoint, error) {
	var lc log.Checkpoint
	rest, err := lc.Unmarshal([]byte(body))
	if err != nil {
		return Checkpoint{}, err
	}
	if len(rest) > 0 {
		return Checkpoint{}, errors.New("unexpected lines after the root hash")
	}
	cp := Checkpoint{Origin: lc.Origin, Size: lc.Size, Hash: lc.Hash}
	if err := validateCheckpoint(cp); err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(cp.Marshal(), []byte(body)) {
		return Checkpoint{}, errors.New("body is not in canonical form (decimal size without leading zeros, padded standard base64 hash)")
	}
	return cp, nil
}

// validateCheckpoint checks the fields of a checkpoint before signing or
// after parsing.
func validateCheckpoint(cp Checkpoint) error {
	if err := validateOrigin(cp.Origin); err != nil {
		return err
	}
	if err := checkHash("root hash", cp.Hash); err != nil {
		return err
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, EmptyRoot()) {
		return fmt.Errorf("root hash %x of the empty tree, want %x", cp.Hash, EmptyRoot())
	}
	return nil
}

// validateOrigin checks that origin can be both a note key name and the first
// line of a note: non-empty UTF-8 with no spaces, '+' or control characters.
func validateOrigin(origin string) error {
	switch {
	case origin == "":
		return errors.New("origin is empty")
	case !utf8.ValidString(origin):
		return fmt.Errorf("origin %q is not valid UTF-8", origin)
	case strings.IndexFunc(origin, unicode.IsSpace) >= 0:
		return fmt.Errorf("origin %q contains white space", origin)
	case strings.ContainsRune(origin, '+'):
		return fmt.Errorf("origin %q contains '+'", origin)
	case strings.IndexFunc(origin, unicode.IsControl) >= 0:
		return fmt.Errorf("origin %q contains a control character", origin)
	}
	return nil
}
