package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/cliutil"
)

const defaultServer = "127.0.0.1:7400"

// globals are the flags every command shares.
type globals struct {
	server  string
	tls     client.TLS
	output  string
	timeout time.Duration
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
			if err := cliutil.BindEnv(cmd.Flags(), "TRUSTCTL", "server", "tls", "tls-ca", "tls-server-name", "tls-cert", "tls-key"); err != nil {
				return err
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

	root.AddCommand(newDigestCmd(g), newSubjectCmd(g), newAliasesCmd(g), newKeyCmd(g), newPGPCmd(g), newStatementCmd(g), newLogCmd(g), newTUFCmd(g), newCeremonyCmd(g), newSignCmd(g), newVersionCmd())
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
		msg = fmt.Errorf("server %s unavailable: %s", server, st.Message())
	case codes.DeadlineExceeded:
		msg = fmt.Errorf("server %s did not answer in time (see --timeout)", server)
	case codes.Unauthenticated:
		msg = fmt.Errorf("%s (see --tls-cert, --tls-key)", st.Message())
	default:
		msg = errors.New(st.Message())
	}
	return &rpcFailure{st: st, err: msg}
}

var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the trustctl version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "trustctl", version) },
	}
}
