// Package client is the Go client library for trustd: a connection to its
// gRPC API, one resolver for artifact references (files, stdin, https URLs,
// OCI registries) that hashes the bytes once, tokens stored beside the
// bytes (sidecar files and OCI referrers), and Verify, which evaluates a
// deploy policy online against trustd or offline from a token.
package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// TLS chooses how the connection is secured. The zero value is plaintext,
// which is only sensible on loopback. Setting any field turns TLS on.
type TLS struct {
	// Enabled turns TLS on, verifying the server against the system roots
	// or CAFile.
	Enabled bool
	// CAFile is a PEM bundle of roots to trust instead of the system's.
	CAFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// CertFile and KeyFile are a PEM client certificate and its key,
	// presented to servers that verify client certificates (mTLS), which
	// give the caller a role: authenticated, or operator when the server
	// names the certificate. Give both or neither.
	CertFile, KeyFile string
}

// Client holds a connection to trustd and its service stubs.
type Client struct {
	conn       *grpc.ClientConn
	pos        *positions
	Subjects   trustv1.SubjectServiceClient
	Keys       trustv1.KeyServiceClient
	Statements trustv1.StatementServiceClient
	PGP        trustv1.PGPServiceClient
	Log        trustv1.LogServiceClient
	TUF        trustv1.TUFServiceClient
	Feedback   trustv1.FeedbackServiceClient
	Tokens     trustv1.TokenServiceClient
	Attest     trustv1.AttestServiceClient
	Evidence   trustv1.EvidenceServiceClient
	// Server tells which trustd this is (GetServerInfo).
	Server trustv1.ServerServiceClient
}

// New prepares a client for the trustd server at addr (host:port). It does
// not dial until the first call. Its calls read their own writes: each
// sends the latest commit position the client saw (see MinLSN).
func New(addr string, t TLS) (*Client, error) {
	if addr == "" {
		return nil, errors.New("client: server address is empty")
	}
	creds, err := t.credentials()
	if err != nil {
		return nil, err
	}
	pos := &positions{}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(pos.unary), grpc.WithChainStreamInterceptor(pos.stream))
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", addr, err)
	}
	return &Client{
		conn:       conn,
		pos:        pos,
		Subjects:   trustv1.NewSubjectServiceClient(conn),
		Keys:       trustv1.NewKeyServiceClient(conn),
		Statements: trustv1.NewStatementServiceClient(conn),
		PGP:        trustv1.NewPGPServiceClient(conn),
		Log:        trustv1.NewLogServiceClient(conn),
		TUF:        trustv1.NewTUFServiceClient(conn),
		Feedback:   trustv1.NewFeedbackServiceClient(conn),
		Tokens:     trustv1.NewTokenServiceClient(conn),
		Attest:     trustv1.NewAttestServiceClient(conn),
		Evidence:   trustv1.NewEvidenceServiceClient(conn),
		Server:     trustv1.NewServerServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (t TLS) credentials() (credentials.TransportCredentials, error) {
	if !t.Enabled && t.CAFile == "" && t.ServerName == "" && t.CertFile == "" && t.KeyFile == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("client: TLS client certificate: give both the certificate and its key, or neither")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: TLS CA file %s: no PEM certificates in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	return credentials.NewTLS(cfg), nil
}
