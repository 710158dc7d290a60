package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/cliutil"
)

// exitHelp is the one exit-code rule of every trustctl command, stated in
// the root help and the README; commands' own help texts only name which
// of their outcomes falls under which code.
const exitHelp = `Exit codes, the same for every command:
  0  done; the answer is yes (a policy passed, a check held, found)
  1  a definite no: a policy or check failed (bytes that do not hash to the
     digest naming them, a tampered registry blob included), a revocation
     is in force, or nothing is known about what was looked up
  2  could not do what was asked: bad usage or input (naming something
     trustd does not have in a write, e.g. an unknown repository, too),
     unreadable files, refused by the server, server unreachable, an
     undecided verdict, an internal error`

// outputHelp states the --output json contract in the root help.
const outputHelp = `With --output json every command prints exactly one JSON document on
standard output (trustctl get without --out: on standard error, after the
bytes): proto field names, zero values present, 64-bit integers as numbers,
bytes as base64, timestamps as RFC 3339. When a command fails before it has
its document, the document is {"error":{"code":…,"reason":…,"exit":…,
"request_id":…}}, and the one-line error is still printed on standard error.`

// jsonOutput names, for every command trustctl runs (each leaf of the
// command tree), what it prints with --output json, and whether it is a
// lookup: for a lookup, trustd answering NotFound is the negative answer
// (exit 1); for any other command it means the request named something
// trustd does not have, bad input (exit 2). TestEveryCommandHasJSON fails
// for a command missing here, so a new command must choose its shape.
var jsonOutput = map[string]jsonShape{
	"trustctl aliases":                    {"trust.v1.ListAliasesResponse", true},
	"trustctl attest get":                 {"trust.v1.Attestation", true},
	"trustctl attest list":                {"trust.v1.ListAttestationsResponse", true},
	"trustctl attest put":                 {"trust.v1.PutAttestationResponse", false},
	"trustctl attest sign":                {"the signed DSSE envelope (JSON in either output format)", false},
	"trustctl attest verify-layout":       {"trust.v1.VerifyLayoutResponse", true},
	"trustctl ceremony propose":           {"{repo, version, file, signed_by}", false},
	"trustctl ceremony publish":           {"ceremony status document (as ceremony status)", false},
	"trustctl ceremony sign":              {"{file, signed_by}", false},
	"trustctl ceremony status":            {"ceremony status document", true},
	"trustctl digest":                     {"{name, size, digests}", false},
	"trustctl feedback export":            {"{file, entries, verifier_key}", false},
	"trustctl feedback import":            {"trust.v1.ImportFeedbackResponse", false},
	"trustctl get":                        {"{digest, written, path, location, failures, verdict}", true},
	"trustctl identity bind":              {"the signed DSSE envelope (JSON in either output format)", false},
	"trustctl import":                     {"{image, format, imported, already_present, unsigned}", false},
	"trustctl key add":                    {"trust.v1.AddKeyResponse", false},
	"trustctl key generate":               {"{key_id, type, private_key, public_key}", false},
	"trustctl key id":                     {"{file, key_id, type}", false},
	"trustctl key list":                   {"trust.v1.ListKeysResponse", true},
	"trustctl key show":                   {"trust.v1.Key", true},
	"trustctl location add":               {"trust.v1.SubmitResponse", false},
	"trustctl locations":                  {"trust.v1.GetLocationsResponse or ListSharedLocationsResponse", true},
	"trustctl log checkpoint":             {"{origin, size, root_hash, note}", true},
	"trustctl log verify-inclusion":       {"{seq, tree_size, root_hash, verified}", true},
	"trustctl log watch":                  {"{size, root_hash, verdict} per check", true},
	"trustctl pgp delegate":               {"trust.v1.SubmitResponse", false},
	"trustctl pgp publish":                {"trust.v1.PublishManifestResponse", false},
	"trustctl pgp revoke":                 {"trust.v1.RevokeResponse", false},
	"trustctl pgp rotate":                 {"trust.v1.SubmitResponse", false},
	"trustctl pgp verify":                 {"trust.v1.DecideResponse", true},
	"trustctl policy check":               {"{file, apiVersion, policies}", false},
	"trustctl policy reasons":             {"[{code, meaning}]", false},
	"trustctl policy schema":              {"the policy file JSON Schema (JSON in either output format)", false},
	"trustctl reputation":                 {"trust.v1.GetReputationResponse (with --voters, {reputation, voters})", true},
	"trustctl revocations check":          {"{kind, id, revoked, list, ...}", true},
	"trustctl revocations list":           {"trust.v1.ListRevocationsResponse", true},
	"trustctl revocations lookup":         {"trust.v1.LookupRevocationResponse", true},
	"trustctl revocations sync":           {"sync result", false},
	"trustctl revoke digest":              {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke key":                 {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke reinstate digest":    {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke reinstate key":       {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke reinstate statement": {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke reinstate token":     {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke statement":           {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl revoke token":               {"trust.v1.SubmitRevocationResponse; with --out, {file, bytes}", false},
	"trustctl sign":                       {"trust.v1.TUFResult", false},
	"trustctl statement cosign":           {"the cosigned DSSE envelope (JSON in either output format)", false},
	"trustctl statement get":              {"trust.v1.LogEntry", true},
	"trustctl statement list":             {"trust.v1.ListBySubjectResponse", true},
	"trustctl statement sign":             {"the signed DSSE envelope (JSON in either output format)", false},
	"trustctl statement submit":           {"trust.v1.SubmitResponse", false},
	"trustctl subject":                    {"subject document (see trustctl subject --help)", true},
	"trustctl token attach":               {"{token_id, stored_at}", false},
	"trustctl token issue":                {"token issue result", false},
	"trustctl token key":                  {"{key_id, type, file, accepted}", true},
	"trustctl tuf delegate":               {"trust.v1.TUFResult", false},
	"trustctl tuf init":                   {"trust.v1.TUFResult, or {repo, version, file, signatures, threshold} with --out", false},
	"trustctl tuf sign-pending":           {"trust.v1.TUFResult; with --file, {file, bytes}", false},
	"trustctl tuf status":                 {"trust.v1.GetStatusResponse", true},
	"trustctl tuf upload":                 {"trust.v1.TUFResult", false},
	"trustctl verify":                     {"verdict document (see trustctl verify --help)", true},
	"trustctl version":                    {"{client: {version, commit, modified, build_date, go_version}, server: {address, version, commit, modified, build_date, go_version, log_origin, database, started_at, uptime_seconds} or null, server_error}", false},
	"trustctl vote":                       {"trust.v1.SubmitResponse", false},
	"trustctl vote respond":               {"trust.v1.SubmitResponse", false},
	"trustctl vote trust-key":             {"trust.v1.SubmitResponse", false},
	"trustctl completion bash":            {"the shell script (not JSON)", false},
	"trustctl completion fish":            {"the shell script (not JSON)", false},
	"trustctl completion powershell":      {"the shell script (not JSON)", false},
	"trustctl completion zsh":             {"the shell script (not JSON)", false},
	"trustctl help":                       {"help text (not JSON)", false},
}

// jsonShape describes one command's --output json document.
type jsonShape struct {
	// Doc is the document: a trust.v1 message (printed by printJSON), or
	// the fields of a plain object.
	Doc string
	// Lookup marks commands that answer a question about something named:
	// NotFound from trustd is their negative answer.
	Lookup bool
}

// printJSON writes v as indented JSON: a proto message with its proto
// field names and every zero value, 64-bit integers as numbers (protojson
// writes them as strings, which a script cannot compare); anything else
// with encoding/json. Keys of proto documents are sorted.
func printJSON(w io.Writer, v any) error {
	if m, ok := v.(proto.Message); ok {
		doc, err := protoDoc(m)
		if err != nil {
			return err
		}
		v = doc
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// protoDoc is m as a JSON value (maps, slices, json.Number, strings,
// bools) in protojson's mapping, with 64-bit integers turned back into
// numbers.
func protoDoc(m proto.Message) (any, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return int64sAsNumbers(m.ProtoReflect().Descriptor(), doc), nil
}

// int64sAsNumbers walks doc (protojson of a message md) and replaces the
// strings protojson writes for 64-bit integer fields by the numbers they
// hold. Well-known types keep protojson's form, except the 64-bit
// wrappers.
func int64sAsNumbers(md protoreflect.MessageDescriptor, doc any) any {
	switch md.FullName() {
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		if s, ok := doc.(string); ok {
			return json.Number(s)
		}
		return doc
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return doc
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return doc
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		val, ok := obj[name]
		if !ok {
			continue
		}
		switch {
		case fd.IsMap():
			if mm, ok := val.(map[string]any); ok {
				for k, x := range mm {
					mm[k] = int64Value(fd.MapValue(), x)
				}
			}
		case fd.IsList():
			if l, ok := val.([]any); ok {
				for j := range l {
					l[j] = int64Value(fd, l[j])
				}
			}
		default:
			obj[name] = int64Value(fd, val)
		}
	}
	return obj
}

func int64Value(fd protoreflect.FieldDescriptor, v any) any {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if s, ok := v.(string); ok {
			return json.Number(s)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return int64sAsNumbers(fd.Message(), v)
	}
	return v
}

// rpcFailure is an error trustd answered with (or the gRPC client gave):
// its status, for the exit code and the JSON error document.
type rpcFailure struct {
	st  *status.Status
	err error // the one-line message
}

func (e *rpcFailure) Error() string { return e.err.Error() }
func (e *rpcFailure) Unwrap() error { return e.err }

// requestID is the id trustd gave the failed request, from the status's
// errdetails.RequestInfo detail; "" when the server sent none.
func requestID(st *status.Status) string {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RequestInfo); ok && ri.GetRequestId() != "" {
			return ri.GetRequestId()
		}
	}
	return ""
}

// usageError marks a bad command line (unknown flag, wrong arguments).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// errorDoc is the --output json document of a failed command.
type errorDoc struct {
	Error errorBody `json:"error"`
}

// errorBody: Code is a gRPC status code in snake case (permission_denied,
// not_found, invalid_argument, unavailable, deadline_exceeded, …) when
// trustd answered or could not be reached, else one of usage (bad command
// line), digest_mismatch (bytes not what their digest names), negative (a
// definite no) or error (anything else: unreadable files, bad input).
type errorBody struct {
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	Exit      int    `json:"exit"`
	RequestID string `json:"request_id"`
}

// classify returns the exit code and the JSON error of err, the error the
// command at path failed with.
func classify(path string, err error) (int, errorBody) {
	body := errorBody{Reason: strings.Join(strings.Fields(err.Error()), " "), Code: "error"}
	code := cliutil.ExitFailure
	var (
		ee  *cliutil.ExitError
		rf  *rpcFailure
		ue  *usageError
		set bool
	)
	if errors.As(err, &ee) {
		code, set = ee.Code, true
		if code == cliutil.ExitNegative {
			body.Code = "negative"
		}
	}
	st, isRPC := status.FromError(err)
	if errors.As(err, &rf) {
		st, isRPC = rf.st, true
	}
	switch {
	case isRPC && st.Code() != codes.Unknown:
		body.Code = snake(st.Code())
		body.RequestID = requestID(st)
		if !set {
			if st.Code() == codes.NotFound && jsonOutput[path].Lookup {
				code = cliutil.ExitNegative
			} else {
				code = cliutil.ExitFailure
			}
		}
	case errors.As(err, &ue):
		body.Code = "usage"
	case errors.Is(err, client.ErrDigestMismatch):
		body.Code = "digest_mismatch"
		if !set {
			code = cliutil.ExitNegative
		}
	}
	body.Exit = code
	return code, body
}

// snake is a gRPC code's name in snake case: PermissionDenied is
// permission_denied.
func snake(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// run executes trustctl with args (nil: the process's) and returns the exit
// code: the error, if any, on one line on stderr, and with --output json
// also as an error document on stdout unless the command already printed
// its document there.
func run(root *cobra.Command, stdout, stderr io.Writer, exec func(*cobra.Command) (*cobra.Command, error)) int {
	out := &countingWriter{w: stdout}
	root.SetOut(out)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	markUsage(root)
	cmd, err := exec(root)
	if err == nil {
		return cliutil.ExitOK
	}
	path := root.CommandPath()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	code, body := classify(path, err)
	cliutil.Exit(stderr, "trustctl", err)
	if f := root.PersistentFlags().Lookup("output"); f != nil && f.Value.String() == "json" && out.n == 0 {
		_ = printJSON(stdout, errorDoc{Error: body})
	}
	return code
}

// markUsage makes every command's argument check report a usageError.
func markUsage(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, s := range c.Commands() {
		markUsage(s)
	}
}

// countingWriter counts what the command wrote to standard output.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// wantJSON reports whether cmd runs with --output json, for helpers that
// have the command but not the globals.
func wantJSON(cmd *cobra.Command) bool {
	f := cmd.Flag("output")
	return f != nil && f.Value.String() == "json"
}

// fileWritten is the --output json document of a command whose product is
// a file it wrote (a signed envelope, metadata to sign elsewhere).
type fileWritten struct {
	File  string `json:"file"`
	Bytes int    `json:"bytes"`
}

// rootWritten is the --output json document of tuf init and ceremony
// propose with --out: a root written to sign elsewhere.
type rootWritten struct {
	Repo       string `json:"repo"`
	Version    int    `json:"version"`
	File       string `json:"file"`
	Signatures int    `json:"signatures"`
	Threshold  int    `json:"threshold"`
}

// feedbackExported is feedback export's --output json document with --out.
type feedbackExported struct {
	File        string `json:"file"`
	Entries     int    `json:"entries"`
	VerifierKey string `json:"verifier_key"`
}

// tokenKeyWritten is token key's --output json document with --out.
type tokenKeyWritten struct {
	File     string `json:"file"`
	KeyID    string `json:"key_id"`
	Type     string `json:"type"`
	Accepted int    `json:"accepted"`
}
