package client_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

// TestOnlineVerifyOneCall: online verification of a policy with several
// kinds of requirements makes exactly one call to trustd (GetEvidence), and
// evidence proven under another log key than the pinned one is refused:
// the requirements are undecided and say why.
func TestOnlineVerifyOneCall(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	// The artifact, attested by a registered key.
	file := filepath.Join(t.TempDir(), "app.tar")
	content := []byte("online verification bytes")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(st).Add(ctx, pub.Encode(), ""); err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	d, _ := digest.New(digest.SHA256, sum[:])
	stmt, err := envelope.NewStatement("https://example.com/test-result/v1", json.RawMessage(`{}`), envelope.Subject{Name: "app.tar", Digests: []digest.Digest{d}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	if _, _, err := l.Submit(ctx, raw); err != nil {
		t.Fatal(err)
	}

	p := &policy.Policy{Name: "online", Require: policy.Requirement{All: []policy.Requirement{
		{Attestation: &policy.AttestationRequirement{PredicateType: "https://example.com/test-result/v1", Min: 1, Signers: []string{pub.ID}}},
		{Threshold: &policy.ThresholdRequirement{K: 1, Signers: []policy.SignerRef{{Key: pub.ID}}}},
		{Reputation: &policy.ReputationRequirement{}},
	}}}
	c, err := client.New(lis.Addr().String(), client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := calls(t, srv)
	res, err := client.Verify(ctx, file, client.VerifyOptions{Policy: p, Client: c, LogKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict.Outcome != policy.Pass || res.Evidence == nil {
		var b strings.Builder
		_ = res.Verdict.WriteText(&b)
		t.Fatalf("verdict:\n%s", b.String())
	}
	after := calls(t, srv)
	if n := after["/trust.v1.EvidenceService/GetEvidence"] - before["/trust.v1.EvidenceService/GetEvidence"]; n != 1 {
		t.Errorf("%v GetEvidence calls, want 1", n)
	}
	for m, n := range after {
		if n -= before[m]; n != 0 && (m != "/trust.v1.EvidenceService/GetEvidence" || n != 1) {
			t.Errorf("online verify called %s %v times; want one GetEvidence call and nothing else", m, n)
		}
	}

	// Evidence under another log key than the one pinned is refused.
	_, otherKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	res, err = client.Verify(ctx, file, client.VerifyOptions{Policy: p, Client: c, LogKey: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict.Outcome != policy.Undecided || res.Evidence != nil {
		t.Errorf("evidence under another key: outcome %s", res.Verdict.Outcome)
	}
	var b strings.Builder
	_ = res.Verdict.WriteText(&b)
	if !strings.Contains(b.String(), "evidence does not verify") {
		t.Errorf("the verdict does not say why:\n%s", b.String())
	}
}

// calls reads the server's request counters by method.
func calls(t *testing.T, srv *server.Server) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.HTTPHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `trustd_grpc_requests_total{code="`)
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, `method="`)
		method, value, _ := strings.Cut(rest, `"} `)
		var n float64
		if _, err := fmt.Sscan(value, &n); err == nil {
			out[method] += n
		}
	}
	return out
}
