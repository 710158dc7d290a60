package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trustd-dev/trustd/client"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

func newReputationCmd(g *globals) *cobra.Command {
	var (
		roots, attesters []string
		depth, minPaths  uint32
		verifiedOnly     bool
		halfLife         time.Duration
		ref              refFlags
	)
	cmd := &cobra.Command{
		Use:   "reputation DIGEST|REF [--trust-root KEYID ...] [--depth N] [--output json]",
		Short: "Show the votes on a digest: global, or over your web of trust",
		Long: `reputation shows, per axis (like/dislike, trust/distrust), how many voters
voted which way, a score that ranks by confidence rather than raw ratio (the
lower bound of the 95% Wilson interval), the number of distinct voters and
when the last vote came, and publishers' responses.

Without --trust-root the figures are global. With trust roots (your own key,
keys you trust) only voters reachable from them through trust statements
('trustctl vote trust-key') within --depth count, each weighted by the
strongest path to it; distrusted keys are cut off with their downstream.

Votes on another digest count only when a publisher of both linked them (a
TUF target listing both hashes, by the role that published both first) or an
attestation by a key you name with --attestation-signer did, once per voter.

Sybil controls: --verified-only counts voters bound to a verified identity,
--min-paths K counts voters reached by at least K trust paths that share no
identity but the roots, --half-life makes old votes weigh less.

` + voteRefHelp,
		Example: `  trustctl reputation sha256:9f86d0…
  trustctl reputation dist/app.tar.gz --output json
  trustctl reputation registry.example/acme/app:1.4
  trustctl reputation sha256:9f86d0… --trust-root 5f2e… --depth 3 --min-paths 2 --half-life 4380h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subj, err := voteSubject(cmd, &ref, args[0])
			if err != nil {
				return err
			}
			if halfLife < 0 {
				return fmt.Errorf("--half-life: %s is negative", halfLife)
			}
			req := &trustv1.GetReputationRequest{
				Digest: subj.Digests[0].String(), TrustRoots: roots, AttestationSigners: attesters,
				Depth: depth, MinPaths: minPaths, VerifiedOnly: verifiedOnly,
			}
			if halfLife > 0 {
				req.HalfLife = durationpb.New(halfLife)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Feedback.GetReputation(ctx, req)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				printReputation(cmd.OutOrStdout(), resp, len(roots))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&roots, "trust-root", nil, "key id to walk trust statements from; repeatable")
	fl.StringArrayVar(&attesters, "attestation-signer", nil, "key id whose attestations may link aliases; repeatable")
	fl.Uint32Var(&depth, "depth", 0, "trust statements a path may chain (server default 3, at most 8)")
	fl.Uint32Var(&minPaths, "min-paths", 0, "with --trust-root: count voters reached by at least this many paths sharing no identity but the roots")
	fl.BoolVar(&verifiedOnly, "verified-only", false, "count only voters bound to a verified identity")
	fl.DurationVar(&halfLife, "half-life", 0, "weigh a vote by 0.5^(age/half-life), e.g. 4380h")
	ref.add(fl)
	return cmd
}

func printAxis(w io.Writer, pos, neg string, a *trustv1.ReputationAxis, weighted bool) {
	fmt.Fprintf(w, "  %-8s %6d   %-8s %6d   score %.3f", pos, a.GetPositive(), neg, a.GetNegative(), a.GetScore())
	if weighted {
		fmt.Fprintf(w, "   (weights %.2f / %.2f)", a.GetPositiveWeight(), a.GetNegativeWeight())
	}
	fmt.Fprintln(w)
}

func printReputation(w io.Writer, r *trustv1.GetReputationResponse, roots int) {
	fmt.Fprintln(w, r.GetDigest())
	weighted := r.GetQuality().GetPositiveWeight() != float64(r.GetQuality().GetPositive()) ||
		r.GetQuality().GetNegativeWeight() != float64(r.GetQuality().GetNegative()) ||
		r.GetTrust().GetPositiveWeight() != float64(r.GetTrust().GetPositive()) ||
		r.GetTrust().GetNegativeWeight() != float64(r.GetTrust().GetNegative())
	printAxis(w, "like", "dislike", r.GetQuality(), weighted)
	printAxis(w, "trust", "distrust", r.GetTrust(), weighted)
	last := "never"
	if r.GetLastVoteAt() != nil {
		last = ts(r.GetLastVoteAt().AsTime())
	}
	fmt.Fprintf(w, "  voters   %d, last vote %s\n", r.GetVoters(), last)
	if r.GetWebOfTrust() {
		fmt.Fprintf(w, "  web of trust: %d identities reached from %d roots\n", r.GetReached(), roots)
	} else {
		fmt.Fprintln(w, "  global: every registered voter counts")
	}
	for _, a := range r.GetAliases() {
		if a.GetClaimSource() == "" {
			continue
		}
		fmt.Fprintf(w, "  alias %s via %s %s signed by %s\n", a.GetDigest(), a.GetClaimSource(), a.GetClaimReference(), strings.Join(a.GetSignerKeyIds(), ", "))
	}
	for _, resp := range r.GetResponses() {
		about := "the reputation"
		if resp.GetInReplyTo() != "" {
			about = "vote " + resp.GetInReplyTo()
		}
		fmt.Fprintf(w, "  response by publisher %s on %s to %s:\n    %s\n", resp.GetPublisherKeyId(), ts(resp.GetRespondedAt().AsTime()), about, resp.GetText())
	}
}
