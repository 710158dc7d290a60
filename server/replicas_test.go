package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/tuftest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/tlog"
)

// replicaSet is a PostgreSQL primary with one streaming hot standby and
// trustd replicas serving from them, sharing the log key as a deployment
// does.
type replicaSet struct {
	primary, standby *testpg.Cluster
	skey, vkey       string
}

func newReplicaSet(t *testing.T) *replicaSet {
	t.Helper()
	p := testpg.NewCluster(t)
	sb := p.NewStandby()
	skey, vkey, err := tlog.GenerateLogKey("replicas-log")
	if err != nil {
		t.Fatal(err)
	}
	return &replicaSet{primary: p, standby: sb, skey: skey, vkey: vkey}
}

// replica is one trustd serving on a loopback port.
type replica struct {
	addr, httpAddr string
	store          *postgres.Store
}

// start starts a trustd writing to the primary and reading from the
// standby, stopped when the test ends.
func (rs *replicaSet) start(t *testing.T, wait time.Duration) *replica {
	t.Helper()
	st, err := postgres.OpenWith(context.Background(), rs.primary.URL, postgres.Options{
		ReadURLs: []string{rs.standby.URL}, ReadWait: wait, ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: rs.skey, LogVerifierKey: rs.vkey})
	if err != nil {
		t.Fatal(err)
	}
	tufSvc, tufState, online := tuftest.NewService(t, st, l)
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TUF: tufSvc, TUFState: tufState, TUFKeys: online})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, hlis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		st.Close()
	})
	return &replica{addr: lis.Addr().String(), httpAddr: hlis.Addr().String(), store: st}
}

func dial(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(addr, client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// signer is a registered ed25519 key signing statements about numbered
// artifacts.
type signer struct{ s envelope.Signer }

func newSigner(t *testing.T, c *client.Client) signer {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Keys.AddKey(context.Background(), &trustv1.AddKeyRequest{PublicKey: pub.Encode()}); err != nil {
		t.Fatal(err)
	}
	s, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{s}
}

func (s signer) envelope(t *testing.T, name string) ([]byte, digest.Digest) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	payload, err := envelope.NewStatement("https://example.com/replicas", json.RawMessage(`{}`),
		envelope.Subject{Name: name, Digests: []digest.Digest{d}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, s.s)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	return raw, d
}

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// waitReplayed waits until the standby at url has replayed the WAL up to
// commit position lsn.
func waitReplayed(t *testing.T, url, lsn string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFor(t, func() bool {
		var done bool
		err := c.QueryRow(context.Background(), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn).Scan(&done)
		return err == nil && done
	})
}

// pauseReplay pauses the standby at url's WAL replay and waits until it
// is paused: a pause is only requested until then.
func pauseReplay(t *testing.T, url string) {
	t.Helper()
	execSQL(t, url, `SELECT pg_wal_replay_pause()`)
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFor(t, func() bool {
		var state string
		err := c.QueryRow(context.Background(), `SELECT pg_get_wal_replay_pause_state()`).Scan(&state)
		return err == nil && state == "paused"
	})
}

// TestReplicasConcurrentWrites: two trustd replicas on one primary take
// concurrent submissions; every acknowledged one is in one gapless log,
// each replica's client reads its own writes back through the other
// replica (which reads a standby), every checkpoint either replica signed
// meanwhile is consistent with the final tree, and that tree's root is
// the one recomputed from every entry.
func TestReplicasConcurrentWrites(t *testing.T) {
	rs := newReplicaSet(t)
	reps := []*replica{rs.start(t, 2*time.Second), rs.start(t, 2*time.Second)}
	ctx := context.Background()
	sig := newSigner(t, dial(t, reps[0].addr))

	const writers, each = 4, 15
	type ack struct {
		seq uint64
		env []byte
	}
	var (
		mu          sync.Mutex
		acks        []ack
		checkpoints [][]byte
		wg          sync.WaitGroup
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer writes through one replica and reads through
			// the other, with one process's clients: positions travel
			// between them as a caller's would (SetMinLSN).
			wc, rc := dial(t, reps[w%2].addr), dial(t, reps[(w+1)%2].addr)
			for i := range each {
				env, _ := sig.envelope(t, fmt.Sprintf("artifact-%d-%d", w, i))
				resp, err := wc.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: env})
				if err != nil {
					errs <- fmt.Errorf("writer %d submit %d: %w", w, i, err)
					return
				}
				if resp.GetCommitLsn() == "" || wc.MinLSN() == "" {
					errs <- fmt.Errorf("writer %d submit %d: no commit position (response %q, header %q)", w, i, resp.GetCommitLsn(), wc.MinLSN())
					return
				}
				rc.SetMinLSN(resp.GetCommitLsn())
				got, err := rc.Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: resp.GetEntry().GetSeq()})
				if err != nil {
					errs <- fmt.Errorf("writer %d: read back seq %d through the other replica: %w", w, resp.GetEntry().GetSeq(), err)
					return
				}
				if !bytes.Equal(got.GetEntry().GetEnvelope(), env) {
					errs <- fmt.Errorf("writer %d: seq %d holds another envelope", w, resp.GetEntry().GetSeq())
					return
				}
				cp, err := rc.Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
				if err != nil {
					errs <- fmt.Errorf("writer %d: checkpoint: %w", w, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{resp.GetEntry().GetSeq(), env})
				checkpoints = append(checkpoints, cp.GetCheckpoint())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var fromStandby float64
	for _, r := range reps {
		fromStandby += metric(t, r.httpAddr, `trustd_db_reads_total{backend="standby"}`)
	}
	if fromStandby == 0 {
		t.Error("no read was served by the standby (trustd_db_reads_total): the test proved nothing about standby reads")
	}

	// One gapless log: the acknowledged entries are exactly 1..N.
	slices.SortFunc(acks, func(a, b ack) int { return int(a.seq) - int(b.seq) })
	for i, a := range acks {
		if a.seq != uint64(i+1) {
			t.Fatalf("acknowledged seqs are not 1..%d: position %d holds %d", len(acks), i, a.seq)
		}
	}
	n := uint64(len(acks))
	size, err := reps[1].store.LogSize(ctx)
	if err != nil || size != n {
		t.Fatalf("log size = %d, %v; want the %d acknowledged entries (the key registration appends none)", size, err, n)
	}

	// One tree: the root recomputed from every entry is the one both
	// replicas sign.
	var mem tlog.MemNodes
	leaves := make([][]byte, n)
	for i, a := range acks {
		leaves[i] = tlog.LeafHash(a.env)
	}
	root, err := tlog.AppendBatch(ctx, &mem, 0, leaves)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reps {
		c := dial(t, r.addr)
		c.SetMinLSN(mustPosition(t, r.store))
		cp, err := c.Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tlog.OpenCheckpoint(cp.GetCheckpoint(), rs.vkey)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != n || !bytes.Equal(got.Hash, root) {
			t.Fatalf("replica %d checkpoint = size %d root %x, want size %d root %x (recomputed)", i, got.Size, got.Hash, n, root)
		}
	}
	// Every checkpoint served meanwhile (through standby reads) is a
	// prefix of that tree.
	final := tlog.Checkpoint{Size: n, Hash: root}
	for i, signed := range checkpoints {
		cp, err := tlog.OpenCheckpoint(signed, rs.vkey)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := dial(t, reps[i%2].addr).Log.GetConsistencyProof(ctx, &trustv1.GetConsistencyProofRequest{FromSize: cp.Size, ToSize: n})
		if err != nil {
			t.Fatalf("consistency proof %d..%d: %v", cp.Size, n, err)
		}
		final.Origin = cp.Origin
		if err := tlog.CheckConsistent(cp, final, proof.GetHashes()); err != nil {
			t.Fatalf("checkpoint of size %d is not a prefix of the final tree: %v", cp.Size, err)
		}
	}
}

// metric reads one series of trustd's /metrics.
func metric(t *testing.T, httpAddr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

func mustPosition(t *testing.T, s *postgres.Store) string {
	t.Helper()
	pos, err := s.CommitPosition(context.Background())
	if err != nil || pos == "" {
		t.Fatalf("CommitPosition = %q, %v", pos, err)
	}
	return pos
}

// TestReplicaReadYourWritesGRPC: through trustd, with the standby's
// replay paused, a lookup carrying the caller's commit position
// (x-trustd-min-lsn, which the client sends by itself) sees the write, from
// the primary after the wait; a lookup without it gets the standby's older
// view (NotFound); once replay resumes the standby serves it. A malformed
// position is InvalidArgument.
func TestReplicaReadYourWritesGRPC(t *testing.T) {
	rs := newReplicaSet(t)
	rep := rs.start(t, 300*time.Millisecond)
	ctx := context.Background()
	writer := dial(t, rep.addr)
	sig := newSigner(t, writer)
	env, d := sig.envelope(t, "first")
	first, err := writer.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	// The standby itself has the first write (and the schema before it)
	// before its replay pauses: a lookup alone may have been the
	// primary's, after the standby failed it on a table or column whose
	// migration it had not replayed yet.
	waitReplayed(t, rs.standby.URL, first.GetCommitLsn())
	if _, err := dial(t, rep.addr).Subjects.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String()}); err != nil {
		t.Fatalf("lookup of a write the standby replayed: %v", err)
	}

	pauseReplay(t, rs.standby.URL)
	env, d = sig.envelope(t, "second")
	resp, err := writer.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(c *client.Client) error {
		_, err := c.Subjects.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String()})
		return err
	}
	sb0, p0 := rep.store.ReadsServed()
	start := time.Now()
	if err := lookup(writer); err != nil {
		t.Fatalf("lookup of one's own write while the standby lags: %v", err)
	}
	sb1, p1 := rep.store.ReadsServed()
	if time.Since(start) < 300*time.Millisecond || p1 == p0 || sb1 != sb0 {
		t.Errorf("lookup with the position took %v, %d standby and %d primary reads; want the primary after the 300ms wait", time.Since(start), sb1-sb0, p1-p0)
	}
	// Without the position the lookup is the paused standby's, once the
	// router counts it healthy (a standby that failed a probe under load
	// is read around until the next one, a second later).
	waitFor(t, func() bool { return status.Code(lookup(dial(t, rep.addr))) == codes.NotFound })
	// The HTTP/JSON API passes the position on: without it the lookup is
	// the standby's, with it the primary's.
	for _, lsn := range []string{"", resp.GetCommitLsn()} {
		want := http.StatusOK
		if lsn == "" {
			want = http.StatusNotFound
		}
		if got, body := jsonCall(t, rep.httpAddr, "SubjectService/GetSubject", `{"digest":"`+d.String()+`"}`, lsn); got.StatusCode != want {
			t.Errorf("JSON GetSubject with position %q: %d %s, want %d", lsn, got.StatusCode, body, want)
		}
	}
	// A tree size learnt elsewhere (another replica's checkpoint) that the
	// standby has not replayed is read from the primary, not refused as
	// beyond the log.
	seq := resp.GetEntry().GetSeq()
	if p, err := dial(t, rep.addr).Log.GetInclusionProof(ctx, &trustv1.GetInclusionProofRequest{Seq: seq, TreeSize: seq}); err != nil {
		t.Fatalf("inclusion proof in a tree of size %d the standby has not replayed: %v", seq, err)
	} else if cp, err := tlog.OpenCheckpoint(p.GetCheckpoint(), rs.vkey); err != nil || cp.Size != seq {
		t.Fatalf("inclusion proof checkpoint = %+v, %v; want size %d", cp, err, seq)
	}
	if got, err := dial(t, rep.addr).Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq}); err != nil || got.GetEntry().GetSeq() != seq {
		t.Fatalf("entry %d the standby has not replayed = %v, %v; want it from the primary", seq, got, err)
	}
	if _, err := dial(t, rep.addr).Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq + 1}); status.Code(err) != codes.NotFound {
		t.Fatalf("entry %d beyond the log = %v, want NotFound", seq+1, err)
	}
	// The latest checkpoint is the primary's, as over HTTP: a caller with
	// no position still sees the entry the standby has not replayed.
	if cp, err := dial(t, rep.addr).Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	} else if got, err := tlog.OpenCheckpoint(cp.GetCheckpoint(), rs.vkey); err != nil || got.Size != seq {
		t.Fatalf("checkpoint without a position = %+v, %v; want the primary's, size %d", got, err, seq)
	}
	// So are the HTTP forms of entries, tiles, proofs and versioned TUF
	// files: what is already replayed comes from the standby, the rest
	// from the primary after the standby. timestamp.json and proofs in
	// the latest tree (no size asked), which change, come from the
	// primary alone.
	const (
		standby = iota
		fallback
		primary
	)
	for _, c := range []struct {
		path   string
		status int
		from   int
	}{
		{"/log/entry/1", http.StatusOK, standby},
		{"/log/proof/inclusion?seq=1&size=1", http.StatusOK, standby},
		{"/tile/0/000.p/1", http.StatusOK, standby},
		{fmt.Sprintf("/log/entry/%d", seq), http.StatusOK, fallback},
		{fmt.Sprintf("/log/proof/inclusion?seq=%d&size=%d", seq, seq), http.StatusOK, fallback},
		{fmt.Sprintf("/tile/0/000.p/%d", seq), http.StatusOK, fallback},
		{fmt.Sprintf("/log/entry/%d", seq+1), http.StatusNotFound, fallback},
		{"/tuf/acme/app/1.root.json", http.StatusNotFound, fallback},
		{"/tuf/acme/app/timestamp.json", http.StatusNotFound, primary},
		{"/log/proof/inclusion?seq=1", http.StatusOK, primary},
		{"/log/proof/consistency?from=1", http.StatusOK, primary},
		{fmt.Sprintf("/log/proof/consistency?from=1&to=%d", seq), http.StatusOK, fallback},
	} {
		sb0, p0 := rep.store.ReadsServed()
		got, err := http.Get("http://" + rep.httpAddr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		sb1, p1 := rep.store.ReadsServed()
		want := [...][2]bool{standby: {true, false}, fallback: {true, true}, primary: {false, true}}[c.from]
		if got.StatusCode != c.status || (sb1 > sb0) != want[0] || (p1 > p0) != want[1] {
			t.Errorf("GET %s: %d with %d standby and %d primary reads; want %d with (standby, primary) reads %v", c.path, got.StatusCode, sb1-sb0, p1-p0, c.status, want)
		}
	}
	// A JSON write answers with its commit position in a header too.
	env, _ = sig.envelope(t, "third")
	got, body := jsonCall(t, rep.httpAddr, "StatementService/Submit", `{"envelope":"`+base64.StdEncoding.EncodeToString(env)+`"}`, "")
	var submitted struct {
		CommitLSN string `json:"commit_lsn"`
	}
	if err := json.Unmarshal(body, &submitted); err != nil || got.StatusCode != http.StatusOK {
		t.Fatalf("JSON Submit: %d %s (%v)", got.StatusCode, body, err)
	}
	if h := got.Header.Get(server.CommitLSNHeader); h == "" || h != submitted.CommitLSN {
		t.Errorf("JSON Submit: %s header %q, body commit_lsn %q; want the same position in both", server.CommitLSNHeader, h, submitted.CommitLSN)
	}
	other := dial(t, rep.addr)
	other.SetMinLSN(resp.GetCommitLsn())
	execSQL(t, rs.standby.URL, `SELECT pg_wal_replay_resume()`)
	waitFor(t, func() bool { return lookup(dial(t, rep.addr)) == nil })
	sb0, p0 = rep.store.ReadsServed()
	if err := lookup(other); err != nil {
		t.Fatalf("lookup with --min-lsn after resume: %v", err)
	}
	if sb1, p1 := rep.store.ReadsServed(); sb1 == sb0 || p1 != p0 {
		t.Errorf("lookup after resume: %d standby and %d primary reads; want the standby only", sb1-sb0, p1-p0)
	}

	bad, err := client.New(rep.addr, client.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	// SetMinLSN ignores what is not a position: send the header by hand.
	_, err = bad.Subjects.GetSubject(withMinLSN(ctx, "16/zz"), &trustv1.GetSubjectRequest{Digest: d.String()})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed position: %v, want InvalidArgument", err)
	}

	// The standby crashes: lookups, with and without a position, are
	// answered from the primary, with no error.
	rs.standby.Kill()
	for i := range 10 {
		c := dial(t, rep.addr)
		if i%2 == 1 {
			c = writer
		}
		if err := lookup(c); err != nil {
			t.Fatalf("lookup %d with the standby down: %v", i, err)
		}
	}
}

func withMinLSN(ctx context.Context, lsn string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, server.MinLSNHeader, lsn)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonCall posts body to the HTTP/JSON API method (Service/Method) of the
// trustd at httpAddr, with the commit position lsn when not empty.
func jsonCall(t *testing.T, httpAddr, method, body, lsn string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+server.APIPrefix+"/trust.v1."+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if lsn != "" {
		req.Header.Set(server.MinLSNHeader, lsn)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}
