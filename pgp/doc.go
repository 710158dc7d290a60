// Package pgp is trustd's OpenPGP support: it registers GnuPG-compatible
// certificates (transferable public keys), verifies detached and clearsigned
// signatures over release manifests, parses those manifests (GNU coreutils
// and BSD tagged checksum formats, Debian Release/InRelease files), reads
// clearsigned key transition statements signed by an old and a new key
// (the rotation they state), reads revocation certificates, plugs
// OpenPGP signatures into trustd's DSSE envelopes, and decides whether a key
// may sign for a name at a time through delegation and rotation chains.
//
// The same code runs in the server (before it stores anything) and in the
// offline client verifier, so every function here is deterministic and does
// no I/O except the gpg signer, which runs the local gpg program.
//
// Cryptography is github.com/ProtonMail/go-crypto's openpgp/v2 API. Every
// signature is verified against a key ring that holds exactly one
// certificate, chosen by full fingerprint (the issuer fingerprint subpacket),
// never by 64-bit key id alone, since key ids can be made to collide.
// Certificates are stored verbatim (all packets, old self-signatures
// included); this package re-reads them per verification so that shared
// certificates are never mutated and can be used from many goroutines.
// A re-export of a registered certificate is merged into it as keyservers
// merge ([Merge]): the union of packets by their bytes, each new one
// verified first, nothing dropped.
//
// Time: OpenPGP lets the signer choose a signature's creation time, so
// trustd's one time rule (package timerule) applies: soft revocations (key
// superseded or retired), rotations, delegation ends and key expiry are
// judged at the later of the claimed time and the time the log first
// observed the signature; hard revocations (compromised, no reason, or an
// unknown reason) invalidate every signature the key ever made. See
// [Decide].
//
// Errors for bad input are [*Error] values matching one sentinel (ErrMalformed,
// ErrTooLarge, ErrUntrusted, …) with errors.Is; chain decisions refuse with a
// [*Refusal] carrying a stable [RefusalCode].
package pgp
