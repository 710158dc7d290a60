// Package evidence is trustd's one answer to "what evidence exists for
// these digests at time T, and who is entitled to give it": TUF targets
// with their repository, role and version, OpenPGP manifest lines with the
// chain decision for the pinned roots, attestations, the signers of every
// log entry naming the bytes, the revocations in force of the digests, of
// every signer, of every statement relied on and of tokens, the publishers
// of the digests with the claims that link aliases, and reputation
// figures.
//
// A Bundle holds that evidence as data: each item carries its raw signed
// bytes (or the sequence number of the log entry that holds them), its
// place in the log and, when fetched from a server, an inclusion proof
// against a signed checkpoint. The server assembles a Bundle from its
// store (package evidencesvc); trustctl fetches one in a single call
// (GetEvidence) and checks it with Verify against the pinned log key,
// re-verifying the signed bytes it can (OpenPGP manifest signatures, DSSE
// signatures by registered keys, TUF metadata from a pinned root, every
// chain decision that allows a signature, recomputed from the delegation
// and rotation statements it cites) and bounding the log's recording
// times by the order its proofs establish. Either
// way the verified Set is handed to the policy evaluator through
// Set.Sources, so token issuance, online verification and every other
// reader judge the same evidence with the same code, and differ only in
// where the evidence came from.
//
// The package is pure: it never reaches the store, the log, a service
// package or the server (internal/importrules enforces it).
package evidence
