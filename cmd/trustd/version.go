package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/internal/version"
)

// newVersionCmd prints this binary's build: module version, commit, build
// date and Go version.
func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print trustd's version, commit, build date and Go version",
		Long: `version prints the module version, the commit (with "modified" when built
from a tree with uncommitted changes), the build date and the Go version of
this trustd binary. --output json prints them as one JSON object with the
keys version, commit, modified, build_date and go_version.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "text":
				return info.Fprint(cmd.OutOrStdout(), "trustd")
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return fmt.Errorf("--output: %q is not text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (default text)")
	return cmd
}
