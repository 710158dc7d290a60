package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/trustd-dev/trustd/internal/ratelimit"
	_ "github.com/trustd-dev/trustd/proto/trust/v1" // registers the trust.v1 services
)

// TestEveryMethodClassified: every trust.v1 RPC is listed exactly once as
// a read or a write, so a new RPC cannot escape the write limits by being
// forgotten.
func TestEveryMethodClassified(t *testing.T) {
	seen := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("trust.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				full := "/" + string(svc.FullName()) + "/" + string(svc.Methods().Get(j).Name())
				seen++
				if readMethods[full] == writeMethods[full] {
					t.Errorf("%s: listed as read %v and write %v; list it in exactly one of readMethods, writeMethods", full, readMethods[full], writeMethods[full])
				}
			}
		}
		return true
	})
	if seen == 0 || seen != len(readMethods)+len(writeMethods) {
		t.Errorf("%d trust.v1 methods, %d classified: the lists name methods that do not exist", seen, len(readMethods)+len(writeMethods))
	}
	for _, m := range []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"} {
		if classOf(m) != classExempt {
			t.Errorf("%s is held to the limits; health and reflection must answer under load", m)
		}
	}
	if classOf("/trust.v1.NewService/Unlisted") != classWrite {
		t.Error("an unlisted trust.v1 method is not treated as a write")
	}
}

// TestConcurrencyLimit: calls beyond the limit are shed with ErrOverloaded
// once QueueWait passes, a call waiting in the queue gets a slot freed in
// time, and reads and writes have separate limits.
func TestConcurrencyLimit(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(Limits{MaxInFlightReads: 2, MaxInFlightWrites: 1, QueueWait: 50 * time.Millisecond}, prometheus.NewRegistry(), nil)
	var held []func()
	for range 2 {
		release, err := l.admit(ctx, classRead)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	start := time.Now()
	_, err := l.admit(ctx, classRead)
	waited := time.Since(start)
	if !errors.Is(err, ErrOverloaded) || !strings.Contains(err.Error(), "--max-inflight-reads") {
		t.Fatalf("third read = %v, want ErrOverloaded naming --max-inflight-reads", err)
	}
	if waited < 50*time.Millisecond || waited > 2*time.Second {
		t.Errorf("shed after %s, want after the 50ms queue wait", waited)
	}
	// Writes are not held up by reads.
	wrelease, err := l.admit(ctx, classWrite)
	if err != nil {
		t.Fatalf("a write with reads full: %v", err)
	}
	if _, err := l.admit(ctx, classWrite); !errors.Is(err, ErrOverloaded) || !strings.Contains(err.Error(), "--max-inflight-writes") {
		t.Errorf("second write = %v, want ErrOverloaded", err)
	}
	wrelease()
	// Health is never shed.
	if _, err := l.admit(ctx, classExempt); err != nil {
		t.Errorf("exempt call: %v", err)
	}
	// A slot freed within the queue wait goes to the waiting call.
	go func() {
		time.Sleep(10 * time.Millisecond)
		held[0]()
	}()
	release, err := l.admit(ctx, classRead)
	if err != nil {
		t.Fatalf("read queued while a slot frees: %v", err)
	}
	release()
	held[1]()
	// A caller's deadline ends the wait with the deadline's error.
	full := newLimiter(Limits{MaxInFlightReads: 1, QueueWait: time.Minute}, prometheus.NewRegistry(), nil)
	if _, err := full.admit(ctx, classRead); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := full.admit(dctx, classRead); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued past the caller's deadline = %v, want DeadlineExceeded", err)
	}
	// Zero limits limit nothing.
	none := newLimiter(Limits{}, prometheus.NewRegistry(), nil)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, err := none.admit(ctx, classWrite); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestLimitStatus: refusals become ResourceExhausted with a RetryInfo
// detail, and say which limit was hit.
func TestLimitStatus(t *testing.T) {
	rl, err := ratelimit.New(ratelimit.Options{Limit: 1, Window: time.Minute, Flag: "--write-rate-per-peer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Charge("peer 192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	_, rateErr := rl.Charge("peer 192.0.2.1")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		err   error
		words string
		retry time.Duration
	}{
		{&overloadError{kind: "reads", limit: 64, flag: "--max-inflight-reads"}, "64 reads already in flight", overloadRetry},
		{rateErr, "--write-rate-per-peer", time.Minute},
	} {
		st := status.Convert(toStatus(context.Background(), log, tc.err))
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), tc.words) {
			t.Errorf("%v -> %v %q, want ResourceExhausted containing %q", tc.err, st.Code(), st.Message(), tc.words)
		}
		var got time.Duration
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				got = ri.GetRetryDelay().AsDuration()
			}
		}
		if got <= 0 || got > tc.retry {
			t.Errorf("%v: RetryInfo delay %s, want in (0, %s]", tc.err, got, tc.retry)
		}
	}
}

// TestPeerKey: peers are counted by IPv4 address or IPv6 /64, and exempt
// prefixes are not counted.
func TestPeerKey(t *testing.T) {
	l := newLimiter(Limits{PeerExempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48")}}, prometheus.NewRegistry(), nil)
	for _, tc := range []struct {
		addr    net.Addr
		key     string
		counted bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5000}, "peer 192.0.2.7", true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 5001}, "peer 192.0.2.7", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:2:3:aaaa::1"), Port: 5000}, "peer 2001:db8:2:3::/64", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:2:3:bbbb::9"), Port: 6000}, "peer 2001:db8:2:3::/64", true},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5000}, "", false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:9::1"), Port: 5000}, "", false},
	} {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: tc.addr})
		key, counted := l.peerKey(ctx)
		if key != tc.key || counted != tc.counted {
			t.Errorf("%s: key %q counted %v, want %q %v", tc.addr, key, counted, tc.key, tc.counted)
		}
	}
}

// TestShedEarly: once every slot is taken and as many calls wait for one,
// further calls are refused as they arrive (the tap), without waiting.
func TestShedEarly(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(Limits{MaxInFlightReads: 2, QueueWait: time.Minute}, prometheus.NewRegistry(), nil)
	var releases []func()
	for range 2 {
		r, err := l.admit(ctx, classRead)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if err := l.shedEarly(classRead); err != nil {
		t.Fatalf("full, nobody waiting: %v; want the call to queue", err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			r, err := l.admit(ctx, classRead)
			if err != nil {
				t.Error(err)
				return
			}
			r()
		})
	}
	for l.waitingReads.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	err := l.shedEarly(classRead)
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full with a full queue: %v, want ErrOverloaded", err)
	}
	if err := l.shedEarly(classWrite); err != nil {
		t.Errorf("writes are unlimited here, yet shed: %v", err)
	}
	if err := l.shedEarly(classExempt); err != nil {
		t.Errorf("health shed: %v", err)
	}
	st := status.Convert(toStatus(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), err))
	if st.Code() != codes.ResourceExhausted || len(st.Details()) != 1 {
		t.Errorf("early refusal = %v %v, want ResourceExhausted with RetryInfo", st.Code(), st.Details())
	}
	for _, r := range releases {
		r()
	}
	wg.Wait()
	if err := l.shedEarly(classRead); err != nil {
		t.Errorf("after the calls ended: %v", err)
	}
}
