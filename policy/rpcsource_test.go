package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// TestServerSourcesRevocationReputation: the API-backed revocation and
// reputation sources ask trustd per digest and signer, map its answers to
// the evaluator's figures, and exist only when their call is given.
func TestServerSourcesRevocationReputation(t *testing.T) {
	ctx := context.Background()
	if s := ServerSources(RPC{}); s.Revocations != nil || s.Reputation != nil {
		t.Fatalf("sources without calls: %+v", s)
	}
	var asked []string
	rpc := RPC{
		LookupRevocation: func(_ context.Context, r *trustv1.LookupRevocationRequest) (*trustv1.LookupRevocationResponse, error) {
			asked = append(asked, r.GetKind()+" "+r.GetId())
			if r.GetId() == keyB {
				return &trustv1.LookupRevocationResponse{InForce: true, Revocation: &trustv1.Revocation{Action: "revoke", Seq: 17, Reason: "compromised", Effective: timestamppb.New(now)}}, nil
			}
			if r.GetId() == otherSH.String() {
				// Revoked from a future time: returned, for the
				// evaluator to judge (not in force yet).
				return &trustv1.LookupRevocationResponse{Revocation: &trustv1.Revocation{Action: "revoke", Seq: 18, Reason: "withdrawn", Effective: timestamppb.New(now.Add(time.Hour))}}, nil
			}
			if r.GetId() == keyA {
				// Reinstated: no revocation.
				return &trustv1.LookupRevocationResponse{Revocation: &trustv1.Revocation{Action: "reinstate", Seq: 19, Reason: "other", Effective: timestamppb.New(now)}}, nil
			}
			return &trustv1.LookupRevocationResponse{}, nil
		},
		GetReputation: func(_ context.Context, r *trustv1.GetReputationRequest) (*trustv1.GetReputationResponse, error) {
			if r.GetDigest() != artSHA.String() || !slices.Equal(r.GetTrustRoots(), []string{keyA}) {
				return nil, fmt.Errorf("asked %s %v", r.GetDigest(), r.GetTrustRoots())
			}
			return &trustv1.GetReputationResponse{Quality: &trustv1.ReputationAxis{Positive: 3, Negative: 1, Score: 0.3}}, nil
		},
	}
	src := ServerSources(rpc)
	st, err := src.Revocations.Revocations(ctx, RevocationQuery{Digests: []digest.Digest{artSHA, otherSH}, Keys: []string{keyA, keyB}, Statements: []digest.Digest{otherSH}, Tokens: []string{"tok"}})
	wantAsked := []string{"digest " + artSHA.String(), "digest " + otherSH.String(), "key " + keyA, "key " + keyB, "statement " + otherSH.String(), "token tok"}
	wantRevoked := []Revoked{
		{Kind: "digest", ID: otherSH.String(), Seq: 18, Reason: "withdrawn", Effective: now.Add(time.Hour)},
		{Kind: "key", ID: keyB, Seq: 17, Reason: "compromised", Effective: now},
		{Kind: "statement", ID: otherSH.String(), Seq: 18, Reason: "withdrawn", Effective: now.Add(time.Hour)},
	}
	if err != nil || !slices.Equal(asked, wantAsked) || !slices.Equal(st.Revoked, wantRevoked) || st.ListTime.IsZero() {
		t.Errorf("Revocations = %+v, %v; asked %v", st, err, asked)
	}
	rep, err := src.Reputation.Reputation(ctx, []digest.Digest{artSHA}, []string{keyA})
	if err != nil || rep != (Reputation{Score: 0.3, Votes: 4}) {
		t.Errorf("Reputation = %+v, %v", rep, err)
	}

	// Through the evaluator: a revoked signer fails, a low score fails.
	p := mustPolicy(t, `      all:
        - threshold: {k: 1, signers: [{key: "`+keyB+`"}]}
        - revocation: {}
        - reputation: {minScore: 0.5, trustSet: ["`+keyA+`"]}
`)
	src.Signers = sigData{{Kind: "key", ID: keyB, Seq: 3}}
	v := (&Evaluator{Sources: src, Now: func() time.Time { return now }}).Evaluate(ctx, p, "", []digest.Digest{artSHA})
	if got := leafReasons(v.Result); !slices.Equal(got, []string{"revocations:REVOKED", "revocation:REVOKED", "reputation:REPUTATION_BELOW"}) {
		t.Errorf("verdict reasons %v", got)
	}
}

// TestRevocationStaleEvidence: a revocation source whose list is past its
// expiry fails the requirement as STALE_METADATA; other errors leave it
// undecided.
func TestRevocationStaleEvidence(t *testing.T) {
	p := mustPolicy(t, "      revocation: {maxAge: 1h}\n")
	for _, tc := range []struct {
		err  error
		want Outcome
		code Reason
	}{
		{fmt.Errorf("%w: list 4 expired", ErrStaleEvidence), Fail, ReasonStaleMetadata},
		{errors.New("no revocation list cached"), Undecided, ReasonEvidenceUnavailable},
	} {
		v := (&Evaluator{Sources: Sources{Revocations: revErr{tc.err}}, Now: func() time.Time { return now }}).Evaluate(context.Background(), p, "", []digest.Digest{artSHA})
		if v.Outcome != tc.want || !slices.Equal(v.Reasons(), []Reason{tc.code}) {
			t.Errorf("%v: %s %v, want %s %s", tc.err, v.Outcome, v.Reasons(), tc.want, tc.code)
		}
	}
}

type revErr struct{ err error }

func (r revErr) Revocations(context.Context, RevocationQuery) (RevocationStatus, error) {
	return RevocationStatus{}, r.err
}

// leafReasons lists "kind:REASON" of every failed or undecided leaf.
func leafReasons(r Result) []string {
	if len(r.Children) == 0 {
		if r.Reason == "" {
			return nil
		}
		return []string{r.Kind + ":" + string(r.Reason)}
	}
	var out []string
	for _, c := range r.Children {
		out = append(out, leafReasons(c)...)
	}
	return out
}

// TestServerSourcesSkipForgedRecords: log entries of trustd's own types
// that trustd did not write (a forged OpenPGP manifest or TUF metadata,
// stored as an in-toto statement by an older server) are neither OpenPGP
// signatures to verify (which would leave the policy UNDECIDED) nor
// signatures for thresholds; the signer's genuine attestation is.
func TestServerSourcesSkipForgedRecords(t *testing.T) {
	ctx := context.Background()
	entries := []*trustv1.LogEntry{
		{Seq: 1, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.PGPManifest, SignerKeyIds: []string{"stranger"}, Envelope: []byte(`{"payloadType":"x"}`)},
		{Seq: 2, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.TUFMetadata, SignerKeyIds: []string{"stranger"}},
		{Seq: 3, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://slsa.dev/provenance/v1", SignerKeyIds: []string{keyA}},
	}
	rpc := RPC{
		ListBySubject: func(_ context.Context, r *trustv1.ListBySubjectRequest) (*trustv1.ListBySubjectResponse, error) {
			var out []*trustv1.LogEntry
			for _, e := range entries {
				if r.GetPredicateType() == "" || r.GetPredicateType() == e.GetPredicateType() {
					out = append(out, e)
				}
			}
			return &trustv1.ListBySubjectResponse{Entries: out}, nil
		},
		Decide: func(context.Context, *trustv1.DecideRequest) (*trustv1.DecideResponse, error) {
			return nil, errors.New("not asked")
		},
		GetKey: func(context.Context, *trustv1.GetKeyRequest) (*trustv1.GetKeyResponse, error) {
			return nil, errors.New("a forged manifest's signer was looked up")
		},
	}
	src := ServerSources(rpc)
	sigs, err := src.PGP.PGPSignatures(ctx, []digest.Digest{artSHA})
	if err != nil || len(sigs) != 0 {
		t.Errorf("PGPSignatures = %+v, %v; want none", sigs, err)
	}
	all, err := src.Signers.Signatures(ctx, []digest.Digest{artSHA})
	if err != nil || len(all) != 1 || all[0].ID != keyA || all[0].Seq != 3 {
		t.Errorf("Signatures = %+v, %v; want keyA's attestation alone", all, err)
	}
}

// TestNoRevocationState: a source with no state at all (an offline cache
// never synced) checks nothing: a token still decides alone, and a
// revocation requirement is undecided.
func TestNoRevocationState(t *testing.T) {
	src := Sources{Revocations: revErr{fmt.Errorf("no list cached: %w", ErrNoRevocationState)}, Tokens: tokenData{ID: "t", IssuedAt: now.Add(-time.Minute), Expires: now.Add(time.Hour)}}
	ev := &Evaluator{Sources: src, Now: func() time.Time { return now }, Offline: true}
	if v := ev.Evaluate(context.Background(), mustPolicy(t, "      token: {maxAge: 1h}\n"), "", []digest.Digest{artSHA}); v.Outcome != Pass {
		t.Errorf("token with no revocation state: %s %v", v.Outcome, v.Reasons())
	}
	v := ev.Evaluate(context.Background(), mustPolicy(t, "      revocation: {}\n"), "", []digest.Digest{artSHA})
	if v.Outcome != Undecided || !slices.Equal(v.Reasons(), []Reason{ReasonEvidenceUnavailable}) {
		t.Errorf("revocation requirement with no revocation state: %s %v", v.Outcome, v.Reasons())
	}
}
