package keys_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
)

func TestRegistry(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := keys.NewRegistry(s)
	ctx := context.Background()
	_, pub, err := envelope.GenerateKey(envelope.KeyTypeECDSAP384)
	if err != nil {
		t.Fatal(err)
	}

	k, created, err := r.Add(ctx, pub.Encode(), "release 2026")
	if err != nil || !created || k.ID != pub.ID || k.Type != envelope.KeyTypeECDSAP384 || k.Label != "release 2026" {
		t.Fatalf("Add = %+v created=%v err=%v", k, created, err)
	}
	again, created, err := r.Add(ctx, pub.Encode(), "release 2026")
	if err != nil || created || !again.CreatedAt.Equal(k.CreatedAt) {
		t.Errorf("Add again = %+v created=%v err=%v; want the stored key, not created", again, created, err)
	}
	got, err := r.Get(ctx, pub.ID)
	if err != nil || got.Public.ID != pub.ID || got.Public.Scheme != pub.Scheme {
		t.Errorf("Get = %+v, %v", got, err)
	}
	list, err := r.List(ctx, "", 10)
	if err != nil || len(list) != 1 {
		t.Errorf("List = %+v, %v", list, err)
	}
	if _, err := r.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		name, key, label string
		want             error
	}{
		{"garbage key", "not a key", "", envelope.ErrInvalidKey},
		{"long label", string(pub.Encode()), strings.Repeat("é", keys.MaxLabelLength+1), keys.ErrInvalidLabel},
		{"control character", string(pub.Encode()), "a\nb", keys.ErrInvalidLabel},
		{"invalid UTF-8", string(pub.Encode()), "\xff", keys.ErrInvalidLabel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := r.Add(ctx, []byte(tc.key), tc.label); !errors.Is(err, tc.want) {
				t.Errorf("Add = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRegistryOpenPGP(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := keys.NewRegistry(s)
	ctx := context.Background()
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("..", "pgp", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, name := range []string{"ed25519.asc", "rsa3072.gpg"} { // armored and binary
		t.Run(name, func(t *testing.T) {
			cert, err := pgp.ParseCertificate(read(name))
			if err != nil {
				t.Fatal(err)
			}
			k, created, err := r.Add(ctx, read(name), "gpg key")
			if err != nil || !created || k.ID != cert.Fingerprint || k.Type != pgp.KeyType || k.PGP == nil {
				t.Fatalf("Add = %+v created=%v err=%v", k, created, err)
			}
			if _, created, err := r.Add(ctx, read(name), "gpg key"); err != nil || created {
				t.Errorf("Add again: created=%v err=%v", created, err)
			}
			got, err := r.Get(ctx, cert.Fingerprint)
			if err != nil || got.PGP == nil || got.PGP.Fingerprint != cert.Fingerprint || string(got.PublicKey) != string(cert.Encode()) {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			for _, sk := range cert.Subkeys {
				ix, err := s.PGPKey(ctx, sk.Fingerprint)
				if err != nil || ix.Primary != cert.Fingerprint {
					t.Errorf("subkey %s indexed as %+v, %v", sk.Fingerprint, ix, err)
				}
			}
			if ix, err := s.PGPKey(ctx, cert.Fingerprint); err != nil || ix.Primary != cert.Fingerprint {
				t.Errorf("primary indexed as %+v, %v", ix, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"secret key", read("ed25519.sec.asc"), pgp.ErrSecretKey},
		{"SHA-1 self-signature", read("sha1-selfsig.asc"), pgp.ErrUntrusted},
		{"garbage armor", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n-----END PGP PUBLIC KEY BLOCK-----\n"), pgp.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := r.Add(ctx, tc.data, ""); !errors.Is(err, tc.want) {
				t.Errorf("Add = %v, want %v", err, tc.want)
			}
		})
	}
	if list, err := r.List(ctx, "", 10); err != nil || len(list) != 2 {
		t.Errorf("List = %d keys, %v; want 2", len(list), err)
	}
}
