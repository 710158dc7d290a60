// Package revocation is trustd's one model for taking trust back: keys,
// signed statements (attestations, votes, delegations), known-bad
// digests and tokens are revoked by signed in-toto statements
// (PredicateType) that enter through statement.Log.Submit like every other
// write. Its Validator enforces who may revoke what before anything is
// stored, its Indexer keeps the current state per target in the append's
// transaction, and its Checker answers "is this revoked, by whom, why,
// since when" for the packages that count signatures.
//
// For offline clients trustd publishes signed revocation lists: a
// monotonically numbered, timestamped snapshot of every revocation in
// force, or the delta since an earlier number, as an in-toto statement in
// a DSSE envelope (ListPredicateType) whose subject is the digest of a
// compact binary body. The list key is distributed through a
// trustd-managed TUF repository (KeysRepo), so a client that pins that
// repository's root gets TUF's freshness and rollback protection for the
// key; Cache keeps the verified list on disk for lookups in well under a
// microsecond, refusing lists older than the one it has or older than its
// maximum staleness. The server and the client run the same code.
//
// KeysRepo publishes each of trustd's own keys (token, list, log) as one
// set per purpose: the key in use under the purpose's target, and during a
// planned rotation the keys accepted beside it (AcceptedKeyTarget). Only
// targets change, never the root, so a client that pinned the root follows
// a rotation, and verifiers accept what any published key signed.
package revocation
