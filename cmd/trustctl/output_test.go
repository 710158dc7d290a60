package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// leaves returns the path of every command trustctl runs: each leaf of
// the tree and each parent that runs itself, with cobra's own help and
// completion commands added as Execute adds them.
func leaves(root *cobra.Command) []string {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() || !c.HasSubCommands() {
			out = append(out, c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return out
}

// TestEveryCommandHasJSON: every command trustctl runs has its --output
// json document named in jsonOutput (so a new command fails here until it
// states its shape), no entry names a command that does not exist, and an
// entry naming a trust.v1 message names one that exists.
func TestEveryCommandHasJSON(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range leaves(newRootCmd()) {
		seen[path] = true
		shape, ok := jsonOutput[path]
		if !ok {
			t.Errorf("%s has no --output json shape in jsonOutput (output.go): add one and print it", path)
			continue
		}
		if shape.Doc == "" {
			t.Errorf("%s: empty shape", path)
		}
		for _, f := range strings.FieldsFunc(shape.Doc, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '(' || r == ')' }) {
			if !strings.HasPrefix(f, "trust.v1.") {
				continue
			}
			if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(f)); err != nil {
				t.Errorf("%s: shape names %s, which is no message: %v", path, f, err)
			}
		}
	}
	for path := range jsonOutput {
		if !seen[path] {
			t.Errorf("jsonOutput names %q, which is not a trustctl command", path)
		}
	}
}

// TestPrintJSONContract pins the proto mapping of --output json: proto
// field names, every zero value present, 64-bit integers as JSON numbers
// (protojson writes them as strings), 32-bit ones as numbers, bytes as
// base64, timestamps RFC 3339; in the golden file testdata/json.
func TestPrintJSONContract(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	tests := []struct {
		name string
		v    any
	}{
		{"log-entry", &trustv1.LogEntry{Seq: 1<<53 - 1, Envelope: []byte("{}"), PredicateType: "https://trustd.dev/vote/v1",
			SignerKeyIds: []string{"5f2e"}, Subjects: []*trustv1.StatementSubject{{Name: "app", Digests: []string{"sha256:2c26"}}}, RecordedAt: at, EnvelopeDigest: "sha256:41c7"}},
		{"zero-log-entry", &trustv1.LogEntry{}},
		{"reputation", &trustv1.GetReputationResponse{Digest: "sha256:2c26", Quality: &trustv1.ReputationAxis{Positive: 12, Negative: 3, PositiveWeight: 12, NegativeWeight: 3, Score: 0.5481},
			Voters: 15, LastVoteAt: at, Responses: []*trustv1.FeedbackResponse{{Seq: 9, PublisherKeyId: "5f2e", InReplyTo: "sha256:41c7", Text: "<script>alert(1)</script> & fixed", RespondedAt: at}}}},
		{"error", errorDoc{Error: errorBody{Code: "permission_denied", Reason: "key 5f2e may not revoke digest sha256:2c26", Exit: 2, RequestID: "01J2Z3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printJSON(&buf, tc.v); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("json", tc.name+".golden"), buf.Bytes())
		})
	}
	// Every 64-bit integer field of a message is a number, including in
	// nested messages and lists: decode and look at the types.
	var buf bytes.Buffer
	resp := &trustv1.ListBySubjectResponse{Entries: []*trustv1.LogEntry{{Seq: 7}, {Seq: 1 << 40}}}
	if err := printJSON(&buf, resp); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []struct {
			Seq json.RawMessage `json:"seq"`
		} `json:"entries"`
		NextPageToken *string `json:"next_page_token"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Entries) != 2 || string(doc.Entries[0].Seq) != "7" || string(doc.Entries[1].Seq) != "1099511627776" || doc.NextPageToken == nil {
		t.Errorf("ListBySubjectResponse JSON = %s; want seq numbers and next_page_token present", buf.String())
	}
}

// withRequestID is a gRPC error as trustd sends it: status code, message
// and the request id as an errdetails.RequestInfo detail.
func withRequestID(t *testing.T, c codes.Code, msg, id string) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(&errdetails.RequestInfo{RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// TestExitCodes: the one exit-code rule (exitHelp) for errors of every
// origin: the server's status (NotFound is a negative answer only for a
// lookup), the resolver, the commands' own negative answers, the command
// line; and the JSON error code and request id beside it.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name, path string
		err        error
		exit       int
		code, rid  string
	}{
		{"lookup of an unknown key", "trustctl key show", rpcError("s", withRequestID(t, codes.NotFound, "no key 5f2e", "r1")), 1, "not_found", "r1"},
		{"status of an unknown repository", "trustctl tuf status", rpcError("s", status.Error(codes.NotFound, "unknown repository")), 1, "not_found", ""},
		{"upload to an unknown repository", "trustctl tuf upload", rpcError("s", withRequestID(t, codes.NotFound, "tuf: upload acme/x: unknown repository", "r2")), 2, "not_found", "r2"},
		{"sign into an unknown repository", "trustctl sign", rpcError("s", status.Error(codes.NotFound, "unknown repository")), 2, "not_found", ""},
		{"refused", "trustctl revoke digest", rpcError("s", withRequestID(t, codes.PermissionDenied, "key may not revoke", "r3")), 2, "permission_denied", "r3"},
		{"bad input", "trustctl statement submit", rpcError("s", status.Error(codes.InvalidArgument, "predicate.reason: required")), 2, "invalid_argument", ""},
		{"server down", "trustctl subject", rpcError("s", status.Error(codes.Unavailable, "connection refused")), 2, "unavailable", ""},
		{"limit", "trustctl vote", rpcError("s", status.Error(codes.ResourceExhausted, "rate")), 2, "resource_exhausted", ""},
		{"wrapped status", "trustctl import", fmt.Errorf("--key 5f2e: %w", status.Error(codes.NotFound, "no key")), 2, "not_found", ""},
		{"tampered registry blob", "trustctl digest", resolveError(fmt.Errorf("REF: %w", client.ErrDigestMismatch)), 1, "digest_mismatch", ""},
		{"tampered blob, any command", "trustctl attest sign", fmt.Errorf("--subject: %w", client.ErrDigestMismatch), 1, "digest_mismatch", ""},
		{"unreadable bytes", "trustctl verify", resolveError(fmt.Errorf("REF: %w", client.ErrUnreadable)), 2, "error", ""},
		{"a command's definite no", "trustctl locations", cliutil.Negative(errors.New("no location known")), 1, "negative", ""},
		{"get: every mirror served other bytes", "trustctl get", &cliutil.ExitError{Code: cliutil.ExitFailure, Err: client.ErrDigestMismatch}, 2, "digest_mismatch", ""},
		{"usage", "trustctl key id", &usageError{errors.New("accepts 1 arg(s), received 0")}, 2, "usage", ""},
		{"local error", "trustctl key id", errors.New("open x.pub: no such file"), 2, "error", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := jsonOutput[tc.path]; !ok {
				t.Fatalf("%s is not a command", tc.path)
			}
			exit, body := classify(tc.path, tc.err)
			if exit != tc.exit || body.Exit != tc.exit || body.Code != tc.code || body.RequestID != tc.rid {
				t.Errorf("classify = %d %+v; want exit %d code %s request id %q", exit, body, tc.exit, tc.code, tc.rid)
			}
		})
	}
}

// writeKey writes a fresh ECDSA key pair as PEM (the private key at the
// public key's path without .pub) and returns the public key's path and
// the id trustd registers it under.
func writeKey(t *testing.T) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pub, err := envelope.ParsePublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The private half beside it, as key generate writes it.
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(strings.TrimSuffix(path, ".pub"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pub.ID
}

// TestRunCommands runs trustctl in process, as main does, and checks exit
// code, stdout and stderr for commands that need no server (or none that
// answers): success, usage errors, bad input, an unreachable server; in
// both output formats.
func TestRunCommands(t *testing.T) {
	keyFile, keyID := writeKey(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pub")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	pgpCert := filepath.Join("..", "..", "pgp", "testdata")
	certs := []string{filepath.Join(pgpCert, "ed25519.asc")}
	dead := "127.0.0.1:1"
	tests := []struct {
		name     string
		args     []string
		exit     int
		stdout   string // substring; for JSON, of the compact document
		jsonCode string // with -o json, the error code (or "" when it succeeds)
	}{
		{"key id", []string{"key", "id", keyFile}, 0, keyID + "\n", ""},
		{"key id json", []string{"key", "id", keyFile, "-o", "json"}, 0, `"key_id": "` + keyID + `"`, ""},
		{"key id of garbage", []string{"key", "id", garbage}, 2, "", ""},
		{"key id of garbage json", []string{"key", "id", garbage, "-o", "json"}, 2, "", "error"},
		{"key id of a private key", []string{"key", "id", strings.TrimSuffix(keyFile, ".pub")}, 2, "", ""},
		{"key id without a file", []string{"key", "id", "-o", "json"}, 2, "", "usage"},
		{"unknown flag", []string{"key", "id", keyFile, "--bogus", "-o", "json"}, 2, "", ""},
		{"revoke a malformed token id", []string{"revoke", "token", "tok-2026-0001", "--reason", "retired", "--key", keyFile, "--server", dead, "-o", "json"}, 2, "", "error"},
		{"lookup, server unreachable", []string{"key", "show", "5f2e", "--server", dead, "--timeout", "5s", "-o", "json"}, 2, "", "unavailable"},
		{"key id of an OpenPGP certificate", []string{"key", "id", certs[0], "-o", "json"}, 0, `"type": "pgp"`, ""},
		{"policy reasons", []string{"policy", "reasons", "-o", "json"}, 0, `"code": "`, ""},
		{"bad output format", []string{"policy", "reasons", "-o", "yaml"}, 2, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			root := newRootCmd()
			root.SetArgs(tc.args)
			exit := run(root, &stdout, &stderr, func(c *cobra.Command) (*cobra.Command, error) { return c.ExecuteC() })
			if exit != tc.exit {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", exit, tc.exit, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if exit != 0 {
				if lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "trustctl: ") {
					t.Errorf("stderr %q: want one line 'trustctl: …'", stderr.String())
				}
			}
			if tc.jsonCode != "" {
				var doc errorDoc
				if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || doc.Error.Code != tc.jsonCode || doc.Error.Exit != exit || doc.Error.Reason == "" {
					t.Errorf("stdout %q: want an error document with code %s, exit %d (%v)", stdout.String(), tc.jsonCode, exit, err)
				}
			}
		})
	}
}

// TestRevokeTokenNamesID: a revocation of a token named by anything but
// its id (sha256 of the envelope) is refused before signing, and the error
// names the argument and the form.
func TestRevokeTokenNamesID(t *testing.T) {
	keyFile, _ := writeKey(t)
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"revoke", "token", "tok-1", "--reason", "retired", "--key", keyFile, "--out", filepath.Join(t.TempDir(), "r.json")})
	if exit := run(root, &stdout, &stderr, func(c *cobra.Command) (*cobra.Command, error) { return c.ExecuteC() }); exit != 2 ||
		!strings.Contains(stderr.String(), "ID: ") || !strings.Contains(stderr.String(), "not a token id") {
		t.Errorf("exit %d stderr %q; want 2 naming ID and the token id form", exit, stderr.String())
	}
}

// TestVotersText pins reputation --voters for people: labels, reasons,
// the publisher's responses, and untrusted text kept on its line.
func TestVotersText(t *testing.T) {
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	vs := []voterVote{
		{KeyID: "5f2e", Axis: "quality", Value: "dislike", Reason: "crashes on start\nFAKE: forged line", VotedAt: at, Seq: 12, EnvelopeDigest: "sha256:41c7"},
		{KeyID: "9a0b", Axis: "trust", Value: "trust", VotedAt: at.Add(-time.Hour), Seq: 10, EnvelopeDigest: "sha256:77aa"},
	}
	responses := []*trustv1.FeedbackResponse{{Seq: 13, PublisherKeyId: "c0de", InReplyTo: "sha256:41c7", Text: "fixed in 1.4.1", RespondedAt: timestamppb.New(at.Add(time.Hour))}}
	if err := attachResponses(vs, responses); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"5f2e": "alice", "c0de": "acme-release"}
	var buf bytes.Buffer
	printVoters(&buf, vs, labels)
	golden(t, "reputation-voters.golden", buf.Bytes())
	var js bytes.Buffer
	if err := printJSON(&js, vs); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("json", "voters.golden"), js.Bytes())
}

// TestStatementPredicateText: statement get shows the decoded predicate,
// indented, with signer labels.
func TestStatementPredicateText(t *testing.T) {
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app","digest":{"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}],"predicateType":"https://trustd.dev/vote/v1","predicate":{"axis":"quality","value":"like","reason":"works","timestamp":"2026-06-01T12:00:00Z"}}`)
	env := fmt.Sprintf(`{"payloadType":"application/vnd.in-toto+json","payload":%q,"signatures":[{"keyid":"5f2e","sig":"AAAA"}]}`, b64(payload))
	e := &trustv1.LogEntry{Seq: 4, Envelope: []byte(env), PredicateType: "https://trustd.dev/vote/v1", SignerKeyIds: []string{"5f2e"},
		RecordedAt: timestamppb.New(time.Date(2026, 6, 1, 12, 0, 1, 0, time.UTC)), EnvelopeDigest: "sha256:41c7",
		Subjects: []*trustv1.StatementSubject{{Name: "app", Digests: []string{"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}}}
	var buf bytes.Buffer
	printEntry(&buf, e)
	printPredicate(&buf, e, map[string]string{"5f2e": "alice"})
	golden(t, "statement-get.golden", buf.Bytes())
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestHelpStatesExitRule: the root help states the one exit rule and the
// output contract.
func TestHelpStatesExitRule(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{exitHelp, outputHelp} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("trustctl --help lacks %q", want)
		}
	}
}
