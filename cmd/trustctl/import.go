package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
)

// importEnv is what a registry importer works with: the trustd client,
// where to print what it did, and how to reach the registry.
type importEnv struct {
	Client *client.Client
	Out    io.Writer
	Remote []remote.Option
}

// importCounts says how many signatures an importer stored and how many
// trustd already had.
type importCounts struct {
	Imported, Skipped int
}

// registryImporter imports one kind of signature a registry holds for an
// image (Notation referrers, cosign's tags, …) into trustd.
type registryImporter interface {
	// Name names the kind in messages.
	Name() string
	// Import finds the image's signatures in the registry and sends each to
	// trustd, which verifies it before storing; a signature trustd already
	// has is skipped. A refused signature does not stop the others; the
	// error lists the refusals.
	Import(ctx context.Context, env importEnv, img name.Digest) (importCounts, error)
}

// registryImporters are the kinds trustctl import looks for, in order.
var registryImporters = []registryImporter{notationImporter{}}

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import REF",
		Short: "Import the signatures a registry holds for an image",
		Long: `import discovers what an OCI registry already holds for the image REF
(REGISTRY/REPOSITORY:TAG or @DIGEST; a tag is resolved to its manifest
digest first) and sends each signature to trustd, which verifies it before
it stores it as evidence for the image's digest:

  Notation signatures (COSE and JWS envelopes) stored as OCI referrers,
  found through the registry's referrers API or, on registries without
  one, the referrers tag (sha256-HEX); trustd verifies them against its
  --notation-trust-store and --notation-trust-policy.

Importing again stores nothing new. Signatures trustd refuses are listed
and make the command fail after the others have been imported. Registry
credentials come from the Docker config (docker login).`,
		Example: `  trustctl import registry.example/acme/app:v1.2
  trustctl import registry.example/acme/app@sha256:…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := name.ParseReference(args[0], name.StrictValidation)
			if err != nil {
				return fmt.Errorf("REF: %w", err)
			}
			ctx := cmd.Context()
			ro := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
				remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2})}
			img, ok := ref.(name.Digest)
			if !ok {
				desc, err := remote.Head(ref, ro...)
				if err != nil {
					return fmt.Errorf("REF %s: resolve the tag: %w", ref, err)
				}
				img = ref.Context().Digest(desc.Digest.String())
			}
			return g.call(ctx, func(ctx context.Context, c *client.Client) error {
				env := importEnv{Client: c, Out: cmd.OutOrStdout(), Remote: append(ro, remote.WithContext(ctx))}
				var errs []error
				var total importCounts
				for _, imp := range registryImporters {
					n, err := imp.Import(ctx, env, img)
					total.Imported += n.Imported
					total.Skipped += n.Skipped
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", imp.Name(), err))
					}
				}
				fmt.Fprintf(env.Out, "%s: %d imported, %d already in trustd\n", img, total.Imported, total.Skipped)
				return errors.Join(errs...)
			})
		},
	}
	return cmd
}
