package main

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/certtest"
	"github.com/trustd-dev/trustd/server"
)

// TestTUFCreationFlags: --tuf-repo-creation auto is open only when every
// listener is on loopback; operator keys and owners come from flags and the
// environment; bad values are refused naming the flag.
func TestTUFCreationFlags(t *testing.T) {
	// Plaintext and open key registration beyond loopback are asked for
	// here so the cases judge only the flags under test (see TestConfigAuth).
	t.Setenv("TRUSTD_INSECURE_PLAINTEXT", "true")
	t.Setenv("TRUSTD_KEY_REGISTRATION", "open")
	id1, id2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		closed    bool
		operators int
		owners    []string // patterns
		problem   string   // part of the error, if refused
	}{
		{"default on loopback is open", nil, nil, false, 0, nil, ""},
		{"http disabled, grpc on loopback", []string{"--http-addr", ""}, nil, false, 0, nil, ""},
		{"localhost is loopback", []string{"--grpc-addr", "localhost:7400"}, nil, false, 0, nil, ""},
		{"grpc beyond loopback", []string{"--grpc-addr", "0.0.0.0:7400"}, nil, true, 0, nil, ""},
		{"http beyond loopback", []string{"--http-addr", "192.0.2.1:7401"}, nil, true, 0, nil, ""},
		{"empty host is every interface", []string{"--grpc-addr", ":7400"}, nil, true, 0, nil, ""},
		{"open beyond loopback when asked", []string{"--grpc-addr", "0.0.0.0:7400", "--tuf-repo-creation", "open"}, nil, false, 0, nil, ""},
		{"owners on loopback when asked", []string{"--tuf-repo-creation", "owners"}, nil, true, 0, nil, ""},
		{"operators and owners", []string{"--grpc-addr", "0.0.0.0:7400", "--tuf-operator-key", id1 + "," + strings.ToUpper(id2),
			"--tuf-repo-owner", "acme/*=" + id1, "--tuf-repo-owner", "beta/app=" + id1 + "," + id2}, nil, true, 2, []string{"acme/*", "beta/app"}, ""},
		{"owners from the environment", nil, map[string]string{"TRUSTD_TUF_REPO_OWNER": "acme/*=" + id1 + ";beta/*=" + id2, "TRUSTD_TUF_OPERATOR_KEY": id2},
			false, 1, []string{"acme/*", "beta/*"}, ""},
		{"bad mode", []string{"--tuf-repo-creation", "closed"}, nil, false, 0, nil, "--tuf-repo-creation"},
		{"bad operator key", []string{"--tuf-operator-key", "alice"}, nil, false, 0, nil, "--tuf-operator-key"},
		{"bad owner", []string{"--tuf-repo-owner", "acme/*"}, nil, false, 0, nil, "--tuf-repo-owner"},
		{"owner of trustd/", []string{"--tuf-repo-owner", "trustd/*=" + id1}, nil, false, 0, nil, "reserved"},
		{"owner twice", []string{"--tuf-repo-owner", "acme/*=" + id1, "--tuf-repo-owner", "acme/*=" + id2}, nil, false, 0, nil, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var c config
			fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
			c.storeFlags(fs)
			c.serveFlags(fs)
			if err := fs.Parse(append([]string{"--data-dir", t.TempDir()}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			err := c.complete(fs)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("complete = %v, want an error naming %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := c.tufCreation
			var patterns []string
			for _, o := range p.Owners {
				patterns = append(patterns, o.Pattern)
			}
			if p.Closed != tc.closed || len(p.Operators) != tc.operators || strings.Join(patterns, " ") != strings.Join(tc.owners, " ") {
				t.Fatalf("policy = %+v, want closed %v, %d operators, owners %v", p, tc.closed, tc.operators, tc.owners)
			}
		})
	}
}

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

func TestConfigDBRead(t *testing.T) {
	const pg = "postgres://trustd@db/trustd"
	tests := []struct {
		name string
		args []string
		env  string // TRUSTD_DB_READ
		// err is a substring of the error; empty for none.
		err   string
		reads int
	}{
		{"none", nil, "", "", 0},
		{"two standbys", []string{"--db", pg, "--db-read", "postgres://ro@s1/trustd", "--db-read", "postgresql://ro@s2/trustd?sslmode=require"}, "", "", 2},
		{"standbys from the environment", []string{"--db", pg}, "postgres://ro@s1/trustd;postgres://ro@h1,h2/trustd", "", 2},
		{"standby without postgres primary", []string{"--db-read", "postgres://ro@s1/trustd"}, "", "--db-read: read standbys need a PostgreSQL --db", 0},
		{"standby not postgres", []string{"--db", pg, "--db-read", "sqlite:/tmp/x.db"}, "", "--db-read 1: not a postgres:// or postgresql:// URL", 0},
		{"negative wait", []string{"--db", pg, "--db-read-wait", "-1s"}, "", "--db-read-wait: -1s is not between 0 and 1m", 0},
		{"too long a wait", []string{"--db", pg, "--db-read-wait", "2m"}, "", "--db-read-wait: 2m0s is not between 0 and 1m", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("TRUSTD_DB_READ", tc.env)
			}
			c, err := parseConfig(t, tc.args...)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("complete: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("complete = %v, want an error containing %q", err, tc.err)
			case tc.err == "" && len(c.DBRead) != tc.reads:
				t.Errorf("--db-read = %q, want %d standbys", c.DBRead, tc.reads)
			}
		})
	}
	c, err := parseConfig(t)
	if err != nil || c.DBReadWait != 200*time.Millisecond {
		t.Errorf("default --db-read-wait = %v (%v), want 200ms", c.DBReadWait, err)
	}
}
