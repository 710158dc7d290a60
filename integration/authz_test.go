package integration_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/internal/certtest"
)

// testPKI is a CA with a server certificate, an operator's client
// certificate (SAN ops@example.org) and a plain client certificate, as
// files for trustd and trustctl.
type testPKI struct {
	ca                  *certtest.CA
	caFile              string
	serverCrt, svrKey   string
	operatorCrt, opKey  string
	clientCrt, cliKey   string
	strangerCrt, strKey string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{ca: certtest.NewCA(t, "trustd integration CA")}
	p.caFile = p.ca.WriteFile(t, dir, "ca")
	p.serverCrt, p.svrKey = p.ca.Server(t).WriteFiles(t, dir, "server")
	p.operatorCrt, p.opKey = p.ca.Client(t, "ops", "ops@example.org").WriteFiles(t, dir, "operator")
	p.clientCrt, p.cliKey = p.ca.Client(t, "deploy-bot", "deploy.example").WriteFiles(t, dir, "client")
	p.strangerCrt, p.strKey = certtest.NewCA(t, "stranger CA").Client(t, "ops", "ops@example.org").WriteFiles(t, dir, "stranger")
	return p
}

// serverArgs serve TLS, verify client certificates against the CA and name
// the operator's certificate.
func (p *testPKI) serverArgs() []string {
	return []string{"--tls-cert", p.serverCrt, "--tls-key", p.svrKey, "--tls-client-ca", p.caFile, "--operator-cert-san", "ops@example.org"}
}

// useOperator makes trustctl(t, d.grpcAddr, …) call d as the operator.
func (p *testPKI) useOperator(t *testing.T, d *daemon) {
	clientFlags.Store(d.grpcAddr, []string{"--tls-ca", p.caFile, "--tls-cert", p.operatorCrt, "--tls-key", p.opKey})
	t.Cleanup(func() { clientFlags.Delete(d.grpcAddr) })
}

// TestMTLS drives a trustd serving mTLS with key registration restricted to
// operators through the real trustctl, as every kind of caller.
func TestMTLS(t *testing.T) {
	p := newTestPKI(t)
	d := startTrustd(t, append(p.serverArgs(), "--data-dir", t.TempDir(), "--key-registration", "operator")...)
	for _, want := range []string{"tls=true", "client_certs=true", "operators=1", "key_registration=operator"} {
		if !strings.Contains(d.logs(), want) {
			t.Errorf("start log lacks %s:\n%s", want, d.logs())
		}
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "release.pem")
	if r := run(t, nil, "trustctl", "key", "generate", "--out", keyFile); r.code != 0 {
		t.Fatalf("key generate: %s", r.stderr)
	}
	unknown := "sha256:" + strings.Repeat("0", 64)
	export := filepath.Join(dir, "feedback.json")
	anonymous := []string{"--tls-ca", p.caFile}
	client := []string{"--tls-ca", p.caFile, "--tls-cert", p.clientCrt, "--tls-key", p.cliKey}
	operator := []string{"--tls-ca", p.caFile, "--tls-cert", p.operatorCrt, "--tls-key", p.opKey}
	stranger := []string{"--tls-ca", p.caFile, "--tls-cert", p.strangerCrt, "--tls-key", p.strKey}
	tests := []struct {
		name   string
		flags  []string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"plaintext client", nil, []string{"subject", "--timeout", "5s", unknown}, 2, "", "unavailable"},
		{"anonymous read", anonymous, []string{"subject", unknown}, 1, "", "no subject known"},
		{"anonymous key add", anonymous, []string{"key", "add", keyFile + ".pub"}, 2, "", "authentication required: /trust.v1.KeyService/AddKey is for operators only"},
		{"client key add", client, []string{"key", "add", keyFile + ".pub"}, 2, "", "permission denied: /trust.v1.KeyService/AddKey is for operators only (rule key-registration); the client certificate CN=deploy-bot"},
		{"stranger key add", stranger, []string{"key", "add", keyFile + ".pub"}, 2, "", "authentication required"},
		{"operator key add", operator, []string{"key", "add", keyFile + ".pub", "--label", "Release-2026"}, 0, "registered", ""},
		{"operator read", operator, []string{"subject", unknown}, 1, "", "no subject known"},
		{"anonymous signed vote", anonymous, []string{"vote", unknown, "--like", "--key", keyFile}, 0, "accepted", ""},
		{"anonymous export", anonymous, []string{"feedback", "export", "--out", export}, 0, "", ""},
		{"anonymous feedback import", anonymous, []string{"feedback", "import", export}, 2, "", "authentication required: /trust.v1.FeedbackService/ImportFeedback is for operators only"},
		{"client feedback import", client, []string{"feedback", "import", export}, 2, "", "permission denied: /trust.v1.FeedbackService/ImportFeedback"},
		{"operator feedback import", operator, []string{"feedback", "import", export}, 0, "(1 already present)", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, "trustctl", append(append([]string{"--server", d.grpcAddr}, tc.flags...), tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d, %q, %q", r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	// The env sets the same flags.
	env := os.Environ()
	for k, v := range map[string]string{"TRUSTCTL_SERVER": d.grpcAddr, "TRUSTCTL_TLS_CA": p.caFile, "TRUSTCTL_TLS_CERT": p.operatorCrt, "TRUSTCTL_TLS_KEY": p.opKey} {
		env = append(env, k+"="+v)
	}
	r := runEnv(t, env, "trustctl", "key", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "release-2026") {
		t.Errorf("key list with TRUSTCTL_TLS_* env: %d %q %q", r.code, r.stdout, r.stderr)
	}

	// HTTP serves TLS with the same certificate.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get("https://" + d.httpAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET https /healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get("http://" + d.httpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plaintext HTTP answered 200 on a TLS server")
		}
	}
	d.stop(t)
}

// TestPlaintextBeyondLoopback: trustd refuses to serve plaintext on a
// non-loopback address unless --insecure-plaintext says so, and then
// warns.
func TestPlaintextBeyondLoopback(t *testing.T) {
	r := run(t, nil, "trustd", "--data-dir", t.TempDir(), "--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0", "--key-registration", "open")
	if r.code != 2 || !strings.Contains(r.stderr, "--grpc-addr: 0.0.0.0:0 is beyond loopback") || !strings.Contains(r.stderr, "--insecure-plaintext") {
		t.Errorf("plaintext beyond loopback: exit %d stderr %q; want exit 2 naming --insecure-plaintext", r.code, r.stderr)
	}
	d := startTrustd(t, "--data-dir", t.TempDir(), "--grpc-addr", "0.0.0.0:0", "--insecure-plaintext", "--key-registration", "open")
	if !strings.Contains(d.logs(), "serving plaintext beyond loopback (--insecure-plaintext)") {
		t.Errorf("no warning for plaintext beyond loopback:\n%s", d.logs())
	}
	d.stop(t)
}

// runEnv runs bin with args and exactly the environment env.
func runEnv(t *testing.T, env []string, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return result{code, out.String(), errb.String()}
}
