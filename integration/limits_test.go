package integration_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// storeFlags returns the trustd flags of an empty store on backend.
func storeFlags(t *testing.T, backend string) []string {
	t.Helper()
	if backend == "postgres" {
		return []string{"--data-dir", t.TempDir(), "--db", testpg.URL(t)}
	}
	return []string{"--data-dir", t.TempDir()}
}

func writerLogSize(t *testing.T, w *writer) uint64 {
	t.Helper()
	resp, err := trustv1.NewLogServiceClient(w.conn).GetCheckpoint(context.Background(), &trustv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(resp.GetCheckpoint()), "\n")
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if len(lines) < 2 || err != nil {
		t.Fatalf("checkpoint %q: no tree size", resp.GetCheckpoint())
	}
	return n
}

func hasRetryInfo(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			return true
		}
	}
	return false
}

// TestRequestAndStatementLimits: --max-request-bytes is the request cap,
// exactly (a larger request is refused unread, whatever the attestation
// bound); a statement naming more subjects than --max-statement-subjects
// is refused naming the field and the limit, and nothing is stored.
func TestRequestAndStatementLimits(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			d := startTrustd(t, append(storeFlags(t, backend), "--max-request-bytes", "200000", "--max-statement-subjects", "50")...)
			w := newWriter(t, d.grpcAddr)
			ctx := context.Background()
			size := writerLogSize(t, w)
			stmts := trustv1.NewStatementServiceClient(w.conn)
			for _, tc := range []struct {
				name  string
				bytes int
				code  codes.Code
			}{
				{"one byte over the cap", 200001, codes.ResourceExhausted},
				{"far over the cap (once let through up to ~21.5 MB)", 3 << 20, codes.ResourceExhausted},
				{"exactly the cap: read, then refused as malformed", 200000, codes.InvalidArgument},
			} {
				req := &trustv1.SubmitRequest{Envelope: []byte(strings.Repeat("x", tc.bytes))}
				req.Envelope = req.Envelope[:tc.bytes-(proto.Size(req)-tc.bytes)] // the request, framed, is tc.bytes
				if proto.Size(req) != tc.bytes {
					t.Fatalf("request of %d bytes, want %d", proto.Size(req), tc.bytes)
				}
				_, err := stmts.Submit(ctx, req)
				if st := status.Convert(err); st.Code() != tc.code {
					t.Errorf("%s: %d-byte request = %v %q, want %v", tc.name, tc.bytes, st.Code(), st.Message(), tc.code)
				}
			}
			subjects := func(n int) []envelope.Subject {
				out := make([]envelope.Subject, n)
				for i := range out {
					out[i] = envelope.Subject{Digests: []digest.Digest{sha256Digest(fmt.Sprint("subject ", i))}}
				}
				return out
			}
			_, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: w.statementAbout(subjects(51)...)})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "subject: 51 subjects, the limit is 50") {
				t.Errorf("51 subjects = %v %q, want InvalidArgument naming subject and the limit", st.Code(), st.Message())
			}
			if got := writerLogSize(t, w); got != size {
				t.Errorf("log grew from %d to %d through refused requests", size, got)
			}
			if _, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: w.statementAbout(subjects(50)...)}); err != nil {
				t.Errorf("50 subjects: %v", err)
			}
		})
	}
	// An attestation bound whose signed documents cannot fit the request
	// cap is refused at start, naming both flags.
	r := run(t, nil, "trustd", "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "",
		"--max-request-bytes", "200000", "--max-attestation-bytes", "1048576")
	if r.code == 0 || !strings.Contains(r.stderr, "--max-request-bytes: 200000 cannot carry a signed statement of 1048576 bytes (--max-attestation-bytes)") {
		t.Errorf("attestations larger than requests: exit %d\n%s", r.code, r.stderr)
	}
}

// TestWriteRates: a key signs at most --write-rate-per-key entries per
// window and a client address makes at most --write-rate-per-peer write
// calls, then gets ResourceExhausted with a retry delay and nothing is
// stored; exempt keys and addresses are not charged.
func TestWriteRates(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			// Per key: 3 an hour. The first writer's key is exempt, via
			// the flag, once it is known; so start, learn it, restart.
			flags := append(storeFlags(t, backend), "--write-rate-per-key", "3", "--write-rate-window", "1h", "--write-rate-per-peer", "0")
			d := startTrustd(t, flags...)
			w := newWriter(t, d.grpcAddr)
			for i := range 3 {
				if _, err := w.submit(ctx, fmt.Sprint("k", i)); err != nil {
					t.Fatalf("write %d of 3: %v", i+1, err)
				}
			}
			size := writerLogSize(t, w)
			_, err := w.submit(ctx, "k4")
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--write-rate-per-key") ||
				!strings.Contains(st.Message(), w.keyID) || !hasRetryInfo(err) {
				t.Errorf("4th write by one key = %v %q (retry info %v), want ResourceExhausted naming the key and the flag", st.Code(), st.Message(), hasRetryInfo(err))
			}
			if got := writerLogSize(t, w); got != size {
				t.Errorf("a refused write was stored: log %d -> %d", size, got)
			}
			// Another key has its own quota.
			other := newWriter(t, d.grpcAddr)
			if _, err := other.submit(ctx, "other"); err != nil {
				t.Errorf("another key's first write: %v", err)
			}
			d.stop(t)
			d = startTrustd(t, append(flags, "--write-rate-exempt-key", w.keyID)...)
			w.conn = newWriter(t, d.grpcAddr).conn
			for i := range 5 {
				if _, err := w.submit(ctx, fmt.Sprint("exempt", i)); err != nil {
					t.Fatalf("exempt key, write %d: %v", i+1, err)
				}
			}
			d.stop(t)

			// Per peer: 4 write calls an hour from loopback, then exempt.
			dir := flags[1]
			peerFlags := []string{"--data-dir", dir, "--write-rate-per-key", "0", "--write-rate-per-peer", "4", "--write-rate-window", "1h"}
			if backend == "postgres" {
				peerFlags = append(peerFlags, flags[2:4]...)
			}
			d = startTrustd(t, peerFlags...)
			p := newWriter(t, d.grpcAddr) // AddKey: write 1
			for i := range 3 {
				if _, err := p.submit(ctx, fmt.Sprint("p", i)); err != nil {
					t.Fatalf("peer write %d of 4: %v", i+2, err)
				}
			}
			_, err = p.submit(ctx, "p4")
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--write-rate-per-peer") ||
				!strings.Contains(st.Message(), "peer 127.0.0.1") || !hasRetryInfo(err) {
				t.Errorf("5th write call from one address = %v %q, want ResourceExhausted naming the peer and the flag", st.Code(), st.Message())
			}
			if _, err := trustv1.NewKeyServiceClient(p.conn).ListKeys(ctx, &trustv1.ListKeysRequest{}); err != nil {
				t.Errorf("a read once the peer's writes are spent: %v", err)
			}
			d.stop(t)
			d = startTrustd(t, append(peerFlags, "--write-rate-exempt-cidr", "127.0.0.0/8")...)
			p.conn = newWriter(t, d.grpcAddr).conn
			for i := range 6 {
				if _, err := p.submit(ctx, fmt.Sprint("cidr", i)); err != nil {
					t.Fatalf("exempt address, write %d: %v", i+1, err)
				}
			}
		})
	}
}

// TestReplicaWithAnotherLogKey: a trustd started on a database whose log
// another key signs (its own key file, or none, which used to make a new
// key) refuses to start, saying which key the database records; with the
// shared key it serves.
func TestReplicaWithAnotherLogKey(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			flags := storeFlags(t, backend)
			shared := filepath.Join(t.TempDir(), "log.key")
			d := startTrustd(t, append(flags, "--log-key", shared)...)
			d.stop(t)
			data, err := os.ReadFile(shared)
			if err != nil {
				t.Fatal(err)
			}
			recorded := strings.Fields(string(data))[1]

			missing := filepath.Join(t.TempDir(), "log.key")
			other := filepath.Join(t.TempDir(), "other.key")
			otherKey := startTrustd(t, "--data-dir", t.TempDir(), "--log-key", other) // makes a key of its own
			otherKey.stop(t)
			for _, tc := range []struct {
				name, key, words string
			}{
				{"no key file", missing, "does not exist, but this database's log is signed by " + recorded},
				{"another key", other, "this database's log is signed by " + recorded},
			} {
				args := append(append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", ""}, flags...), "--log-key", tc.key)
				r := run(t, nil, "trustd", args...)
				if r.code == 0 || !strings.Contains(r.stderr, tc.words) || !strings.Contains(r.stderr, "--log-key") {
					t.Errorf("%s: exit %d, want a refusal containing %q\n%s", tc.name, r.code, tc.words, r.stderr)
				}
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("the refused replica created a key file: %v", err)
			}
			// A replica with a copy of the shared key serves.
			replica := filepath.Join(t.TempDir(), "copy.key")
			if err := os.WriteFile(replica, data, 0o600); err != nil {
				t.Fatal(err)
			}
			startTrustd(t, append(flags, "--log-key", replica)...).stop(t)
		})
	}
}
