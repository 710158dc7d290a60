package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/internal/configfile"
)

const defaultServer = "127.0.0.1:7400"

// globals are the flags every command shares.
type globals struct {
	server  string
	tls     client.TLS
	output  string
	timeout time.Duration
	// minLSN is --min-lsn: the commit position every call must read.
	minLSN string
	// config is --config, the per-user config file.
	config string
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "trustctl",
		Short: "trustctl: hash artifacts and ask trustd who vouches for them",
		Long: `trustctl talks to a trustd server. It hashes artifacts itself (the server never
sees the bytes) and looks up what trustd knows about their digests.

` + exitHelp + `

` + outputHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			sources := map[string]string{}
			cmd.Flags().Visit(func(f *pflag.Flag) { sources[f.Name] = configfile.SourceFlag })
			if err := cliutil.BindEnv(cmd.Flags(), "TRUSTCTL", "server", "tls", "tls-ca", "tls-server-name", "tls-cert", "tls-key", "min-lsn", "config"); err != nil {
				return err
			}
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if sources[f.Name] == "" {
					sources[f.Name] = configfile.SourceEnv
				}
			})
			if err := applyUserConfig(cmd, g.config, sources); err != nil {
				return err
			}
			if g.minLSN != "" && !client.ValidLSN(g.minLSN) {
				return fmt.Errorf("--min-lsn: %q is not a commit position (like 16/B374D848, as a submit prints it)", g.minLSN)
			}
			if g.output != "text" && g.output != "json" {
				return fmt.Errorf("--output: %q is not text or json", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", defaultServer, "trustd gRPC address host:port (env TRUSTCTL_SERVER)")
	pf.BoolVar(&g.tls.Enabled, "tls", false, "connect with TLS, verifying the server against the system roots (default false: plaintext) (env TRUSTCTL_TLS)")
	pf.StringVar(&g.tls.CAFile, "tls-ca", "", "PEM file of CA certificates to verify the server with instead of the system roots (implies --tls) (env TRUSTCTL_TLS_CA)")
	pf.StringVar(&g.tls.ServerName, "tls-server-name", "", "name to verify in the server certificate (default: the host of --server; implies --tls) (env TRUSTCTL_TLS_SERVER_NAME)")
	pf.StringVar(&g.tls.CertFile, "tls-cert", "", "PEM client certificate for servers that verify them (mTLS), with --tls-key; operator RPCs need one the server names as an operator's (default none; implies --tls) (env TRUSTCTL_TLS_CERT)")
	pf.StringVar(&g.tls.KeyFile, "tls-key", "", "PEM private key of --tls-cert (default none) (env TRUSTCTL_TLS_KEY)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "deadline for each call to the server")
	pf.StringVar(&g.minLSN, "min-lsn", "", "commit position (a submit's commit_lsn) lookups must see: a trustd reading from standbys (--db-read) waits for one that replayed it, else reads its primary; calls of one trustctl run pass their own writes' positions on by themselves; default none (env TRUSTCTL_MIN_LSN)")
	pf.StringVar(&g.config, "config", "", "per-user config file (YAML, or TOML when it ends in .toml) with keys server, tls, tls-ca, tls-server-name, tls-cert, tls-key, output, timeout and policy (verify's and get's --policy file); relative file names are taken from its directory; the command line and TRUSTCTL_* beat it (default $XDG_CONFIG_HOME/trustctl/config.yaml when present) (env TRUSTCTL_CONFIG)")

	root.AddCommand(newDigestCmd(g), newSubjectCmd(g), newAliasesCmd(g), newKeyCmd(g), newPGPCmd(g), newStatementCmd(g), newLogCmd(g), newTUFCmd(g), newCeremonyCmd(g), newSignCmd(g), newVersionCmd(g))
	root.AddCommand(newVoteCmd(g), newReputationCmd(g), newFeedbackCmd(g))
	root.AddCommand(newRevokeCmd(g), newRevocationsCmd(g))
	root.AddCommand(newVerifyCmd(g), newTokenCmd(g), newPolicyCmd(g))
	root.AddCommand(newAttestCmd(g), newImportCmd(g))
	root.AddCommand(newIdentityCmd(g))
	root.AddCommand(newGetCmd(g))
	root.AddCommand(newLocationsCmd(g), newLocationCmd(g))
	return root
}

// call runs fn with a connected client and a deadline, turning gRPC errors
// into one-line errors with the right exit code.
func (g *globals) call(ctx context.Context, fn func(context.Context, *client.Client) error) error {
	c, err := client.New(g.server, g.tls)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMinLSN(g.minLSN)
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	return rpcError(g.server, fn(ctx, c))
}

// rpcError turns a gRPC error into an rpcFailure with a one-line message
// for people; its exit code follows from its status (classify).
func rpcError(server string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var msg error
	switch st.Code() {
	case codes.Unavailable:
		msg = fmt.Errorf("server %s unavailable: %s", server, st.Message()+requestIDNote(st))
	case codes.DeadlineExceeded:
		msg = fmt.Errorf("server %s did not answer in time (see --timeout)%s", server, requestIDNote(st))
	case codes.Unauthenticated:
		msg = fmt.Errorf("%s%s (see --tls-cert, --tls-key)", st.Message(), requestIDNote(st))
	default:
		msg = errors.New(st.Message() + requestIDNote(st))
	}
	return &rpcFailure{st: st, err: msg}
}

// requestIDNote is " (request id ID)" when trustd attached its request id
// to st (a google.rpc.RequestInfo detail) and the message does not already
// name it, so an operator can find the call in trustd's log; else "".
func requestIDNote(st *status.Status) string {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RequestInfo); ok && ri.GetRequestId() != "" {
			if strings.Contains(st.Message(), "request id "+ri.GetRequestId()) {
				return ""
			}
			return " (request id " + ri.GetRequestId() + ")"
		}
	}
	return ""
}
