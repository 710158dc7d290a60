// Command trustd is the trustd server: it stores signed claims about
// artifact digests and answers lookups over gRPC. With no flags it runs on
// an embedded SQLite file in the user's data directory.
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
	os.Exit(cliutil.Exit(os.Stderr, "trustd", err))
}
