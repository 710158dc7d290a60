package subject

import (
	"context"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/revocation"
)

// RevocationChecker answers whether digests and log entries are revoked
// (revocation.Service is one).
type RevocationChecker interface {
	// DigestRevocation returns the revocation of d (in force or from a
	// future effective time), or nil.
	DigestRevocation(ctx context.Context, d digest.Digest) (*revocation.Record, error)
	// StatementRevoked returns what voids log entry seq as signed at
	// signedAt, or nil.
	StatementRevoked(ctx context.Context, seq int64, signedAt time.Time) (*revocation.Record, error)
}

// Revoked is what of a View is revoked: alias digests, and evidence by log
// sequence number (judged as of when trustd recorded it). A view shows
// revoked evidence marked as revoked; it never drops it.
type Revoked struct {
	Aliases  map[digest.Digest]*revocation.Record
	Evidence map[int64]*revocation.Record
}

// MarkRevoked asks c about every alias and every evidence entry of v.
func MarkRevoked(ctx context.Context, v View, c RevocationChecker) (Revoked, error) {
	out := Revoked{Aliases: map[digest.Digest]*revocation.Record{}, Evidence: map[int64]*revocation.Record{}}
	for _, a := range v.Aliases {
		r, err := c.DigestRevocation(ctx, a.Digest)
		if err != nil {
			return Revoked{}, fmt.Errorf("subject: revocation of %s: %w", a.Digest, err)
		}
		if r != nil {
			out.Aliases[a.Digest] = r
		}
	}
	for _, e := range v.Evidence {
		if _, seen := out.Evidence[e.Seq]; seen {
			continue
		}
		r, err := c.StatementRevoked(ctx, e.Seq, e.RecordedAt)
		if err != nil {
			return Revoked{}, fmt.Errorf("subject: revocation of entry %d: %w", e.Seq, err)
		}
		out.Evidence[e.Seq] = r
	}
	for seq, r := range out.Evidence {
		if r == nil {
			delete(out.Evidence, seq)
		}
	}
	return out, nil
}
