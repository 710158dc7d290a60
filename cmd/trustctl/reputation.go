package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

func newReputationCmd(g *globals) *cobra.Command {
	var (
		roots, attesters []string
		depth, minPaths  uint32
		verifiedOnly     bool
		voters           bool
		votersLimit      int
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

The text output names keys with their registered labels. --voters also
lists who voted on this digest (each voter's latest vote per axis, newest
first, at most --voters-limit log entries read), with the reason they gave
and the publisher's responses to that vote. The list is the log's votes on
this very digest, unweighted: the figures above are what counts (global or
over your web of trust, through aliases too).

With --output json the document is the GetReputationResponse; with
--voters it is {"reputation": …, "voters": [{key_id, label, axis, value,
reason, voted_at, seq, envelope_digest, responses}], "labels": {key id:
label}}.

` + voteRefHelp,
		Example: `  trustctl reputation sha256:9f86d0…
  trustctl reputation dist/app.tar.gz --output json
  trustctl reputation registry.example/acme/app:1.4 --voters
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
				var vs []voterVote
				if voters {
					if vs, err = listVoters(ctx, c, resp.GetDigest(), votersLimit); err != nil {
						return fmt.Errorf("--voters: %w", err)
					}
					if err := attachResponses(vs, resp.GetResponses()); err != nil {
						return err
					}
				}
				if g.output == "json" && !voters {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				labels := keyLabels(ctx, c, reputationKeyIDs(resp, vs))
				if g.output == "json" {
					doc, err := protoDoc(resp)
					if err != nil {
						return err
					}
					for i := range vs {
						vs[i].Label = labels[vs[i].KeyID]
					}
					return printJSON(cmd.OutOrStdout(), map[string]any{"reputation": doc, "voters": vs, "labels": labels})
				}
				printReputation(cmd.OutOrStdout(), resp, len(roots), labels)
				if voters {
					printVoters(cmd.OutOrStdout(), vs, labels)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&roots, "trust-root", nil, "key id to walk trust statements from; repeatable")
	fl.StringArrayVar(&attesters, "attestation-signer", nil, "key id whose attestations may link aliases; repeatable, up to 64")
	fl.Uint32Var(&depth, "depth", 0, "trust statements a path may chain (server default 3, at most 8)")
	fl.Uint32Var(&minPaths, "min-paths", 0, "with --trust-root: count voters reached by at least this many paths sharing no identity but the roots")
	fl.BoolVar(&verifiedOnly, "verified-only", false, "count only voters bound to a verified identity")
	fl.DurationVar(&halfLife, "half-life", 0, "weigh a vote by 0.5^(age/half-life), e.g. 4380h")
	fl.BoolVar(&voters, "voters", false, "also list the voters on this digest with their reasons and the publisher's responses (default false)")
	fl.IntVar(&votersLimit, "voters-limit", 500, "with --voters, the most vote log entries to read")
	ref.add(fl)
	return cmd
}

// voterVote is one voter's latest vote on one axis, as --voters lists it.
type voterVote struct {
	KeyID          string                      `json:"key_id"`
	Label          string                      `json:"label"`
	Axis           string                      `json:"axis"`
	Value          string                      `json:"value"`
	Reason         string                      `json:"reason"`
	VotedAt        time.Time                   `json:"voted_at"`
	Seq            uint64                      `json:"seq"`
	EnvelopeDigest string                      `json:"envelope_digest"`
	Responses      []*trustv1.FeedbackResponse `json:"-"`
	ResponseDocs   []any                       `json:"responses"`
}

// listVoters reads the vote statements on digest (newest first, at most
// limit entries) and returns each signer's latest vote per axis; a
// retraction hides the signer's older votes on that axis. Entries that
// are not well-formed votes are skipped: trustd verified them on
// submission, so none should be.
func listVoters(ctx context.Context, c *client.Client, digest string, limit int) ([]voterVote, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("--voters-limit: %d is not positive", limit)
	}
	var (
		out   []voterVote
		seen  = map[string]bool{}
		token string
		read  int
	)
	for read < limit {
		page := uint32(min(limit-read, 500))
		resp, err := c.Statements.ListBySubject(ctx, &trustv1.ListBySubjectRequest{Digest: digest, PredicateType: feedback.VotePredicateType, PageSize: page, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetEntries() {
			read++
			v, ok := decodeVote(e)
			if !ok || len(e.GetSignerKeyIds()) == 0 {
				continue
			}
			key := e.GetSignerKeyIds()[0] + "/" + v.Axis
			if seen[key] {
				continue
			}
			seen[key] = true
			if v.Value == feedback.Retract {
				continue
			}
			out = append(out, voterVote{KeyID: e.GetSignerKeyIds()[0], Axis: v.Axis, Value: v.Value, Reason: v.Reason,
				VotedAt: v.Timestamp.UTC(), Seq: e.GetSeq(), EnvelopeDigest: e.GetEnvelopeDigest(), ResponseDocs: []any{}})
		}
		token = resp.GetNextPageToken()
		if token == "" || len(resp.GetEntries()) == 0 {
			break
		}
	}
	return out, nil
}

// decodeVote returns the vote predicate of a logged vote statement.
func decodeVote(e *trustv1.LogEntry) (feedback.VotePredicate, bool) {
	st, err := entryStatement(e)
	if err != nil {
		return feedback.VotePredicate{}, false
	}
	var v feedback.VotePredicate
	if err := json.Unmarshal(st.Predicate, &v); err != nil {
		return feedback.VotePredicate{}, false
	}
	return v, true
}

// entryStatement decodes the in-toto statement a log entry's envelope
// carries.
func entryStatement(e *trustv1.LogEntry) (envelope.Statement, error) {
	lim := envelope.DefaultLimits()
	env, err := envelope.Decode(e.GetEnvelope(), lim)
	if err != nil {
		return envelope.Statement{}, err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return envelope.Statement{}, fmt.Errorf("payload: %w", err)
	}
	return envelope.ParseStatement(env.PayloadType, payload, lim)
}

// maxLabelLookups bounds the GetKey calls made to label keys in output.
const maxLabelLookups = 64

// reputationKeyIDs lists the key ids the reputation output names.
func reputationKeyIDs(r *trustv1.GetReputationResponse, vs []voterVote) []string {
	var ids []string
	for _, a := range r.GetAliases() {
		ids = append(ids, a.GetSignerKeyIds()...)
	}
	for _, resp := range r.GetResponses() {
		ids = append(ids, resp.GetPublisherKeyId())
	}
	for _, v := range vs {
		ids = append(ids, v.KeyID)
	}
	return ids
}

// keyLabels asks trustd for the labels of ids (the first maxLabelLookups
// distinct ones); keys without a label, or not registered, are left out.
func keyLabels(ctx context.Context, c *client.Client, ids []string) map[string]string {
	labels := map[string]string{}
	asked := map[string]bool{}
	for _, id := range ids {
		if id == "" || asked[id] || len(asked) >= maxLabelLookups {
			continue
		}
		asked[id] = true
		resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: id})
		if err == nil && resp.GetKey().GetLabel() != "" {
			labels[id] = resp.GetKey().GetLabel()
		}
	}
	return labels
}

// labelled is a key id followed by its label, if it has one.
func labelled(id string, labels map[string]string) string {
	if l := labels[id]; l != "" {
		return id + " (" + l + ")"
	}
	return id
}

func printAxis(w io.Writer, pos, neg string, a *trustv1.ReputationAxis, weighted bool) {
	fmt.Fprintf(w, "  %-8s %6d   %-8s %6d   score %.3f", pos, a.GetPositive(), neg, a.GetNegative(), a.GetScore())
	if weighted {
		fmt.Fprintf(w, "   (weights %.2f / %.2f)", a.GetPositiveWeight(), a.GetNegativeWeight())
	}
	fmt.Fprintln(w)
}

// printReputation prints a reputation for people, naming keys by labels.
func printReputation(w io.Writer, r *trustv1.GetReputationResponse, roots int, labels map[string]string) {
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
		var signers []string
		for _, id := range a.GetSignerKeyIds() {
			signers = append(signers, labelled(id, labels))
		}
		fmt.Fprintf(w, "  alias %s via %s %s signed by %s\n", a.GetDigest(), a.GetClaimSource(), a.GetClaimReference(), strings.Join(signers, ", "))
	}
	for _, resp := range r.GetResponses() {
		about := "the reputation"
		if resp.GetInReplyTo() != "" {
			about = "vote " + resp.GetInReplyTo()
		}
		fmt.Fprintf(w, "  response by publisher %s on %s to %s:\n    %s\n", labelled(resp.GetPublisherKeyId(), labels), ts(resp.GetRespondedAt().AsTime()), about, oneLine(resp.GetText()))
	}
}

// attachResponses gives each vote the publisher responses to it.
func attachResponses(vs []voterVote, responses []*trustv1.FeedbackResponse) error {
	for i := range vs {
		if vs[i].ResponseDocs == nil {
			vs[i].ResponseDocs = []any{}
		}
		for _, r := range responses {
			if r.GetInReplyTo() != "" && r.GetInReplyTo() == vs[i].EnvelopeDigest {
				vs[i].Responses = append(vs[i].Responses, r)
				doc, err := protoDoc(r)
				if err != nil {
					return err
				}
				vs[i].ResponseDocs = append(vs[i].ResponseDocs, doc)
			}
		}
	}
	return nil
}

// printVoters lists votes for people: who (with label), which way, when,
// why, and the publisher's answers.
func printVoters(w io.Writer, vs []voterVote, labels map[string]string) {
	fmt.Fprintf(w, "voters on this digest (%d latest votes):\n", len(vs))
	for _, v := range vs {
		fmt.Fprintf(w, "  %-8s %s  by %s, log entry %d\n", v.Value, ts(v.VotedAt), labelled(v.KeyID, labels), v.Seq)
		if v.Reason != "" {
			fmt.Fprintf(w, "           reason: %s\n", oneLine(v.Reason))
		}
		for _, r := range v.Responses {
			fmt.Fprintf(w, "           response by publisher %s on %s: %s\n", labelled(r.GetPublisherKeyId(), labels), ts(r.GetRespondedAt().AsTime()), oneLine(r.GetText()))
		}
	}
}

// oneLine folds untrusted text (vote reasons, responses) onto one line
// and quotes control characters, so it cannot forge output lines.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
