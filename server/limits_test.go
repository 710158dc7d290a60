package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/ratelimit"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
)

// serveWith serves a server over opts (Store, Log and Logger filled in
// when empty) on an in-process listener and returns a client connection.
func serveWith(t *testing.T, opts server.Options) (*grpc.ClientConn, store.Store) {
	t.Helper()
	if opts.Store == nil {
		opts.Store = openSQLite(t)
	}
	if opts.Log == nil {
		opts.Log = newLog(t, opts.Store)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, opts.Store
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newKey(t *testing.T) []byte {
	t.Helper()
	_, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	return pub.Encode()
}

// retryDelay is the RetryInfo delay of err's status, 0 when none.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestPeerWriteRate: a peer writes at most its quota per window and is
// then refused with ResourceExhausted and a retry delay, nothing stored;
// reads go on; an exempt caller is not charged.
func TestPeerWriteRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exempt bool
	}{{"charged", false}, {"exempt", true}} {
		t.Run(tc.name, func(t *testing.T) {
			peers, err := ratelimit.New(ratelimit.Options{Limit: 3, Window: time.Hour, Flag: "--write-rate-per-peer"})
			if err != nil {
				t.Fatal(err)
			}
			limits := server.Limits{PeerWrites: peers}
			if tc.exempt {
				limits.Exempt = func(context.Context) bool { return true }
			}
			conn, st := serveWith(t, server.Options{Limits: limits})
			ctx := context.Background()
			keys := trustv1.NewKeyServiceClient(conn)
			for i := range 3 {
				if _, err := keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: newKey(t)}); err != nil {
					t.Fatalf("write %d of 3: %v", i+1, err)
				}
			}
			_, err = keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: newKey(t)})
			if tc.exempt {
				if err != nil {
					t.Errorf("exempt caller's 4th write: %v", err)
				}
				return
			}
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--write-rate-per-peer") ||
				retryDelay(err) <= 0 {
				t.Errorf("4th write = %v %q (retry %s), want ResourceExhausted naming the flag, with RetryInfo", st.Code(), st.Message(), retryDelay(err))
			}
			if n, _ := st.KeyCount(ctx, envelope.KeyTypeED25519); n != 3 {
				t.Errorf("%d keys stored, want 3", n)
			}
			if _, err := keys.ListKeys(ctx, &trustv1.ListKeysRequest{}); err != nil {
				t.Errorf("a read after the write quota is spent: %v", err)
			}
		})
	}
}

// TestEvidencePaging: a lookup returns at most MaxEvidencePerLookup facts
// whatever the caller asks, and the pages together hold every log entry
// exactly once, newest first, each naming every digest it names (an entry
// is never split across pages).
func TestEvidencePaging(t *testing.T) {
	const perPage, entries = 5, 12
	st := openSQLite(t)
	l := newLog(t, st)
	conn, _ := serveWith(t, server.Options{Store: st, Log: l, MaxEvidencePerLookup: perPage})
	ctx := context.Background()
	a256, a512 := digestOf(t, digest.SHA256, "artifact"), digestOf(t, digest.SHA512, "artifact")
	for i := range entries {
		// Each entry names both digests of the artifact: two rows.
		if _, _, err := l.AppendVerified(ctx, store.Statement{PayloadType: "application/vnd.example+json", PredicateType: "https://example.com/p",
			Envelope: []byte(fmt.Sprintf(`{"entry":%d}`, i)), SignerKeyIDs: []string{"k"},
			Subjects: []store.StatementSubject{{Name: "a", Digests: []digest.Digest{a256, a512}}}}); err != nil {
			t.Fatal(err)
		}
	}
	client := trustv1.NewSubjectServiceClient(conn)
	var facts []string
	token, pages := "", 0
	for {
		resp, err := client.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: a256.String(), EvidenceLimit: 1000, PageToken: token})
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		fs := resp.GetSubject().GetFacts()
		if len(fs) > perPage {
			t.Errorf("page %d holds %d facts: over the limit %d", pages, len(fs), perPage)
		}
		if len(resp.GetSubject().GetAliases()) != 2 {
			t.Errorf("page %d: %d aliases, want both on every page", pages, len(resp.GetSubject().GetAliases()))
		}
		for _, f := range fs {
			facts = append(facts, fmt.Sprintf("%d/%d", f.GetSeq(), len(f.GetDigests())))
		}
		if resp.GetSubject().GetEvidenceTruncated() != (resp.GetNextPageToken() != "") {
			t.Errorf("page %d: truncated %v but next_page_token %q", pages, resp.GetSubject().GetEvidenceTruncated(), resp.GetNextPageToken())
		}
		if token = resp.GetNextPageToken(); token == "" || pages > entries {
			break
		}
	}
	var want []string
	for seq := entries; seq >= 1; seq-- {
		want = append(want, fmt.Sprintf("%d/2", seq))
	}
	if fmt.Sprint(facts) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("facts over %d pages:\n%v\nwant over 3 pages\n%v", pages, facts, want)
	}
}

func digestOf(t *testing.T, alg digest.Algorithm, s string) digest.Digest {
	t.Helper()
	var sum []byte
	switch alg {
	case digest.SHA256:
		h := sha256.Sum256([]byte(s))
		sum = h[:]
	default:
		h := sha512.Sum512([]byte(s))
		sum = h[:]
	}
	d, err := digest.New(alg, sum)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
