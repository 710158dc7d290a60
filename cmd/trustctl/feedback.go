package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/apiconv/feedbackconv"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tlog"
)

// maxExportFile bounds an export read from a file or URL.
const maxExportFile = 512 << 20

// importChunk is the number of entries sent per ImportFeedback call.
const importChunk = 500

func newFeedbackCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Carry signed votes and trust statements between trustd instances",
		Long: `Feedback attached to a digest is global: the same bytes have the same digest
at every vendor. 'feedback export' writes this server's signed votes, trust
statements and responses verbatim, with the keys that signed them, the
server's log key, a checkpoint of its log signed by that key and each entry's
inclusion proof in it; 'feedback import' hands them to another server, which
checks the checkpoint's signature and every proof, re-verifies every
signature and applies every limit exactly as for a direct submission (each
key's --vote-rate-limit included: a large import may need several runs),
ignores entries it already has, and records where each came from as the log
key and checkpoint it verified (never a name the file states).`,
	}
	cmd.AddCommand(newFeedbackExportCmd(g), newFeedbackImportCmd(g))
	return cmd
}

func newFeedbackExportCmd(g *globals) *cobra.Command {
	var (
		since  uint64
		format string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "export [--since SEQ] [--format json|jsonl] [--out FILE]",
		Short: "Write this server's signed feedback, verbatim",
		Example: `  trustctl feedback export --out feedback.json
  trustctl feedback export --since 1200 --format jsonl > new.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "jsonl" {
				return fmt.Errorf("--format: %q is not json or jsonl", format)
			}
			doc := feedback.Export{Format: feedback.ExportFormat, Since: int64(since)}
			err := g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				var treeSize uint64 // every page from the first page's tree, so its checkpoint covers them all
				for next := since; ; {
					page, err := c.Feedback.ExportFeedback(ctx, &trustv1.ExportFeedbackRequest{SinceSeq: next, TreeSize: treeSize})
					if err != nil {
						return err
					}
					p := feedbackconv.FeedbackExportFromProto(page.GetOrigin(), page.GetVerifierKey(), page.GetCheckpoint(), page.GetEntries())
					if treeSize == 0 {
						cp, err := tlog.OpenCheckpoint([]byte(p.Checkpoint), p.VerifierKey)
						if err != nil {
							return fmt.Errorf("the server's export checkpoint: %w", err)
						}
						doc.Origin, doc.VerifierKey, doc.Checkpoint, treeSize = p.Origin, p.VerifierKey, p.Checkpoint, cp.Size
						if treeSize == 0 {
							return nil // an empty log
						}
					}
					doc.Entries = append(doc.Entries, p.Entries...)
					if len(p.Entries) == 0 {
						return nil
					}
					next = page.GetNextSinceSeq()
					doc.Next = int64(next)
				}
			})
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if format == "json" {
				err = feedback.WriteJSON(&buf, doc)
			} else {
				err = feedback.WriteJSONLines(&buf, doc)
			}
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), feedbackExported{File: out, Entries: len(doc.Entries), VerifierKey: doc.VerifierKey})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d entries from the log with key %s to %s\n", len(doc.Entries), doc.VerifierKey, out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Uint64Var(&since, "since", 0, "export entries with sequence numbers above this")
	fl.StringVar(&format, "format", "json", "json (one document) or jsonl (a header line, then one entry per line)")
	fl.StringVar(&out, "out", "", "write here instead of stdout")
	return cmd
}

func newFeedbackImportCmd(g *globals) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "import FILE|- | --from URL",
		Short: "Import another instance's feedback export (every signature re-verified)",
		Example: `  trustctl feedback import feedback.json --server trustd.other.example:7400
  trustctl feedback import --from https://feeds.example.org/trustd/feedback.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				r    io.Reader
				name string
			)
			switch {
			case from != "" && len(args) == 0:
				if !strings.HasPrefix(from, "https://") && !strings.HasPrefix(from, "http://") {
					return fmt.Errorf("--from: %q is not an http(s) URL", from)
				}
				body, err := fetch(cmd.Context(), g, from)
				if err != nil {
					return err
				}
				defer body.Close()
				r, name = body, from
			case from == "" && len(args) == 1:
				data, err := readBounded(args[0], maxExportFile)
				if err != nil {
					return fmt.Errorf("FILE: %w", err)
				}
				r, name = bytes.NewReader(data), args[0]
			default:
				return fmt.Errorf("give either FILE or --from URL")
			}
			doc, err := feedback.ParseExport(r, maxExportFile)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			var res trustv1.ImportFeedbackResponse
			err = g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				entries := feedbackconv.FeedbackExportToProto(doc).GetEntries()
				for start := 0; start < len(entries); start += importChunk {
					part, err := c.Feedback.ImportFeedback(ctx, &trustv1.ImportFeedbackRequest{
						Origin: doc.Origin, VerifierKey: doc.VerifierKey, Checkpoint: []byte(doc.Checkpoint),
						Entries: entries[start:min(start+importChunk, len(entries))],
					})
					if err != nil {
						return err
					}
					res.Imported += part.GetImported()
					res.AlreadyPresent += part.GetAlreadyPresent()
					if res.Skipped += part.GetSkipped(); res.SkipReason == "" {
						res.SkipReason = part.GetSkipReason()
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), &res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d entries from the log with key %s (%d already present)\n", res.GetImported(), doc.VerifierKey, res.GetAlreadyPresent())
			if res.GetSkipped() > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "skipped %d responses whose publisher is unknown here, e.g. %s\n", res.GetSkipped(), res.GetSkipReason())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "fetch the export from this http(s) URL")
	return cmd
}

// fetch GETs url within the command's timeout, failing on a non-200
// answer.
func fetch(ctx context.Context, g *globals, url string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("--from: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("--from: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("--from %s: %s", url, resp.Status)
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}
