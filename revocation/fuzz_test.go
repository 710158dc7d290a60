package revocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
)

// FuzzParsePredicate: any input is rejected with ErrInvalid or parses into
// a predicate that validates and re-encodes to one that parses the same.
func FuzzParsePredicate(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "predicate-*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"action":"revoke","target":{"kind":"token","id":"a b"},"reason":"other","effective":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := revocation.ParsePredicate(data)
		if err != nil {
			if !errors.Is(err, revocation.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed predicate does not validate: %v", err)
		}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := revocation.ParsePredicate(raw)
		if err != nil || q.Target != p.Target || q.Reason != p.Reason || q.Action != p.Action || !q.Effective.Equal(p.Effective) {
			t.Fatalf("round trip: %+v, %v; want %+v", q, err, p)
		}
		stmt, err := revocation.NewStatement(p)
		if err != nil {
			t.Fatalf("NewStatement of a valid predicate: %v", err)
		}
		st, err := envelope.ParseStatement(envelope.PayloadTypeInToto, stmt, envelope.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := revocation.Parse(st); err != nil {
			t.Fatalf("Parse of NewStatement: %v", err)
		}
	})
}

// FuzzVerifyList: a list body or envelope of any shape is refused with
// ErrBadList or ErrUntrustedList, or verifies into entries that decode.
func FuzzVerifyList(f *testing.F) {
	signer, pub, err := revocation.LoadListKey(filepath.Join(f.TempDir(), "list.key"))
	if err != nil {
		f.Fatal(err)
	}
	good, err := revocation.Sign(context.Background(), signer, revocation.ListInfo{Number: 3, Issued: time.Now(), Expires: time.Now().Add(time.Hour)}, []revocation.Entry{
		{Key: revocation.TargetKey(revocation.KindToken, "t"), Kind: revocation.KindToken, Reason: revocation.ReasonRetired, Action: revocation.ActionRevoke, Revoker: "k", Seq: 3},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Envelope, good.Body)
	f.Add(good.Envelope, []byte{})
	f.Add([]byte(`{}`), good.Body)
	f.Fuzz(func(t *testing.T, env, body []byte) {
		v, err := revocation.Verify(context.Background(), revocation.List{Envelope: env, Body: body}, pub)
		if err != nil {
			if !errors.Is(err, revocation.ErrBadList) && !errors.Is(err, revocation.ErrUntrustedList) {
				t.Fatalf("error %v matches neither ErrBadList nor ErrUntrustedList", err)
			}
			return
		}
		for i := range v.Len() {
			if _, err := v.Entry(i); err != nil {
				t.Fatalf("entry %d of a verified list: %v", i, err)
			}
		}
	})
}
