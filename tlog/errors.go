package tlog

import "errors"

var (
	// ErrMissingNode reports that a tree node needed for a computation is not
	// stored; NodeReader implementations wrap it for every absent node.
	ErrMissingNode = errors.New("missing node")

	// ErrProofInvalid reports that an inclusion or consistency proof is
	// malformed or does not lead to the expected root hash.
	ErrProofInvalid = errors.New("proof invalid")

	// ErrBadCheckpoint reports a checkpoint that is oversized, malformed, not
	// signed by the log key, or names a different origin than expected.
	ErrBadCheckpoint = errors.New("bad checkpoint")

	// ErrFork reports two checkpoints of one log that cannot both be true: the
	// log rewrote its history or shows different histories to different users.
	ErrFork = errors.New("log fork detected")

	// ErrRollback reports a checkpoint for a smaller tree than one already
	// seen: the log went back in time.
	ErrRollback = errors.New("log rollback detected")
)
