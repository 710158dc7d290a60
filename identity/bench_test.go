package identity_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// BenchmarkVerified measures one Verified call for a key bound both ways
// (the cost --verified-only adds per counted voter), and a reputation
// query with --verified-only over voters (half of them verified).
//
//	scripts/with-postgres.sh go test -run '^$' -bench Verified -benchtime 2s ./identity/
func BenchmarkVerified(b *testing.B) {
	const voters = 100
	for _, be := range teststore.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			e := newEnv(b, be.Open(b))
			sum := sha256.Sum256([]byte("bench"))
			d, err := digest.New(digest.SHA256, sum[:])
			if err != nil {
				b.Fatal(err)
			}
			subj := envelope.Subject{Name: "bench", Digests: []digest.Digest{d}}
			var bound string
			for i := range voters {
				v := e.voter(b)
				if i%2 == 0 {
					subject := fmt.Sprintf("voter-%d@example.com", i)
					e.bindKey(b, v, subject)
					e.bindIdentity(b, v.id, subject)
					bound = v.id
				}
				payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: feedback.AxisQuality, Value: feedback.Like, Timestamp: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := e.log.Submit(context.Background(), e.sign(b, payload, v)); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.Run("key", func(b *testing.B) {
				for b.Loop() {
					if ok, err := e.idv.Verified(ctx, bound); err != nil || !ok {
						b.Fatalf("Verified = %v, %v", ok, err)
					}
				}
			})
			b.Run(fmt.Sprintf("reputation-%d-voters", voters), func(b *testing.B) {
				for b.Loop() {
					rep, err := e.fb.Reputation(ctx, feedback.Query{Digest: d, VerifiedOnly: true})
					if err != nil || rep.Voters != voters/2 {
						b.Fatalf("Reputation = %d voters, %v", rep.Voters, err)
					}
				}
			})
		})
	}
}
