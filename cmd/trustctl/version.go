package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/version"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// serverVersion is what GetServerInfo answered, for --output json.
type serverVersion struct {
	Address   string `json:"address"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	LogOrigin string `json:"log_origin"`
	Database  string `json:"database"`
	StartedAt string `json:"started_at"`
	// UptimeSeconds is a number a script can compare.
	UptimeSeconds int64 `json:"uptime_seconds"`
}

// versionJSON is trustctl version --output json: the client always, the
// server when it answered, else why not.
type versionJSON struct {
	Client      version.Info   `json:"client"`
	Server      *serverVersion `json:"server"`
	ServerError string         `json:"server_error"`
}

func newVersionCmd(g *globals) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print trustctl's version and the version of the trustd server it talks to",
		Long: `version prints trustctl's module version, commit, build date and Go version,
then asks the server (--server) which trustd it is (GetServerInfo): its
version, commit, build date, Go version, log origin, database kind and
uptime. --client skips the server.

When the server cannot be reached or refuses, the server part is left out
with a note on stderr ("server": null and "server_error" in --output json),
and version still exits 0: the client's version was printed. Exit 2 only
for bad flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := versionJSON{Client: version.Get()}
			if !clientOnly {
				sv, err := fetchServerVersion(cmd.Context(), g)
				if err != nil {
					out.ServerError = strings.Join(strings.Fields(err.Error()), " ")
				}
				out.Server = sv
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return printVersion(cmd.OutOrStdout(), cmd.ErrOrStderr(), out, clientOnly)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only trustctl's own version; do not contact the server (default false)")
	return cmd
}

// fetchServerVersion asks the server which trustd it is.
func fetchServerVersion(ctx context.Context, g *globals) (*serverVersion, error) {
	var sv *serverVersion
	err := g.call(ctx, func(ctx context.Context, c *client.Client) error {
		r, err := c.Server.GetServerInfo(ctx, &trustv1.GetServerInfoRequest{})
		if err != nil {
			return err
		}
		sv = &serverVersion{Address: g.server, Version: r.GetVersion(), Commit: r.GetCommit(), Modified: r.GetModified(),
			BuildDate: r.GetBuildDate(), GoVersion: r.GetGoVersion(), LogOrigin: r.GetLogOrigin(), Database: r.GetDatabase(),
			UptimeSeconds: int64(r.GetUptime().AsDuration() / time.Second)}
		if r.GetStartedAt().IsValid() {
			sv.StartedAt = r.GetStartedAt().AsTime().UTC().Format(time.RFC3339)
		}
		return nil
	})
	return sv, err
}

// printVersion writes the text form: the client, then the server or a
// note on stderr saying why it is missing.
func printVersion(w, errw io.Writer, v versionJSON, clientOnly bool) error {
	if err := v.Client.Fprint(w, "trustctl"); err != nil {
		return err
	}
	switch {
	case clientOnly:
		return nil
	case v.Server == nil:
		_, err := fmt.Fprintf(errw, "trustctl: server version not shown: %s\n", v.ServerError)
		return err
	}
	s := v.Server
	commit := s.Commit
	if s.Modified {
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(w, "server %s: trustd %s\n  commit:     %s\n  build date: %s\n  go:         %s\n  log origin: %s\n  database:   %s\n  uptime:     %s\n",
		s.Address, s.Version, commit, s.BuildDate, s.GoVersion, s.LogOrigin, s.Database, time.Duration(s.UptimeSeconds)*time.Second)
	return err
}
