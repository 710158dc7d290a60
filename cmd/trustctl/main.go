// Command trustctl is the trustd command line for release engineers, deploy
// pipelines and key holders: it hashes artifacts locally and asks trustd
// what is known about them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trustd-dev/trustd/internal/cliutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(cliutil.Exit(os.Stderr, "trustctl", err))
}
