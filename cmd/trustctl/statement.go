package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// maxEnvelopeFile bounds envelopes and predicates read from disk; the
// server's own limit is what counts.
const maxEnvelopeFile = 4 << 20

func newStatementCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "statement",
		Short: "Sign, submit and read signed in-toto statements",
		Long: `Every write to trustd is a signed statement: an in-toto Statement v1 in a DSSE
envelope, signed by registered keys. trustd verifies it, keeps it verbatim,
indexes it under every digest of its subjects and appends it to its
verifiable log (see 'trustctl log').`,
	}
	cmd.AddCommand(newStatementSignCmd(g), newStatementSubmitCmd(g), newStatementCosignCmd(g), newStatementGetCmd(g), newStatementListCmd(g))
	return cmd
}

// parseSubjectFlag reads "[NAME=]DIGEST[,DIGEST...]": several digests of
// one artifact.
func parseSubjectFlag(v string) (envelope.Subject, error) {
	name, list, found := strings.Cut(v, "=")
	if !found {
		name, list = "", v
	}
	var s envelope.Subject
	s.Name = name
	for _, part := range strings.Split(list, ",") {
		d, err := digest.Parse(strings.TrimSpace(part))
		if err != nil {
			return envelope.Subject{}, fmt.Errorf("--subject %q: %w", v, err)
		}
		s.Digests = append(s.Digests, d)
	}
	return s, nil
}

func newStatementSignCmd(g *globals) *cobra.Command {
	var (
		predicateType, predicateFile, out string
		subjects, artifacts, algs         []string
		key                               signingKey
		ref                               refFlags
	)
	cmd := &cobra.Command{
		Use:   "sign --predicate-type T --predicate FILE (--subject DIGEST | --artifact REF)... --key KEY",
		Short: "Build, sign and submit an in-toto statement (or write it with --out)",
		Long: `sign builds an in-toto Statement v1 with the given predicate about the given
subjects, signs it into a DSSE envelope with a local private key, and
submits it (or writes the envelope to --out without contacting the server).

--subject takes [NAME=]DIGEST[,DIGEST...]: the digests of one artifact, so
listing several algorithms asserts they name the same bytes (an alias
claim signed by you). --artifact reads an artifact once, hashing it with
--algorithm (default sha256,sha512), and names it by its name (a file's
base name, the URL's last element, the OCI repository).

For --artifact, ` + refHelp,
		Example: `  trustctl statement sign --predicate-type https://example.com/test-result/v1 \
      --predicate result.json --artifact dist/app.tar.gz --key release.pem
  trustctl statement sign --predicate-type https://example.com/note/v1 --predicate - \
      --subject app.tar=sha256:…,sha512:… --key release.pem --out note.dsse.json
  trustctl statement sign --predicate-type https://slsa.dev/provenance/v1 \
      --predicate provenance.json --artifact registry.example/acme/app:1.4 --key release.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(subjects)+len(artifacts) == 0 {
				return fmt.Errorf("--subject or --artifact: at least one subject is required")
			}
			var subj []envelope.Subject
			for _, v := range subjects {
				s, err := parseSubjectFlag(v)
				if err != nil {
					return err
				}
				subj = append(subj, s)
			}
			want, err := parseAlgorithms(algs)
			if err != nil {
				return err
			}
			for _, a := range artifacts {
				s, err := ref.subject(cmd, "--artifact", a, want)
				if err != nil {
					return err
				}
				subj = append(subj, s)
			}
			predicate, err := readBounded(predicateFile, maxEnvelopeFile)
			if err != nil {
				return fmt.Errorf("--predicate: %w", err)
			}
			if !json.Valid(predicate) {
				return fmt.Errorf("--predicate: %s is not JSON", predicateFile)
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			payload, err := envelope.NewStatement(predicateType, predicate, subj...)
			if err != nil {
				return err
			}
			return signAndSubmit(cmd, g, signer, payload, out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&predicateType, "predicate-type", "", "predicate type URI")
	fl.StringVar(&predicateFile, "predicate", "", "JSON file holding the predicate (- for stdin)")
	fl.StringArrayVar(&subjects, "subject", nil, "[NAME=]DIGEST[,DIGEST...] of one artifact; repeatable")
	fl.StringArrayVar(&artifacts, "artifact", nil, "artifact REF (file, -, https URL, OCI reference) to hash into a subject; repeatable")
	fl.StringSliceVarP(&algs, "algorithm", "a", []string{"sha256", "sha512"}, "algorithms for --artifact")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	key.flags(cmd)
	ref.add(fl)
	_ = cmd.MarkFlagRequired("predicate-type")
	_ = cmd.MarkFlagRequired("predicate")
	return cmd
}

func parseAlgorithms(names []string) ([]digest.Algorithm, error) {
	var out []digest.Algorithm
	for _, n := range names {
		a, err := digest.ParseAlgorithm(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("--algorithm: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// submit sends raw to the server and prints the entry.
func (g *globals) submit(cmd *cobra.Command, raw []byte) error {
	return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
		if err != nil {
			return err
		}
		if g.output == "json" {
			return printJSON(cmd.OutOrStdout(), resp)
		}
		e := resp.GetEntry()
		state := "accepted"
		if !resp.GetCreated() {
			state = "already in the log"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: seq %d, %s signed by %s\n", state, e.GetSeq(), e.GetPredicateType(), strings.Join(e.GetSignerKeyIds(), ", "))
		if lsn := resp.GetCommitLsn(); lsn != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "commit position %s (read it back elsewhere with --min-lsn %s)\n", lsn, lsn)
		}
		return nil
	})
}

func newStatementSubmitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "submit ENVELOPE.json|-",
		Short: "Submit a DSSE envelope signed elsewhere",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readBounded(args[0], maxEnvelopeFile)
			if err != nil {
				return fmt.Errorf("ENVELOPE: %w", err)
			}
			return g.submit(cmd, raw)
		},
	}
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("SEQ: %q is not a sequence number (1, 2, …)", s)
	}
	return n, nil
}

func newStatementGetCmd(g *globals) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "get SEQ",
		Short: "Show the log entry with a sequence number, its statement decoded",
		Long: `get shows log entry SEQ: its predicate type, signers (with their registered
labels), when it was recorded, its envelope digest and subjects, then the
decoded in-toto statement: its _type and its predicate as indented JSON.
--envelope prints the envelope bytes exactly as stored instead, and
--output json the LogEntry (envelope base64), for scripts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq})
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch {
				case raw:
					_, err := w.Write(resp.GetEntry().GetEnvelope())
					return err
				case g.output == "json":
					return printJSON(w, resp.GetEntry())
				}
				printEntry(w, resp.GetEntry())
				printPredicate(w, resp.GetEntry(), keyLabels(ctx, c, resp.GetEntry().GetSignerKeyIds()))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&raw, "envelope", false, "print only the envelope bytes, exactly as stored")
	return cmd
}

func printEntry(w io.Writer, e *trustv1.LogEntry) {
	fmt.Fprintf(w, "seq %d  %s\n  signed by %s\n  recorded %s\n  envelope %s\n", e.GetSeq(), e.GetPredicateType(),
		strings.Join(e.GetSignerKeyIds(), ", "), ts(e.GetRecordedAt().AsTime()), e.GetEnvelopeDigest())
	for _, s := range e.GetSubjects() {
		fmt.Fprintf(w, "  subject %s %s\n", s.GetName(), strings.Join(s.GetDigests(), " "))
	}
}

func newStatementListCmd(g *globals) *cobra.Command {
	var (
		predicateType, signer, token string
		pageSize                     uint32
	)
	cmd := &cobra.Command{
		Use:   "list DIGEST",
		Short: "List the statements naming a digest, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Statements.ListBySubject(ctx, &trustv1.ListBySubjectRequest{
					Digest: d.String(), PredicateType: predicateType, SignerKeyId: signer, PageSize: pageSize, PageToken: token,
				})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				for _, e := range resp.GetEntries() {
					printEntry(cmd.OutOrStdout(), e)
				}
				if resp.GetNextPageToken() != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --page-token %s\n", resp.GetNextPageToken())
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&predicateType, "predicate-type", "", "only statements of this predicate type")
	fl.StringVar(&signer, "signer", "", "only statements signed by this key id")
	fl.Uint32Var(&pageSize, "page-size", 0, "entries per page (server default 50)")
	fl.StringVar(&token, "page-token", "", "continue a previous listing")
	return cmd
}

// signInToto signs an in-toto statement payload into a DSSE envelope (JSON).
func signInToto(ctx context.Context, signer envelope.Signer, payload []byte) ([]byte, error) {
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, payload, signer)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// writeSigned writes a signed envelope to out ("-" for stdout) instead of
// submitting it, for air-gapped signing and later submission.
func writeSigned(cmd *cobra.Command, out string, raw []byte) error {
	if out == "-" {
		_, err := fmt.Fprintln(cmd.OutOrStdout(), string(raw))
		return err
	}
	if err := os.WriteFile(out, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	if wantJSON(cmd) {
		return printJSON(cmd.OutOrStdout(), fileWritten{File: out, Bytes: len(raw) + 1})
	}
	return nil
}

// signAndSubmit signs payload and submits it to the statement log, or,
// with out set, writes the envelope there instead.
func signAndSubmit(cmd *cobra.Command, g *globals, signer envelope.Signer, payload []byte, out string) error {
	raw, err := signInToto(cmd.Context(), signer, payload)
	if err != nil {
		return err
	}
	if out != "" {
		return writeSigned(cmd, out, raw)
	}
	return g.submit(cmd, raw)
}

// printPredicate prints the in-toto statement a log entry carries, for
// people: signers with their labels (when any has one), the statement type and its predicate as
// indented JSON. An envelope that does not decode is said so, not hidden.
func printPredicate(w io.Writer, e *trustv1.LogEntry, labels map[string]string) {
	var signers []string
	for _, id := range e.GetSignerKeyIds() {
		signers = append(signers, labelled(id, labels))
	}
	if len(labels) > 0 {
		fmt.Fprintf(w, "  signers %s\n", strings.Join(signers, ", "))
	}
	st, err := entryStatement(e)
	if err != nil {
		fmt.Fprintf(w, "  statement not decoded: %v\n", err)
		return
	}
	fmt.Fprintf(w, "  statement %s\n  predicate %s:\n", st.Type, st.PredicateType)
	if len(st.Predicate) == 0 {
		fmt.Fprintln(w, "    (none)")
		return
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, st.Predicate, "    ", "  "); err != nil {
		fmt.Fprintf(w, "    %s\n", oneLine(string(st.Predicate)))
		return
	}
	fmt.Fprintf(w, "    %s\n", strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) {
			return '?'
		}
		return r
	}, buf.String()))
}
