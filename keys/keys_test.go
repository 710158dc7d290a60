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

	k, created, err := r.Add(ctx, pub.Encode(), "Release-2026")
	if err != nil || !created || k.ID != pub.ID || k.Type != envelope.KeyTypeECDSAP384 || k.Label != "release-2026" {
		t.Fatalf("Add = %+v created=%v err=%v", k, created, err)
	}
	again, created, err := r.Add(ctx, pub.Encode(), "release-2026")
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
		{"long label", string(pub.Encode()), strings.Repeat("a", keys.MaxLabelLength+1), keys.ErrInvalidLabel},
		{"non-ASCII", string(pub.Encode()), "é", keys.ErrInvalidLabel},
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

// TestLabelTaken is the stranger of issue 13 who labels their own key
// alice-release: refused whatever the case, naming the label and its
// holder, and nothing stored.
func TestLabelTaken(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := keys.NewRegistry(s)
	ctx := context.Background()
	newKey := func() []byte {
		_, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
		if err != nil {
			t.Fatal(err)
		}
		return pub.Encode()
	}
	alice, _, err := r.Add(ctx, newKey(), "alice-release")
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"alice-release", "Alice-Release", "ALICE-RELEASE"} {
		t.Run(label, func(t *testing.T) {
			stranger := newKey()
			_, _, err := r.Add(ctx, stranger, label)
			if !errors.Is(err, keys.ErrLabelTaken) || !strings.Contains(err.Error(), `"alice-release"`) || !strings.Contains(err.Error(), alice.ID) {
				t.Fatalf("Add(%q) = %v, want ErrLabelTaken naming the label and alice's key", label, err)
			}
			if list, _ := r.List(ctx, "", 10); len(list) != 1 {
				t.Errorf("the refused key was stored: %d keys", len(list))
			}
		})
	}
	if _, _, err := r.Add(ctx, newKey(), ""); err != nil {
		t.Errorf("a second key without a label: %v", err)
	}
}

func TestNormalizeLabel(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"alice-release", "alice-release", true},
		{"Alice_Release.2026", "alice_release.2026", true},
		{"0day", "0day", true},
		{strings.Repeat("x", keys.MaxLabelLength), strings.Repeat("x", keys.MaxLabelLength), true},
		{strings.Repeat("x", keys.MaxLabelLength+1), "", false},
		{"-alice", "", false},
		{".alice", "", false},
		{"alice release", "", false},
		{"alice/release", "", false},
		{"alice\n", "", false},
		{"аlice", "", false}, // Cyrillic а
		{"alice\x00", "", false},
		{"\xff", "", false},
	}
	for _, tc := range tests {
		got, err := keys.NormalizeLabel(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("NormalizeLabel(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, keys.ErrInvalidLabel) {
			t.Errorf("NormalizeLabel(%q) = %q, %v; want ErrInvalidLabel", tc.in, got, err)
		}
	}
}

func FuzzNormalizeLabel(f *testing.F) {
	for _, s := range []string{"", "alice-release", "Alice", "-x", "é", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := keys.NormalizeLabel(in)
		if err != nil {
			return
		}
		if len(got) > keys.MaxLabelLength || got != strings.ToLower(in) {
			t.Fatalf("NormalizeLabel(%q) = %q", in, got)
		}
		for _, c := range []byte(got) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("NormalizeLabel(%q) = %q holds %q", in, got, c)
			}
		}
		if again, err := keys.NormalizeLabel(got); err != nil || again != got {
			t.Fatalf("NormalizeLabel is not idempotent on %q: %q, %v", got, again, err)
		}
	})
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
			k, created, err := r.Add(ctx, read(name), "gpg-"+name)
			if err != nil || !created || k.ID != cert.Fingerprint || k.Type != pgp.KeyType || k.PGP == nil {
				t.Fatalf("Add = %+v created=%v err=%v", k, created, err)
			}
			if _, created, err := r.Add(ctx, read(name), "gpg-"+name); err != nil || created {
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
