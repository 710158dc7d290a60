package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/certtest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// certSubject answers GetKey with the subject of the caller's verified
// client certificate as the key id.
type certSubject struct {
	trustv1.UnimplementedKeyServiceServer
}

func (certSubject) GetKey(ctx context.Context, _ *trustv1.GetKeyRequest) (*trustv1.GetKeyResponse, error) {
	p, _ := peer.FromContext(ctx)
	info, _ := p.AuthInfo.(credentials.TLSInfo)
	id := "anonymous"
	if len(info.State.VerifiedChains) > 0 {
		id = info.State.VerifiedChains[0][0].Subject.CommonName
	}
	return &trustv1.GetKeyResponse{Key: &trustv1.Key{Id: id}}, nil
}

func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "test CA")
	caFile := ca.WriteFile(t, dir, "ca")
	certFile, keyFile := ca.Client(t, "ops").WriteFiles(t, dir, "ops")
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS},
		ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12})))
	trustv1.RegisterKeyServiceServer(srv, certSubject{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	tests := []struct {
		name string
		tls  client.TLS
		want string
		err  string
	}{
		{"server verified, no certificate", client.TLS{CAFile: caFile}, "anonymous", ""},
		{"client certificate", client.TLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, "ops", ""},
		{"certificate without key", client.TLS{CAFile: caFile, CertFile: certFile}, "", "give both"},
		{"unreadable certificate", client.TLS{CAFile: caFile, CertFile: certFile + ".missing", KeyFile: keyFile}, "", "client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(lis.Addr().String(), tc.tls)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New = %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: "x"})
			if err != nil || resp.GetKey().GetId() != tc.want {
				t.Errorf("caller = %v, %v; want %s", resp.GetKey().GetId(), status.Convert(err).Message(), tc.want)
			}
		})
	}
}
