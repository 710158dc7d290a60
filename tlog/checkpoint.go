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

// NewKeyLine starts the one extension line a checkpoint body may carry:
// the announcement of the log's new key (Checkpoint.NewKey).
const NewKeyLine = "new-log-key "

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
	// NewKey, when set, announces a planned rotation of the log's key: it
	// is the note verifier key (named Origin) that signs the log's
	// checkpoints from now on. It is an extension line of the body
	// (NewKeyLine), so every key that signs the checkpoint vouches for it;
	// during a rotation trustd signs each checkpoint with the new key and
	// with the keys it replaces, and a client that pinned one of those
	// moves its pin to NewKey (FollowCheckpoint).
	NewKey string
}

// Marshal returns the checkpoint body: the origin line, the decimal size and
// the standard base64 root hash, each followed by a newline, then the
// NewKeyLine when NewKey is set.
func (c Checkpoint) Marshal() []byte {
	body := log.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Hash}.Marshal()
	if c.NewKey != "" {
		body = append(body, NewKeyLine+c.NewKey+"\n"...)
	}
	return body
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
// name must equal cp.Origin, and with cosigners: the keys a rotation
// replaces, which sign only a checkpoint announcing the new key (cp.NewKey,
// which must then be skey's verifier key). It returns the signed note
// bytes.
func SignCheckpoint(cp Checkpoint, skey string, cosigners ...string) ([]byte, error) {
	if err := validateCheckpoint(cp); err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w: %w", ErrBadCheckpoint, err)
	}
	var signers []note.Signer
	for i, k := range append([]string{skey}, cosigners...) {
		signer, err := note.NewSigner(k)
		if err != nil {
			// The error names no part of the key; never echo the key itself.
			return nil, fmt.Errorf("tlog: sign checkpoint: log signer key %d: %w", i+1, err)
		}
		if signer.Name() != cp.Origin {
			return nil, fmt.Errorf("tlog: sign checkpoint: %w: origin %q differs from signer key name %q", ErrBadCheckpoint, cp.Origin, signer.Name())
		}
		signers = append(signers, signer)
	}
	if len(cosigners) > 0 && cp.NewKey == "" {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w: co-signing keys sign only a checkpoint that announces the new key", ErrBadCheckpoint)
	}
	if cp.NewKey != "" {
		v, _ := note.NewVerifier(cp.NewKey) // validateCheckpoint parsed it
		if signers[0].KeyHash() != v.KeyHash() {
			return nil, fmt.Errorf("tlog: sign checkpoint: %w: it announces new key %s, which is not the signer key's", ErrBadCheckpoint, keyLabel(v))
		}
	}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signers...)
	if err != nil {
		return nil, fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	return signed, nil
}

// keyLabel names a note key in messages: its name and key hash.
func keyLabel(v note.Verifier) string { return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()) }

// OpenCheckpoint verifies a signed checkpoint against the log's verifier key
// vkey and returns its body. The note must be at most MaxCheckpointSize
// bytes, carry a valid signature by vkey (other signatures, such as witness
// cosignatures, are ignored), and have a canonical body whose origin is the
// key's name, with no extension line but a NewKeyLine naming a key of the
// same name; otherwise the error wraps ErrBadCheckpoint. It does not follow
// an announced key: FollowCheckpoint does.
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

// FollowCheckpoint opens signed as OpenCheckpoint does with the pinned key,
// and follows a planned rotation of the log's key: when the body announces
// a new key (so the pinned key's signature vouches for it), the note must
// carry a valid signature by that key too, and FollowCheckpoint returns it
// as the key to pin from now on. Otherwise it returns pinned. A checkpoint
// that announces a key it is not signed by wraps ErrBadCheckpoint.
func FollowCheckpoint(signed []byte, pinned string) (cp Checkpoint, key string, err error) {
	if cp, err = OpenCheckpoint(signed, pinned); err != nil {
		return Checkpoint{}, "", err
	}
	if cp.NewKey == "" || cp.NewKey == pinned {
		return cp, pinned, nil
	}
	if _, err := OpenCheckpoint(signed, cp.NewKey); err != nil {
		v, _ := note.NewVerifier(cp.NewKey) // parseCheckpoint parsed it
		return Checkpoint{}, "", fmt.Errorf("tlog: follow key rotation: %w: the checkpoint announces new log key %s but is not signed by it", ErrBadCheckpoint, keyLabel(v))
	}
	return cp, cp.NewKey, nil
}

// parseCheckpoint parses a checkpoint body with the transparency-dev parser
// and accepts only the canonical encoding that Marshal produces, with no
// extension line but the announcement of a new key.
func parseCheckpoint(body string) (Checkpoint, error) {
	var lc log.Checkpoint
	rest, err := lc.Unmarshal([]byte(body))
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Origin: lc.Origin, Size: lc.Size, Hash: lc.Hash}
	if len(rest) > 0 {
		line, ok := strings.CutPrefix(string(rest), NewKeyLine)
		if !ok || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			return Checkpoint{}, errors.New("unexpected lines after the root hash")
		}
		cp.NewKey = strings.TrimSuffix(line, "\n")
	}
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
	if cp.NewKey != "" {
		if strings.IndexFunc(cp.NewKey, unicode.IsSpace) >= 0 {
			return errors.New("new log key contains white space")
		}
		v, err := note.NewVerifier(cp.NewKey)
		if err != nil {
			return fmt.Errorf("new log key: %w", err)
		}
		if v.Name() != cp.Origin {
			return fmt.Errorf("new log key is named %q, not the origin %q", v.Name(), cp.Origin)
		}
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
