//lint:file-ignore SA1019 trustd serves the deprecated v1alpha reflection service too, so the matrix calls it

package integration_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/internal/testpg"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
)

// matrixPolicy is the token policy the matrix's trustd holds: the owner's
// TUF repository vouches for the bytes.
const matrixPolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    levels: [SLSA_BUILD_LEVEL_2]
    require:
      tuf: {repo: acme/app, pattern: "*"}
`

// TestAuthzMatrix is issue 13's authorisation matrix, through the real
// trustd and trustctl on both backends: one trustd serving mTLS (a client
// CA, an operator's certificate, key registration open, repository
// creation open but acme/* owned by the owner's key, a held token policy),
// and for every gRPC method in server.AuthzTable() (a method without a row
// fails the test) one or more representative requests, each made by four
// callers:
//
//   - anonymous: no client certificate; signs with a key it generated and
//     registered itself;
//   - stranger: a client certificate of the CA that is not an operator's;
//     signs with its own self-registered key, and lists the owner's
//     releases in a TUF repository and an OpenPGP manifest of its own
//     (everything a stranger may legitimately get), aiming at the owner's
//     artifacts, repositories, keys and names;
//   - operator: the operator's client certificate; signs with its own
//     self-registered key (the certificate grants administration, not
//     anybody's signing authority);
//   - owner: the key that owns acme/* and signed the releases; it connects
//     without a certificate, since its signatures are its authority.
//
// Key registration is open here so strangers have keys (TestMTLS drives
// --key-registration operator). Each request is made through trustctl
// where a command sends it, else through a gRPC client of the test. The cell asserts the answer (exit
// status and reason, or gRPC code and message), trustd's own log line for
// the call (method, gRPC code and the caller's role), and the log size: a
// refusal leaves it unchanged, an allowed read too, an allowed write grows
// it. The owner asks last in every row, so refusals meet the state the
// owner left.
func TestAuthzMatrix(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { authzMatrix(t, backend) })
	}
}

// mcaller is one of the matrix's four callers.
type mcaller struct {
	name string
	// role is what trustd logs for the caller's connection.
	role string
	// flags are trustctl's TLS flags for the caller.
	flags []string
	conn  *grpc.ClientConn
	// key is the private key file the caller signs with, id its key id.
	key, id string
	// fresh is a second key file of the caller's, not yet registered.
	fresh string
}

// cell is one caller's request in a row, and the answer trustd must give.
type cell struct {
	// ctl are trustctl's arguments (the caller's TLS flags are added), env
	// extra environment for it.
	ctl []string
	env []string
	// rpc, when ctl is nil, makes the call through the test's gRPC
	// client; it returns text describing the answer.
	rpc func(ctx context.Context, conn *grpc.ClientConn) (string, error)
	// want is the gRPC code of the answer: OK when allowed.
	want codes.Code
	// text is in the output when allowed, in the error when refused.
	text string
	// exit is trustctl's exit status when allowed (a command may report a
	// negative verdict with 1).
	exit int
	// writes says an allowed call appends to the log.
	writes bool
	// clientEnds says the caller ends the stream: trustd logs Canceled.
	clientEnds bool
}

// mrow is one representative request of a method, as each caller makes it.
type mrow struct {
	what string
	cell func(c *mcaller) cell
}

// matrixEnv is the shared trustd of one backend and what the setup made.
type matrixEnv struct {
	t       *testing.T
	d       *daemon
	pki     *testPKI
	work    string
	https   *http.Client
	callers []*mcaller
	// anonymous, stranger, operator and owner are callers[0..3].
	anonymous, stranger, operator, owner *mcaller
	// owner2 is the owner's second root key (repositories with a 2-of-2 root).
	owner2 string

	app, appSHA, oldSHA string
	// attSeq is the owner's attestation of app, layoutSeq its layout.
	attSeq, layoutSeq string
	// sc holds the files the owner's in-toto links record.
	sc *attesttest.SupplyChain
	// pgpOwner is the owner's OpenPGP certificate (primary, signing
	// subkey); pgpRetired the owner's second one, revoked in the matrix.
	pgpOwner, pgpOwnerSub, pgpRetired string
	// manifest is published in the setup, manifest2 in the matrix.
	manifest, manifestSig           string
	manifest2, manifest2Sig         string
	retiredRevocation, forgedRevoke string
	export, keysRoot, state         string
	// marks counts settle's marker calls.
	marks int
}

func authzMatrix(t *testing.T, backend string) {
	start := time.Now()
	e := &matrixEnv{t: t, work: t.TempDir(), pki: newTestPKI(t)}
	e.https = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pki.ca.Pool(), MinVersion: tls.VersionTLS12}}}
	e.setup(backend)
	t.Logf("setup took %s", time.Since(start).Round(time.Millisecond))

	rows := e.rows()
	table := server.AuthzTable()
	methods := make([]string, 0, len(table))
	for m := range table {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		rs, ok := rows[m]
		if !ok || len(rs) == 0 {
			t.Errorf("%s (rule %s) has no row in the authorisation matrix: add one", m, table[m])
			continue
		}
		for _, r := range rs {
			for _, c := range e.callers {
				t.Run(m[strings.LastIndex(m, "/")+1:]+"/"+r.what+"/"+c.name, func(t *testing.T) {
					// The row's helpers fail this subtest, not the parent.
					parent := e.t
					e.t = t
					defer func() { e.t = parent }()
					e.check(t, m, c, r.cell(c))
				})
			}
		}
	}
	for m := range rows {
		if _, ok := table[m]; !ok {
			t.Errorf("the matrix has a row for %s, which is not in server.AuthzTable()", m)
		}
	}
	t.Logf("matrix on %s took %s", backend, time.Since(start).Round(time.Millisecond))
}

// setup starts trustd and makes what the rows act on.
func (e *matrixEnv) setup(backend string) {
	t := e.t
	w := func(name, content string) string {
		p := filepath.Join(e.work, name)
		writeTestFile(t, p, []byte(content))
		return p
	}
	key := func(name string) (string, string) {
		p := filepath.Join(e.work, name+".pem")
		return p, genKey(t, p)
	}
	ownerKey, ownerID := key("owner")
	e.owner2, _ = key("owner2")
	args := append(e.pki.serverArgs(), "--data-dir", filepath.Join(e.work, "data"), "--key-registration", "open",
		"--tuf-repo-creation", "open", "--tuf-repo-owner", "acme/*="+ownerID, "--token-policy", w("policy.yaml", matrixPolicy))
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	e.d = startTrustd(t, args...)

	p := e.pki
	anon := []string{"--tls-ca", p.caFile}
	for _, c := range []struct {
		name, role string
		flags      []string
		cert, key  string
	}{
		{"anonymous", "anonymous", anon, "", ""},
		{"stranger", "authenticated", append(slices.Clone(anon), "--tls-cert", p.clientCrt, "--tls-key", p.cliKey), p.clientCrt, p.cliKey},
		{"operator", "operator", append(slices.Clone(anon), "--tls-cert", p.operatorCrt, "--tls-key", p.opKey), p.operatorCrt, p.opKey},
		{"owner", "anonymous", anon, "", ""},
	} {
		mc := &mcaller{name: c.name, role: c.role, flags: c.flags, conn: e.dial(c.cert, c.key)}
		if c.name == "owner" {
			mc.key, mc.id = ownerKey, ownerID
		} else {
			mc.key, mc.id = key(c.name)
		}
		mc.fresh, _ = key(c.name + "-fresh")
		e.callers = append(e.callers, mc)
	}
	e.anonymous, e.stranger, e.operator, e.owner = e.callers[0], e.callers[1], e.callers[2], e.callers[3]

	// Every caller registers its own key; the owner labels its key.
	for _, c := range e.callers {
		args := []string{"key", "add", c.key + ".pub"}
		if c == e.owner {
			args = append(args, "--label", "release-owner")
		}
		e.must(c, args...)
	}
	e.must(e.owner, "key", "add", e.owner2+".pub")

	// The consistency row starts from this checkpoint.
	e.state = filepath.Join(e.work, "state.json")
	e.must(e.owner, "log", "watch", "--once", "--state", e.state)

	// The owner's repositories and releases: app (vouched for by the held
	// policy) and old (revoked in the matrix).
	e.must(e.owner, "tuf", "init", "acme/app", "--root-key", ownerKey, "--root-threshold", "1", "--targets-key", ownerKey+".pub", "--targets-threshold", "1")
	e.app = w("app.tar", "the owner's release\n")
	old := w("old.tar", "the owner's old release\n")
	e.must(e.owner, "sign", e.app, "--repo", "acme/app", "--name", "app.tar", "--key", ownerKey)
	e.must(e.owner, "sign", old, "--repo", "acme/app", "--name", "old.tar", "--key", ownerKey)
	e.appSHA = strings.Fields(e.must(e.owner, "digest", "-a", "sha256", e.app).stdout)[0]
	e.oldSHA = strings.Fields(e.must(e.owner, "digest", "-a", "sha256", old).stdout)[0]
	for _, repo := range []string{"acme/ceremony-sign", "acme/ceremony-propose"} {
		e.must(e.owner, "tuf", "init", repo, "--root-key", ownerKey, "--root-key", e.owner2, "--root-threshold", "2",
			"--targets-key", ownerKey+".pub", "--targets-threshold", "1")
	}
	// A root v2 proposal the owner's second key completes in the matrix.
	e.must(e.owner, "ceremony", "propose", "acme/ceremony-sign", "--root-key", ownerKey+".pub", "--root-key", e.owner2+".pub",
		"--root-threshold", "1", "--key", ownerKey)

	// The stranger's own repository lists the owner's releases: a
	// stranger may publish any bytes it has under its own name.
	e.must(e.stranger, "tuf", "init", "mirror/stranger", "--root-key", e.stranger.key, "--root-threshold", "1",
		"--targets-key", e.stranger.key+".pub", "--targets-threshold", "1")
	e.must(e.stranger, "sign", e.app, "--repo", "mirror/stranger", "--name", "app.tar", "--key", e.stranger.key)
	e.must(e.stranger, "sign", old, "--repo", "mirror/stranger", "--name", "old.tar", "--key", e.stranger.key)

	// The owner's attestation and in-toto layout (the owner is its own
	// functionary).
	prov := w("provenance.json", integrationProvenance)
	var put struct {
		Attestation attestationJSON `json:"attestation"`
	}
	mustJSON(t, e.must(e.owner, "attest", "sign", e.app, "--predicate-type", attest.PredicateSLSAProvenanceV1, "--predicate", prov,
		"--key", ownerKey, "-o", "json"), &put)
	e.attSeq = string(put.Attestation.Seq)
	e.sc = attesttest.NewSupplyChain(t)
	mustJSON(t, e.must(e.owner, "attest", "put", e.layout(e.owner, "the owner's layout"), "--layout-key", ownerID, "-o", "json"), &put)
	e.layoutSeq = string(put.Attestation.Seq)

	// OpenPGP: the owner's certificate publishes a manifest listing app;
	// its retired certificate is revoked in the matrix; the stranger's
	// revocation certificate, rewritten to name the retired one, is the
	// forgery.
	g := newGnuPG(t)
	e.pgpOwner, e.pgpOwnerSub = g.newKey("Owner <owner@example.org>")
	e.pgpRetired, _ = g.newKey("Owner retired <retired@example.org>")
	pgpStranger, _ := g.newKey("Stranger <stranger@example.org>")
	for _, fpr := range []string{e.pgpOwner, e.pgpRetired, pgpStranger} {
		e.must(e.owner, "key", "add", w(fpr+".asc", string(g.run("--export", "--armor", fpr))))
	}
	e.manifest = w("SHA256SUMS", strings.TrimPrefix(e.appSHA, "sha256:")+"  app.tar\n")
	e.manifestSig = w("SHA256SUMS.sig", string(g.run("--local-user", e.pgpOwner, "--detach-sign", "--output", "-", e.manifest)))
	e.must(e.owner, "pgp", "publish", e.manifest, e.manifestSig)
	// The stranger's own manifest lists the owner's releases too.
	mirror := w("MIRROR-SUMS", strings.TrimPrefix(e.appSHA, "sha256:")+"  app.tar\n"+strings.TrimPrefix(e.oldSHA, "sha256:")+"  old.tar\n")
	e.must(e.stranger, "pgp", "publish", mirror, w("MIRROR-SUMS.sig", string(g.run("--local-user", pgpStranger, "--detach-sign", "--output", "-", mirror))))
	e.manifest2 = w("SHA256SUMS-2", strings.TrimPrefix(e.appSHA, "sha256:")+"  app-again.tar\n")
	e.manifest2Sig = w("SHA256SUMS-2.sig", string(g.run("--local-user", e.pgpOwner, "--detach-sign", "--output", "-", e.manifest2)))
	revoke := func(fpr string) []byte {
		return g.GenRevoke(fpr, "3", "retired")
	}
	e.retiredRevocation = w("retired.rev", string(revoke(e.pgpRetired)))
	e.forgedRevoke = w("forged.rev", string(renameIssuer(t, revoke(pgpStranger), pgpStranger, e.pgpRetired)))

	// A feedback export (the owner's vote) for the import row, and the
	// trustd/keys root for the revocation list rows.
	e.must(e.owner, "vote", e.appSHA, "--trust", "--key", ownerKey)
	e.export = filepath.Join(e.work, "feedback.json")
	e.must(e.owner, "feedback", "export", "--out", e.export)
	e.keysRoot = w("keys-root.json", string(e.get("/tuf/trustd/keys/1.root.json")))
}

// rows is the matrix: for every method, the requests each caller makes.
func (e *matrixEnv) rows() map[string][]mrow {
	own := func(c *mcaller) bool { return c == e.owner }
	out := func(c *mcaller, name string) string { return filepath.Join(e.work, c.name+"-"+name) }
	read := func(text string, args func(c *mcaller) []string) func(c *mcaller) cell {
		return func(c *mcaller) cell { return cell{ctl: args(c), text: text} }
	}
	readRPC := func(text string, rpc func(ctx context.Context, conn *grpc.ClientConn) (string, error)) func(c *mcaller) cell {
		return func(*mcaller) cell { return cell{rpc: rpc, text: text} }
	}
	fixed := func(args ...string) func(*mcaller) []string { return func(*mcaller) []string { return args } }
	// ownerOnly: the owner's request is allowed (and writes); the others
	// are refused with code and the reason refusal names.
	ownerOnly := func(code codes.Code, refusal func(c *mcaller) string, ownerText string, args func(c *mcaller) []string) func(c *mcaller) cell {
		return func(c *mcaller) cell {
			if own(c) {
				return cell{ctl: args(c), text: ownerText, writes: true}
			}
			return cell{ctl: args(c), want: code, text: refusal(c)}
		}
	}
	reason := func(s string) func(*mcaller) string { return func(*mcaller) string { return s } }
	// operatorOnly: only the operator's certificate may call.
	operatorOnly := func(method, okText string, args func(c *mcaller) []string) func(c *mcaller) cell {
		return func(c *mcaller) cell {
			switch c {
			case e.operator:
				return cell{ctl: args(c), text: okText}
			case e.stranger:
				return cell{ctl: args(c), want: codes.PermissionDenied,
					text: "permission denied: " + method + " is for operators only (rule operator); the client certificate CN=deploy-bot is not an operator's"}
			}
			return cell{ctl: args(c), want: codes.Unauthenticated, text: "authentication required: " + method + " is for operators only (rule operator)"}
		}
	}
	allowedWrite := func(text func(c *mcaller) string, args func(c *mcaller) []string) func(c *mcaller) cell {
		return func(c *mcaller) cell { return cell{ctl: args(c), text: text(c), writes: true} }
	}
	refusedAll := func(code codes.Code, text string, args func(c *mcaller) []string) func(c *mcaller) cell {
		return func(c *mcaller) cell { return cell{ctl: args(c), want: code, text: text} }
	}

	return map[string][]mrow{
		healthpb.Health_Check_FullMethodName: {{"check", readRPC("SERVING", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			return r.GetStatus().String(), err
		})}},
		healthpb.Health_List_FullMethodName: {{"list", readRPC("SERVING", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
			return fmt.Sprint(r.GetStatuses()), err
		})}},
		healthpb.Health_Watch_FullMethodName: {{"watch", func(*mcaller) cell {
			return cell{text: "SERVING", clientEnds: true, rpc: func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				s, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
				if err != nil {
					return "", err
				}
				r, err := s.Recv()
				return r.GetStatus().String(), err
			}}
		}}},
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName: {{"list services", readRPC("trust.v1.TUFService", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			s, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				return "", err
			}
			if err := s.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
				return "", err
			}
			r, err := s.Recv()
			if err != nil {
				return "", err
			}
			return fmt.Sprint(r.GetListServicesResponse().GetService()), endStream(s.CloseSend(), s.Recv)
		})}},
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {{"list services", readRPC("trust.v1.TUFService", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			s, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				return "", err
			}
			if err := s.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
				return "", err
			}
			r, err := s.Recv()
			if err != nil {
				return "", err
			}
			return fmt.Sprint(r.GetListServicesResponse().GetService()), endStream(s.CloseSend(), s.Recv)
		})}},

		trustv1.AttestService_GetAttestation_FullMethodName: {{"get the owner's attestation", read("signed by "+e.owner.id, func(*mcaller) []string { return []string{"attest", "get", e.attSeq} })}},
		trustv1.AttestService_ListAttestations_FullMethodName: {{"list the owner's release", read("builder: https://github.com/actions/runner/github-hosted", func(*mcaller) []string {
			return []string{"attest", "list", e.appSHA, "--predicate-type", attest.PredicateSLSAProvenanceV1}
		})}},
		trustv1.AttestService_PutAttestation_FullMethodName: {
			{"a layout in the owner's name", ownerOnly(codes.PermissionDenied, func(*mcaller) string {
				return "no valid signature by registered key " + e.owner.id
			}, "recorded", func(c *mcaller) []string {
				return []string{"attest", "put", e.layout(c, c.name+"'s layout"), "--layout-key", e.owner.id}
			})},
			{"a link for the owner's layout", ownerOnly(codes.PermissionDenied, func(*mcaller) string {
				return "no valid signature by a key layout " + e.layoutSeq + " lists"
			}, "recorded", func(c *mcaller) []string {
				return []string{"attest", "put", e.link(c), "--layout", e.layoutSeq}
			})},
			// Anyone may attest anything: the attestation is the signer's
			// claim, and readers judge the signer (it makes nobody a
			// publisher: see the Submit and SubmitRevocation rows).
			{"attest the owner's release", allowedWrite(func(c *mcaller) string { return "signed by " + c.id }, func(c *mcaller) []string {
				prov := out(c, "provenance.json")
				writeTestFile(e.t, prov, []byte(strings.Replace(integrationProvenance, "v1.0.0", "v1.0.0-"+c.name, 1)))
				return []string{"attest", "sign", e.app, "--predicate-type", attest.PredicateSLSAProvenanceV1, "--predicate", prov, "--key", c.key}
			})},
		},
		trustv1.AttestService_VerifyLayout_FullMethodName: {{"verify the owner's layout", func(*mcaller) cell {
			return cell{ctl: []string{"attest", "verify-layout", e.sc.Product.String(), "--layout", e.layoutSeq}, text: "FAIL", exit: 1}
		}}},

		trustv1.FeedbackService_ExportFeedback_FullMethodName: {{"export", read("", func(c *mcaller) []string { return []string{"feedback", "export", "--out", out(c, "export.json")} })}},
		trustv1.FeedbackService_GetReputation_FullMethodName:  {{"the owner's release", read("", func(*mcaller) []string { return []string{"reputation", e.appSHA} })}},
		trustv1.FeedbackService_ImportFeedback_FullMethodName: {{"import an export", operatorOnly(trustv1.FeedbackService_ImportFeedback_FullMethodName, "already present", func(*mcaller) []string {
			return []string{"feedback", "import", e.export}
		})}},

		trustv1.KeyService_AddKey_FullMethodName: {
			// Labels are unique ignoring case: nobody takes the owner's.
			{"take the owner's label", func(c *mcaller) cell {
				if own(c) {
					return cell{ctl: []string{"key", "add", c.key + ".pub", "--label", "release-owner"}, text: "already registered"}
				}
				return cell{ctl: []string{"key", "add", c.fresh + ".pub", "--label", "Release-Owner"}, want: codes.AlreadyExists,
					text: `label "release-owner" is the label of key ` + e.owner.id}
			}},
			// Registration is open (--key-registration open).
			{"register a key of one's own", read("registered", func(c *mcaller) []string { return []string{"key", "add", c.fresh + ".pub"} })},
		},
		trustv1.KeyService_GetKey_FullMethodName:   {{"the owner's key", read("release-owner", func(*mcaller) []string { return []string{"key", "show", e.owner.id} })}},
		trustv1.KeyService_ListKeys_FullMethodName: {{"list", read("release-owner", fixed("key", "list"))}},

		trustv1.LogService_GetCheckpoint_FullMethodName: {{"checkpoint", read("", fixed("log", "checkpoint"))}},
		trustv1.LogService_GetConsistencyProof_FullMethodName: {{"from an older checkpoint", func(c *mcaller) cell {
			st := out(c, "state.json")
			writeTestFile(e.t, st, readTestFile(e.t, e.state))
			return cell{ctl: []string{"log", "watch", "--once", "--state", st}, text: "consistent with size"}
		}}},
		trustv1.LogService_GetInclusionProof_FullMethodName: {{"the owner's attestation", read("", func(*mcaller) []string { return []string{"log", "verify-inclusion", e.attSeq} })}},

		trustv1.PGPService_Decide_FullMethodName: {{"a name the owner published", read("allowed", func(*mcaller) []string {
			return []string{"pgp", "verify", "--name", "app.tar", "--signer", e.pgpOwnerSub, "--root", e.pgpOwner}
		})}},
		trustv1.PGPService_PublishManifest_FullMethodName: {
			// The owner's detached signature over other bytes.
			{"a manifest in the owner's name", ownerOnly(codes.PermissionDenied, reason("does not verify: openpgp: invalid signature"), "published", func(c *mcaller) []string {
				if own(c) {
					return []string{"pgp", "publish", e.manifest2, e.manifest2Sig}
				}
				m := out(c, "SHA256SUMS")
				writeTestFile(e.t, m, append(readTestFile(e.t, e.manifest), []byte(strings.Repeat("ab", 32)+"  evil.tar\n")...))
				return []string{"pgp", "publish", m, e.manifestSig}
			})},
		},
		trustv1.PGPService_Revoke_FullMethodName: {
			// The stranger's revocation certificate, rewritten to name the
			// owner's retired certificate.
			{"revoke the owner's certificate", ownerOnly(codes.PermissionDenied, reason("does not verify against certificate "+e.pgpRetired), "revoked "+e.pgpRetired, func(c *mcaller) []string {
				if own(c) {
					return []string{"pgp", "revoke", e.retiredRevocation}
				}
				return []string{"pgp", "revoke", e.forgedRevoke}
			})},
		},

		trustv1.RevocationService_FetchRevocationList_FullMethodName:  {{"sync the list", e.syncCell}},
		trustv1.RevocationService_GetRevocationListKey_FullMethodName: {{"sync the list", e.syncCell}},
		trustv1.RevocationService_ListRevocations_FullMethodName:      {{"list", read("", fixed("revocations", "list"))}},
		trustv1.RevocationService_LookupRevocation_FullMethodName: {{"the owner's old release", func(*mcaller) cell {
			return cell{ctl: []string{"revocations", "lookup", "digest", e.oldSHA}, text: "not revoked"}
		}}},
		trustv1.RevocationService_SubmitRevocation_FullMethodName: {
			{"revoke the owner's release as malicious", ownerOnly(codes.PermissionDenied, func(c *mcaller) string {
				return "key " + c.id + " holds no authority for it"
			}, "accepted", func(c *mcaller) []string {
				return []string{"revoke", "digest", e.oldSHA, "--reason", "malicious", "--key", c.key}
			})},
		},

		trustv1.StatementService_GetStatement_FullMethodName:  {{"the owner's attestation", read("", func(*mcaller) []string { return []string{"statement", "get", e.attSeq} })}},
		trustv1.StatementService_ListBySubject_FullMethodName: {{"the owner's release", read("", func(*mcaller) []string { return []string{"statement", "list", e.appSHA} })}},
		trustv1.StatementService_Submit_FullMethodName: {
			{"respond to votes as the publisher of the owner's release", ownerOnly(codes.PermissionDenied, func(c *mcaller) string {
				return "key " + c.id + " is not a publisher of " + e.appSHA
			}, "accepted", func(c *mcaller) []string {
				return []string{"vote", "respond", e.appSHA, "--text", "a word from " + c.name, "--key", c.key}
			})},
			{"a record in trustd's own TUF format", refusedAll(codes.PermissionDenied, "reserved record type", func(c *mcaller) []string {
				return []string{"statement", "sign", "--predicate-type", "https://trustd.dev/tuf/metadata/v1", "--predicate",
					filepath.Join(e.work, "provenance.json"), "--subject", e.appSHA, "--key", c.key}
			})},
			// A vote is its author's own say.
			{"vote on the owner's release", allowedWrite(func(*mcaller) string { return "accepted" }, func(c *mcaller) []string {
				return []string{"vote", e.appSHA, "--like", "--key", c.key}
			})},
			// A location claim is evidence of where to look: anyone may say
			// they hold the owner's release, as a mirror.
			{"claim a location of the owner's release", allowedWrite(func(*mcaller) string { return "accepted" }, func(c *mcaller) []string {
				return []string{"location", "add", e.appSHA, "https://" + c.name + ".mirror.example.com/app.tar", "--key", c.key}
			})},
		},

		trustv1.EvidenceService_GetEvidence_FullMethodName: {{"the owner's release's evidence", readRPC(e.owner.id, func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := trustv1.NewEvidenceServiceClient(conn).GetEvidence(ctx, &trustv1.GetEvidenceRequest{Digests: []string{e.appSHA}, Kinds: []string{"entries"}})
			var signers []string
			for _, en := range r.GetEntries() {
				signers = append(signers, en.GetSignerKeyIds()...)
			}
			return fmt.Sprintf("%d entries signed by %v", len(r.GetEntries()), signers), err
		})}},

		trustv1.LocationService_GetLocations_FullMethodName: {{"the owner's release", readRPC(e.appSHA, func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := trustv1.NewLocationServiceClient(conn).GetLocations(ctx, &trustv1.GetLocationsRequest{Digest: e.appSHA})
			return fmt.Sprintf("%s: %d locations", r.GetDigest(), len(r.GetLocations())), err
		})}},
		trustv1.LocationService_ListSharedLocations_FullMethodName: {{"the owner's and the stranger's", readRPC("digests shared", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := trustv1.NewLocationServiceClient(conn).ListSharedLocations(ctx, &trustv1.ListSharedLocationsRequest{KeyA: e.owner.id, KeyB: e.stranger.id})
			return fmt.Sprintf("%d digests shared", len(r.GetDigests())), err
		})}},

		trustv1.ServerService_GetServerInfo_FullMethodName: {{"which trustd", readRPC("log trustd-log database ", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := trustv1.NewServerServiceClient(conn).GetServerInfo(ctx, &trustv1.GetServerInfoRequest{})
			return fmt.Sprintf("trustd %s log %s database %s", r.GetVersion(), r.GetLogOrigin(), r.GetDatabase()), err
		})}},

		trustv1.SubjectService_GetSubject_FullMethodName:  {{"the owner's release", read("claimed by "+e.owner.id, func(*mcaller) []string { return []string{"subject", e.appSHA} })}},
		trustv1.SubjectService_ListAliases_FullMethodName: {{"the owner's release", read("sha512:", func(*mcaller) []string { return []string{"aliases", e.appSHA} })}},

		trustv1.TUFService_AddSignatures_FullMethodName: {
			{"sign the owner's pending root proposal", ownerOnly(codes.PermissionDenied, func(c *mcaller) string {
				return "key " + c.id + " is not a key of root v1, role root"
			}, "published acme/ceremony-sign: root v2", func(c *mcaller) []string {
				k := c.key
				if own(c) {
					k = e.owner2
				}
				return []string{"tuf", "sign-pending", "acme/ceremony-sign", "--role", "root", "--version", "2", "--key", k}
			})},
		},
		// (trustctl subject reads TUF evidence server-side now, so the RPC
		// is called directly.)
		trustv1.TUFService_GetMetadata_FullMethodName: {{"the owner's release's targets metadata", readRPC("acme/app targets.json lists app.tar", func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
			r, err := trustv1.NewTUFServiceClient(conn).GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: "acme/app", Name: "targets.json"})
			var doc struct {
				Signed struct {
					Targets map[string]json.RawMessage `json:"targets"`
				} `json:"signed"`
			}
			if err == nil && json.Unmarshal(r.GetData(), &doc) == nil && doc.Signed.Targets["app.tar"] != nil {
				return "acme/app targets.json lists app.tar", nil
			}
			return fmt.Sprintf("targets.json: %d bytes", len(r.GetData())), err
		})}},
		trustv1.TUFService_GetOnlineKeys_FullMethodName: {{"build a root offline", read("wrote root v1", func(c *mcaller) []string {
			return []string{"tuf", "init", "own/" + c.name + "-offline", "--root-key", c.key, "--targets-key", c.key + ".pub", "--out", out(c, "root.json")}
		})}},
		trustv1.TUFService_GetStatus_FullMethodName: {{"the owner's repository", read("repository acme/app", fixed("tuf", "status", "acme/app"))}},
		trustv1.TUFService_InitRepo_FullMethodName: {
			// (Each root differs from the caller's others: trustd logs a
			// byte-identical root v1 of another repository only once.)
			{"create a repository in the owner's namespace", ownerOnly(codes.PermissionDenied, func(*mcaller) string {
				return "repositories matching acme/* belong to keys " + e.owner.id + ": root v1 must be signed by one of them"
			}, "published acme/new-", func(c *mcaller) []string {
				return []string{"tuf", "init", "acme/new-" + c.name, "--root-key", c.key, "--targets-key", c.fresh + ".pub"}
			})},
			{"create a repository under trustd/", refusedAll(codes.PermissionDenied, "names under trustd/ are reserved", func(c *mcaller) []string {
				return []string{"tuf", "init", "trustd/" + c.name, "--root-key", c.key, "--targets-key", c.key + ".pub"}
			})},
			// Creation is open outside acme/ (--tuf-repo-creation open).
			{"create a repository of one's own", allowedWrite(func(c *mcaller) string { return "published own/" + c.name }, func(c *mcaller) []string {
				return []string{"tuf", "init", "own/" + c.name, "--root-key", c.key, "--targets-key", c.key + ".pub", "--targets-key", c.fresh + ".pub"}
			})},
		},
		trustv1.TUFService_UploadMetadata_FullMethodName: {
			{"publish a target in the owner's repository", ownerOnly(codes.PermissionDenied, func(c *mcaller) string {
				return c.id + " is not a key of root v1, role targets"
			}, "published acme/app: targets v", func(c *mcaller) []string {
				return []string{"sign", e.app, "--repo", "acme/app", "--name", c.name + ".tar", "--key", c.key}
			})},
			{"propose a new root for the owner's repository", ownerOnly(codes.PermissionDenied, reason("no root key of the current root v1 signs it"), "is pending", func(c *mcaller) []string {
				return []string{"ceremony", "propose", "acme/ceremony-propose", "--root-key", c.key + ".pub", "--root-threshold", "1", "--key", c.key}
			})},
		},

		trustv1.TokenService_GetTokenKey_FullMethodName: {{"the token key", read("PUBLIC KEY", fixed("token", "key"))}},
		trustv1.TokenService_IssueToken_FullMethodName: {
			{"a token for the owner's release under the held policy", func(c *mcaller) cell {
				return cell{ctl: []string{"token", "issue", e.app, "--policy", "production", "--out", out(c, "token.json")}, text: "(policy production)"}
			}},
			// The signing oracle: a policy the caller wrote, on the wire.
			{"a token under the caller's own policy", func(*mcaller) cell {
				return cell{want: codes.InvalidArgument, text: "trustd evaluates only the policies it holds", rpc: func(ctx context.Context, conn *grpc.ClientConn) (string, error) {
					req := &trustv1.IssueTokenRequest{Digests: []string{e.appSHA}, PolicyName: "production"}
					raw := protowire.AppendTag(nil, 4, protowire.BytesType)
					req.ProtoReflect().SetUnknown(protowire.AppendBytes(raw, []byte(strings.Replace(trivialPolicy, "NAME", "production", 1))))
					r, err := trustv1.NewTokenServiceClient(conn).IssueToken(ctx, req)
					return string(r.GetToken()), err
				}}
			}},
		},
	}
}

// syncCell syncs the offline revocation list through trustd/keys over
// HTTPS (the CA in SSL_CERT_FILE).
func (e *matrixEnv) syncCell(c *mcaller) cell {
	return cell{ctl: []string{"revocations", "sync", "--root", e.keysRoot, "--tuf-url", "https://" + e.d.httpAddr + "/tuf/trustd/keys",
		"--cache", filepath.Join(e.work, c.name+"-cache-"+strconv.Itoa(int(time.Now().UnixNano())))},
		env: []string{"SSL_CERT_FILE=" + e.pki.caFile}, text: "revocation list"}
}

var rpcLine = regexp.MustCompile(`msg=rpc method=(\S+) code=(\S+) .*?caller=(\S+)`)

// check makes one cell's request and checks the answer, trustd's log line
// for it and the log size.
func (e *matrixEnv) check(t *testing.T, method string, c *mcaller, x cell) {
	before := e.logSize(t)
	_, mark := e.settle(t)
	if x.ctl != nil {
		r := e.ctl(c, x.env, x.ctl...)
		exit := x.exit
		switch x.want {
		case codes.OK:
		case codes.NotFound:
			exit = 1
		default:
			exit = 2
		}
		got := r.stdout
		if x.want != codes.OK {
			got = r.stderr
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("trustctl %s: the refusal is not one line: %q", strings.Join(x.ctl, " "), r.stderr)
			}
		}
		if r.code != exit || !strings.Contains(got, x.text) {
			t.Errorf("trustctl %s as %s: exit %d\nstdout %q\nstderr %q\nwant exit %d with %q", strings.Join(x.ctl, " "), c.name, r.code, r.stdout, r.stderr, exit, x.text)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		text, err := x.rpc(ctx, c.conn)
		cancel()
		st := status.Convert(err)
		if x.want != codes.OK {
			text = st.Message()
		}
		if st.Code() != x.want || !strings.Contains(text, x.text) {
			t.Errorf("%s as %s: %v (%q); want %s with %q", method, c.name, err, text, x.want, x.text)
		}
	}

	// trustd's account of the call: the method, its code, the caller's role.
	logged := x.want
	if x.clientEnds {
		logged = codes.Canceled
	}
	line := e.rpcLogged(t, mark, method, x.clientEnds)
	if line != nil && (line[2] != logged.String() || line[3] != c.role) {
		t.Errorf("trustd logged %s with code %s for caller %s; want %s for %s", method, line[2], line[3], logged, c.role)
	}

	after := e.logSize(t)
	switch {
	case x.want != codes.OK && after != before:
		t.Errorf("the refusal grew the log from %d to %d", before, after)
	case x.want == codes.OK && x.writes && after <= before:
		t.Errorf("the allowed write left the log at %d", after)
	case x.want == codes.OK && !x.writes && after != before:
		t.Errorf("the allowed read grew the log from %d to %d", before, after)
	}
}

// rpcLogged returns the fields (method, code, caller) of trustd's log
// line for the call of method the cell made, the last one when it made
// several: the lines between offset mark of trustd's log and the next
// settle. A stream the client ended is logged when trustd notices, so for
// one the line is awaited first.
func (e *matrixEnv) rpcLogged(t *testing.T, mark int, method string, clientEnds bool) []string {
	t.Helper()
	last := func(logs string) []string {
		var l []string
		for _, m := range rpcLine.FindAllStringSubmatch(logs, -1) {
			if m[1] == method {
				l = m
			}
		}
		return l
	}
	for deadline := time.Now().Add(5 * time.Second); clientEnds && last(e.d.logs()[mark:]) == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	end, _ := e.settle(t)
	logs := e.d.logs()[mark:end]
	if l := last(logs); l != nil {
		return l
	}
	t.Errorf("trustd logged no call of %s:\n%s", method, logs)
	return nil
}

// settle makes a marked health check and waits until trustd's log shows
// it: every line logged before the call is then read. It returns the
// offsets of the marker's line and of the line after it.
func (e *matrixEnv) settle(t *testing.T) (int, int) {
	t.Helper()
	e.marks++
	id := "matrix-mark-" + strconv.Itoa(e.marks)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), server.RequestIDHeader, id), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(e.owner.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("marker call: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		logs := e.d.logs()
		if i := strings.Index(logs, "request_id="+id+" "); i >= 0 {
			if n := strings.Index(logs[i:], "\n"); n >= 0 {
				return strings.LastIndex(logs[:i], "\n") + 1, i + n + 1
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trustd did not log the marker call %s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ctl runs trustctl as caller c.
func (e *matrixEnv) ctl(c *mcaller, env []string, args ...string) result {
	full := append(append([]string{"--server", e.d.grpcAddr}, c.flags...), args...)
	if env == nil {
		return run(e.t, nil, "trustctl", full...)
	}
	return runEnv(e.t, append(os.Environ(), env...), "trustctl", full...)
}

// must runs trustctl as c for the setup and stops the test if it fails.
func (e *matrixEnv) must(c *mcaller, args ...string) result {
	e.t.Helper()
	r := e.ctl(c, nil, args...)
	if r.code != 0 {
		e.t.Fatalf("setup: trustctl %s as %s: exit %d\n%s%s", strings.Join(args, " "), c.name, r.code, r.stdout, r.stderr)
	}
	return r
}

// dial connects to trustd's gRPC over TLS, with a client certificate when
// certFile is set.
func (e *matrixEnv) dial(certFile, keyFile string) *grpc.ClientConn {
	cfg := &tls.Config{RootCAs: e.pki.ca.Pool(), MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			e.t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := grpc.NewClient(e.d.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

// get reads a file trustd serves over HTTPS.
func (e *matrixEnv) get(path string) []byte {
	e.t.Helper()
	resp, err := e.https.Get("https://" + e.d.httpAddr + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return b
}

// logSize is the size of the log in trustd's current checkpoint.
func (e *matrixEnv) logSize(t *testing.T) uint64 {
	t.Helper()
	return tlsLogSize(t, e.https, e.d)
}

// intotoKey loads c's signing key for in-toto-golang.
func (e *matrixEnv) intotoKey(c *mcaller) intoto.Key {
	var k intoto.Key
	if err := k.LoadKeyReaderDefaults(bytes.NewReader(readTestFile(e.t, c.key))); err != nil {
		e.t.Fatalf("in-toto key of %s: %v", c.name, err)
	}
	return k
}

// layout writes an in-toto layout signed by c, with c as every step's
// functionary, and returns its file.
func (e *matrixEnv) layout(c *mcaller, readme string) string {
	k := e.intotoKey(c)
	sc := *e.sc
	sc.Owner, sc.Alice, sc.Bob = k, k, k
	p := filepath.Join(e.work, c.name+"-"+strconv.Itoa(len(readme))+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".layout")
	writeTestFile(e.t, p, sc.Layout(e.t, readme))
	return p
}

// link writes the owner layout's first step's link, signed by c.
func (e *matrixEnv) link(c *mcaller) string {
	p := filepath.Join(e.work, c.name+"-write-code.link")
	writeTestFile(e.t, p, e.sc.Link(e.t, "write-code", nil, []string{"foo.py"}, e.intotoKey(c)))
	return p
}

// endStream half-closes a stream and reads it to its end.
func endStream[T any](closeErr error, recv func() (T, error)) error {
	if closeErr != nil {
		return closeErr
	}
	for {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func mustJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
}

// renameIssuer rewrites an armored OpenPGP signature made by the key with
// fingerprint from so that it claims the key with fingerprint to made it
// (the issuer fingerprint and key id subpackets), leaving the signature
// bytes as they are: a forgery in to's name. It returns binary packets.
func renameIssuer(t *testing.T, armored []byte, from, to string) []byte {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(block.Body)
	if err != nil {
		t.Fatal(err)
	}
	fromB, toB := hexBytes(t, from), hexBytes(t, to)
	if !bytes.Contains(data, fromB) {
		t.Fatalf("the signature holds no issuer fingerprint %s", from)
	}
	data = bytes.ReplaceAll(data, fromB, toB)
	return bytes.ReplaceAll(data, fromB[len(fromB)-8:], toB[len(toB)-8:])
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
