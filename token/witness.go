package token

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/tlog"
)

// Bounds of a token's log proof (Claims.Log).
const (
	// MaxLogCheckpoint bounds the checkpoint note, cosignature lines
	// included.
	MaxLogCheckpoint = 16 << 10
	// MaxLogInclusions bounds the inclusion proofs one token carries:
	// with the checkpoint, even proofs of the longest length keep a token
	// under MaxTokenBytes. Inputs beyond it go unproven (a verifier
	// requiring witnesses then refuses the token, saying which).
	MaxLogInclusions = 64
)

// ErrUnwitnessed: the token's log inputs are not proven in a checkpoint
// the required witnesses cosigned (no checkpoint, a checkpoint not signed
// by the log key, an input without a proof, or a proof that does not
// verify). A shortfall of cosignatures wraps tlog.ErrWitnessQuorum
// instead.
var ErrUnwitnessed = errors.New("token's log inputs are not witnessed")

// LogProof is the log's commitment to the entries a token relies on: a
// checkpoint, with the witness cosignatures trustd held for it when it
// issued the token, and each log input's RFC 6962 inclusion proof in it.
// An offline verifier that requires k of n witnesses (Claims.VerifyLog)
// then knows those entries are in the history the witnesses saw, with no
// network.
type LogProof struct {
	// Checkpoint is the signed note text, cosignature lines included.
	Checkpoint []byte
	// Inclusions are the proofs, one per log input.
	Inclusions []Inclusion
}

// Inclusion is one input's inclusion proof in the checkpoint's tree.
type Inclusion struct {
	// URI is the input's URI (Input.URI) the proof is for.
	URI string
	// LeafIndex is the entry's index in the tree (its log sequence
	// number minus one).
	LeafIndex uint64
	// LeafHash is the entry's RFC 6962 leaf hash, SHA-256(0x00 || its
	// logged bytes).
	LeafHash []byte
	// Hashes are the proof's hashes, leaf to root.
	Hashes [][]byte
}

// logJSON is the extension member "log" (see the package comment).
type logJSON struct {
	Checkpoint string          `json:"checkpoint"`
	Inclusion  []inclusionJSON `json:"inclusion,omitempty"`
}

type inclusionJSON struct {
	URI       string   `json:"uri"`
	LeafIndex uint64   `json:"leafIndex"`
	LeafHash  []byte   `json:"leafHash"`
	Hashes    [][]byte `json:"hashes"`
}

// toJSON encodes p for the extension; nil when p is.
func (p *LogProof) toJSON() *logJSON {
	if p == nil {
		return nil
	}
	out := &logJSON{Checkpoint: string(p.Checkpoint)}
	for _, in := range p.Inclusions {
		h := in.Hashes
		if h == nil {
			h = [][]byte{}
		}
		out.Inclusion = append(out.Inclusion, inclusionJSON{URI: in.URI, LeafIndex: in.LeafIndex, LeafHash: in.LeafHash, Hashes: h})
	}
	return out
}

// parseLogProof checks the extension's log member against its bounds and
// the token's inputs (every proof names an input, at most one proof per
// input) and returns it; nil when absent. op names the operation.
func parseLogProof(op string, l *logJSON, inputs []Input) (*LogProof, error) {
	if l == nil {
		return nil, nil
	}
	fld := "predicate." + ExtensionKey + ".log"
	bad := func(f, reason string) (*LogProof, error) {
		return nil, inputerr.New(op, fld+f, ErrInvalid, reason)
	}
	switch {
	case l.Checkpoint == "":
		return bad(".checkpoint", "required")
	case len(l.Checkpoint) > MaxLogCheckpoint:
		return bad(".checkpoint", fmt.Sprintf("%d bytes, limit %d", len(l.Checkpoint), MaxLogCheckpoint))
	case len(l.Inclusion) > MaxLogInclusions:
		return bad(".inclusion", fmt.Sprintf("%d proofs, limit %d", len(l.Inclusion), MaxLogInclusions))
	}
	p := &LogProof{Checkpoint: []byte(l.Checkpoint)}
	seen := map[string]bool{}
	for i, in := range l.Inclusion {
		f := fmt.Sprintf(".inclusion[%d]", i)
		switch {
		case !hasInput(inputs, in.URI):
			return bad(f+".uri", fmt.Sprintf("%.200q names no input of the token", in.URI))
		case seen[in.URI]:
			return bad(f+".uri", fmt.Sprintf("%.200q has a proof already", in.URI))
		case len(in.LeafHash) != tlog.HashSize:
			return bad(f+".leafHash", fmt.Sprintf("%d bytes, want %d", len(in.LeafHash), tlog.HashSize))
		case len(in.Hashes) > tlog.MaxProofHashes:
			return bad(f+".hashes", fmt.Sprintf("%d hashes, limit %d", len(in.Hashes), tlog.MaxProofHashes))
		}
		for j, h := range in.Hashes {
			if len(h) != tlog.HashSize {
				return bad(fmt.Sprintf("%s.hashes[%d]", f, j), fmt.Sprintf("%d bytes, want %d", len(h), tlog.HashSize))
			}
		}
		seen[in.URI] = true
		p.Inclusions = append(p.Inclusions, Inclusion(in))
	}
	return p, nil
}

func hasInput(inputs []Input, uri string) bool {
	for _, in := range inputs {
		if in.URI == uri {
			return true
		}
	}
	return false
}

// logSeq returns N of an input URI "trustd:log/N".
func logSeq(uri string) (uint64, bool) {
	s, ok := strings.CutPrefix(uri, "trustd:log/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// VerifyLog checks that the log inputs of c are in a history that at
// least threshold of the witnesses (cosignature/v1 verifier keys)
// cosigned: c's checkpoint must verify under logKey (the log's pinned
// note verifier key; a planned rotation it announces is followed) and
// carry threshold valid cosignatures of the witnesses
// (tlog.RequireWitnesses), every trustd:log/N input must have an
// inclusion proof at leaf index N-1, and every proof must verify under
// the checkpoint's root. It returns the witnesses that cosigned.
//
// The proofs bind the leaf hashes the token names to the witnessed tree;
// that a leaf hash is the entry the input's digest names (the sha256 of
// the same bytes) rests on the token's signature, and any auditor can
// check it against the log.
func (c Claims) VerifyLog(logKey string, witnesses []string, threshold int) ([]string, error) {
	const op = "token: verify log"
	if c.Log == nil {
		return nil, fmt.Errorf("%s: %w: the token holds no checkpoint (issued by a trustd without a log, or before tokens carried one)", op, ErrUnwitnessed)
	}
	cp, _, err := tlog.FollowCheckpoint(c.Log.Checkpoint, logKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: checkpoint: %w", op, ErrUnwitnessed, err)
	}
	cosigned, err := tlog.RequireWitnesses(c.Log.Checkpoint, witnesses, threshold)
	if err != nil {
		return cosigned, fmt.Errorf("%s: checkpoint of size %d: %w", op, cp.Size, err)
	}
	proofs := map[string]Inclusion{}
	for _, p := range c.Log.Inclusions {
		proofs[p.URI] = p
	}
	for _, in := range c.Inputs {
		p, ok := proofs[in.URI]
		seq, isLog := logSeq(in.URI)
		switch {
		case !ok && isLog:
			return cosigned, fmt.Errorf("%s: %w: input %s has no inclusion proof", op, ErrUnwitnessed, in.URI)
		case !ok:
			continue
		case isLog && p.LeafIndex != seq-1:
			return cosigned, fmt.Errorf("%s: %w: input %s: proof is for leaf index %d, want %d", op, ErrUnwitnessed, in.URI, p.LeafIndex, seq-1)
		}
		if err := tlog.VerifyInclusion(p.LeafHash, p.LeafIndex, cp.Size, p.Hashes, cp.Hash); err != nil {
			return cosigned, fmt.Errorf("%s: %w: input %s: %w", op, ErrUnwitnessed, in.URI, err)
		}
	}
	return cosigned, nil
}
