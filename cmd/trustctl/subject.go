package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgplog"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// parseDigestArg checks a digest locally so a typo is reported without a
// round trip.
func parseDigestArg(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return digest.Digest{}, fmt.Errorf("DIGEST: %w", err)
	}
	return d, nil
}

func newSubjectCmd(g *globals) *cobra.Command {
	var limit uint32
	cmd := &cobra.Command{
		Use:   "subject DIGEST",
		Short: "Show what trustd knows about a digest",
		Long: `subject asks trustd for the subject a digest belongs to: every alias (another
digest of the same bytes) with the signed claim that links it, and the signed
evidence recorded for the digest and its aliases. Evidence reached through an
alias is marked: it holds only as far as the alias claim's signer is trusted.

DIGEST is algorithm:hex (e.g. sha256:…) or a multibase multihash string.
Exit code 1 means trustd knows nothing about the digest.`,
		Example: `  trustctl subject sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  trustctl subject -o json $(trustctl digest -a sha256 app.tar | cut -d' ' -f1)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Subjects.GetSubject(ctx, &trustv1.GetSubjectRequest{Digest: d.String(), EvidenceLimit: limit})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp.GetSubject())
				}
				names, err := manifestNames(ctx, c, resp.GetSubject())
				if err != nil {
					return err
				}
				tufLabels, err := tufEvidenceLabels(ctx, c, resp.GetSubject())
				if err != nil {
					return err
				}
				printSubject(cmd.OutOrStdout(), resp.GetSubject(), names, tufLabels)
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "evidence-limit", 0, "most evidence entries to show (server default 100, max 1000)")
	return cmd
}

func newAliasesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "aliases DIGEST",
		Short: "List the digests claimed to name the same bytes as DIGEST",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Subjects.ListAliases(ctx, &trustv1.ListAliasesRequest{Digest: d.String()})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "subject %d\n", resp.GetSubjectId())
				printAliases(cmd.OutOrStdout(), resp.GetAliases())
				return nil
			})
		},
	}
}

// manifestNames reads the file names of the OpenPGP manifests among the
// evidence, by log sequence number, for "signed in manifest NAME".
func manifestNames(ctx context.Context, c *client.Client, s *trustv1.Subject) (map[uint64]string, error) {
	names := map[uint64]string{}
	for _, e := range s.GetEvidence() {
		if e.GetPredicateType() != pgplog.ManifestPredicateType || !recordtype.WrittenByOwner(e.GetPayloadType(), e.GetPredicateType()) {
			continue
		}
		if _, ok := names[e.GetStatementSeq()]; ok {
			continue
		}
		resp, err := c.Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: e.GetStatementSeq()})
		if err != nil {
			return nil, err
		}
		var rec pgplog.ManifestRecord
		if err := json.Unmarshal(resp.GetEntry().GetEnvelope(), &rec); err != nil {
			return nil, fmt.Errorf("statement #%d: not a manifest record: %w", e.GetStatementSeq(), err)
		}
		names[e.GetStatementSeq()] = rec.Name
	}
	return names, nil
}

// printSubject prints a lookup; manifests names the OpenPGP manifests
// among the evidence by sequence number, tufLabels the TUF targets by
// evidenceKey.
func printSubject(w io.Writer, s *trustv1.Subject, manifests map[uint64]string, tufLabels map[string]string) {
	fmt.Fprintf(w, "subject %d (first seen %s)\n", s.GetId(), ts(s.GetFirstSeen().AsTime()))
	printAliases(w, s.GetAliases())
	fmt.Fprintf(w, "evidence: %d", len(s.GetEvidence()))
	if s.GetEvidenceTruncated() {
		fmt.Fprint(w, " (more exist; raise --evidence-limit)")
	}
	fmt.Fprintln(w)
	for _, e := range s.GetEvidence() {
		via := ""
		if e.GetViaAlias() {
			via = " [via alias " + e.GetDigest() + "]"
		}
		if label, ok := tufLabels[evidenceKey(e)]; ok {
			fmt.Fprintf(w, "  #%d %s, signed by keys %s at %s%s\n", e.GetStatementSeq(), label,
				strings.Join(e.GetSignerKeyIds(), ", "), ts(e.GetRecordedAt().AsTime()), via)
			continue
		}
		if name, ok := manifests[e.GetStatementSeq()]; ok {
			fmt.Fprintf(w, "  #%d signed in manifest %s by key %s at %s%s\n", e.GetStatementSeq(), name,
				strings.Join(e.GetSignerKeyIds(), ", "), ts(e.GetRecordedAt().AsTime()), via)
			continue
		}
		forged := ""
		if !recordtype.Genuine(e.GetPayloadType(), e.GetPredicateType()) {
			forged = " [not appended by the path its type requires: ignored]"
		}
		fmt.Fprintf(w, "  #%d %s signed by %s at %s%s%s\n", e.GetStatementSeq(), e.GetPredicateType(),
			strings.Join(e.GetSignerKeyIds(), ", "), ts(e.GetRecordedAt().AsTime()), via, forged)
	}
	printRevokedEvidence(w, s.GetEvidence())
}

func printAliases(w io.Writer, as []*trustv1.Alias) {
	for _, a := range as {
		label := "alias"
		switch {
		case a.GetQueried():
			label = "digest"
		case !a.GetSameSubject():
			label = "alias (other subject)"
		}
		fmt.Fprintf(w, "%s %s\n", label, a.GetDigest())
		printRevoked(w, a.GetRevocation())
		for _, c := range a.GetClaims() {
			src := strings.ToLower(strings.TrimPrefix(c.GetSource().String(), "CLAIM_SOURCE_"))
			fmt.Fprintf(w, "  claimed by %s in %s %s", strings.Join(c.GetSignerKeyIds(), ", "), src, c.GetReference())
			if c.GetStatementSeq() != 0 {
				fmt.Fprintf(w, " (statement #%d)", c.GetStatementSeq())
			}
			fmt.Fprintf(w, " at %s\n", ts(c.GetClaimedAt().AsTime()))
		}
	}
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// printRevoked prints a revocation under the line it applies to: who, why,
// from when. Nothing is hidden because it is revoked.
func printRevoked(w io.Writer, r *trustv1.Revocation) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "    REVOKED: %s\n", formatRevocation(r))
}

// printRevokedEvidence lists, after the evidence, every entry that no
// longer counts and the revocation that voids it (each entry once).
func printRevokedEvidence(w io.Writer, evidence []*trustv1.Evidence) {
	seen := map[uint64]bool{}
	var revoked []*trustv1.Evidence
	for _, e := range evidence {
		if e.GetRevoked() != nil && !seen[e.GetStatementSeq()] {
			seen[e.GetStatementSeq()] = true
			revoked = append(revoked, e)
		}
	}
	if len(revoked) == 0 {
		return
	}
	fmt.Fprintf(w, "revoked evidence: %d (shown above, no longer counting)\n", len(revoked))
	for _, e := range revoked {
		fmt.Fprintf(w, "  #%d REVOKED: %s\n", e.GetStatementSeq(), formatRevocation(e.GetRevoked()))
	}
}
