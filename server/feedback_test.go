package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/keys"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

type feedbackFixture struct {
	store      store.Store
	feedback   trustv1.FeedbackServiceClient
	statements trustv1.StatementServiceClient
}

func newFeedbackFixture(t *testing.T, origin string) *feedbackFixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fb := feedback.New(st, feedback.Options{RateLimit: feedback.RateLimit{N: 3, Per: time.Hour}})
	skey, vkey, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: fb.Validators(), Indexers: fb.Indexers()})
	if err != nil {
		t.Fatal(err)
	}
	// ImportFeedback is for operators: the tests call as one.
	serverTLS, authz, operator := operatorServer(t)
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Feedback: fb, TLS: serverTLS, Authz: authz})
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
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }), operator)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &feedbackFixture{store: st, feedback: trustv1.NewFeedbackServiceClient(conn), statements: trustv1.NewStatementServiceClient(conn)}
}

func (f *feedbackFixture) voter(t *testing.T) envelope.Signer {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.NewRegistry(f.store).Add(context.Background(), pub.Encode(), ""); err != nil {
		t.Fatal(err)
	}
	sg, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func signedVote(t *testing.T, sg envelope.Signer, d digest.Digest, value string, at time.Time) []byte {
	t.Helper()
	axis := feedback.AxisQuality
	if value == feedback.Trust || value == feedback.Distrust {
		axis = feedback.AxisTrust
	}
	payload, err := feedback.VoteStatement(envelope.Subject{Digests: []digest.Digest{d}}, feedback.VotePredicate{Axis: axis, Value: value, Timestamp: at})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, sg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestFeedbackService(t *testing.T) {
	ctx := context.Background()
	a := newFeedbackFixture(t, "a.example")
	sum := sha256.Sum256([]byte("app"))
	d, _ := digest.New(digest.SHA256, sum[:])
	alice, bob := a.voter(t), a.voter(t)
	now := time.Now()
	for _, env := range [][]byte{
		signedVote(t, alice, d, feedback.Like, now.Add(-time.Minute)),
		signedVote(t, bob, d, feedback.Like, now.Add(-time.Minute)),
		signedVote(t, bob, d, feedback.Distrust, now.Add(-time.Minute)),
	} {
		if _, err := a.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: env}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetQuality().GetPositive() != 2 || rep.GetTrust().GetNegative() != 1 || rep.GetVoters() != 2 || rep.GetLastVoteAt() == nil || rep.GetQuality().GetScore() <= 0 {
		t.Fatalf("reputation %v", rep)
	}

	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"bad digest", func() error {
			_, err := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: "sha256:zz"})
			return err
		}, codes.InvalidArgument},
		{"depth beyond the maximum", func() error {
			_, err := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String(), TrustRoots: []string{"k"}, Depth: 99})
			return err
		}, codes.InvalidArgument},
		{"negative half-life", func() error {
			_, err := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String(), HalfLife: durationpb.New(-time.Hour)})
			return err
		}, codes.InvalidArgument},
		{"verified only without a verifier", func() error {
			_, err := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String(), VerifiedOnly: true})
			return err
		}, codes.FailedPrecondition},
		{"vote from the future", func() error {
			_, err := a.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: signedVote(t, alice, d, feedback.Trust, now.Add(time.Hour))})
			return err
		}, codes.InvalidArgument},
		{"rate limited", func() error {
			_, err := a.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: signedVote(t, bob, d, feedback.Dislike, now)})
			if err != nil {
				return err
			}
			_, err = a.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: signedVote(t, bob, d, feedback.Like, now)})
			return err
		}, codes.ResourceExhausted},
		{"bad import", func() error {
			_, err := a.feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{Origin: "x"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
		})
	}

	// Export from a, import into b over the wire: same figures.
	b := newFeedbackFixture(t, "b.example")
	page, err := a.feedback.ExportFeedback(ctx, &trustv1.ExportFeedbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if page.GetOrigin() != "a.example" || len(page.GetEntries()) != 4 || page.GetNextSinceSeq() != page.GetEntries()[3].GetSeq() {
		t.Fatalf("export page: origin %q, %d entries", page.GetOrigin(), len(page.GetEntries()))
	}
	res, err := b.feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{Origin: page.GetOrigin(), VerifierKey: page.GetVerifierKey(),
		Checkpoint: page.GetCheckpoint(), Entries: page.GetEntries()})
	if err != nil || res.GetImported() != 4 {
		t.Fatalf("import: %v, %v", res, err)
	}
	want, _ := a.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String()})
	got, err := b.feedback.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: d.String()})
	if err != nil || got.GetQuality().GetPositive() != want.GetQuality().GetPositive() || got.GetQuality().GetNegative() != want.GetQuality().GetNegative() ||
		got.GetTrust().GetNegative() != want.GetTrust().GetNegative() || got.GetVoters() != want.GetVoters() {
		t.Fatalf("imported reputation %v, want %v (%v)", got, want, err)
	}

	// An import's refusals carry the codes of direct writes' refusals.
	c := newFeedbackFixture(t, "c.example")
	elsewhere, err := b.feedback.ExportFeedback(ctx, &trustv1.ExportFeedbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{VerifierKey: page.GetVerifierKey(), Checkpoint: elsewhere.GetCheckpoint(), Entries: page.GetEntries()})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("import with another log's checkpoint: %v, want InvalidArgument", err)
	}
	if _, err := c.feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{VerifierKey: page.GetVerifierKey(), Checkpoint: page.GetCheckpoint(), Entries: page.GetEntries()}); err != nil {
		t.Fatal(err)
	}
	// alice: one vote imported into c, one direct there, and two more
	// exported from a: the second of those is one over her limit of 3.
	if _, err := c.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: signedVote(t, alice, d, feedback.Distrust, now)}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{feedback.Dislike, feedback.Trust} {
		if _, err := a.statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: signedVote(t, alice, d, v, now)}); err != nil {
			t.Fatal(err)
		}
	}
	more, err := a.feedback.ExportFeedback(ctx, &trustv1.ExportFeedbackRequest{SinceSeq: page.GetNextSinceSeq()})
	if err != nil || len(more.GetEntries()) != 2 {
		t.Fatalf("second export page: %v, %v", more, err)
	}
	_, err = c.feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{VerifierKey: more.GetVerifierKey(), Checkpoint: more.GetCheckpoint(), Entries: more.GetEntries()})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("import over the rate limit: %v, want ResourceExhausted", err)
	}
}
