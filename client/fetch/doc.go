// Package fetch retrieves an artifact's bytes by any of its digests from the
// locations where others say it is stored, and hands them over only once
// they are proven to be the bytes asked for.
//
// Locations are untrusted input (anyone may claim to mirror anything), so
// [Get] treats every byte it receives as hostile until validated: it tries
// the publisher's own (authoritative) locations first and mirrors only when
// asked to, fails over to the next location on any error, resumes a broken
// HTTP transfer with a Range request on the same location, streams the bytes
// once through digest.Sum checking the digest asked for, sha256 and the
// publisher's length, and writes nothing to the destination until all of
// them match (temporary file beside it, fsync, rename). Connections go only
// to https (and OCI registries over https) and only to public addresses,
// checked on the resolved IP at dial time so that neither DNS rebinding nor
// a redirect can reach a loopback, private or link-local service.
package fetch
