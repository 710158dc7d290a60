package client

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Headers of read-your-writes against a trustd that reads from PostgreSQL
// standbys (trustd --db-read); server.MinLSNHeader and
// server.CommitLSNHeader name the same.
const (
	// MinLSNHeader carries, on a lookup, the latest commit position the
	// client saw: trustd serves the lookup from a standby only once it has
	// replayed that far, else from the primary.
	MinLSNHeader = "x-trustd-min-lsn"
	// CommitLSNHeader carries, on the answer to a write, the commit
	// position after it.
	CommitLSNHeader = "x-trustd-commit-lsn"
)

// positions is the latest commit position a Client saw or was given, so
// that every call reads at least as new a state as the client's writes
// (and the reads before them) made.
type positions struct {
	mu  sync.Mutex
	lsn string
	val uint64
}

// raise records lsn when it is a WAL position later than the one held;
// anything else is ignored.
func (p *positions) raise(lsn string) {
	v, ok := lsnValue(lsn)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lsn == "" || v > p.val {
		p.lsn, p.val = lsn, v
	}
}

func (p *positions) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lsn
}

func (p *positions) outgoing(ctx context.Context) context.Context {
	if lsn := p.get(); lsn != "" {
		return metadata.AppendToOutgoingContext(ctx, MinLSNHeader, lsn)
	}
	return ctx
}

func (p *positions) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var md metadata.MD
	err := invoker(p.outgoing(ctx), method, req, reply, cc, append(opts, grpc.Header(&md))...)
	if v := md.Get(CommitLSNHeader); len(v) > 0 {
		p.raise(v[0])
	}
	return err
}

func (p *positions) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(p.outgoing(ctx), desc, cc, method, opts...)
}

// lsnValue parses a WAL position ("16/B374D848") into its 64-bit value.
func lsnValue(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	return h<<32 | l, err1 == nil && err2 == nil
}

// MinLSN returns the latest commit position the client saw in the answers
// to its writes (or was given by SetMinLSN); it sends it with every call.
func (c *Client) MinLSN() string { return c.pos.get() }

// SetMinLSN makes the client's calls read at least what was committed up
// to lsn (a commit position from another client, for instance another
// process's SubmitResponse.commit_lsn). A position earlier than the one
// held, or not a WAL position, is ignored.
func (c *Client) SetMinLSN(lsn string) { c.pos.raise(lsn) }

// ValidLSN reports whether s is a WAL position as SetMinLSN takes it.
func ValidLSN(s string) bool {
	_, ok := lsnValue(s)
	return ok
}
