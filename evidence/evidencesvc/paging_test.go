package evidencesvc_test

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// TestEntriesPaging: KindEntries pages by whole log entries (an entry
// naming both digests of the bytes is one entry, with both digests, never
// split across pages), newest first, EntriesLimit per page and older than
// EntriesBefore; the pages together hold every entry once, and Truncated
// says when more follow. A limit beyond MaxEntries is refused.
func TestEntriesPaging(t *testing.T) {
	const entries, perPage = 7, 3
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, be.Open(t))
			signer, _ := e.key(t)
			d256 := sha256Digest([]byte("paged"))
			sum := sha512.Sum512([]byte("paged"))
			d512, _ := digest.New(digest.SHA512, sum[:])
			var want []string
			for i := range entries {
				stmt, err := envelope.NewStatement(predicateType, json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), envelope.Subject{Name: "paged", Digests: []digest.Digest{d256, d512}})
				if err != nil {
					t.Fatal(err)
				}
				st := e.submit(t, stmt, signer)
				want = append([]string{fmt.Sprintf("%d/2", st.Seq)}, want...)
			}
			var got []string
			var before uint64
			for page := 1; ; page++ {
				b, err := e.builder.Build(ctx, evidence.Request{Digests: []digest.Digest{d256, d512}, Kinds: []evidence.Kind{evidence.KindEntries},
					EntriesBefore: before, EntriesLimit: perPage}, false)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for i := len(b.Entries) - 1; i >= 0; i-- {
					en := b.Entries[i]
					got = append(got, fmt.Sprintf("%d/%d", en.Seq, len(en.Digests)))
					before = en.Seq
					n++
				}
				if n > perPage {
					t.Errorf("page %d holds %d entries, want at most %d", page, n, perPage)
				}
				if !b.Truncated || page > entries {
					break
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("pages hold %v, want %v", got, want)
			}
			_, err := e.builder.Build(ctx, evidence.Request{Digests: []digest.Digest{d256}, EntriesLimit: evidence.MaxEntries + 1}, false)
			if !errors.Is(err, evidence.ErrInvalidRequest) {
				t.Errorf("EntriesLimit %d: %v, want ErrInvalidRequest", evidence.MaxEntries+1, err)
			}
		})
	}
}
