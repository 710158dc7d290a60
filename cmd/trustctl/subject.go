package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgplog"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/timerule"
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
evidence recorded for the digest and its aliases, one line per log entry
ending in its status now: valid, REVOKED (by whom, why, from when, and the
revocation's log entry) or SUPERSEDED. An entry naming several digests of the
artifact is shown once, as reached by the digest asked about. Evidence reached
only through an alias is marked with the alias and the claim (signer, log
entry) linking it: it holds only as far as that claim's signer is trusted.
Key ids are followed by their labels. A TUF target is shown against its role's
current version, or as no longer listed there. With --output json, evidence
has one row per log entry and digest named (via_alias marks alias rows).

` + timerule.Help + `

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
				keys, err := keyLabels(ctx, c, resp.GetSubject())
				if err != nil {
					return err
				}
				printSubject(cmd.OutOrStdout(), resp.GetSubject(), names, tufLabels, keys)
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
				printAliases(cmd.OutOrStdout(), resp.GetAliases(), nil)
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

// fact is one log entry of a subject's evidence, printed once: the row
// naming the queried digest when there is one (else the first alias row),
// and the other digests the same entry names.
type fact struct {
	*trustv1.Evidence
	// also are the other digests of the subject the entry names.
	also []string
}

// subjectFacts folds the evidence rows of s (one per log entry and digest
// named) into one fact per log entry, in the order of s, preferring the
// row of the queried digest: the same entry is never shown twice.
func subjectFacts(s *trustv1.Subject) []fact {
	var out []fact
	index := map[uint64]int{}
	for _, e := range s.GetEvidence() {
		i, ok := index[e.GetStatementSeq()]
		if !ok {
			index[e.GetStatementSeq()] = len(out)
			out = append(out, fact{Evidence: e})
			continue
		}
		f := &out[i]
		if f.GetViaAlias() && !e.GetViaAlias() {
			f.also = append(f.also, f.GetDigest())
			f.Evidence = e
			continue
		}
		f.also = append(f.also, e.GetDigest())
	}
	return out
}

// aliasLink says how an alias-reached fact is linked to the queried
// digest: the alias and the claims (signer, source, log entry) naming it.
func aliasLink(s *trustv1.Subject, d string, keys map[string]string) string {
	for _, a := range s.GetAliases() {
		if a.GetDigest() != d {
			continue
		}
		var claims []string
		for _, c := range a.GetClaims() {
			src := strings.ToLower(strings.TrimPrefix(c.GetSource().String(), "CLAIM_SOURCE_"))
			cl := fmt.Sprintf("claimed by %s in %s %s", keyNames(c.GetSignerKeyIds(), keys), src, c.GetReference())
			if c.GetStatementSeq() != 0 {
				cl += fmt.Sprintf(" #%d", c.GetStatementSeq())
			}
			claims = append(claims, cl)
		}
		if len(claims) == 0 {
			return "[via alias " + d + "]"
		}
		return "[via alias " + d + ", " + strings.Join(claims, "; ") + "]"
	}
	return "[via alias " + d + "]"
}

// keyNames lists key ids, each followed by its label when it has one.
func keyNames(ids []string, labels map[string]string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if l := labels[id]; l != "" {
			out[i] = id + " (" + l + ")"
		}
	}
	return strings.Join(out, ", ")
}

// keyLabels reads the labels of the registered keys that signed the
// evidence and alias claims of s; a signer that is no registered key (a
// Sigstore identity) has none.
func keyLabels(ctx context.Context, c *client.Client, s *trustv1.Subject) (map[string]string, error) {
	labels := map[string]string{}
	ask := func(ids []string) error {
		for _, id := range ids {
			if _, ok := labels[id]; ok {
				continue
			}
			labels[id] = ""
			resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: id})
			if status.Code(err) == codes.NotFound || status.Code(err) == codes.InvalidArgument {
				continue
			}
			if err != nil {
				return fmt.Errorf("key %s: %w", id, err)
			}
			labels[id] = resp.GetKey().GetLabel()
		}
		return nil
	}
	for _, e := range s.GetEvidence() {
		if err := ask(e.GetSignerKeyIds()); err != nil {
			return nil, err
		}
	}
	for _, a := range s.GetAliases() {
		for _, cl := range a.GetClaims() {
			if err := ask(cl.GetSignerKeyIds()); err != nil {
				return nil, err
			}
		}
	}
	return labels, nil
}

// printSubject prints a lookup, one line per fact (log entry) with its
// status now; manifests names the OpenPGP manifests among the evidence by
// sequence number, tufLabels the TUF targets by evidenceKey, keys the
// labels of registered keys by id.
func printSubject(w io.Writer, s *trustv1.Subject, manifests map[uint64]string, tufLabels map[string]string, keys map[string]string) {
	fmt.Fprintf(w, "subject %d (first seen %s)\n", s.GetId(), ts(s.GetFirstSeen().AsTime()))
	printAliases(w, s.GetAliases(), keys)
	facts := subjectFacts(s)
	fmt.Fprintf(w, "evidence: %d", len(facts))
	if s.GetEvidenceTruncated() {
		fmt.Fprint(w, " (more exist; raise --evidence-limit)")
	}
	fmt.Fprintln(w)
	for _, e := range facts {
		via := ""
		if e.GetViaAlias() {
			via = " " + aliasLink(s, e.GetDigest(), keys)
		}
		if len(e.also) > 0 {
			via += " (also names " + strings.Join(e.also, ", ") + ")"
		}
		signers := keyNames(e.GetSignerKeyIds(), keys)
		var line string
		if label, ok := tufLabels[evidenceKey(e.Evidence)]; ok {
			line = fmt.Sprintf("  #%d %s, signed by keys %s at %s%s", e.GetStatementSeq(), label, signers, ts(e.GetRecordedAt().AsTime()), via)
		} else if name, ok := manifests[e.GetStatementSeq()]; ok {
			line = fmt.Sprintf("  #%d signed in manifest %s by key %s at %s%s", e.GetStatementSeq(), name, signers, ts(e.GetRecordedAt().AsTime()), via)
		} else {
			forged := ""
			if !recordtype.Genuine(e.GetPayloadType(), e.GetPredicateType()) {
				forged = " [not appended by the path its type requires: ignored]"
			}
			line = fmt.Sprintf("  #%d %s signed by %s at %s%s%s", e.GetStatementSeq(), e.GetPredicateType(), signers, ts(e.GetRecordedAt().AsTime()), via, forged)
		}
		fmt.Fprintf(w, "%s: %s\n", line, factStatus(e.GetRevoked()))
	}
	printRevokedEvidence(w, facts)
}

// factStatus is a fact's status now: valid, or the revocation voiding it
// (superseded for a soft supersession).
func factStatus(r *trustv1.Revocation) string {
	if r == nil {
		return "valid"
	}
	if r.GetReason() == string(revocation.ReasonSuperseded) {
		return "SUPERSEDED (REVOKED: " + formatRevocation(r) + ")"
	}
	return "REVOKED: " + formatRevocation(r)
}

// printAliases prints the aliases of a lookup with the claims linking
// them; keys labels registered keys by id (nil: ids alone).
func printAliases(w io.Writer, as []*trustv1.Alias, keys map[string]string) {
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
			fmt.Fprintf(w, "  claimed by %s in %s %s", keyNames(c.GetSignerKeyIds(), keys), src, c.GetReference())
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
	if r.GetAction() == string(revocation.ActionReinstate) {
		fmt.Fprintf(w, "    reinstated, counts again: %s\n", formatRevocation(r))
		return
	}
	fmt.Fprintf(w, "    REVOKED: %s\n", formatRevocation(r))
}

// printRevokedEvidence lists, after the evidence, every entry that no
// longer counts and the revocation that voids it (each entry once).
func printRevokedEvidence(w io.Writer, facts []fact) {
	var revoked []fact
	for _, e := range facts {
		if e.GetRevoked() != nil {
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
