package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/evidence/evidencesvc"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/version"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/web"
	"github.com/trustd-dev/trustd/witness"
)

// Options configure a Server. Store, Log and Logger are required.
type Options struct {
	Store  store.Store
	Log    *statement.Log
	Logger *slog.Logger
	// Witnesses, when set, pushes checkpoints to witnesses; the latest
	// checkpoint served (GetCheckpoint, /checkpoint) is then the one it
	// last pushed, with the witnesses' cosignatures.
	Witnesses *witness.Pusher
	// MaxRequestBytes bounds one gRPC request message (default 4 MiB).
	MaxRequestBytes int
	// RequestTimeout is the deadline given to requests that carry none
	// (default 30 s).
	RequestTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown before open calls are cut
	// (default 15 s).
	ShutdownTimeout time.Duration
	// TLS, when set, serves gRPC and HTTP over TLS. With ClientCAs (and
	// ClientAuth VerifyClientCertIfGiven or stricter) callers may prove
	// themselves with client certificates; see Authz.
	TLS *tls.Config
	// Authz says which client certificates are operators' and who may
	// register keys; the authorisation table (AuthzTable) does the rest.
	Authz Authz
	// TUF, TUFState and TUFKeys, when TUF is set, serve the TUF repository
	// service (gRPC TUFService and HTTP /tuf/); all three are then required.
	TUF      *tuf.Service
	TUFState tuf.State
	TUFKeys  *tuf.OnlineKeys
	// Feedback answers reputation queries and feedback export/import; nil
	// serves them with default options (its validators and indexers must
	// be in Log's options either way).
	Feedback *feedback.Service
	// Revocation and RevocationLists, when Revocation is set, serve the
	// RevocationService; both are then required.
	Revocation      *revocation.Service
	RevocationLists *revocation.Lists
	// TokenIssuer, when set, serves TokenService: policy evaluation over
	// this server's evidence and tokens signed with its token key.
	TokenIssuer *token.Issuer
	// TokenKey, when set, is the token key kept published in the
	// trustd/keys TUF repository: GetTokenKey publishes it on first use.
	TokenKey *revocation.PublishedKey
	// TokenTTL is the lifetime of issued tokens (default DefaultTokenTTL).
	TokenTTL time.Duration
	// TokenPolicies are the policies IssueToken evaluates, named by the
	// caller; it never evaluates a policy the caller sends. Nil or empty:
	// IssueToken answers FailedPrecondition.
	TokenPolicies *policy.Catalog
	// TokenVerifierID is the verifier.id of issued tokens (default
	// token.VerifierID).
	TokenVerifierID string
	// Version is the trustd version recorded in tokens.
	Version string
	// Build is the trustd build GetServerInfo reports (default
	// version.Get()).
	Build version.Info
	// Database is the database backend kind GetServerInfo reports
	// ("sqlite" or "postgres"; default "unknown"). Never its address.
	Database string
	// Attest serves AttestService; nil serves one over Store and Log with
	// attest's defaults (no Sigstore trusted root: bundles are refused).
	Attest *attest.Service
	// Limits shed load beyond the calls trustd can serve at once and
	// bound each peer's writes; the zero value limits nothing.
	Limits Limits
	// Locations serves LocationService (where artifacts can be fetched);
	// nil serves it with location's defaults over Revocation (none
	// without Revocation). Its validators and indexers must be in Log's
	// options either way.
	Locations *location.Service
	// MaxEvidencePerLookup bounds the facts (log entries) of one GetSubject
	// response (default and at most DefaultMaxEvidencePerLookup); callers
	// page beyond.
	MaxEvidencePerLookup int
}

// Server is trustd's gRPC and HTTP front.
type Server struct {
	opts     Options
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
	metrics  *metrics
	limits   *limiter
	http     *http.Server
	authz    *authorizer
	// api is the HTTP/JSON API (httpapi.go); apiCalls holds its calls in
	// flight by handle, for apiPeer.
	api      *api
	apiCalls sync.Map
	// chain is the steps every RPC passes (see steps).
	chain []step
}

// New builds a Server with every service registered.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Log == nil || opts.Logger == nil {
		return nil, errors.New("server: Store, Log and Logger are required")
	}
	if opts.TUF != nil && (opts.TUFState == nil || opts.TUFKeys == nil) {
		return nil, errors.New("server: TUF needs TUFState and TUFKeys")
	}
	if opts.Revocation != nil && opts.RevocationLists == nil {
		return nil, errors.New("server: Revocation needs RevocationLists")
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 4 << 20
	}
	if opts.MaxEvidencePerLookup <= 0 {
		opts.MaxEvidencePerLookup = DefaultMaxEvidencePerLookup
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	authz, err := newAuthorizer(opts.Authz, opts.TLS != nil && opts.TLS.ClientCAs != nil)
	if err != nil {
		return nil, err
	}
	s := &Server{authz: authz, opts: opts, log: opts.Logger, registry: prometheus.NewRegistry(), health: health.NewServer()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newMetrics(s.registry)
	registerReadMetrics(s.registry, opts.Store)
	if opts.Limits.Exempt == nil {
		// Operators (mTLS) configure their own quota: their writes are
		// never charged to their peer's rate.
		opts.Limits.Exempt = func(ctx context.Context) bool { return CallerFrom(ctx).Role == RoleOperator }
	}
	s.limits = newLimiter(opts.Limits, s.registry, opts.Logger)

	s.chain = s.steps()
	grpcOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxRequestBytes),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor, s.limitUnary),
		grpc.ChainStreamInterceptor(s.streamInterceptor, s.limitStream),
		grpc.InTapHandle(s.tap),
	}
	// TLS when configured; the HTTP/JSON API's in-memory connection is
	// recognised and marked (apiCreds).
	grpcOpts = append(grpcOpts, grpc.Creds(serverCreds(opts)))
	s.grpc = grpc.NewServer(grpcOpts...)
	if s.api, err = s.newAPI(); err != nil {
		return nil, err
	}
	ls := &logService{log: opts.Log, store: opts.Store, witnesses: opts.Witnesses}
	pgpLog := pgplog.New(opts.Store, opts.Log)
	registry := keys.NewRegistry(opts.Store).WithCertificateUpdater(func(ctx context.Context, data []byte) (*pgp.Certificate, keys.Update, error) {
		u, err := pgpLog.UpdateCertificate(ctx, data)
		return u.Certificate, keys.Update{Changes: u.Changes, Ignored: u.Ignored, Entry: u.Entry.Seq}, err
	})
	keySvc := &keyService{keys: registry,
		pgpStatus: func(ctx context.Context, k keys.Key) (pgp.Status, error) {
			// Key show reads the one revocation state: revocation
			// statements of the key too, not only the log's OpenPGP facts.
			if opts.Revocation != nil {
				return opts.Revocation.KeyStatus(ctx, k.ID, time.Now())
			}
			return pgpLog.Status(ctx, k.ID, time.Now())
		}}
	trustv1.RegisterKeyServiceServer(s.grpc, keySvc)
	trustv1.RegisterPGPServiceServer(s.grpc, &pgpService{pgp: pgpLog})
	trustv1.RegisterStatementServiceServer(s.grpc, &statementService{log: opts.Log})
	trustv1.RegisterLogServiceServer(s.grpc, ls)
	fb := opts.Feedback
	if fb == nil {
		fb = feedback.New(opts.Store, feedback.Options{})
	}
	fbSvc := &feedbackService{svc: fb, log: opts.Log}
	trustv1.RegisterFeedbackServiceServer(s.grpc, fbSvc)
	attestSvc := opts.Attest
	if attestSvc == nil {
		attestSvc = attest.New(opts.Store, opts.Log, attest.Options{})
	}
	trustv1.RegisterAttestServiceServer(s.grpc, &attestService{svc: attestSvc})
	var tufs *tufService
	if opts.TUF != nil {
		tufs = &tufService{svc: opts.TUF, state: opts.TUFState, keys: opts.TUFKeys}
		tufs.log = opts.Log
		trustv1.RegisterTUFServiceServer(s.grpc, tufs)
	}
	// The web view reads through the same service implementations as the
	// gRPC read RPCs (nil interfaces leave their sections out).
	wopts := web.Options{Keys: keySvc, Log: ls, Reputation: fbSvc, Store: opts.Store, Logger: opts.Logger, Status: s.webStatus}
	if tufs != nil {
		wopts.TUF = tufs
	}
	if opts.Revocation != nil {
		revSvc := &revocationService{log: opts.Log, svc: opts.Revocation, lists: opts.RevocationLists, logger: opts.Logger}
		trustv1.RegisterRevocationServiceServer(s.grpc, revSvc)
		wopts.Revocations = revSvc
	}
	ev := &evidencesvc.Builder{Store: opts.Store, Log: opts.Log, TUF: opts.TUF != nil, PGP: pgpLog, Attest: attestSvc,
		Revocation: opts.Revocation, Feedback: fb}
	trustv1.RegisterEvidenceServiceServer(s.grpc, &evidenceService{builder: ev})
	subjects := &subjectService{store: opts.Store, maxEvidence: opts.MaxEvidencePerLookup, builder: ev}
	trustv1.RegisterSubjectServiceServer(s.grpc, subjects)
	wopts.Subject, wopts.Builder = subjects, ev
	if locs := opts.Locations; locs != nil || opts.Revocation != nil {
		if locs == nil {
			locs = location.New(opts.Store, location.Options{Publishers: opts.Revocation, Revocations: opts.Revocation})
		}
		locSvc := &locationService{svc: locs, store: opts.Store}
		trustv1.RegisterLocationServiceServer(s.grpc, locSvc)
		wopts.Locations = locSvc
	}
	if opts.TokenIssuer != nil {
		trustv1.RegisterTokenServiceServer(s.grpc, newTokenService(opts, ev))
	}
	build := opts.Build
	if build == (version.Info{}) {
		build = version.Get()
	}
	database := opts.Database
	if database == "" {
		database = version.Unknown
	}
	trustv1.RegisterServerServiceServer(s.grpc, &serverService{build: build, log: opts.Log, database: database, started: time.Now(), now: time.Now})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc(APIPrefix+"/", s.serveAPI)
	mux.HandleFunc("GET "+OpenAPIPath, serveOpenAPI)
	s.registerLogHTTP(mux, ls)
	s.registerTileHTTP(mux, ls)
	if tufs != nil {
		s.registerTUFHTTP(mux, tufs)
	}
	view, err := web.New(wopts)
	if err != nil {
		return nil, err
	}
	view.Register(mux)
	s.http = &http.Server{Handler: s.limitHTTP(mux), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)}
	if opts.TLS != nil {
		s.http.TLSConfig = opts.TLS.Clone()
	}
	return s, nil
}

// GRPC returns the gRPC server, for tests that serve it on their own
// listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// HTTPHandler returns the handler of the HTTP listener.
func (s *Server) HTTPHandler() http.Handler { return s.http.Handler }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		http.Error(w, "not ready: store does not answer", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Serve serves gRPC on grpcLis and HTTP on httpLis (which may be nil) until
// ctx is done, then shuts down gracefully: health turns NOT_SERVING, new
// calls are refused and open ones get ShutdownTimeout to finish.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("server: grpc: %w", err)
		}
		return nil
	})
	if httpLis != nil {
		g.Go(func() error {
			serve := s.http.Serve
			if s.http.TLSConfig != nil {
				// The certificate is in TLSConfig; HTTP is never plaintext
				// when gRPC is not.
				serve = func(l net.Listener) error { return s.http.ServeTLS(l, "", "") }
			}
			if err := serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server: http: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("shutting down", "grace", LogDuration(s.opts.ShutdownTimeout))
		s.health.Shutdown()
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		timer := time.NewTimer(s.opts.ShutdownTimeout)
		defer timer.Stop()
		select {
		case <-stopped:
		case <-timer.C:
			s.log.Warn("graceful shutdown timed out; closing open calls")
			s.grpc.Stop()
		}
		hctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		defer cancel()
		err := s.http.Shutdown(hctx)
		_ = s.api.conn.Close()
		return err
	})
	return g.Wait()
}
