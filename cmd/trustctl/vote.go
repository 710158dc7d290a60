package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/store"
)

// voteSubject reads DIGEST|REF: a digest, or an artifact reference
// (refHelp) whose bytes are hashed with sha256 and sha512 in one pass. An
// argument that starts like a digest (sha256:…) is taken as one and
// refused with the digest's error if malformed.
func voteSubject(cmd *cobra.Command, ref *refFlags, arg string) (envelope.Subject, error) {
	d, err := digest.Parse(arg)
	if err == nil {
		return envelope.Subject{Digests: []digest.Digest{d}}, nil
	}
	if alg, _, ok := strings.Cut(arg, ":"); ok {
		if _, aerr := digest.ParseAlgorithm(alg); aerr == nil {
			return envelope.Subject{}, fmt.Errorf("DIGEST: %q: %w", arg, err)
		}
	}
	return ref.subject(cmd, "REF", arg, []digest.Algorithm{digest.SHA256, digest.SHA512})
}

// voteRefHelp says what the artifact argument of vote, respond and
// reputation may be.
const voteRefHelp = `The artifact is a digest (sha256:…, named as given) or a REF: ` + refHelp

// signAndSubmit signs payload with key and submits it, or writes the
// envelope to out ("-" for stdout) when out is set.
func newVoteCmd(g *globals) *cobra.Command {
	var (
		like, dislike, trust, distrust, retract bool
		reason, out                             string
		key                                     signingKey
		ref                                     refFlags
	)
	cmd := &cobra.Command{
		Use:   "vote DIGEST|REF (--like | --dislike | --trust | --distrust) [--retract] --key KEY",
		Short: "Sign and submit a vote on a digest",
		Long: `vote signs a vote with your registered key and submits it. There are two
independent axes: --like/--dislike (is it good software) and --trust/--distrust
(is it what it claims to be, and safe). You have one current vote per digest
and axis: a newer vote replaces the older one, and --retract with the axis's
flag withdraws it. Order is decided by the signed time, so a replayed older
vote changes nothing; the history stays in the log.

A REF is hashed (sha256 and sha512) and the vote names both digests; for an
OCI reference that is the image manifest, so a vote on registry/repo:tag
counts for the image as verify later checks it. --reason is at most 1024
bytes.

` + voteRefHelp,
		Example: `  trustctl vote sha256:9f86d0…  --like --reason "works as documented" --key me.pem
  trustctl vote dist/app.tar.gz --distrust --reason "unexpected network calls" --key me.pem
  trustctl vote registry.example/acme/app:1.4 --like --key me.pem
  trustctl vote sha256:9f86d0… --like --retract --key me.pem
  trustctl vote trust-key 5f2e… --level high --key me.pem
  trustctl vote respond sha256:9f86d0… --text "false positive from scanner X" --key release.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := feedback.VotePredicate{Reason: reason, Timestamp: time.Now().UTC()}
			n := 0
			for _, c := range []struct {
				set         bool
				axis, value string
			}{{like, feedback.AxisQuality, feedback.Like}, {dislike, feedback.AxisQuality, feedback.Dislike},
				{trust, feedback.AxisTrust, feedback.Trust}, {distrust, feedback.AxisTrust, feedback.Distrust}} {
				if c.set {
					n++
					p.Axis, p.Value = c.axis, c.value
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --like, --dislike, --trust, --distrust (with --retract, it names the axis to withdraw)")
			}
			if retract {
				p.Value = feedback.Retract
			}
			subj, err := voteSubject(cmd, &ref, args[0])
			if err != nil {
				return err
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			payload, err := feedback.VoteStatement(subj, p)
			if err != nil {
				return err
			}
			return signAndSubmit(cmd, g, signer, payload, out)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&like, "like", false, "vote like (quality axis)")
	fl.BoolVar(&dislike, "dislike", false, "vote dislike (quality axis)")
	fl.BoolVar(&trust, "trust", false, "vote trust (trust axis)")
	fl.BoolVar(&distrust, "distrust", false, "vote distrust (trust axis)")
	fl.BoolVar(&retract, "retract", false, "withdraw your vote on the axis named by --like/--dislike or --trust/--distrust")
	fl.StringVar(&reason, "reason", "", "why (at most 1024 bytes)")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	key.flags(cmd)
	ref.add(fl)
	cmd.AddCommand(newVoteTrustKeyCmd(g), newVoteRespondCmd(g))
	return cmd
}

func newVoteTrustKeyCmd(g *globals) *cobra.Command {
	var (
		level, reason, out string
		key                signingKey
	)
	cmd := &cobra.Command{
		Use:   "trust-key KEYID --level high|medium|low|distrust|none --key KEY",
		Short: "Sign and submit a trust statement about another voter's key",
		Long: `trust-key states how much you trust another registered key's votes. Reputation
queries with --trust-root walk these statements: a path is as strong as its
weakest level (high 1, medium 0.5, low 0.25), the strongest path wins, and a
key that anyone reached distrusts is cut off with everything reached only
through it. --level none withdraws your statement.`,
		Example: `  trustctl vote trust-key 5f2e… --level high --key me.pem
  trustctl vote trust-key 77ab… --level distrust --reason "sock puppet ring" --key me.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := feedback.TrustPredicate{Level: level, Reason: reason, Timestamp: time.Now().UTC()}
			if p.Weight() == 0 && level != feedback.LevelNone {
				return fmt.Errorf("--level: %q is not high, medium, low, distrust or none", level)
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			var k store.Key
			err = g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: args[0]})
				if err != nil {
					return err
				}
				pk := resp.GetKey()
				k = store.Key{ID: pk.GetId(), PublicKey: []byte(pk.GetPublicKeyPem())}
				if pk.GetPgp() != nil {
					k.PublicKey = pk.GetPgp().GetCertificate()
				}
				return nil
			})
			if err != nil {
				return err
			}
			payload, err := feedback.TrustStatement(k, p)
			if err != nil {
				return err
			}
			return signAndSubmit(cmd, g, signer, payload, out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&level, "level", "", "high, medium, low, distrust, or none to withdraw")
	fl.StringVar(&reason, "reason", "", "why (at most 1024 bytes)")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	_ = cmd.MarkFlagRequired("level")
	key.flags(cmd)
	return cmd
}

func newVoteRespondCmd(g *globals) *cobra.Command {
	var (
		text, inReplyTo, out string
		key                  signingKey
		ref                  refFlags
	)
	cmd := &cobra.Command{
		Use:   "respond DIGEST|REF --text TEXT [--in-reply-to VOTE_ENVELOPE_DIGEST] --key KEY",
		Short: "As a publisher, answer a vote on your artifact or its reputation",
		Long: `respond attaches a signed response to a digest's reputation, or to one vote
(--in-reply-to takes the vote's envelope digest, as 'trustctl statement get'
shows it). Only a publisher of the digest may respond: a key that signed it
through TUF metadata, an OpenPGP manifest or an attestation. Reputation output
shows responses beside the figures. --text is at most 4096 bytes.`,
		Example: `  trustctl vote respond sha256:9f86d0… --text "fixed in 1.4.2" --key release.pem
  trustctl vote respond sha256:9f86d0… --in-reply-to sha256:41c7… --text "false positive from scanner X" --key release.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			subj, err := voteSubject(cmd, &ref, args[0])
			if err != nil {
				return err
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			payload, err := feedback.ResponseStatement(subj, feedback.ResponsePredicate{InReplyTo: inReplyTo, Text: text, Timestamp: time.Now().UTC()})
			if err != nil {
				return err
			}
			return signAndSubmit(cmd, g, signer, payload, out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&text, "text", "", "the response (at most 4096 bytes)")
	fl.StringVar(&inReplyTo, "in-reply-to", "", "envelope digest of the vote answered")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	_ = cmd.MarkFlagRequired("text")
	key.flags(cmd)
	ref.add(fl)
	return cmd
}
