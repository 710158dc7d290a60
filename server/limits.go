package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"

	"github.com/trustd-dev/trustd/internal/ratelimit"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// ErrOverloaded means trustd already serves as many calls of the kind as
// it is configured to (Limits.MaxInFlightReads or MaxInFlightWrites) and
// none finished within Limits.QueueWait: the call is shed, not queued, so a
// flood costs trustd neither memory nor the deadlines of the calls it
// admitted. Retrying after the delay the error carries is safe.
var ErrOverloaded = errors.New("server overloaded")

// Limits configure load shedding. A zero field disables its limit.
type Limits struct {
	// MaxInFlightReads and MaxInFlightWrites bound the calls served at
	// once (unary and streaming gRPC calls, and HTTP reads); see
	// ErrOverloaded.
	MaxInFlightReads  int
	MaxInFlightWrites int
	// QueueWait is how long a call may wait for a free slot before it is
	// shed; 0 sheds at once. At most as many calls wait as the limit
	// admits; gRPC calls beyond those are shed as their headers arrive,
	// before trustd reads their message or starts a goroutine for them,
	// which is what keeps shedding fast under a flood.
	QueueWait time.Duration
	// PeerWrites, when set, is charged once for every write RPC, keyed by
	// the caller's address (an IPv4 address, or the /64 of an IPv6 one).
	PeerWrites *ratelimit.Limiter
	// PeerExempt are the addresses never charged to PeerWrites (a load
	// balancer, benchmark hosts).
	PeerExempt []netip.Prefix
	// Exempt, when set, exempts the callers it returns true for from
	// PeerWrites (e.g. operator-role callers authenticated by mTLS).
	Exempt func(ctx context.Context) bool
}

// overloadRetry is the retry delay an ErrOverloaded refusal suggests.
const overloadRetry = 250 * time.Millisecond

// overloadError is an ErrOverloaded refusal, naming the limit hit.
type overloadError struct {
	kind  string
	limit int
	flag  string
}

func (e *overloadError) Error() string {
	return fmt.Sprintf("%s: %d %s already in flight (trustd %s); retry in %s", ErrOverloaded, e.limit, e.kind, e.flag, overloadRetry)
}
func (e *overloadError) Is(target error) bool      { return target == ErrOverloaded }
func (e *overloadError) RetryDelay() time.Duration { return overloadRetry }

// callClass says which limits a method is held to.
type callClass int

const (
	classExempt callClass = iota // health and reflection: never shed
	classRead
	classWrite
)

// readMethods and writeMethods classify every trust.v1 RPC for the
// concurrency limits; writes are also charged to the peer write quota.
// TestEveryMethodClassified keeps them complete; an unlisted trust.v1
// method counts as a write.
var readMethods = map[string]bool{
	trustv1.AttestService_ListAttestations_FullMethodName:         true,
	trustv1.EvidenceService_GetEvidence_FullMethodName:            true,
	trustv1.AttestService_GetAttestation_FullMethodName:           true,
	trustv1.AttestService_VerifyLayout_FullMethodName:             true,
	trustv1.FeedbackService_GetReputation_FullMethodName:          true,
	trustv1.FeedbackService_ExportFeedback_FullMethodName:         true,
	trustv1.KeyService_GetKey_FullMethodName:                      true,
	trustv1.KeyService_ListKeys_FullMethodName:                    true,
	trustv1.LogService_GetCheckpoint_FullMethodName:               true,
	trustv1.LogService_GetInclusionProof_FullMethodName:           true,
	trustv1.LogService_GetConsistencyProof_FullMethodName:         true,
	trustv1.PGPService_Decide_FullMethodName:                      true,
	trustv1.RevocationService_LookupRevocation_FullMethodName:     true,
	trustv1.RevocationService_ListRevocations_FullMethodName:      true,
	trustv1.RevocationService_GetRevocationListKey_FullMethodName: true,
	trustv1.RevocationService_FetchRevocationList_FullMethodName:  true,
	trustv1.StatementService_GetStatement_FullMethodName:          true,
	trustv1.StatementService_ListBySubject_FullMethodName:         true,
	trustv1.SubjectService_GetSubject_FullMethodName:              true,
	trustv1.SubjectService_ListAliases_FullMethodName:             true,
	trustv1.LocationService_GetLocations_FullMethodName:           true,
	trustv1.LocationService_ListSharedLocations_FullMethodName:    true,
	// IssueToken signs but stores nothing; GetTokenKey publishes trustd's
	// own key at most once.
	trustv1.TokenService_IssueToken_FullMethodName:  true,
	trustv1.TokenService_GetTokenKey_FullMethodName: true,
	trustv1.TUFService_GetStatus_FullMethodName:     true,
	trustv1.TUFService_GetMetadata_FullMethodName:   true,
	trustv1.TUFService_GetOnlineKeys_FullMethodName: true,
	// Answered from memory.
	trustv1.ServerService_GetServerInfo_FullMethodName: true,
}

var writeMethods = map[string]bool{
	trustv1.AttestService_PutAttestation_FullMethodName:       true,
	trustv1.FeedbackService_ImportFeedback_FullMethodName:     true,
	trustv1.KeyService_AddKey_FullMethodName:                  true,
	trustv1.PGPService_PublishManifest_FullMethodName:         true,
	trustv1.PGPService_Revoke_FullMethodName:                  true,
	trustv1.RevocationService_SubmitRevocation_FullMethodName: true,
	trustv1.StatementService_Submit_FullMethodName:            true,
	trustv1.TUFService_InitRepo_FullMethodName:                true,
	trustv1.TUFService_UploadMetadata_FullMethodName:          true,
	trustv1.TUFService_AddSignatures_FullMethodName:           true,
}

func classOf(fullMethod string) callClass {
	switch {
	case readMethods[fullMethod]:
		return classRead
	case writeMethods[fullMethod], strings.HasPrefix(fullMethod, "/trust.v1."):
		return classWrite
	}
	return classExempt
}

// limiter sheds calls beyond the configured limits.
type limiter struct {
	opts          Limits
	log           *slog.Logger
	reads, writes chan struct{}
	// waiting counts the calls of each class waiting for a slot.
	waitingReads, waitingWrites atomic.Int64
	inFlight                    *prometheus.GaugeVec
	shed                        *prometheus.CounterVec
	// lastWarn throttles the "shedding load" log line (unix nanoseconds).
	lastWarn atomic.Int64
}

func newLimiter(opts Limits, reg prometheus.Registerer, log *slog.Logger) *limiter {
	l := &limiter{opts: opts, log: log,
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trustd_inflight_calls",
			Help: "Calls being served, by class (read, write).",
		}, []string{"class"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustd_shed_calls_total",
			Help: "Calls refused with ResourceExhausted, by class and reason (concurrency, peer_rate).",
		}, []string{"class", "reason"}),
	}
	reg.MustRegister(l.inFlight, l.shed)
	if opts.MaxInFlightReads > 0 {
		l.reads = make(chan struct{}, opts.MaxInFlightReads)
	}
	if opts.MaxInFlightWrites > 0 {
		l.writes = make(chan struct{}, opts.MaxInFlightWrites)
	}
	return l
}

// slotsOf returns the slots of class c (nil: unlimited), what they count,
// the flag that sets them, and the counter of calls waiting for them.
func (l *limiter) slotsOf(c callClass) (slots chan struct{}, kind, flag string, waiting *atomic.Int64) {
	switch c {
	case classRead:
		return l.reads, "reads", "--max-inflight-reads", &l.waitingReads
	case classWrite:
		return l.writes, "writes", "--max-inflight-writes", &l.waitingWrites
	}
	return nil, "", "", nil
}

// shedEarly reports whether a call of class c is refused as it arrives:
// every slot is taken and as many calls already wait for one.
func (l *limiter) shedEarly(c callClass) error {
	slots, kind, flag, waiting := l.slotsOf(c)
	if slots == nil || len(slots) < cap(slots) || waiting.Load() < int64(cap(slots)) {
		return nil
	}
	l.shed.WithLabelValues(classLabel(c), "concurrency").Inc()
	l.warn(kind)
	return &overloadError{kind: kind, limit: cap(slots), flag: flag}
}

// warn logs that trustd sheds load, at most once a second.
func (l *limiter) warn(kind string) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(time.Second) || !l.lastWarn.CompareAndSwap(last, now) || l.log == nil {
		return
	}
	l.log.Warn("shedding load: refusing calls with ResourceExhausted", "class", kind, "metric", "trustd_shed_calls_total")
}

func classLabel(c callClass) string {
	if c == classWrite {
		return "write"
	}
	return "read"
}

// admit takes a slot of class c, waiting at most QueueWait, and charges a
// write to the caller's peer quota. It returns the release of what it took.
func (l *limiter) admit(ctx context.Context, c callClass) (release func(), err error) {
	if c == classExempt {
		return func() {}, nil
	}
	label := classLabel(c)
	refundPeer, releaseSlot := func() {}, func() {}
	if c == classWrite && l.opts.PeerWrites != nil && (l.opts.Exempt == nil || !l.opts.Exempt(ctx)) {
		if key, ok := l.peerKey(ctx); ok {
			if refundPeer, err = l.opts.PeerWrites.Charge(key); err != nil {
				l.shed.WithLabelValues(label, "peer_rate").Inc()
				return nil, err
			}
		}
	}
	if slots, kind, flag, waiting := l.slotsOf(c); slots != nil {
		if !l.acquire(ctx, slots, waiting) {
			refundPeer()
			l.shed.WithLabelValues(label, "concurrency").Inc()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			l.warn(kind)
			return nil, &overloadError{kind: kind, limit: cap(slots), flag: flag}
		}
		releaseSlot = func() { <-slots }
	}
	g := l.inFlight.WithLabelValues(label)
	g.Inc()
	return func() { g.Dec(); releaseSlot() }, nil
}

// acquire takes a slot, waiting up to QueueWait (or until ctx is done)
// while counted in waiting.
func (l *limiter) acquire(ctx context.Context, slots chan struct{}, waiting *atomic.Int64) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	if l.opts.QueueWait <= 0 {
		return false
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	t := time.NewTimer(l.opts.QueueWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// peerKey is the caller's address as the peer quota counts it: an IPv4
// address, or the /64 an IPv6 address is in (one host usually holds a
// whole /64). Exempt addresses report false.
func (l *limiter) peerKey(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "", false
	}
	var ip netip.Addr
	switch a := p.Addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		} else {
			return "peer " + a.String(), true
		}
	}
	ip = ip.Unmap()
	for _, pfx := range l.opts.PeerExempt {
		if pfx.Contains(ip) {
			return "", false
		}
	}
	if ip.Is6() {
		pfx, _ := ip.Prefix(64)
		return "peer " + pfx.String(), true
	}
	return "peer " + ip.String(), true
}

// tap sheds a gRPC call as its headers arrive when its class is full and
// its queue too (see Limits.QueueWait): no goroutine, no message read, no
// log line per call, so a flood is refused at the cost of a header frame.
// It is installed with grpc.InTapHandle.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if err := s.limits.shedEarly(classOf(info.FullMethodName)); err != nil {
		return ctx, toStatus(ctx, s.log, err)
	}
	return ctx, nil
}

// limitUnary is the unary interceptor that applies Limits. It sits after
// unaryInterceptor in the chain, so shed calls are logged, counted and
// mapped to ResourceExhausted like any other.
func (s *Server) limitUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	release, err := s.limits.admit(ctx, classOf(info.FullMethod))
	if err != nil {
		return nil, err
	}
	defer release()
	return handler(ctx, req)
}

// limitStream is the stream interceptor that applies Limits; a stream
// holds its slot until it ends.
func (s *Server) limitStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	release, err := s.limits.admit(ss.Context(), classOf(info.FullMethod))
	if err != nil {
		return toStatus(ss.Context(), s.log.With("method", info.FullMethod), err)
	}
	defer release()
	return handler(srv, ss)
}

// limitHTTP holds the HTTP reads (log proofs, TUF metadata) to the read
// limit; health, readiness and metrics are never shed, and the HTTP/JSON
// API is limited per method by the gRPC chain.
func (s *Server) limitHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, APIPrefix+"/") {
			// The HTTP/JSON API's calls are held to the limits of their
			// method by the gRPC chain they pass; a slot here too would
			// count each call twice.
			next.ServeHTTP(w, r)
			return
		}
		release, err := s.limits.admit(r.Context(), classRead)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			s.httpError(w, r, err)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}
