package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"

	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// Authorisation errors; the interceptor answers with them before a handler
// runs.
var (
	// ErrUnauthenticated means the method needs a role the caller could
	// only have with a client certificate, and it presented none
	// (gRPC Unauthenticated).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden means the caller's role does not allow the method, or the
	// method is missing from the authorisation table (PermissionDenied).
	ErrForbidden = errors.New("permission denied")
)

// Role is what a caller has proven on its connection. Roles are ordered:
// each includes the powers of the ones before it.
type Role int

// Roles, weakest first.
const (
	// RoleAnonymous is a caller without a verified client certificate.
	RoleAnonymous Role = iota
	// RoleAuthenticated holds a client certificate that verifies against
	// the configured client CAs.
	RoleAuthenticated
	// RoleOperator holds a verified client certificate that Authz names as
	// an operator's (by subject alternative name or fingerprint).
	RoleOperator
)

func (r Role) String() string {
	switch r {
	case RoleAnonymous:
		return "anonymous"
	case RoleAuthenticated:
		return "authenticated"
	case RoleOperator:
		return "operator"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Caller is who makes a call, as its connection proves it.
type Caller struct {
	Role Role
	// Subject is the verified client certificate's subject; empty for
	// anonymous callers.
	Subject string
	// Fingerprint is the lowercase hex SHA-256 of the verified client
	// certificate; empty for anonymous callers.
	Fingerprint string
}

func (c Caller) String() string {
	if c.Fingerprint == "" {
		return c.Role.String()
	}
	return fmt.Sprintf("%s (%s, sha256 %s)", c.Role, c.Subject, c.Fingerprint)
}

type callerKey struct{}

// CallerFrom returns the caller of the RPC whose context ctx is; outside an
// RPC it is anonymous. Steps after authorisation (limits, quotas) use it to
// tell operators from other callers.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Rule says who may call a method.
type Rule int

// Rules of the authorisation table.
const (
	// RuleRead lets anyone call, anonymous callers included: the method
	// writes nothing a caller chooses (it may publish trustd's own keys,
	// which trustd does anyway).
	RuleRead Rule = iota + 1
	// RuleSigned lets anyone call: what the method writes is authorised by
	// the signatures in the request, which the service verifies against
	// the authority the log holds, whoever sends it.
	RuleSigned
	// RuleKeyRegistration is key registration: anyone may call when
	// registration is open, operators only when it is restricted
	// (Authz.KeyRegistration).
	RuleKeyRegistration
	// RuleOperator lets only operators call: administration that no
	// signature in the request authorises.
	RuleOperator
)

func (r Rule) String() string {
	switch r {
	case RuleRead:
		return "read"
	case RuleSigned:
		return "signed"
	case RuleKeyRegistration:
		return "key-registration"
	case RuleOperator:
		return "operator"
	}
	return fmt.Sprintf("rule(%d)", int(r))
}

// methodRules is the authorisation table: every gRPC method trustd serves,
// by full method name, and who may call it. A method missing here is
// refused, so a new RPC cannot be served before its rule is written down
// (a test checks every registered method is listed). The HTTP listener's
// own paths serve only reads (health, metrics, log and TUF files); its
// JSON API calls these methods through the same chain (httpapi.go).
var methodRules = map[string]Rule{
	trustv1.SubjectService_GetSubject_FullMethodName:  RuleRead,
	trustv1.SubjectService_ListAliases_FullMethodName: RuleRead,

	// Where artifacts can be fetched: read from logged location claims.
	trustv1.LocationService_GetLocations_FullMethodName:        RuleRead,
	trustv1.LocationService_ListSharedLocations_FullMethodName: RuleRead,

	// The evidence a verifier evaluates, with its proofs: what the log
	// already serves entry by entry.
	trustv1.EvidenceService_GetEvidence_FullMethodName: RuleRead,

	// Registering a key grants nothing by itself; whether strangers may do
	// it is configured.
	trustv1.KeyService_AddKey_FullMethodName:   RuleKeyRegistration,
	trustv1.KeyService_GetKey_FullMethodName:   RuleRead,
	trustv1.KeyService_ListKeys_FullMethodName: RuleRead,

	trustv1.StatementService_Submit_FullMethodName:        RuleSigned,
	trustv1.StatementService_GetStatement_FullMethodName:  RuleRead,
	trustv1.StatementService_ListBySubject_FullMethodName: RuleRead,

	trustv1.LogService_GetCheckpoint_FullMethodName:       RuleRead,
	trustv1.LogService_GetInclusionProof_FullMethodName:   RuleRead,
	trustv1.LogService_GetConsistencyProof_FullMethodName: RuleRead,

	trustv1.PGPService_PublishManifest_FullMethodName: RuleSigned,
	trustv1.PGPService_Revoke_FullMethodName:          RuleSigned,
	trustv1.PGPService_Decide_FullMethodName:          RuleRead,

	trustv1.FeedbackService_GetReputation_FullMethodName:  RuleRead,
	trustv1.FeedbackService_ExportFeedback_FullMethodName: RuleRead,
	// An import appends entries another instance's log accepted, under
	// that instance's name: choosing which instances to federate with is
	// the operator's decision, not a signer's.
	trustv1.FeedbackService_ImportFeedback_FullMethodName: RuleOperator,

	trustv1.AttestService_PutAttestation_FullMethodName:   RuleSigned,
	trustv1.AttestService_ListAttestations_FullMethodName: RuleRead,
	trustv1.AttestService_GetAttestation_FullMethodName:   RuleRead,
	trustv1.AttestService_VerifyLayout_FullMethodName:     RuleRead,

	// Repository creation is signed by the new root's keys; who may
	// create which namespace is the TUF service's rule.
	trustv1.TUFService_InitRepo_FullMethodName:       RuleSigned,
	trustv1.TUFService_UploadMetadata_FullMethodName: RuleSigned,
	trustv1.TUFService_AddSignatures_FullMethodName:  RuleSigned,
	trustv1.TUFService_GetStatus_FullMethodName:      RuleRead,
	trustv1.TUFService_GetMetadata_FullMethodName:    RuleRead,
	trustv1.TUFService_GetOnlineKeys_FullMethodName:  RuleRead,

	trustv1.RevocationService_SubmitRevocation_FullMethodName:     RuleSigned,
	trustv1.RevocationService_LookupRevocation_FullMethodName:     RuleRead,
	trustv1.RevocationService_ListRevocations_FullMethodName:      RuleRead,
	trustv1.RevocationService_GetRevocationListKey_FullMethodName: RuleRead,
	trustv1.RevocationService_FetchRevocationList_FullMethodName:  RuleRead,

	// A token states what trustd concluded from the evidence it holds; it
	// writes nothing to the log.
	trustv1.TokenService_IssueToken_FullMethodName:  RuleRead,
	trustv1.TokenService_GetTokenKey_FullMethodName: RuleRead,

	// Which build trustd is, its log's name and database kind: nothing a
	// caller could not learn from the log and the HTTP listener.
	trustv1.ServerService_GetServerInfo_FullMethodName: RuleRead,

	healthpb.Health_Check_FullMethodName: RuleRead,
	healthpb.Health_List_FullMethodName:  RuleRead,
	healthpb.Health_Watch_FullMethodName: RuleRead,

	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName: RuleRead,
	// reflection.Register serves the deprecated v1alpha service too.
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": RuleRead,
}

// AuthzTable returns a copy of the authorisation table: every gRPC method
// trustd may serve, by full method name, with its rule.
func AuthzTable() map[string]Rule { return maps.Clone(methodRules) }

// KeyRegistration says who may register keys.
type KeyRegistration string

// Key registration modes.
const (
	// KeyRegistrationOpen lets any caller register keys.
	KeyRegistrationOpen KeyRegistration = "open"
	// KeyRegistrationOperator lets only operators register keys.
	KeyRegistrationOperator KeyRegistration = "operator"
)

// Authz configures who callers are and what they may call. The zero value
// makes every caller anonymous and key registration open.
type Authz struct {
	// OperatorSANs are subject alternative names (DNS names, email
	// addresses, URIs) of client certificates whose holders are operators.
	// The certificate must verify against the TLS configuration's
	// ClientCAs; DNS names compare ignoring case.
	OperatorSANs []string
	// OperatorFingerprints are SHA-256 fingerprints (hex, colons allowed)
	// of client certificates whose holders are operators; the certificate
	// must still verify against the ClientCAs.
	OperatorFingerprints []string
	// KeyRegistration is who may call AddKey (default open).
	KeyRegistration KeyRegistration
}

// authorizer holds the parsed Authz.
type authorizer struct {
	sans         []string
	fingerprints [][sha256.Size]byte
	registration KeyRegistration
}

func newAuthorizer(a Authz, clientCAs bool) (*authorizer, error) {
	z := &authorizer{sans: a.OperatorSANs, registration: a.KeyRegistration}
	if z.registration == "" {
		z.registration = KeyRegistrationOpen
	}
	if z.registration != KeyRegistrationOpen && z.registration != KeyRegistrationOperator {
		return nil, fmt.Errorf("server: key registration %q is not open or operator", a.KeyRegistration)
	}
	for _, f := range a.OperatorFingerprints {
		fp, err := ParseFingerprint(f)
		if err != nil {
			return nil, fmt.Errorf("server: operator certificate fingerprint: %w", err)
		}
		z.fingerprints = append(z.fingerprints, fp)
	}
	for _, s := range z.sans {
		if s == "" {
			return nil, errors.New("server: operator certificate SAN is empty")
		}
	}
	operators := len(z.sans)+len(z.fingerprints) > 0
	if operators && !clientCAs {
		return nil, errors.New("server: operator certificates need TLS with ClientCAs to verify them")
	}
	if z.registration == KeyRegistrationOperator && !operators {
		return nil, errors.New("server: key registration restricted to operators, but no operator certificate is configured")
	}
	return z, nil
}

// ParseFingerprint parses a SHA-256 certificate fingerprint: 64 hex digits,
// optionally in colon-separated pairs, either case.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return fp, fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	copy(fp[:], b)
	return fp, nil
}

// identify derives the caller from the connection: only a client
// certificate the TLS handshake verified against the client CAs counts;
// an unverified certificate leaves the caller anonymous.
func (z *authorizer) identify(ctx context.Context) Caller {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Caller{}
	}
	leaf := info.State.VerifiedChains[0][0]
	fp := sha256.Sum256(leaf.Raw)
	c := Caller{Role: RoleAuthenticated, Subject: leaf.Subject.String(), Fingerprint: hex.EncodeToString(fp[:])}
	if z.isOperator(leaf, fp) {
		c.Role = RoleOperator
	}
	return c
}

func (z *authorizer) isOperator(leaf *x509.Certificate, fp [sha256.Size]byte) bool {
	for _, want := range z.fingerprints {
		if subtle.ConstantTimeCompare(want[:], fp[:]) == 1 {
			return true
		}
	}
	for _, want := range z.sans {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, want) {
				return true
			}
		}
		for _, n := range leaf.EmailAddresses {
			if n == want {
				return true
			}
		}
		for _, u := range leaf.URIs {
			if u.String() == want {
				return true
			}
		}
	}
	return false
}

// required is the weakest role that may call a method under rule.
func (z *authorizer) required(rule Rule) Role {
	switch rule {
	case RuleRead, RuleSigned:
		return RoleAnonymous
	case RuleKeyRegistration:
		if z.registration == KeyRegistrationOpen {
			return RoleAnonymous
		}
	}
	return RoleOperator
}

// authorize is the step that enforces the table: it refuses a call whose
// method is not listed or whose caller's role is too weak.
func (s *Server) authorize(ctx context.Context, call *rpc, next func(context.Context) error) error {
	rule, ok := methodRules[call.method]
	if !ok {
		return fmt.Errorf("%w: %s is not in trustd's authorisation table", ErrForbidden, call.method)
	}
	need := s.authz.required(rule)
	switch {
	case call.caller.Role >= need:
		return next(ctx)
	case call.caller.Role == RoleAnonymous:
		return fmt.Errorf("%w: %s is for %ss only (rule %s); connect with a client certificate that trustd names as an operator's",
			ErrUnauthenticated, call.method, need, rule)
	}
	return fmt.Errorf("%w: %s is for %ss only (rule %s); the client certificate %s is not an operator's",
		ErrForbidden, call.method, need, rule, call.caller.Subject)
}
