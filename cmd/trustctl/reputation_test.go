package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestPrintReputationGolden pins the text output of `trustctl reputation`.
func TestPrintReputationGolden(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	tests := []struct {
		name  string
		resp  *trustv1.GetReputationResponse
		roots int
	}{
		{"global", &trustv1.GetReputationResponse{
			Digest:  "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
			Quality: &trustv1.ReputationAxis{Positive: 12, Negative: 3, PositiveWeight: 12, NegativeWeight: 3, Score: 0.5481},
			Trust:   &trustv1.ReputationAxis{Positive: 5, PositiveWeight: 5, Score: 0.5655},
			Voters:  15, LastVoteAt: at,
			Aliases: []*trustv1.ReputationAlias{
				{Digest: "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
				{Digest: "sha512:f7fbba6e0636f890e56fbbf3283e524c6fa3204ae298382d624741d0dc6638326e282c41be5e4254d8820772c5518a2c5a8c0c7f7eda19594a7eb539453e1ed7", ClaimSource: "statement", ClaimReference: "7/0", SignerKeyIds: []string{"5f2e"}},
			},
			Responses: []*trustv1.FeedbackResponse{{Seq: 9, PublisherKeyId: "5f2e", InReplyTo: "sha256:41c7", Text: "false positive from scanner X", RespondedAt: at}},
		}, 0},
		{"web-of-trust", &trustv1.GetReputationResponse{
			Digest:  "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
			Quality: &trustv1.ReputationAxis{Positive: 2, Negative: 1, PositiveWeight: 1.25, NegativeWeight: 0.5, Score: 0.2},
			Trust:   &trustv1.ReputationAxis{},
			Voters:  3, LastVoteAt: at, WebOfTrust: true, Reached: 42,
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			printReputation(&buf, tc.resp, tc.roots, nil)
			path := filepath.Join("testdata", "reputation-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("output differs from %s (go test -update to accept):\n%s", path, buf.String())
			}
		})
	}
}
