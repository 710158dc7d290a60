package integration_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// writer signs statements with one registered key.
type writer struct {
	t      *testing.T
	signer envelope.Signer
	keyID  string
	conn   *grpc.ClientConn
}

func newWriter(t *testing.T, addr string) *writer {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := trustv1.NewKeyServiceClient(conn).AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); err != nil {
		t.Fatal(err)
	}
	return &writer{t: t, signer: s, keyID: pub.ID, conn: conn}
}

// statement is a signed statement about the artifact named name.
func (w *writer) statement(name string) []byte {
	w.t.Helper()
	return w.statementAbout(envelope.Subject{Name: name, Digests: []digest.Digest{sha256Digest(name)}})
}

// statementAbout is a signed statement about subjects.
func (w *writer) statementAbout(subjects ...envelope.Subject) []byte {
	w.t.Helper()
	payload, err := envelope.NewStatement("https://example.com/outage/v1", json.RawMessage(`{}`), subjects...)
	if err != nil {
		w.t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, w.signer)
	if err != nil {
		w.t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	return raw
}

// sha256Digest is the sha256 digest of s.
func sha256Digest(s string) digest.Digest {
	sum := sha256.Sum256([]byte(s))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

func (w *writer) submit(ctx context.Context, name string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := trustv1.NewStatementServiceClient(w.conn).Submit(ctx, &trustv1.SubmitRequest{Envelope: w.statement(name)})
	return resp.GetEntry().GetSeq(), err
}

// TestPostgresRestart restarts PostgreSQL under a running trustd with
// writers at work: every call that fails while it is down fails with
// Unavailable (so clients' retry policies retry), never Internal; /readyz
// says not ready; once it is back trustd serves again without a restart,
// and every acknowledged write is in the log.
func TestPostgresRestart(t *testing.T) {
	c := testpg.NewCluster(t)
	// The writers are one key writing as fast as they can: its write rate
	// limit is off, or a fast machine hits it and the test sees
	// ResourceExhausted where it asserts on outages.
	d := startTrustd(t, "--data-dir", t.TempDir(), "--db", c.URL, "--write-rate-per-key", "0", "--write-rate-per-peer", "0")
	ctx := context.Background()
	w := newWriter(t, d.grpcAddr)
	if _, err := w.submit(ctx, "before"); err != nil {
		t.Fatalf("write before the restart: %v", err)
	}

	// Writers run through the whole restart; each records the codes it
	// got and the entries acknowledged.
	var (
		mu    sync.Mutex
		got   = map[codes.Code]int{}
		acked = map[uint64]string{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("writer-%d-%d", i, n)
				seq, err := w.submit(ctx, name)
				mu.Lock()
				got[status.Code(err)]++
				if err == nil {
					acked[seq] = name
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	c.Stop()

	keys := trustv1.NewKeyServiceClient(w.conn)
	subjects := trustv1.NewSubjectServiceClient(w.conn)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Submit", func(ctx context.Context) error { _, err := w.submit(ctx, "during"); return err }},
		{"AddKey", func(ctx context.Context) error {
			_, pub, _ := envelope.GenerateKey(envelope.KeyTypeED25519)
			_, err := keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: pub.Encode()})
			return err
		}},
		{"ListKeys", func(ctx context.Context) error { _, err := keys.ListKeys(ctx, &trustv1.ListKeysRequest{}); return err }},
		{"GetSubject", func(ctx context.Context) error {
			_, err := subjects.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: sha256Digest("before").String()})
			return err
		}},
		{"GetCheckpoint", func(ctx context.Context) error {
			_, err := trustv1.NewLogServiceClient(w.conn).GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
			return err
		}},
		{"InitRepo", func(ctx context.Context) error {
			_, err := trustv1.NewTUFServiceClient(w.conn).InitRepo(ctx, &trustv1.InitRepoRequest{Repo: "acme/app", Root: []byte(`{}`)})
			return err
		}},
	}
	for _, tc := range calls {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.call(cctx)
		cancel()
		if st := status.Convert(err); st.Code() != codes.Unavailable {
			t.Errorf("%s while PostgreSQL is down = %v %q, want Unavailable", tc.name, st.Code(), st.Message())
		}
	}
	if resp, err := http.Get("http://" + d.httpAddr + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while PostgreSQL is down: %v %v, want 503", resp.Status, err)
	} else {
		resp.Body.Close()
	}

	c.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := w.submit(ctx, "after")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trustd did not recover after PostgreSQL came back: %v\n%s", err, d.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, tc := range calls[:5] {
		if err := tc.call(ctx); err != nil {
			t.Errorf("%s after the restart: %v", tc.name, err)
		}
	}
	t.Logf("writer results across the restart: %v; %d writes acknowledged", got, len(acked))
	for code, n := range got {
		if code != codes.OK && code != codes.Unavailable {
			t.Errorf("%d writes failed with %v; a database outage must answer Unavailable", n, code)
		}
	}
	stmts := trustv1.NewStatementServiceClient(w.conn)
	for seq, name := range acked {
		resp, err := stmts.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq})
		if err != nil || resp.GetEntry().GetSubjects()[0].GetName() != name {
			t.Errorf("acknowledged write %s (seq %d) lost: %v", name, seq, err)
		}
	}
}
