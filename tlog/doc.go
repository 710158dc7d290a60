// Package tlog makes trustd's statement log verifiable.
//
// Every statement trustd accepts gets the next global sequence number and
// becomes a leaf of an append-only Merkle tree in the RFC 6962 / RFC 9162
// form: log entry i (0-based) is the statement with sequence number i+1, and
// its leaf hash is the RFC 6962 leaf hash of the statement's envelope bytes
// exactly as stored. Hashing, proof shapes and proof verification come from
// github.com/transparency-dev/merkle, so any RFC 6962 verifier can check
// trustd's proofs; this package only adds persistence and checkpoint logic.
//
// Persistence is node-based: each node of the tree that becomes complete
// (a leaf, or the root of a perfect subtree) is written once, keyed by its
// compact.NodeID, through the small [NodeReader] and [NodeWriter] interfaces
// that the store implements inside its transaction. [Append] and
// [AppendBatch] read only the right edge of the tree (at most 64 nodes) and
// write the newly completed nodes; [Root], [InclusionProof] and
// [ConsistencyProof] each read their nodes in a single call.
//
// The log signs checkpoints (origin, tree size, root hash; the
// transparency-dev checkpoint body) as signed notes
// (golang.org/x/mod/sumdb/note), the format used by Go's checksum database
// and transparency-dev logs. A client that remembers the last checkpoint it
// saw and demands a consistency proof to each new one ([CheckConsistent])
// detects a server that rewrites history ([ErrFork]), shrinks it
// ([ErrRollback]) or shows different users different histories (their
// checkpoints cannot be proven consistent).
//
// A planned rotation of the log key is announced in the checkpoints
// themselves: during the rotation each checkpoint's body names the new key
// ([Checkpoint.NewKey], one extension line) and the note carries the
// signatures of the new key and of the keys it replaces, so a client that
// pinned an old key reads the announcement under that key's signature and
// moves its pin ([FollowCheckpoint]).
package tlog
