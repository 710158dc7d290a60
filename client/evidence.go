package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/apiconv"
	"github.com/trustd-dev/trustd/policy"
)

// MaxEvidenceBytes bounds one evidence answer (its entries' signed bytes
// dominate it).
const MaxEvidenceBytes = 64 << 20

// FetchEvidence fetches the evidence req asks for in one call and checks it
// (evidence.Verify): every entry proven under a checkpoint signed by
// logKey (empty: the key the server names, as far as the connection is
// trusted), and every signature the client can check re-verified. An
// answer that does not verify is evidence.ErrUnverified.
func (c *Client) FetchEvidence(ctx context.Context, req evidence.Request, logKey string) (*evidence.Set, error) {
	resp, err := c.Evidence.GetEvidence(ctx, apiconv.EvidenceRequestToProto(req), grpc.MaxCallRecvMsgSize(MaxEvidenceBytes))
	if err != nil {
		return nil, fmt.Errorf("client: evidence: %w", err)
	}
	b, err := apiconv.BundleFromProto(resp)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	set, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: logKey, Digests: req.Digests})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return set, nil
}

// unavailable is the evidence of a verification whose evidence call
// failed: every source answers with the failure, so each requirement
// that needs server evidence is undecided and says why, while the tokens
// beside the bytes are still judged.
type unavailable struct{ err error }

func unavailableSources(err error) policy.Sources {
	u := unavailable{err}
	return policy.Sources{TUF: u, PGP: u, Attestations: u, Revocations: u, Reputation: u, Signers: u}
}

func (u unavailable) TUFRole(context.Context, string, string) (*policy.TUFRole, error) {
	return nil, u.err
}

func (u unavailable) PGPSignatures(context.Context, []digest.Digest) ([]policy.PGPSignature, error) {
	return nil, u.err
}

func (u unavailable) PGPDecide(context.Context, string, string, time.Time, time.Time, []string) (policy.PGPDecision, error) {
	return policy.PGPDecision{}, u.err
}

func (u unavailable) Attestations(context.Context, []digest.Digest, string) ([]policy.Attestation, error) {
	return nil, u.err
}

func (u unavailable) Revocations(context.Context, policy.RevocationQuery) (policy.RevocationStatus, error) {
	return policy.RevocationStatus{}, u.err
}

func (u unavailable) Reputation(context.Context, []digest.Digest, []string) (policy.Reputation, error) {
	return policy.Reputation{}, u.err
}

func (u unavailable) Signatures(context.Context, []digest.Digest) ([]policy.Signature, error) {
	return nil, u.err
}
