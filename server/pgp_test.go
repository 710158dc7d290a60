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

func TestPGPServiceErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pgpClient := trustv1.NewPGPServiceClient(f.conn)
	keysClient := trustv1.NewKeyServiceClient(f.conn)
	sums, sig := pgpFixture(t, "SHA256SUMS"), pgpFixture(t, "SHA256SUMS.ed25519.gpg")
	if _, err := pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Name: "SHA256SUMS", Manifest: sums, Signature: sig}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("publish by an unregistered key = %v, want FailedPrecondition", err)
	}
	if _, err := keysClient.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pgpFixture(t, "ed25519.asc")}); err != nil {
		t.Fatal(err)
	}
	resp, err := pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Name: "SHA256SUMS", Manifest: append(sums, "junk line\n"...), Signature: sig})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("tampered manifest = %v, %v; want PermissionDenied", resp, err)
	}
	resp, err = pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Name: "SHA256SUMS", Manifest: sums, Signature: sig})
	if err != nil || !resp.GetCreated() || resp.GetEntryCount() != 3 || resp.GetSigner() == "" {
		t.Fatalf("PublishManifest = %v, %v", resp, err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"manifest without name", func() error {
			_, err := pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Manifest: sums, Signature: sig})
			return err
		}, codes.InvalidArgument},
		{"garbage signature", func() error {
			_, err := pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Name: "SHA256SUMS", Manifest: sums, Signature: []byte("x")})
			return err
		}, codes.InvalidArgument},
		{"empty revocation", func() error {
			_, err := pgpClient.Revoke(ctx, &trustv1.RevokeRequest{})
			return err
		}, codes.InvalidArgument},
		{"a signature given as revocation", func() error {
			_, err := pgpClient.Revoke(ctx, &trustv1.RevokeRequest{Revocation: pgpFixture(t, "SHA256SUMS.rsa3072.gpg")})
			return err
		}, codes.InvalidArgument},
		{"decide without roots", func() error {
			_, err := pgpClient.Decide(ctx, &trustv1.DecideRequest{Name: "x", Signer: resp.GetSigner()})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.want {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	d, err := pgpClient.Decide(ctx, &trustv1.DecideRequest{Name: "x", Signer: resp.GetSigningKey(), Roots: []string{resp.GetSigner()}})
	if err != nil || !d.GetAllowed() || d.GetChain().GetRoot() != resp.GetSigner() {
		t.Errorf("Decide by the root = %v, %v", d, err)
	}
	d, err = pgpClient.Decide(ctx, &trustv1.DecideRequest{Name: "x", Signer: resp.GetSigner(), Roots: []string{"0000000000000000000000000000000000000000"}})
	if err != nil || d.GetAllowed() || d.GetRefusal().GetCode() != string(pgp.CodeNoPath) {
		t.Errorf("Decide with another root = %v, %v; want refusal no-path", d, err)
	}
	r, err := pgpClient.Revoke(ctx, &trustv1.RevokeRequest{Revocation: pgpFixture(t, "rev-compromised.asc")})
	if err != nil || !r.GetHard() || r.GetPrimary() != resp.GetSigner() {
		t.Fatalf("Revoke = %v, %v", r, err)
	}
	k, err := keysClient.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: resp.GetSigner()})
	if err != nil || k.GetKey().GetPgp().GetStatus().GetState() != "revoked" || !k.GetKey().GetPgp().GetStatus().GetHard() {
		t.Errorf("GetKey after revoke = %v, %v", k, err)
	}
	if _, err := pgpClient.PublishManifest(ctx, &trustv1.PublishManifestRequest{Name: "B2SUMS", Manifest: sums, Signature: sig}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("publish by a revoked key = %v, want PermissionDenied", err)
	}
}
