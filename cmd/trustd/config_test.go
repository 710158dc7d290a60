package main

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/certtest"
	"github.com/trustd-dev/trustd/server"
)

func parseConfig(t *testing.T, args ...string) (*config, error) {
	t.Helper()
	var c config
	fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
	c.storeFlags(fs)
	c.serveFlags(fs)
	if err := fs.Parse(append([]string{"--data-dir", t.TempDir()}, args...)); err != nil {
		t.Fatal(err)
	}
	return &c, c.complete(fs)
}

func TestConfigAuth(t *testing.T) {
	tlsArgs := []string{"--tls-cert", "server.crt", "--tls-key", "server.key"}
	mtls := append([]string{"--tls-client-ca", "clients.crt"}, tlsArgs...)
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		args []string
		// err is a substring of the error; empty for none.
		err string
		reg server.KeyRegistration
	}{
		{"loopback defaults", nil, "", server.KeyRegistrationOpen},
		{"plaintext beyond loopback", []string{"--grpc-addr", "0.0.0.0:7400", "--key-registration", "open"}, "--grpc-addr: 0.0.0.0:7400 is beyond loopback and no --tls-cert is given: serve TLS (--tls-cert, --tls-key), or pass --insecure-plaintext", ""},
		{"plaintext HTTP beyond loopback", []string{"--http-addr", "[::]:7401"}, "--http-addr: [::]:7401 is beyond loopback", ""},
		{"plaintext beyond loopback asked for", []string{"--grpc-addr", "0.0.0.0:7400", "--http-addr", ":7401", "--insecure-plaintext", "--key-registration", "open"}, "", server.KeyRegistrationOpen},
		{"TLS beyond loopback without operators", append([]string{"--grpc-addr", "0.0.0.0:7400"}, tlsArgs...), "--key-registration defaults to operator when --grpc-addr is beyond loopback, but no operator is configured", ""},
		{"TLS beyond loopback, open registration", append([]string{"--grpc-addr", "0.0.0.0:7400", "--key-registration", "open"}, tlsArgs...), "", server.KeyRegistrationOpen},
		{"mTLS beyond loopback with an operator", append([]string{"--grpc-addr", "0.0.0.0:7400", "--operator-cert-san", "ops@example.org"}, mtls...), "", server.KeyRegistrationOperator},
		{"operator by fingerprint", append([]string{"--operator-cert-fingerprint", fp, "--key-registration", "operator"}, mtls...), "", server.KeyRegistrationOperator},
		{"bad fingerprint", append([]string{"--operator-cert-fingerprint", "abc"}, mtls...), "--operator-cert-fingerprint: \"abc\" is not a SHA-256 fingerprint", ""},
		{"operators without client CA", append([]string{"--operator-cert-san", "ops"}, tlsArgs...), "--operator-cert-san, --operator-cert-fingerprint: operator certificates must be verified: give --tls-client-ca", ""},
		{"client CA without TLS", []string{"--tls-client-ca", "clients.crt"}, "--tls-client-ca: client certificates need TLS", ""},
		{"restricted registration without operators", []string{"--key-registration", "operator"}, "--key-registration is operator, but no operator is configured", ""},
		{"unknown registration", []string{"--key-registration", "closed"}, "--key-registration: \"closed\" is not open or operator", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(t, tc.args...)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("complete: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("complete = %v, want an error containing %q", err, tc.err)
			case tc.err == "" && c.keyRegistration() != tc.reg:
				t.Errorf("key registration = %q, want %q", c.keyRegistration(), tc.reg)
			}
		})
	}
}

func TestConfigAuthEnv(t *testing.T) {
	t.Setenv("TRUSTD_INSECURE_PLAINTEXT", "true")
	t.Setenv("TRUSTD_KEY_REGISTRATION", "open")
	if _, err := parseConfig(t, "--grpc-addr", "0.0.0.0:7400"); err != nil {
		t.Errorf("TRUSTD_INSECURE_PLAINTEXT: %v", err)
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "test CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	caFile := ca.WriteFile(t, dir, "clients")
	c, err := parseConfig(t, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", caFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.tlsConfig()
	if err != nil || cfg.ClientCAs == nil || cfg.ClientAuth != tls.VerifyClientCertIfGiven || len(cfg.Certificates) != 1 {
		t.Fatalf("tlsConfig = %+v, %v; want the certificate and client CAs verified when given", cfg, err)
	}
	c.TLSClientCA = certFile + ".missing"
	if _, err := c.tlsConfig(); err == nil || !strings.Contains(err.Error(), "--tls-client-ca") {
		t.Errorf("missing client CA file: %v, want an error naming --tls-client-ca", err)
	}
	c.TLSClientCA = keyFile
	if _, err := c.tlsConfig(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("client CA file without certificates: %v", err)
	}
}
