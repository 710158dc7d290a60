package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tuf"
)

// revFixture is a server with revocation on a real loopback listener.
type revFixture struct {
	store     store.Store
	conn      *grpc.ClientConn
	rev       trustv1.RevocationServiceClient
	authority envelope.Signer
	authID    string
	listKey   envelope.PublicKey
	tokens    trustv1.TokenServiceClient
	tokenKey  envelope.PublicKey
	tufState  tuf.State
}

func newRevFixture(t testing.TB, st store.Store) *revFixture {
	t.Helper()
	return newRotatingRevFixture(t, st, nil, nil)
}

// newRotatingRevFixture is newRevFixture in the middle of a planned
// rotation: acceptedTokenKeys and acceptedListKeys are published beside
// the token and list keys it signs with.
func newRotatingRevFixture(t testing.TB, st store.Store, acceptedTokenKeys, acceptedListKeys []envelope.PublicKey) *revFixture {
	t.Helper()
	return newRevFixtureHolding(t, st, tokenPolicies(t), acceptedTokenKeys, acceptedListKeys)
}

// newRevFixtureHolding is newRotatingRevFixture holding the token
// policies of catalog.
func newRevFixtureHolding(t testing.TB, st store.Store, catalog *policy.Catalog, acceptedTokenKeys, acceptedListKeys []envelope.PublicKey) *revFixture {
	t.Helper()
	ctx := context.Background()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(st).Add(ctx, pub.Encode(), "authority"); err != nil {
		t.Fatal(err)
	}
	authority, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	sk := newStack(t, st, revocation.Config{SecurityAuthority: []string{pub.ID}}, acceptedTokenKeys, acceptedListKeys)
	sk.opts.TokenPolicies = catalog
	srv, err := server.New(sk.opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &revFixture{store: st, conn: conn, rev: trustv1.NewRevocationServiceClient(conn), authority: authority, authID: pub.ID, listKey: sk.listKey,
		tokens: trustv1.NewTokenServiceClient(conn), tokenKey: sk.tokenKey, tufState: sk.tufState}
}

func (f *revFixture) sign(t testing.TB, p revocation.Predicate, s envelope.Signer) []byte {
	t.Helper()
	stmt, err := revocation.NewStatement(p)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, stmt, s)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fetch downloads and verifies a list through the gRPC stream.
func (f *revFixture) fetch(t testing.TB, since int64) (*revocation.Verified, int) {
	t.Helper()
	stream, err := f.rev.FetchRevocationList(context.Background(), &trustv1.FetchRevocationListRequest{Since: uint64(since)})
	if err != nil {
		t.Fatal(err)
	}
	var l revocation.List
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.GetEnvelope()) > 0 {
			l.Envelope = msg.GetEnvelope()
		}
		l.Body = append(l.Body, msg.GetBody()...)
	}
	v, err := revocation.Verify(context.Background(), l, f.listKey)
	if err != nil {
		t.Fatal(err)
	}
	return v, len(l.Envelope) + len(l.Body)
}

func TestRevocationService(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newRevFixture(t, st)
	now := time.Now().UTC().Truncate(time.Second)
	sum := sha256.Sum256([]byte("bad"))
	bad, _ := digest.New(digest.SHA256, sum[:])
	target := revocation.Target{Kind: revocation.KindDigest, ID: bad.String()}

	other, _, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, otherPub, _ := envelope.LoadPrivateKey(other, nil)
	if _, _, err := keys.NewRegistry(st).Add(ctx, otherPub.Encode(), ""); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		code codes.Code
	}{
		{"unauthorized", f.sign(t, revocation.Predicate{Action: revocation.ActionRevoke, Target: target, Reason: revocation.ReasonMalicious, Effective: now}, otherSigner), codes.PermissionDenied},
		{"nothing to reinstate", f.sign(t, revocation.Predicate{Action: revocation.ActionReinstate, Target: target, Reason: revocation.ReasonOther, Effective: now}, f.authority), codes.FailedPrecondition},
		{"empty", nil, codes.InvalidArgument},
		{"not a revocation", func() []byte {
			stmt, err := envelope.NewStatement("https://example.com/other/v1", json.RawMessage(`{}`), envelope.Subject{Digests: []digest.Digest{bad}})
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, f.authority)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(env)
			return raw
		}(), codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: tc.raw})
			if status.Code(err) != tc.code {
				t.Fatalf("SubmitRevocation = %v, want %s", err, tc.code)
			}
		})
	}
	if n, _ := st.LogSize(ctx); n != 0 {
		t.Fatalf("refused submissions left %d log entries", n)
	}
	resp, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: f.sign(t, revocation.Predicate{Action: revocation.ActionRevoke, Target: target, Reason: revocation.ReasonMalicious, Effective: now}, f.authority)})
	if err != nil || !resp.GetCreated() || resp.GetState().GetReason() != "malicious" || resp.GetState().GetRevokers()[0] != f.authID {
		t.Fatalf("SubmitRevocation = %v, %v", resp, err)
	}
	look, err := f.rev.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: "digest", Id: bad.String()})
	if err != nil || !look.GetInForce() || look.GetRevocation().GetSeq() != resp.GetEntry().GetSeq() {
		t.Fatalf("LookupRevocation = %v, %v", look, err)
	}
	if _, err := f.rev.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: "user", Id: "x"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("LookupRevocation of a bad kind = %v, want InvalidArgument", err)
	}
	for i := range 3 {
		p := revocation.Predicate{Action: revocation.ActionRevoke, Target: revocation.Target{Kind: revocation.KindToken, ID: fmt.Sprintf("sha256:%064x", i)}, Reason: revocation.ReasonRetired, Effective: now}
		if _, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: f.sign(t, p, f.authority)}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := f.rev.ListRevocations(ctx, &trustv1.ListRevocationsRequest{PageSize: 3})
	if err != nil || len(page.GetRevocations()) != 3 || page.GetNextSinceSeq() == 0 {
		t.Fatalf("ListRevocations page 1 = %v, %v", page, err)
	}
	page, err = f.rev.ListRevocations(ctx, &trustv1.ListRevocationsRequest{SinceSeq: page.GetNextSinceSeq()})
	if err != nil || len(page.GetRevocations()) != 1 || page.GetNextSinceSeq() != 0 || page.GetRevocations()[0].GetId() != fmt.Sprintf("sha256:%064x", 2) {
		t.Fatalf("ListRevocations page 2 = %v, %v", page, err)
	}

	key, err := f.rev.GetRevocationListKey(ctx, &trustv1.GetRevocationListKeyRequest{})
	if err != nil || key.GetKeyId() != f.listKey.ID || key.GetTufRepo() != revocation.KeysRepo {
		t.Fatalf("GetRevocationListKey = %v, %v", key, err)
	}
	v, _ := f.fetch(t, 0)
	if v.Len() != 4 || v.Info.Delta() {
		t.Fatalf("snapshot: %+v, %d entries", v.Info, v.Len())
	}
	d, _ := f.fetch(t, v.Info.Number)
	if !d.Info.Delta() || d.Len() != 0 {
		t.Fatalf("empty delta: %+v, %d entries", d.Info, d.Len())
	}
	stream, err := f.rev.FetchRevocationList(ctx, &trustv1.FetchRevocationListRequest{Since: uint64(v.Info.Number + 1000)})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("FetchRevocationList since the future = %v, want FailedPrecondition", err)
	}

	// The subject of the revoked digest shows it as revoked.
	subj, err := trustv1.NewSubjectServiceClient(f.conn).GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: bad.String()})
	if err != nil {
		t.Fatal(err)
	}
	var shown *trustv1.Revocation
	for _, a := range subj.GetSubject().GetAliases() {
		if a.GetDigest() == bad.String() {
			shown = a.GetRevocation()
		}
	}
	if shown == nil || shown.GetReason() != "malicious" || shown.GetRevokers()[0] != f.authID {
		t.Errorf("subject aliases = %v; want the digest marked revoked (malicious) by the authority", subj.GetSubject().GetAliases())
	}
	if fs := subj.GetSubject().GetFacts(); len(fs) != 1 || fs[0].GetPredicateType() != revocation.PredicateType || fs[0].GetSeq() == 0 {
		t.Errorf("subject facts = %v; want the revocation statement", fs)
	}
}

// seedRevocations inserts n revocations (and their events) with seqs
// from+1 … from+n straight into PostgreSQL with generate_series: the list
// benchmarks measure serving and verifying, not the log's append path.
func seedRevocations(b *testing.B, url string, from, n int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"revocation_events", "revocations"} {
		_, err := conn.Exec(ctx, `INSERT INTO `+table+` (target_key, kind, target_id, action, reason, effective_at, revokers, seq, recorded_at)
			SELECT sha256(int8send(g)), 'digest', 'sha256:' || encode(sha256(int8send(g)), 'hex'), 'revoke',
				(ARRAY['compromised','superseded','retired','malicious','withdrawn','other'])[1 + g % 6],
				now(), '["`+fmt.Sprintf("%064x", n)+`"]', g, now()
			FROM generate_series($1::bigint, $2::bigint) g`, from+1, from+n)
		if err != nil {
			b.Fatalf("seed %s: %v", table, err)
		}
		// As autovacuum would after a bulk load: plan with real statistics.
		if _, err := conn.Exec(ctx, `ANALYZE `+table); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStore(b *testing.B) (store.Store, string) {
	b.Helper()
	url := testpg.URL(b)
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, url
}

// BenchmarkFullListDownload1M: a full snapshot of 1,000,000 revocations.
// "build": read from PostgreSQL, sorted and signed by the publisher;
// "download-verify": streamed over loopback gRPC (the server reuses its
// last snapshot while nothing changed), verified and loaded into a client
// cache.
func BenchmarkFullListDownload1M(b *testing.B) {
	const n = 1_000_000
	st, url := benchStore(b)
	seedRevocations(b, url, 0, n)
	f := newRevFixture(b, st)
	b.Run("build", func(b *testing.B) {
		signer, _, err := revocation.LoadListKey(filepath.Join(b.TempDir(), "list.key"))
		if err != nil {
			b.Fatal(err)
		}
		p := revocation.NewPublisher(st, signer, time.Hour)
		var size int
		for b.Loop() {
			l, err := p.Snapshot(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			size = len(l.Envelope) + len(l.Body)
		}
		b.ReportMetric(float64(size), "bytes/list")
	})
	b.Run("download-verify", func(b *testing.B) {
		f.fetch(b, 0) // the server builds its snapshot once
		dir := b.TempDir()
		var size int
		for b.Loop() {
			v, n2 := f.fetch(b, 0)
			c, err := revocation.OpenCache(filepath.Join(dir, fmt.Sprint(time.Now().UnixNano())), time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Apply(v); err != nil {
				b.Fatal(err)
			}
			if c.Len() != n {
				b.Fatalf("cache holds %d, want %d", c.Len(), n)
			}
			size = n2
		}
		b.ReportMetric(float64(size), "bytes/list")
	})
}

// BenchmarkDeltaSync1000: the delta of 1,000 new revocations on top of
// 1,000,000, fetched, verified and merged into a cache holding the
// 1,000,000 and saved to disk.
func BenchmarkDeltaSync1000(b *testing.B) {
	const n, k = 1_000_000, 1_000
	st, url := benchStore(b)
	seedRevocations(b, url, 0, n)
	f := newRevFixture(b, st)
	base, _ := f.fetch(b, 0)
	seedRevocations(b, url, n, k)
	dir := b.TempDir()
	var bytes int
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		c, err := revocation.OpenCache(filepath.Join(dir, fmt.Sprint(time.Now().UnixNano())), time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Apply(base); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		v, size := f.fetch(b, int64(n))
		if err := c.Apply(v); err != nil {
			b.Fatal(err)
		}
		if err := c.Save(); err != nil {
			b.Fatal(err)
		}
		if c.Len() != n+k {
			b.Fatalf("cache holds %d, want %d", c.Len(), n+k)
		}
		bytes = size
		b.StopTimer()
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes), "bytes/delta")
}
