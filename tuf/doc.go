// Package tuf is trustd's TUF repository: release engineers publish signed
// targets (artifact name → length and hashes) and any unmodified TUF client
// updates from it. The model, signing and signature verification are
// go-tuf/v2's metadata package; this package adds the repository server's
// rules and its online snapshot and timestamp signing.
//
// A Service works over a State (the storage it needs, defined here; MemState
// is the in-memory one for tests and benchmarks) and trustd's OnlineKeys:
//
//	svc, _ := tuf.New(state, onlineKeys, tuf.Config{})
//	svc.Init(ctx, "acme/images", rootV1)            // signed offline by the root key holders
//	res, err := svc.Upload(ctx, "acme/images", "targets", signedTargets)
//	// res.Published: targets vN, snapshot, timestamp (append them to the log)
//	// res.Targets:   name, length, sha256/sha512 digests, role, key ids (index them)
//	// res.Pending:   non-nil if the signatures do not meet the threshold yet
//	svc.AddSignatures(ctx, "acme/images", "targets", n, "", sigs) // "": the only proposal pending
//	svc.Metadata(ctx, "acme/images", "3.root.json") // the TUF HTTP layout
//	svc.Refresh(ctx, "acme/images", time.Now())     // re-sign timestamp/snapshot before expiry
//
// Upload checks what a TUF client checks, against the current trusted
// metadata: the threshold of the delegating role's keys (for a new root, of
// the current root's root keys and of its own), version = current + 1,
// expiry in the future, every target path inside the role's delegated paths,
// hash prefixes or hashed bin and reached by the client's delegation walk
// (terminating delegations honoured), accepted key types (ed25519, ecdsa
// P-256, rsa ≥ 2048 bits), no duplicate key ids, and well-formed JSON
// (size and depth bounded before parsing, duplicate object keys rejected).
// Metadata valid in all respects but under-signed is kept pending; further
// key holders add signatures until the threshold is met and it is published.
// Several proposals may be pending for one role and version, each keyed by
// the digest of its signed part (ProposalDigest); the first to meet its
// thresholds is published and the others become void. A root proposal is
// kept only when a key of the current root signs it, so nobody outside the
// current root can crowd a rotation.
//
// Repository names have owners: names under trustd/ are trustd's own
// (InitReserved; Init refuses them), and Config.Creation (a CreationPolicy)
// says which keys' signatures on root v1 may create which other names.
// A new root that changes the targets keys would strand the published
// targets, so it waits (pending) for the next targets version signed by its
// new targets keys, which is held beside it, and both publish together.
// Accepted metadata is published with a new snapshot (the version of every
// targets role) and a new timestamp, signed with the online keys the root
// names, in one State.Apply whose compare-and-swap stops two concurrent
// publishes from both winning.
//
// Clients fetch N.root.json, timestamp.json, N.snapshot.json,
// N.targets.json and N.ROLE.json (consistent snapshots); target bytes come
// from the blobstore, never from trustd.
//
// Client-side helpers (trustctl) build and sign metadata: HashTarget,
// NewTargetFile, AddTarget, NewRoot, HashedBins, Sign, SignatureFor,
// EnvelopeSigner.
//
// Errors for rejected input are *Error values naming the operation,
// repository, role, JSON field and reason, matching one sentinel (ErrMalformed,
// ErrBadSignature, ErrVersion, …) with errors.Is. On error nothing is stored.
package tuf
