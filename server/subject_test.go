package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
)

// TestGetSubjectStatus: GetSubject's facts carry their status from the
// evidence model at the requested time, on both backends: a statement
// whose withdrawal takes effect later is superseded now and revoked once
// it is effective (the one time rule, at `at`), citing the withdrawal's
// own log entry and the revoker's label; reinstated, it is told apart
// from both; an entry naming only the sha512 alias is reached through
// the claim (its log entry and signer) that links it, once.
func TestGetSubjectStatus(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newRevFixture(t, b.Open(t))
			stmts := trustv1.NewStatementServiceClient(f.conn)
			subjects := trustv1.NewSubjectServiceClient(f.conn)
			s256 := sha256.Sum256([]byte("artifact"))
			d256, _ := digest.New(digest.SHA256, s256[:])
			s512 := sha512.Sum512([]byte("artifact"))
			d512, _ := digest.New(digest.SHA512, s512[:])
			submit := func(pt string, ds ...digest.Digest) *trustv1.LogEntry {
				t.Helper()
				stmt, err := envelope.NewStatement(pt, json.RawMessage(`{}`), envelope.Subject{Name: "artifact", Digests: ds})
				if err != nil {
					t.Fatal(err)
				}
				env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, f.authority)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := json.Marshal(env)
				sub, err := stmts.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
				if err != nil {
					t.Fatal(err)
				}
				return sub.GetEntry()
			}
			both := submit("https://example.com/both/v1", d256, d512)
			alone := submit("https://example.com/alone/v1", d512)
			revoke := func(action revocation.Action, reason revocation.Reason, effective time.Time) uint64 {
				t.Helper()
				raw := f.sign(t, revocation.Predicate{Action: action, Target: revocation.Target{Kind: revocation.KindStatement, ID: alone.GetEnvelopeDigest()},
					Reason: reason, Effective: effective}, f.authority)
				sub, err := f.rev.SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: raw})
				if err != nil {
					t.Fatal(err)
				}
				return sub.GetEntry().GetSeq()
			}
			effective := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
			withdrawn := revoke(revocation.ActionRevoke, revocation.ReasonWithdrawn, effective)
			get := func(at time.Time) (*trustv1.Subject, *trustv1.Fact, *trustv1.Fact) {
				t.Helper()
				req := &trustv1.GetSubjectRequest{Digest: d256.String()}
				if !at.IsZero() {
					req.At = timestamppb.New(at)
				}
				resp, err := subjects.GetSubject(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				s := resp.GetSubject()
				var fb, fa *trustv1.Fact
				for _, f := range s.GetFacts() {
					switch f.GetSeq() {
					case both.GetSeq():
						fb = f
					case alone.GetSeq():
						fa = f
					}
				}
				if len(s.GetFacts()) != 2 || fb == nil || fa == nil {
					t.Fatalf("facts %v: want entries %d and %d once each", s.GetFacts(), both.GetSeq(), alone.GetSeq())
				}
				return s, fb, fa
			}

			s, fb, fa := get(time.Time{})
			if fb.GetViaAlias() != "" || len(fb.GetDigests()) != 2 || fb.GetStatus() != trustv1.FactStatus_FACT_STATUS_VALID {
				t.Errorf("the entry naming both digests: %v; want direct, both digests, valid", fb)
			}
			if fa.GetViaAlias() != d512.String() || len(fa.GetViaClaims()) != 1 || fa.GetViaClaims()[0].GetStatementSeq() != both.GetSeq() ||
				fa.GetViaClaims()[0].GetSignerKeyIds()[0] != f.authID {
				t.Errorf("the entry naming the alias alone: %v; want via %s by the claim in entry %d signed by %s", fa, d512, both.GetSeq(), f.authID)
			}
			if fa.GetStatus() != trustv1.FactStatus_FACT_STATUS_SUPERSEDED || fa.GetRevocation().GetSeq() != withdrawn || fa.GetRevocation().GetReason() != "withdrawn" {
				t.Errorf("before the withdrawal is effective: %v; want superseded by log entry %d", fa, withdrawn)
			}
			if s.GetKeyLabels()[f.authID] != "authority" {
				t.Errorf("key labels %v; want the signer's label", s.GetKeyLabels())
			}
			_, _, fa = get(effective.Add(time.Minute))
			if fa.GetStatus() != trustv1.FactStatus_FACT_STATUS_REVOKED || fa.GetRevocation().GetSeq() != withdrawn || fa.GetRevocation().GetAction() != "revoke" {
				t.Errorf("after the withdrawal is effective: %v; want revoked by log entry %d", fa, withdrawn)
			}
			reinstated := revoke(revocation.ActionReinstate, revocation.ReasonOther, time.Now().UTC().Truncate(time.Second))
			for _, at := range []time.Time{{}, effective.Add(time.Minute)} {
				if _, _, fa := get(at); fa.GetStatus() != trustv1.FactStatus_FACT_STATUS_REINSTATED || fa.GetRevocation().GetSeq() != reinstated ||
					fa.GetRevocation().GetAction() != "reinstate" {
					t.Errorf("after the reinstatement (at %v): %v; want reinstated by log entry %d", at, fa, reinstated)
				}
			}
		})
	}
}
