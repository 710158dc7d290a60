package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// Seeded names the records Seed writes.
var Seeded = struct {
	SHA256, SHA512 digest.Digest
	Signer         string
}{sha256Of("seeded artifact"), sha512Of("seeded artifact"), "seed-publisher"}

// Seed writes a known statement, whose one subject lists two digests and so
// makes an alias claim, for tests that
// check data survives a restart, a reopen or a migration.
func Seed(t testing.TB, s store.Store) {
	t.Helper()
	err := s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		st := statementOf("seeded", artifact("seeded.tar", Seeded.SHA256, Seeded.SHA512))
		st.SignerKeyIDs = []string{Seeded.Signer}
		if _, _, err := w.AppendStatement(ctx, st); err != nil {
			return err
		}
		// The leaf is the whole tree of size 1, so trustd can append to
		// the seeded log (it does at first start: trustd/keys).
		return w.PutLogNodes(ctx, []store.LogNode{{ID: compact.NewNodeID(0, 0), Hash: tlog.LeafHash(st.Envelope)}})
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// CheckSeeded fails t unless the records Seed writes are in s.
func CheckSeeded(t testing.TB, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SubjectByDigest(ctx, Seeded.SHA256); err != nil {
		t.Fatalf("seeded subject: %v", err)
	}
	claims, err := s.AliasClaims(ctx, store.ClaimQuery{Digests: []digest.Digest{Seeded.SHA512}})
	if err != nil || len(claims) != 1 || fmt.Sprint(claims[0].SignerKeyIDs) != "["+Seeded.Signer+"]" {
		t.Fatalf("seeded claim: %+v, %v", claims, err)
	}
	st, err := s.Statement(ctx, claims[0].StatementSeq)
	if err != nil || len(st.Subjects) != 1 || len(st.Subjects[0].Digests) != 2 {
		t.Fatalf("seeded statement: %+v, %v", st, err)
	}
}
