package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store/storetest"
)

func TestAttestService(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good, stranger := signed(t, f)
	c := trustv1.NewAttestServiceClient(f.conn)

	put, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: good, Digest: storetest.Seeded.SHA256.String()})
	if err != nil {
		t.Fatalf("PutAttestation: %v", err)
	}
	a := put.GetAttestation()
	if !put.GetCreated() || a.GetKind() != "dsse" || len(a.GetSigners()) != 1 || !bytes.Equal(a.GetEnvelope(), good) ||
		a.GetEnvelopeDigest() == "" || len(a.GetSubjects()) != 1 || a.GetSubjects()[0].GetDigests()[0] != storetest.Seeded.SHA256.String() {
		t.Fatalf("PutAttestation = %v", put)
	}
	list, err := c.ListAttestations(ctx, &trustv1.ListAttestationsRequest{Digest: storetest.Seeded.SHA256.String(), Signer: a.GetSigners()[0]})
	if err != nil || len(list.GetAttestations()) != 1 || list.GetAttestations()[0].GetSeq() != a.GetSeq() || list.GetAttestations()[0].GetRevoked() {
		t.Fatalf("ListAttestations = %v, %v", list, err)
	}
	get, err := c.GetAttestation(ctx, &trustv1.GetAttestationRequest{Seq: a.GetSeq()})
	if err != nil || !bytes.Equal(get.GetAttestation().GetEnvelope(), good) {
		t.Fatalf("GetAttestation = %v, %v", get, err)
	}

	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		words string
	}{
		{"no data", func() error { _, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{}); return err }, codes.InvalidArgument, "data: is required"},
		{"not JSON", func() error {
			_, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: []byte("hello")})
			return err
		}, codes.InvalidArgument, "not a JSON object"},
		{"unregistered key", func() error {
			_, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: stranger})
			return err
		}, codes.FailedPrecondition, "is not registered"},
		{"bad digest", func() error {
			_, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: good, Digest: "sha256:xyz"})
			return err
		}, codes.InvalidArgument, "digest:"},
		{"bundle without a trusted root", func() error {
			_, err := c.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)})
			return err
		}, codes.FailedPrecondition, "--sigstore-trusted-root"},
		{"page too large", func() error {
			_, err := c.ListAttestations(ctx, &trustv1.ListAttestationsRequest{Digest: storetest.Seeded.SHA256.String(), PageSize: 501})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"bad page token", func() error {
			_, err := c.ListAttestations(ctx, &trustv1.ListAttestationsRequest{Digest: storetest.Seeded.SHA256.String(), PageToken: "nope"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"no such entry", func() error {
			_, err := c.GetAttestation(ctx, &trustv1.GetAttestationRequest{Seq: 999})
			return err
		}, codes.NotFound, "999"},
		{"layout that is not one", func() error {
			_, err := c.VerifyLayout(ctx, &trustv1.VerifyLayoutRequest{Digest: storetest.Seeded.SHA256.String(), Layout: a.GetSeq()})
			return err
		}, codes.FailedPrecondition, "not an in-toto layout"},
		{"layout missing", func() error {
			_, err := c.VerifyLayout(ctx, &trustv1.VerifyLayoutRequest{Digest: storetest.Seeded.SHA256.String()})
			return err
		}, codes.InvalidArgument, "layout: is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if st, _ := status.FromError(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.words) {
				t.Errorf("error = %v; want %s mentioning %q", err, tc.code, tc.words)
			}
		})
	}
}
