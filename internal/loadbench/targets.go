package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/apiconv"
	"github.com/trustd-dev/trustd/pgplog"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/tlog"
)

// freeLoopbackAddr returns 127.0.0.1:PORT for a port that was free a
// moment ago (the kernel picks it; the listener is closed at once).
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	return addr, nil
}

// dial opens a client connection to a loopback gRPC server without TLS.
func dial(addr string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return cc, nil
}

// waitServing polls the standard health service at addr until it reports
// SERVING, until timeout, or until exited is closed (the server process
// ended).
func waitServing(ctx context.Context, addr string, timeout time.Duration, exited <-chan struct{}) error {
	cc, err := dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("health status %s", resp.GetStatus())
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("server at %s exited before it was serving (last check: %w)", addr, last)
		case <-ctx.Done():
			return fmt.Errorf("server at %s not serving after %s: %w", addr, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startEcho serves a bare gRPC server with only the standard health service
// on loopback: the same framework as trustd, doing no work per call.
func startEcho() (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("echo: listen: %w", err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(l)
	}()
	return l.Addr().String(), func() { gs.Stop(); <-done }, nil
}

// echoCall asks the health service for its status: the "echo" request.
func echoCall(cc *grpc.ClientConn) call {
	hc := healthpb.NewHealthClient(cc)
	req := &healthpb.HealthCheckRequest{}
	return func(ctx context.Context, _ *rand.Rand) error {
		resp, err := hc.Check(ctx, req)
		if err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health check: status %s", resp.GetStatus())
		}
		return nil
	}
}

// seededDigest is the digest seedSubjects gives subject i.
func seededDigest(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// getSubjectCall asks for the subject of a random seeded digest and checks
// that the answer is that subject.
func getSubjectCall(cc *grpc.ClientConn, subjects int) call {
	sc := trustv1.NewSubjectServiceClient(cc)
	return func(ctx context.Context, rng *rand.Rand) error {
		i := rng.IntN(subjects) + 1
		d := seededDigest(i)
		resp, err := sc.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d})
		if err != nil {
			return fmt.Errorf("GetSubject %s: %w", d, err)
		}
		if got := resp.GetSubject().GetId(); got != uint64(i) {
			return fmt.Errorf("GetSubject %s: subject id %d, want %d", d, got, i)
		}
		return nil
	}
}

// trustdProcess is a running trustd binary.
type trustdProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
	addr   string
	stderr *tailBuffer
}

// buildTrustd builds ./cmd/trustd of the module holding the working
// directory into dir and returns the binary's path.
func buildTrustd(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "trustd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/trustd")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/trustd: %w", err)
	}
	return out, nil
}

// moduleRoot is the nearest directory at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the module root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// startTrustd runs the trustd binary on dbURL with its data directory in
// dataDir, listening on free loopback ports, and waits until its health service says SERVING. The child gets
// SIGKILL should this process die first, and none of our TRUSTD_*
// variables, so only the flags given here configure it.
func startTrustd(ctx context.Context, bin, dbURL, dataDir string) (*trustdProcess, error) {
	grpcAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	// --data-dir keeps anything trustd writes beside its database (its
	// SQLite default, a generated key) in our temporary directory.
	// --max-inflight-reads 0: the benchmark measures throughput at its own
	// -concurrency, so trustd's load shedding is off.
	cmd := exec.Command(bin, "--db", dbURL, "--data-dir", dataDir,
		"--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--log-level", "warn", "--max-inflight-reads", "0")
	cmd.Env = childEnv()
	cmd.SysProcAttr = childProcAttr()
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = tail, io.MultiWriter(os.Stderr, tail)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start trustd: %w", err)
	}
	p := &trustdProcess{cmd: cmd, exited: make(chan struct{}), addr: grpcAddr, stderr: tail}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	if err := waitServing(ctx, grpcAddr, 60*time.Second, p.exited); err != nil {
		p.stop()
		return nil, fmt.Errorf("trustd: %w\n%s", err, tail.String())
	}
	return p, nil
}

// stop sends SIGTERM and waits up to 20 s for a graceful exit, then kills.
// It is safe to call more than once.
func (p *trustdProcess) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// childEnv is our environment without TRUSTD_* variables.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTD_") {
			env = append(env, kv)
		}
	}
	return env
}

// startInProcess serves trustd's real server.New on the real PostgreSQL
// store (wired as cmd/trustd wires it) inside this process, so a CPU profile of this process covers the
// handler and store path.
func startInProcess(ctx context.Context, dbURL string) (addr string, stop func(), err error) {
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	// The statement log gets a throwaway key, as a fresh trustd creates
	// one; GetSubject never signs anything with it.
	skey, vkey, err := tlog.GenerateLogKey("trustd-loadbench")
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	// The revocation service and the attestation service that asks it,
	// as cmd/trustd wires them (GetSubject marks revoked evidence with
	// it; GetEvidence reports revocation states).
	rev := revocation.New(st, revocation.Config{PGP: pgplog.New(st, nil)})
	stLog, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: rev.Validators(), Indexers: rev.Indexers()})
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	attestSvc := attest.New(st, stLog, attest.Options{Revocations: rev.AttestationView()})
	// Revocation lists are never asked for here: a throwaway list key,
	// published nowhere.
	listKeyDir, err := os.MkdirTemp("", "trustd-loadbench-listkey-")
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	defer os.RemoveAll(listKeyDir)
	listSigner, listPub, err := revocation.LoadListKey(filepath.Join(listKeyDir, "list.key"))
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	lists := revocation.NewLists(revocation.NewPublisher(st, listSigner, 0), nil, listPub)
	srv, err := server.New(server.Options{Store: st, Log: stLog, Logger: log, Revocation: rev, RevocationLists: lists, Attest: attestSvc})
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return "", nil, fmt.Errorf("in-process trustd: listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, l, nil) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "loadbench: in-process trustd: %v\n", err)
		}
		st.Close()
	}
	if err := waitServing(ctx, l.Addr().String(), 30*time.Second, nil); err != nil {
		stop()
		return "", nil, fmt.Errorf("in-process trustd: %w", err)
	}
	return l.Addr().String(), stop, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lookupKinds are the kinds a GetEvidence lookup asks for: every log entry
// naming the digest with its signed bytes and inclusion proof, the
// attestations among them with their index, and the revocation state of
// the digest, of every entry and of every signer.
var lookupKinds = []string{"entries", "attestations", "revocations"}

// getEvidenceCall asks for the evidence about a random seeded digest and
// checks that the answer is about it: with withEvidence, the entries the
// seed wrote naming it (one per seeded predicate type), each with its
// inclusion proof under a signed checkpoint; without, none.
func getEvidenceCall(cc *grpc.ClientConn, subjects int, withEvidence bool) call {
	ec := trustv1.NewEvidenceServiceClient(cc)
	return func(ctx context.Context, rng *rand.Rand) error {
		i := rng.IntN(subjects) + 1
		d := seededDigest(i)
		resp, err := ec.GetEvidence(ctx, &trustv1.GetEvidenceRequest{Digests: []string{d}, Kinds: lookupKinds})
		if err != nil {
			return fmt.Errorf("GetEvidence %s: %w", d, err)
		}
		naming := 0
		for _, e := range resp.GetEntries() {
			if slices.Contains(e.GetDigests(), d) {
				naming++
				if len(e.GetProof()) == 0 && resp.GetCheckpoint().GetSize() > 1 {
					return fmt.Errorf("GetEvidence %s: entry %d without an inclusion proof", d, e.GetSeq())
				}
			}
		}
		if want := len(seedPredicates); withEvidence && naming != want {
			return fmt.Errorf("GetEvidence %s: %d entries name it, want %d", d, naming, want)
		}
		if len(resp.GetRevocations()) == 0 {
			return fmt.Errorf("GetEvidence %s: no revocation state", d)
		}
		return nil
	}
}

// checkEvidence fetches the evidence of seeded subjects 1 and n over addr
// and verifies each bundle as trustctl does (evidence.Verify: the
// checkpoint's signature, every entry's inclusion proof, every envelope's
// signatures), so a seed whose tree or envelopes were wrong fails the run
// before it is measured. It returns the revoked keys the bundles show in
// force.
func checkEvidence(ctx context.Context, addr string, n int) ([]string, error) {
	cc, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	var revoked []string
	for _, i := range []int{1, n} {
		d := seededDigest(i)
		resp, err := trustv1.NewEvidenceServiceClient(cc).GetEvidence(ctx, &trustv1.GetEvidenceRequest{Digests: []string{d}, Kinds: lookupKinds})
		if err != nil {
			return nil, fmt.Errorf("check evidence of %s: %w", d, err)
		}
		b, err := apiconv.BundleFromProto(resp)
		if err != nil {
			return nil, fmt.Errorf("check evidence of %s: %w", d, err)
		}
		pd, err := digest.Parse(d)
		if err != nil {
			return nil, err
		}
		if _, err := evidence.Verify(ctx, b, evidence.VerifyOptions{Digests: []digest.Digest{pd}}); err != nil {
			return nil, fmt.Errorf("check evidence of %s: %w", d, err)
		}
		if len(b.Entries) < len(seedPredicates) {
			return nil, fmt.Errorf("check evidence of %s: %d entries, want at least %d", d, len(b.Entries), len(seedPredicates))
		}
		for _, r := range b.Revocations {
			if r.Kind == "key" && r.State != nil && r.InForce && !slices.Contains(revoked, r.ID) {
				revoked = append(revoked, r.ID)
			}
		}
	}
	return revoked, nil
}
