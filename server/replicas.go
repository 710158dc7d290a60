package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
)

// Headers of read-your-writes across read standbys.
const (
	// MinLSNHeader is the request header a caller sets to a commit
	// position it got from a write (CommitLSNHeader, or
	// SubmitResponse.commit_lsn): the lookup is then served by a standby
	// only once it replayed that far, else by the primary.
	MinLSNHeader = "x-trustd-min-lsn"
	// CommitLSNHeader is the response header of a successful call that
	// may have written, with the commit position after it (when the store
	// reads from standbys).
	CommitLSNHeader = "x-trustd-commit-lsn"
	// maxLSNHeader bounds the header's length before it is parsed.
	maxLSNHeader = 40
)

var errLSNTooLong = errors.New("is longer than a WAL position (like 16/B374D848)")

// primaryReads are the reads (readMethods) that stay on the primary
// anyway: what a deployer acts on at once (a deploy token, an OpenPGP
// decision) and what may write (trustd's own token key, published once),
// so a just-revoked key or artifact is never judged on an older view; and
// the log's checkpoint, as over HTTP, so a client polling it through
// standbys that lag by different amounts never sees the log go back.
// Every other read may be served by a standby; every write, and all it
// reads first, goes to the primary, so authority is never judged on an
// older view either.
var primaryReads = map[string]bool{
	trustv1.TokenService_IssueToken_FullMethodName:  true,
	trustv1.TokenService_GetTokenKey_FullMethodName: true,
	trustv1.PGPService_Decide_FullMethodName:        true,
	trustv1.TUFService_GetOnlineKeys_FullMethodName: true,
	trustv1.LogService_GetCheckpoint_FullMethodName: true,
}

// standbyRead reports whether method's reads may go to a read standby.
func standbyRead(method string) bool { return readMethods[method] && !primaryReads[method] }

// commitPos is the commit position of one call, read once when first
// asked for (by the handler for its response, or after it for the
// header).
type commitPos struct {
	p    store.Positioner
	once sync.Once
	pos  string
	err  error
}

type commitPosKey struct{}

func (c *commitPos) get(ctx context.Context) (string, error) {
	c.once.Do(func() { c.pos, c.err = c.p.CommitPosition(ctx) })
	return c.pos, c.err
}

// commitLSN returns the commit position after the call's writes, "" when
// the store has no read standbys. The handler calls it after its write is
// acknowledged.
func commitLSN(ctx context.Context) (string, error) {
	c, _ := ctx.Value(commitPosKey{}).(*commitPos)
	if c == nil {
		return "", nil
	}
	return c.get(ctx)
}

// route opens a store.ReadSession for the lookups of standbyRead, wanting
// the position in the caller's MinLSNHeader (and reads the primary when a
// unary lookup names a tree size or entry the standby has not replayed); after any other successful
// call (but reads) it sends the commit position in CommitLSNHeader (a failure to read
// it costs the caller only the header: the write is done).
func (s *Server) route(ctx context.Context, call *rpc, next func(context.Context) error) error {
	if standbyRead(call.method) {
		var minLSN string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(MinLSNHeader); len(v) > 0 {
				minLSN = strings.TrimSpace(v[0])
				if len(minLSN) > maxLSNHeader {
					return invalidField(MinLSNHeader, errLSNTooLong)
				}
			}
		}
		err := next(store.WithReadSession(ctx, minLSN))
		if !call.stream && (errors.Is(err, statement.ErrBeyondLog) ||
			call.method == trustv1.StatementService_GetStatement_FullMethodName && errors.Is(err, store.ErrNotFound)) {
			// A tree size or entry the caller knows (from another
			// replica, or the checkpoint this replica's witness pusher
			// serves) that the standby has not replayed yet: the primary
			// has it. A unary lookup has sent nothing yet, so it runs
			// again there.
			err = next(ctx)
		}
		return err
	}
	p, ok := s.opts.Store.(store.Positioner)
	if !ok || readMethods[call.method] || strings.HasPrefix(call.method, "/grpc.") {
		return next(ctx)
	}
	c := &commitPos{p: p}
	if err := next(context.WithValue(ctx, commitPosKey{}, c)); err != nil {
		return err
	}
	if pos, err := c.get(ctx); err == nil && pos != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs(CommitLSNHeader, pos))
	} else if err != nil {
		s.log.WarnContext(ctx, "commit position not read", "method", call.method, "error", err)
	}
	return nil
}

// readCounter is a store that counts where its reads went (PostgreSQL
// with read standbys).
type readCounter interface {
	ReadsServed() (standby, primary uint64)
}

// registerReadMetrics exports trustd_db_reads_total{backend} when the
// store counts its reads, so operators see how much the standbys carry
// (and when they carry nothing: all down, or lagging past --db-read-wait).
func registerReadMetrics(reg prometheus.Registerer, st store.Store) {
	rc, ok := st.(readCounter)
	if !ok {
		return
	}
	for _, b := range []struct {
		name string
		n    func() uint64
	}{
		{"standby", func() uint64 { n, _ := rc.ReadsServed(); return n }},
		{"primary", func() uint64 { _, n := rc.ReadsServed(); return n }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "trustd_db_reads_total",
			Help:        "Reads outside transactions, by the database that served them (standby: a --db-read standby).",
			ConstLabels: prometheus.Labels{"backend": b.name},
		}, func() float64 { return float64(b.n()) }))
	}
}

// sizedHTTP is standbyHTTP for a proof in the tree of size n; a proof
// without one (n = 0) is in the latest tree, with the latest checkpoint,
// which stays on the primary as /log/checkpoint does.
func (s *Server) sizedHTTP(r *http.Request, n uint64, read func(context.Context) error) error {
	if n == 0 {
		return read(r.Context())
	}
	return s.standbyHTTP(r, read)
}

// standbyHTTP runs read, the lookup of an HTTP request for something that
// never changes once it exists (a tile, a log entry, a proof in a tree of
// a given size, a versioned TUF file), in a read session wanting the
// position in the request's MinLSNHeader; when the standby has not
// replayed what the request names yet (a tree size or version the caller
// learnt from the primary or another replica), read runs again on the
// primary. What changes (the latest checkpoint, timestamp.json) stays on
// the primary, so a client polling it never sees it go back.
func (s *Server) standbyHTTP(r *http.Request, read func(context.Context) error) error {
	lsn := strings.TrimSpace(r.Header.Get(MinLSNHeader))
	if len(lsn) > maxLSNHeader {
		return invalidField(MinLSNHeader, errLSNTooLong)
	}
	if _, ok := s.opts.Store.(store.Positioner); !ok {
		return read(r.Context())
	}
	err := read(store.WithReadSession(r.Context(), lsn))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, tuf.ErrNotFound) || errors.Is(err, statement.ErrBeyondLog) || errors.Is(err, tlog.ErrTileBeyondTree) {
		err = read(r.Context())
	}
	return err
}
