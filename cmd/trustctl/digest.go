package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/digest"
)

type digestOutput struct {
	Name    string        `json:"name"`
	Size    int64         `json:"size"`
	Digests []digestEntry `json:"digests"`
}

type digestEntry struct {
	Algorithm digest.Algorithm `json:"algorithm"`
	Digest    string           `json:"digest"`
}

func newDigestCmd(g *globals) *cobra.Command {
	var (
		algs     []string
		format   string
		progress string
	)
	cmd := &cobra.Command{
		Use:   "digest FILE|-",
		Short: "Hash a file or stdin with every supported algorithm in one pass",
		Long: `digest reads its input once and computes every requested digest from that one
read, the algorithms running in parallel in constant memory. Nothing is sent
to the server.

Algorithms: ` + algNames() + ` (default: all).
Formats: oci (algorithm:hex), multihash (base58btc multibase), multihash-base32,
multihash-hex.`,
		Example: `  trustctl digest release.tar.gz
  trustctl digest --algorithm sha256,sha512 --output json image.tar
  curl -sL https://example.com/x.tgz | trustctl digest --format multihash -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := digest.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			want, err := parseAlgorithms(algs)
			if err != nil {
				return err
			}
			name := args[0]
			var in io.Reader = cmd.InOrStdin()
			var total int64 = -1
			if name != "-" {
				file, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("FILE: %w", err)
				}
				defer file.Close()
				if info, err := file.Stat(); err == nil && info.Mode().IsRegular() {
					total = info.Size()
				}
				in = file
			}
			var opts []digest.SumOption
			if showProgress(progress) {
				opts = append(opts, digest.WithProgress(progressPrinter(cmd.ErrOrStderr(), total)))
			}
			res, err := digest.Sum(cmd.Context(), in, want, opts...)
			if err != nil {
				return fmt.Errorf("hash %s: %w", name, err)
			}
			if showProgress(progress) {
				fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
			}
			out := digestOutput{Name: name, Size: res.Size}
			for _, d := range res.Digests {
				out.Digests = append(out.Digests, digestEntry{Algorithm: d.Algorithm(), Digest: d.Format(f)})
			}
			w := cmd.OutOrStdout()
			if g.output == "json" {
				return printJSON(w, out)
			}
			for _, e := range out.Digests {
				fmt.Fprintf(w, "%s  %s\n", e.Digest, name)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&algs, "algorithm", "a", nil, "algorithms to compute, comma-separated (default all)")
	fl.StringVarP(&format, "format", "f", string(digest.FormatOCI), "digest format: oci, multihash, multihash-base32, multihash-hex")
	fl.StringVar(&progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal), always, never")
	return cmd
}

func algNames() string {
	var names []string
	for _, a := range digest.Algorithms() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

func showProgress(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	info, err := os.Stderr.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progressPrinter reports bytes hashed at most a few times a second.
func progressPrinter(w io.Writer, total int64) func(int64) {
	var last time.Time
	start := time.Now()
	return func(n int64) {
		if time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		rate := float64(n) / 1e6 / time.Since(start).Seconds()
		if total > 0 {
			fmt.Fprintf(w, "\r\033[Khashed %d/%d MiB (%.0f%%, %.0f MB/s)", n>>20, total>>20, 100*float64(n)/float64(total), rate)
		} else {
			fmt.Fprintf(w, "\r\033[Khashed %d MiB (%.0f MB/s)", n>>20, rate)
		}
	}
}
