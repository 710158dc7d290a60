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

// batchChecker is a RevocationChecker that answers for many entries in a
// few store reads (revocation.Service is one).
type batchChecker interface {
	StatementsRevoked(ctx context.Context, refs []revocation.StatementRef) ([]*revocation.Record, error)
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
	if b, ok := c.(batchChecker); ok {
		var refs []revocation.StatementRef
		for _, e := range v.Evidence {
			refs = append(refs, revocation.StatementRef{Seq: e.Seq, SignedAt: e.RecordedAt})
		}
		recs, err := b.StatementsRevoked(ctx, refs)
		if err != nil {
			return Revoked{}, fmt.Errorf("subject: revocation of %d entries: %w", len(refs), err)
		}
		for i, r := range recs {
			if _, seen := out.Evidence[refs[i].Seq]; !seen && r != nil {
				out.Evidence[refs[i].Seq] = r
			}
		}
		return out, nil
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
