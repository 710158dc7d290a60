package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// pgpFixture reads a file of pgp/testdata.
func pgpFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "pgp", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAddPGPKey(t *testing.T) {
	f := newFixture(t)
	keysClient := trustv1.NewKeyServiceClient(f.conn)
	ctx := context.Background()
	cert, err := pgp.ParseCertificate(pgpFixture(t, "ed25519.asc"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := keysClient.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pgpFixture(t, "ed25519.asc"), Label: "gpg"})
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	k := resp.GetKey()
	if k.GetId() != cert.Fingerprint || k.GetType() != pgp.KeyType || k.GetPgp().GetPrimary().GetFingerprint() != cert.Fingerprint ||
		len(k.GetPgp().GetSubkeys()) != len(cert.Subkeys) || k.GetPgp().GetStatus().GetState() != "valid" || len(k.GetPgp().GetUserIds()) == 0 {
		t.Errorf("AddKey = %v", k)
	}
	got, err := keysClient.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: cert.Fingerprint})
	if err != nil || got.GetKey().GetPgp().GetPrimary().GetAlgorithm() != "ed25519" {
		t.Errorf("GetKey = %v, %v", got, err)
	}
	for _, tc := range []struct {
		name, file string
		want       codes.Code
	}{
		{"secret key", "ed25519.sec.asc", codes.InvalidArgument},
		{"SHA-1 self-signatures", "sha1-selfsig.asc", codes.InvalidArgument},
		{"DSA", "dsa.asc", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keysClient.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pgpFixture(t, tc.file)})
			if status.Code(err) != tc.want {
				t.Errorf("AddKey = %v, want %v", err, tc.want)
			}
		})
	}
}
