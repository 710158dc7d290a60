package statement_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/ratelimit"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/tlog"
)

// newLimitedLog is a log whose signers may each sign perKey entries an
// hour and whose statements may name maxSubjects subjects.
func newLimitedLog(t *testing.T, f *fixture, perKey, maxSubjects int) *statement.Log {
	t.Helper()
	q, err := ratelimit.New(ratelimit.Options{Limit: perKey, Window: time.Hour, Flag: "--write-rate-per-key"})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateLogKey("limited-log")
	if err != nil {
		t.Fatal(err)
	}
	lim := envelope.DefaultLimits()
	lim.MaxSubjects = maxSubjects
	l, err := statement.New(f.store, statement.Options{LogKey: skey, LogVerifierKey: vkey, Limits: lim, Quota: q})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// manySubjects names n distinct artifacts.
func manySubjects(n int) []envelope.Subject {
	out := make([]envelope.Subject, n)
	for i := range out {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		out[i] = envelope.Subject{Digests: []digest.Digest{must(digest.New(digest.SHA256, sum[:]))}}
	}
	return out
}

// TestSubjectLimit: a statement naming more subjects than the limit is
// refused before anything is stored, naming the subject field and the
// limit; one at the limit is stored.
func TestSubjectLimit(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			k := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			for _, tc := range []struct {
				limit, subjects int
				want            error
			}{
				{0, envelope.DefaultMaxSubjects + 1, envelope.ErrTooLarge}, // 0: the default, 1,000
				{10, 11, envelope.ErrTooLarge},
				{10, 10, nil},
			} {
				l := newLimitedLog(t, f, 0, tc.limit)
				before, _ := f.store.LogSize(ctx)
				_, _, err := l.Submit(ctx, sign(t, `{}`, manySubjects(tc.subjects), k))
				after, _ := f.store.LogSize(ctx)
				if tc.want == nil {
					if err != nil || after != before+1 {
						t.Errorf("%d subjects under limit %d: %v, log %d -> %d", tc.subjects, tc.limit, err, before, after)
					}
					continue
				}
				limit := tc.limit
				if limit == 0 {
					limit = envelope.DefaultMaxSubjects
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "subject: ") ||
					!strings.Contains(err.Error(), "the limit is "+strconv.Itoa(limit)) {
					t.Errorf("%d subjects under limit %d = %v, want %v naming subject and the limit", tc.subjects, limit, err, tc.want)
				}
				if after != before {
					t.Errorf("%d subjects: log grew %d -> %d", tc.subjects, before, after)
				}
			}
		})
	}
}

// TestWriteQuota: each key signs at most its quota of new entries; a
// stranger cannot spend another key's quota by replaying its envelopes or
// by filing a bad signature under its key id; a co-signed statement is
// charged to every signer, all or none.
func TestWriteQuota(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t), nil)
			ctx := context.Background()
			alice := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			bob := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			stranger := newSigner(t, f.store, envelope.KeyTypeED25519, true)
			l := newLimitedLog(t, f, 3, 0)

			first := sign(t, `{"n":1}`, []envelope.Subject{artifact("a1")}, alice)
			if _, created, err := l.Submit(ctx, first); err != nil || !created {
				t.Fatalf("alice's first statement: %v", err)
			}
			// The stranger replays alice's envelope: the original entry,
			// nothing charged.
			for range 10 {
				if _, created, err := l.Submit(ctx, first); err != nil || created {
					t.Fatalf("replay of alice's envelope = created %v, %v; want the original entry", created, err)
				}
			}
			// The stranger files its own signature under alice's key id.
			var env dsse.Envelope
			if err := json.Unmarshal(sign(t, `{"n":"forged"}`, []envelope.Subject{artifact("x")}, stranger), &env); err != nil {
				t.Fatal(err)
			}
			env.Signatures[0].KeyID = alice.pub.ID
			forged, _ := json.Marshal(env)
			for range 10 {
				if _, _, err := l.Submit(ctx, forged); !errors.Is(err, envelope.ErrBadSignature) {
					t.Fatalf("forged signature under alice's key id = %v, want ErrBadSignature", err)
				}
			}
			// Alice still has two writes left.
			for i := 2; i <= 3; i++ {
				if _, _, err := l.Submit(ctx, sign(t, `{"n":`+strconv.Itoa(i)+`}`, []envelope.Subject{artifact("a")}, alice)); err != nil {
					t.Fatalf("alice's write %d of 3: %v", i, err)
				}
			}
			before, _ := f.store.LogSize(ctx)
			_, _, err := l.Submit(ctx, sign(t, `{"n":4}`, []envelope.Subject{artifact("a")}, alice))
			var le *ratelimit.Error
			if !errors.Is(err, ratelimit.ErrLimited) || !errors.As(err, &le) || le.RetryDelay() <= 0 ||
				!strings.Contains(err.Error(), alice.pub.ID) || !strings.Contains(err.Error(), "--write-rate-per-key") {
				t.Fatalf("alice's 4th write = %v, want ErrLimited naming her key and the flag, with a retry delay", err)
			}
			// Co-signed by alice (spent) and bob: refused, and bob is not
			// charged for it.
			if _, _, err := l.Submit(ctx, sign(t, `{"n":"both"}`, []envelope.Subject{artifact("b")}, bob, alice)); !errors.Is(err, ratelimit.ErrLimited) {
				t.Fatalf("co-signed with a spent key = %v, want ErrLimited", err)
			}
			if after, _ := f.store.LogSize(ctx); after != before {
				t.Errorf("refused writes stored: log %d -> %d", before, after)
			}
			for i := range 3 {
				if _, _, err := l.Submit(ctx, sign(t, `{"n":`+strconv.Itoa(i)+`}`, []envelope.Subject{artifact("b")}, bob)); err != nil {
					t.Fatalf("bob's write %d of 3: %v", i+1, err)
				}
			}
			// The refused statement alice could not sign also spends nothing
			// of the stranger's quota: a stranger's writes are its own.
			for i := range 3 {
				if _, _, err := l.Submit(ctx, sign(t, `{"s":`+strconv.Itoa(i)+`}`, []envelope.Subject{artifact("s")}, stranger)); err != nil {
					t.Fatalf("stranger's write %d of 3: %v", i+1, err)
				}
			}
		})
	}
}
