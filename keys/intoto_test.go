package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/store"
)

// TestInTotoKeyIDs registers keys made by Python in-toto (testdata/intoto)
// and finds each by its TUF key id (the primary id) and by the key id
// securesystemslib gave it, which in-toto layouts name it by.
func TestInTotoKeyIDs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "intoto", "sslib-keyids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sslibIDs map[string]string
	if err := json.Unmarshal(raw, &sslibIDs); err != nil {
		t.Fatal(err)
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			r := keys.NewRegistry(b.Open(t))
			for _, file := range []string{"ed.pub", "ec.pub", "rs.pub"} {
				t.Run(file, func(t *testing.T) {
					data, err := os.ReadFile(filepath.Join("testdata", "intoto", file))
					if err != nil {
						t.Fatal(err)
					}
					pub, err := envelope.ParsePublicKey(data)
					if err != nil {
						t.Fatal(err)
					}
					k, created, err := r.Add(ctx, data, "")
					if err != nil || !created || k.ID != pub.ID {
						t.Fatalf("Add = %+v, %v, %v; want the TUF id %s", k.Key, created, err, pub.ID)
					}
					want := sslibIDs[file]
					if want == pub.ID || !slices.Contains(k.Aliases, want) {
						t.Fatalf("aliases %q do not hold the securesystemslib id %s (TUF id %s)", k.Aliases, want, pub.ID)
					}
					for _, id := range append([]string{pub.ID}, k.Aliases...) {
						got, err := r.Get(ctx, id)
						if err != nil || got.ID != pub.ID {
							t.Errorf("Get(%s) = %+v, %v; want the key under its TUF id %s", id, got.Key, err, pub.ID)
						}
					}
					// The PEM alone (no keyid_hash_algorithms) finds the same key by
					// the id in-toto-golang computes, and adds nothing new.
					again, created, err := r.Add(ctx, pub.Encode(), "")
					if err != nil || created || again.ID != pub.ID {
						t.Fatalf("Add(PEM) = %+v, %v, %v", again.Key, created, err)
					}
				})
			}
			if _, err := r.Get(ctx, "6a7f8caa3ff9180d83802d66efd50aa5af2a5b22fd2c83c9aaab541a6592908c"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(unknown id) = %v, want ErrNotFound", err)
			}
		})
	}
}
