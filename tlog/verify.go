package tlog

import (
	"bytes"
	"errors"
	"fmt"

	tdproof "github.com/transparency-dev/merkle/proof"
)

// VerifyInclusion checks that leafHash is leaf index of the tree of size
// leaves whose root hash is root, using the transparency-dev RFC 9162
// verifier. Any failure, including a malformed proof, wraps ErrProofInvalid.
func VerifyInclusion(leafHash []byte, index, size uint64, proof [][]byte, root []byte) error {
	if err := inclusionReason(leafHash, index, size, proof, root); err != nil {
		return fmt.Errorf("tlog: inclusion proof %d in %d: %w: %v", index, size, ErrProofInvalid, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size2 leaves with root hash root2
// extends the tree of size1 leaves with root hash root1, using the
// transparency-dev RFC 9162 verifier. Any failure wraps ErrProofInvalid.
func VerifyConsistency(size1, size2 uint64, proof [][]byte, root1, root2 []byte) error {
	if err := consistencyReason(size1, size2, proof, root1, root2); err != nil {
		return fmt.Errorf("tlog: consistency proof %d to %d: %w: %v", size1, size2, ErrProofInvalid, err)
	}
	return nil
}

// CheckConsistent decides whether next may follow prev, two checkpoints of
// one log, given a consistency proof from prev.Size to next.Size. A smaller
// tree is ErrRollback; the same size with another root, or a proof that does
// not verify, is ErrFork (the latter also wraps ErrProofInvalid).
func CheckConsistent(prev, next Checkpoint, proof [][]byte) error {
	if prev.Origin != next.Origin {
		return fmt.Errorf("tlog: checkpoint origin %q differs from previously seen origin %q: %w", next.Origin, prev.Origin, ErrBadCheckpoint)
	}
	if err := checkHash("previous checkpoint root", prev.Hash); err != nil {
		return fmt.Errorf("tlog: %w: %w", ErrBadCheckpoint, err)
	}
	if err := checkHash("checkpoint root", next.Hash); err != nil {
		return fmt.Errorf("tlog: %w: %w", ErrBadCheckpoint, err)
	}
	switch {
	case next.Size < prev.Size:
		return fmt.Errorf("tlog: checkpoint for size %d after one for size %d: %w", next.Size, prev.Size, ErrRollback)
	case next.Size == prev.Size && !bytes.Equal(next.Hash, prev.Hash):
		return fmt.Errorf("tlog: two checkpoints for size %d with different roots %x and %x: %w", next.Size, prev.Hash, next.Hash, ErrFork)
	}
	if err := consistencyReason(prev.Size, next.Size, proof, prev.Hash, next.Hash); err != nil {
		return fmt.Errorf("tlog: checkpoint for size %d is not consistent with previously seen size %d: %w (%w: %v)", next.Size, prev.Size, ErrFork, ErrProofInvalid, err)
	}
	return nil
}

// inclusionReason bounds and checks an inclusion proof, returning why it
// fails or nil.
func inclusionReason(leafHash []byte, index, size uint64, proof [][]byte, root []byte) error {
	if index >= size {
		return fmt.Errorf("index %d is not below tree size %d", index, size)
	}
	if err := checkHash("leaf hash", leafHash); err != nil {
		return err
	}
	if err := checkHash("root hash", root); err != nil {
		return err
	}
	if err := checkProof(proof); err != nil {
		return err
	}
	return explain(tdproof.VerifyInclusion(hasher, index, size, leafHash, proof, root))
}

// consistencyReason bounds and checks a consistency proof, returning why it
// fails or nil.
func consistencyReason(size1, size2 uint64, proof [][]byte, root1, root2 []byte) error {
	if size1 > size2 {
		return fmt.Errorf("size %d is larger than size %d", size1, size2)
	}
	if err := checkHash("first root hash", root1); err != nil {
		return err
	}
	if err := checkHash("second root hash", root2); err != nil {
		return err
	}
	if err := checkProof(proof); err != nil {
		return err
	}
	return explain(tdproof.VerifyConsistency(hasher, size1, size2, proof, root1, root2))
}

// checkProof bounds a proof's length and the size of each of its hashes.
func checkProof(proof [][]byte) error {
	if len(proof) > MaxProofHashes {
		return fmt.Errorf("proof has %d hashes, limit %d", len(proof), MaxProofHashes)
	}
	for i, h := range proof {
		if len(h) != HashSize {
			return fmt.Errorf("proof hash %d is %d bytes, want %d", i, len(h), HashSize)
		}
	}
	return nil
}

// checkHash checks that a hash has HashSize bytes.
func checkHash(what string, h []byte) error {
	if len(h) != HashSize {
		return fmt.Errorf("%s is %d bytes, want %d", what, len(h), HashSize)
	}
	return nil
}

// explain rewrites the verifier's root mismatch error into one line with hex
// hashes; other errors pass through unchanged.
func explain(err error) error {
	var mismatch tdproof.RootMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("computed root %x, want %x", mismatch.CalculatedRoot, mismatch.ExpectedRoot)
	}
	return err
}
