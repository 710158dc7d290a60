// Command trustctl is the trustd command line for release engineers, deploy
// pipelines and key holders: it hashes artifacts locally and asks trustd
// what is known about them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(newRootCmd(), os.Stdout, os.Stderr, func(root *cobra.Command) (*cobra.Command, error) {
		return root.ExecuteContextC(ctx)
	})
	stop()
	os.Exit(code)
}
