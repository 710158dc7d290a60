package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
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
	var (
		limit     uint32
		pageToken string
		at        string
	)
	cmd := &cobra.Command{
		Use:   "subject DIGEST",
		Short: "Show what trustd knows about a digest",
		Long: `subject asks trustd for the subject a digest belongs to: every alias (another
digest of the same bytes) with the signed claim that links it, and one line
per fact: each log entry naming the digest or an alias, shown once however
many of the artifact's digests it names. The facts and their status come from
the same evidence token issuance and verify evaluate, judged by the same time
rule: a hard revocation (compromised, malicious, other, no reason) of a
signer voids every signature its key made; a soft one (superseded, retired,
withdrawn) effective at E voids what the log first observed at or after E;
a revocation of the statement itself holds from its effective time (a hard
one at once). Each line ends in its status at --at (default now):
  valid        nothing revokes the entry or its signers
  REVOKED      a revocation voids it: who (key id and label), why, from when,
               and the revocation's own log entry
  SUPERSEDED   it still counts; a signer's key was superseded, retired,
               withdrawn or rotated after the log observed it
  REINSTATED   it counts; a revocation of it or of a signer was reinstated
  unknown      the server serves no revocation state
A fact reached only through an alias names the alias and the claim (signer,
log entry) linking it: it holds only as far as that claim's signer is
trusted. Key ids are followed by their labels. A TUF target is shown against
its role's version now, or as no longer listed there.

With --output json, one document:
  id, digest, first_seen, at          the subject, the digest asked about,
                                      and when statuses were judged
  aliases[]: digest, queried, same_subject, revocation, claims[]
  omitted_claims                      alias claims not shown (a lookup
                                      shows at most 100: trustd's own
                                      records first, then the oldest)
  facts[] (one object per log entry, newest first):
    seq, predicate_type, payload_type, recorded_at
    signers[]: id, label
    digests[]                         the artifact's digests it names
    via_alias: {digest, claims[]}     only when reached through an alias
    status                            valid, revoked, superseded,
                                      reinstated or unknown
    revocation: {kind, id, action, reason, effective, revokers[]: {id,
                label}, seq, recorded_at}   what decides the status
    tuf: {repo, role, targets[], version, current_version, listed_now,
         missing}                     for TUF targets metadata
    manifest                          an OpenPGP manifest's file name
    ignored                           not appended by the path its type
                                      requires: counts for nothing
  each claim: source (statement, tuf-target), reference, seq (its log
             entry), signers[]: {id, label}, digests[], claimed_at
  truncated, next_page_token          more facts: pass --page-token

` + timerule.Help + `

DIGEST is algorithm:hex (e.g. sha256:…) or a multibase multihash string.
Exit code 1 means trustd knows nothing about the digest.`,
		Example: `  trustctl subject sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  trustctl subject -o json $(trustctl digest -a sha256 app.tar | cut -d' ' -f1)
  trustctl subject --at 2026-01-02 sha256:e3b0…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			req := &trustv1.GetSubjectRequest{Digest: d.String(), EvidenceLimit: limit, PageToken: pageToken}
			if at != "" {
				t, err := parseTime("--at", at)
				if err != nil {
					return err
				}
				req.At = timestamppb.New(t)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Subjects.GetSubject(ctx, req)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), subjectToJSON(resp))
				}
				printSubject(cmd.OutOrStdout(), resp)
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "evidence-limit", 0, "most facts to show (default 0: the server's default, 100; at most the server's --max-evidence-per-lookup, 500 unless lowered)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "continue after a previous page (its next_page_token; default: the newest facts)")
	cmd.Flags().StringVar(&at, "at", "", "judge the facts' status at this time, RFC 3339 or a date (default: now)")
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
				printOmittedClaims(cmd.OutOrStdout(), resp.GetOmittedClaims())
				return nil
			})
		},
	}
}

// subjectJSON is trustctl subject's JSON document (its field names are
// stable and documented in the command's help).
type subjectJSON struct {
	ID            uint64      `json:"id"`
	Digest        string      `json:"digest"`
	FirstSeen     string      `json:"first_seen"`
	At            string      `json:"at"`
	Aliases       []aliasJSON `json:"aliases"`
	Facts         []factJSON  `json:"facts"`
	Truncated     bool        `json:"truncated"`
	NextPageToken string      `json:"next_page_token,omitempty"`
	OmittedClaims uint32      `json:"omitted_claims,omitempty"`
}

type keyJSON struct {
	ID    string `json:"id"`
	Label string `json:"label,omitempty"`
}

type claimJSON struct {
	Source    string    `json:"source"`
	Reference string    `json:"reference"`
	Seq       uint64    `json:"seq,omitempty"`
	Signers   []keyJSON `json:"signers"`
	Digests   []string  `json:"digests"`
	ClaimedAt string    `json:"claimed_at"`
}

type revocationJSON struct {
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	Action     string    `json:"action"`
	Reason     string    `json:"reason"`
	Effective  string    `json:"effective"`
	Revokers   []keyJSON `json:"revokers"`
	Seq        uint64    `json:"seq,omitempty"`
	RecordedAt string    `json:"recorded_at,omitempty"`
}

type aliasJSON struct {
	Digest      string          `json:"digest"`
	Queried     bool            `json:"queried"`
	SameSubject bool            `json:"same_subject"`
	Revocation  *revocationJSON `json:"revocation,omitempty"`
	Claims      []claimJSON     `json:"claims"`
}

type viaJSON struct {
	Digest string      `json:"digest"`
	Claims []claimJSON `json:"claims"`
}

type tufJSON struct {
	Repo           string   `json:"repo"`
	Role           string   `json:"role"`
	Targets        []string `json:"targets"`
	Version        int64    `json:"version"`
	CurrentVersion int64    `json:"current_version"`
	ListedNow      bool     `json:"listed_now"`
	Missing        string   `json:"missing,omitempty"`
}

type factJSON struct {
	Seq           uint64          `json:"seq"`
	PredicateType string          `json:"predicate_type"`
	PayloadType   string          `json:"payload_type"`
	RecordedAt    string          `json:"recorded_at"`
	Signers       []keyJSON       `json:"signers"`
	Digests       []string        `json:"digests"`
	ViaAlias      *viaJSON        `json:"via_alias,omitempty"`
	Status        string          `json:"status"`
	Revocation    *revocationJSON `json:"revocation,omitempty"`
	TUF           *tufJSON        `json:"tuf,omitempty"`
	Manifest      string          `json:"manifest,omitempty"`
	Ignored       bool            `json:"ignored"`
}

// statusName is a fact status's lower-case name (valid, revoked, …).
func statusName(s trustv1.FactStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "FACT_STATUS_"))
}

func claimSource(s trustv1.ClaimSource) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "CLAIM_SOURCE_")), "_", "-")
}

// subjectToJSON is resp as trustctl subject's JSON document.
func subjectToJSON(resp *trustv1.GetSubjectResponse) subjectJSON {
	s := resp.GetSubject()
	labels := s.GetKeyLabels()
	keys := func(ids []string) []keyJSON {
		out := make([]keyJSON, 0, len(ids))
		for _, id := range ids {
			out = append(out, keyJSON{ID: id, Label: labels[id]})
		}
		return out
	}
	claims := func(cs []*trustv1.AliasClaim) []claimJSON {
		out := make([]claimJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, claimJSON{Source: claimSource(c.GetSource()), Reference: c.GetReference(), Seq: c.GetStatementSeq(),
				Signers: keys(c.GetSignerKeyIds()), Digests: c.GetDigests(), ClaimedAt: ts(c.GetClaimedAt().AsTime())})
		}
		return out
	}
	rev := func(r *trustv1.Revocation) *revocationJSON {
		if r == nil {
			return nil
		}
		out := &revocationJSON{Kind: r.GetKind(), ID: r.GetId(), Action: r.GetAction(), Reason: r.GetReason(),
			Effective: ts(r.GetEffective().AsTime()), Revokers: keys(r.GetRevokers()), Seq: r.GetSeq()}
		if r.GetRecordedAt() != nil {
			out.RecordedAt = ts(r.GetRecordedAt().AsTime())
		}
		return out
	}
	out := subjectJSON{ID: s.GetId(), Digest: s.GetDigest(), FirstSeen: ts(s.GetFirstSeen().AsTime()), At: ts(s.GetAt().AsTime()),
		Aliases: []aliasJSON{}, Facts: []factJSON{}, Truncated: s.GetEvidenceTruncated(), NextPageToken: resp.GetNextPageToken(),
		OmittedClaims: s.GetOmittedClaims()}
	for _, a := range s.GetAliases() {
		out.Aliases = append(out.Aliases, aliasJSON{Digest: a.GetDigest(), Queried: a.GetQueried(), SameSubject: a.GetSameSubject(),
			Revocation: rev(a.GetRevocation()), Claims: claims(a.GetClaims())})
	}
	for _, f := range s.GetFacts() {
		fj := factJSON{Seq: f.GetSeq(), PredicateType: f.GetPredicateType(), PayloadType: f.GetPayloadType(), RecordedAt: ts(f.GetRecordedAt().AsTime()),
			Signers: keys(f.GetSignerKeyIds()), Digests: f.GetDigests(), Status: statusName(f.GetStatus()), Revocation: rev(f.GetRevocation()),
			Manifest: f.GetManifest(), Ignored: f.GetIgnored()}
		if fj.Digests == nil {
			fj.Digests = []string{}
		}
		if f.GetViaAlias() != "" {
			fj.ViaAlias = &viaJSON{Digest: f.GetViaAlias(), Claims: claims(f.GetViaClaims())}
		}
		if t := f.GetTuf(); t != nil {
			fj.TUF = &tufJSON{Repo: t.GetRepo(), Role: t.GetRole(), Targets: t.GetTargets(), Version: t.GetVersion(),
				CurrentVersion: t.GetCurrentVersion(), ListedNow: t.GetListedNow(), Missing: t.GetMissing()}
			if fj.TUF.Targets == nil {
				fj.TUF.Targets = []string{}
			}
		}
		out.Facts = append(out.Facts, fj)
	}
	return out
}

// printOmittedClaims says how many alias claims the server left out.
func printOmittedClaims(w io.Writer, n uint32) {
	if n > 0 {
		fmt.Fprintf(w, "  (%d more alias claims not shown: a lookup shows trustd's own records first, then the oldest signed claims)\n", n)
	}
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

// claimText says who claims an alias link, where, and in which log entry.
func claimText(c *trustv1.AliasClaim, labels map[string]string) string {
	s := fmt.Sprintf("claimed by %s in %s %s", keyNames(c.GetSignerKeyIds(), labels), claimSource(c.GetSource()), c.GetReference())
	if c.GetStatementSeq() != 0 {
		s += fmt.Sprintf(" #%d", c.GetStatementSeq())
	}
	return s
}

// revocationText renders a revocation in one line: what, who (with key
// labels), why, from when, and its own log entry.
func revocationText(r *trustv1.Revocation, labels map[string]string) string {
	verb := "revoked"
	if r.GetAction() == string(revocation.ActionReinstate) {
		verb = "reinstated"
	}
	target := r.GetId()
	if r.GetKind() == "key" {
		target = keyNames([]string{r.GetId()}, labels)
	}
	// Seq 0: no log entry of its own (a revocation inside a registered
	// OpenPGP certificate, a rotation); never cite "log entry 0".
	where := fmt.Sprintf("log entry %d", r.GetSeq())
	if r.GetSeq() == 0 {
		where = "in the registered certificate"
	}
	return fmt.Sprintf("%s:%s %s (%s) effective %s by %s, %s", r.GetKind(), target, verb, r.GetReason(),
		ts(r.GetEffective().AsTime()), keyNames(r.GetRevokers(), labels), where)
}

// factStatus is a fact's status as its line ends.
func factStatus(f *trustv1.Fact, labels map[string]string) string {
	r := f.GetRevocation()
	switch f.GetStatus() {
	case trustv1.FactStatus_FACT_STATUS_VALID:
		return "valid"
	case trustv1.FactStatus_FACT_STATUS_REVOKED:
		return "REVOKED: " + revocationText(r, labels)
	case trustv1.FactStatus_FACT_STATUS_SUPERSEDED:
		return "SUPERSEDED, still counts (observed before it: " + revocationText(r, labels) + ")"
	case trustv1.FactStatus_FACT_STATUS_REINSTATED:
		return "REINSTATED, counts (" + revocationText(r, labels) + ")"
	}
	return "status unknown (the server serves no revocation state)"
}

// tufText names a TUF targets fact against its role's version now: "in
// role R vN" when the current version still lists it (noting the version
// that first listed it when older), "was in role R vM; not listed in
// current vN" when it no longer does.
func tufText(t *trustv1.TUFTargetFact) string {
	head := fmt.Sprintf("TUF repo %s: target %s", t.GetRepo(), strings.Join(t.GetTargets(), ", "))
	switch {
	case t.GetCurrentVersion() == 0 || t.GetCurrentVersion() == t.GetVersion():
		return fmt.Sprintf("%s in role %s v%d", head, t.GetRole(), t.GetVersion())
	case t.GetListedNow():
		return fmt.Sprintf("%s in role %s v%d (current; first listed in v%d)", head, t.GetRole(), t.GetCurrentVersion(), t.GetVersion())
	}
	return fmt.Sprintf("%s was in role %s v%d; not listed in current v%d", head, t.GetRole(), t.GetVersion(), t.GetCurrentVersion())
}

// printSubject prints a lookup: the aliases, then one line per fact with
// its status, then the facts that no longer count.
func printSubject(w io.Writer, resp *trustv1.GetSubjectResponse) {
	s := resp.GetSubject()
	labels := s.GetKeyLabels()
	fmt.Fprintf(w, "subject %d (first seen %s), status at %s\n", s.GetId(), ts(s.GetFirstSeen().AsTime()), ts(s.GetAt().AsTime()))
	printAliases(w, s.GetAliases(), labels)
	printOmittedClaims(w, s.GetOmittedClaims())
	fmt.Fprintf(w, "evidence: %d", len(s.GetFacts()))
	if s.GetEvidenceTruncated() {
		fmt.Fprintf(w, " (more exist: --page-token %s)", resp.GetNextPageToken())
	}
	fmt.Fprintln(w)
	var revoked []*trustv1.Fact
	for _, f := range s.GetFacts() {
		via := ""
		if f.GetViaAlias() != "" {
			var claims []string
			for _, c := range f.GetViaClaims() {
				claims = append(claims, claimText(c, labels))
			}
			via = " [via alias " + f.GetViaAlias()
			if len(claims) > 0 {
				via += ", " + strings.Join(claims, "; ")
			}
			via += "]"
		}
		var also []string
		for _, fd := range f.GetDigests() {
			if fd != s.GetDigest() && fd != f.GetViaAlias() {
				also = append(also, fd)
			}
		}
		if len(also) > 0 {
			via += " (also names " + strings.Join(also, ", ") + ")"
		}
		signers := keyNames(f.GetSignerKeyIds(), labels)
		at := ts(f.GetRecordedAt().AsTime())
		var line string
		switch {
		case f.GetTuf() != nil && len(f.GetTuf().GetTargets()) > 0:
			line = fmt.Sprintf("  #%d %s, signed by keys %s at %s%s", f.GetSeq(), tufText(f.GetTuf()), signers, at, via)
		case f.GetManifest() != "":
			line = fmt.Sprintf("  #%d signed in manifest %s by key %s at %s%s", f.GetSeq(), f.GetManifest(), signers, at, via)
		default:
			ignored := ""
			if f.GetIgnored() {
				ignored = " [not appended by the path its type requires: ignored]"
			}
			line = fmt.Sprintf("  #%d %s signed by %s at %s%s%s", f.GetSeq(), f.GetPredicateType(), signers, at, via, ignored)
		}
		fmt.Fprintf(w, "%s: %s\n", line, factStatus(f, labels))
		if f.GetStatus() == trustv1.FactStatus_FACT_STATUS_REVOKED {
			revoked = append(revoked, f)
		}
	}
	if len(revoked) > 0 {
		fmt.Fprintf(w, "revoked evidence: %d (shown above, no longer counting)\n", len(revoked))
		for _, f := range revoked {
			fmt.Fprintf(w, "  #%d REVOKED: %s\n", f.GetSeq(), revocationText(f.GetRevocation(), labels))
		}
	}
}

// printAliases prints the aliases of a lookup with the claims linking
// them; labels names registered keys by id (nil: ids alone).
func printAliases(w io.Writer, as []*trustv1.Alias, labels map[string]string) {
	for _, a := range as {
		label := "alias"
		switch {
		case a.GetQueried():
			label = "digest"
		case !a.GetSameSubject():
			label = "alias (other subject)"
		}
		fmt.Fprintf(w, "%s %s\n", label, a.GetDigest())
		if r := a.GetRevocation(); r != nil {
			if r.GetAction() == string(revocation.ActionReinstate) {
				fmt.Fprintf(w, "    reinstated, counts again: %s\n", revocationText(r, labels))
			} else {
				fmt.Fprintf(w, "    REVOKED: %s\n", revocationText(r, labels))
			}
		}
		for _, c := range a.GetClaims() {
			src := claimSource(c.GetSource())
			fmt.Fprintf(w, "  claimed by %s in %s %s", keyNames(c.GetSignerKeyIds(), labels), src, c.GetReference())
			if c.GetStatementSeq() != 0 {
				fmt.Fprintf(w, " (statement #%d)", c.GetStatementSeq())
			}
			fmt.Fprintf(w, " at %s\n", ts(c.GetClaimedAt().AsTime()))
		}
	}
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
