package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/timerule"
	"github.com/trustd-dev/trustd/token"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get deploy tokens from trustd and store them beside the bytes",
		Long: `A token is trustd's signed answer "policy P passed for these bytes", P being
one of the policies trustd holds (trustd --token-policy-dir): a SLSA
Verification Summary Attestation (https://slsa.dev/verification_summary/v1)
in a DSSE envelope signed by trustd's token key, with an expiry and the
revocation list it was checked against. Stored beside the bytes, it lets
'trustctl verify --offline' decide with no server.

Token id: "sha256:" and the sha256 of the envelope bytes.`,
	}
	cmd.AddCommand(newTokenIssueCmd(g), newTokenAttachCmd(g), newTokenKeyCmd(g))
	return cmd
}

type issueOutput struct {
	Issued   bool            `json:"issued"`
	TokenID  string          `json:"tokenId"`
	Expires  string          `json:"expires"`
	Resource string          `json:"resource"`
	Digest   string          `json:"digest"`
	Attached string          `json:"attached"`
	Written  string          `json:"written"`
	Verdict  json.RawMessage `json:"verdict"`
}

func newTokenIssueCmd(g *globals) *cobra.Command {
	var (
		policyName, out string
		algs            []string
		attach          bool
		ref             refFlags
	)
	cmd := &cobra.Command{
		Use:   "issue REF|DIGEST --policy NAME [--attach | --out FILE]",
		Short: "Have trustd evaluate one of its policies for the bytes and sign a token",
		Long: `issue hashes the artifact (only its digests go to the server) and asks trustd
to evaluate the policy NAME against its own evidence; if it passes, trustd
returns a signed token. --attach stores it beside the bytes (see 'token
attach'); --out writes it to a file; otherwise it is printed. When the
policy does not pass, the verdict is printed and the exit code is 1. A
digest (sha256:…) instead of REF asks for a token for those bytes without
reading them.

trustd signs tokens only for policies its operator configured (trustd
--token-policy-dir DIR or --token-policy FILE): NAME is the name of one of
them, never a file of yours, so nobody can make trustd's key sign what a
policy of their own writing claims. The token records that policy's name,
URI, content digest and SLSA levels as trustd holds them; 'trustctl verify
--policy FILE --policy-name NAME' accepts it with a copy of the same policy
file (same digest: 'trustctl policy check FILE' prints it). An unknown NAME
is refused with the list of the names trustd holds.

The token records REF as its resourceUri (for an image the tag asked for
and the digest read), and verify admits it only for that name: issue it
for the reference deployments will ask for. A policy with a name
requirement checks that trustd's evidence binds this name to the bytes
before a token is signed.

Only sha256 is computed unless --algorithm adds others: give the algorithms
the policy lists under digests (trustd refuses the request naming them).

No token is issued while a revocation in force voids what the verdict
relies on (the bytes, a signer, a statement).

` + timerule.Help + `

` + refHelp,
		Example: `  trustctl token issue registry.example/acme/app:1.4 --policy production --attach
  trustctl token issue dist/app.tar.gz --policy production --out app.token.json
  trustctl token issue dist/app.tar.gz --policy production --algorithm sha512 --attach
  trustctl token issue sha256:… --policy production --out app.token.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if attach && out != "" {
				return fmt.Errorf("--attach and --out: choose one")
			}
			if err := checkHeldPolicyName(policyName); err != nil {
				return err
			}
			extra, err := parseAlgorithms(algs)
			if err != nil {
				return err
			}
			var art *client.Artifact
			if d, derr := digest.Parse(args[0]); derr == nil && !fileExists(args[0]) {
				if attach {
					return fmt.Errorf("--attach: %s is a digest; name the artifact (file or OCI reference) to attach beside", args[0])
				}
				if len(extra) > 0 {
					return fmt.Errorf("--algorithm: %s is a digest; name the artifact (file or OCI reference) to hash", args[0])
				}
				art = &client.Artifact{Ref: args[0], Name: args[0], Digests: []digest.Digest{d}}
			} else {
				ro := ref.options(cmd)
				ro.Algorithms = []digest.Algorithm{digest.SHA256}
				for _, a := range extra {
					if !slices.Contains(ro.Algorithms, a) {
						ro.Algorithms = append(ro.Algorithms, a)
					}
				}
				if art, err = client.Resolve(cmd.Context(), args[0], ro); err != nil {
					return resolveError(err)
				}
			}
			req := &trustv1.IssueTokenRequest{Name: art.Name, ResourceUri: art.ResourceURI, PolicyName: policyName}
			for _, d := range art.Digests {
				req.Digests = append(req.Digests, d.String())
			}
			var resp *trustv1.IssueTokenResponse
			if err := g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				var err error
				resp, err = c.Tokens.IssueToken(ctx, req)
				if st, ok := status.FromError(err); ok && st.Code() == codes.NotFound {
					// A name trustd does not hold is bad input (exit 2), not
					// a policy that failed (exit 1).
					return fmt.Errorf("--policy: %s", st.Message())
				}
				return err
			}); err != nil {
				return err
			}
			res := issueOutput{Issued: resp.GetIssued(), TokenID: resp.GetTokenId(), Resource: art.ResourceURI, Digest: art.Digests[0].String(), Verdict: resp.GetVerdict()}
			if resp.GetIssued() {
				res.Expires = resp.GetExpires().AsTime().UTC().Format("2006-01-02T15:04:05Z")
				switch {
				case attach:
					if res.Attached, err = client.AttachToken(cmd.Context(), art, resp.GetToken()); err != nil {
						return err
					}
				case out != "":
					if err := os.WriteFile(out, resp.GetToken(), 0o644); err != nil {
						return err
					}
					res.Written = out
				}
			}
			w := cmd.OutOrStdout()
			switch {
			case g.output == "json":
				if err := printJSON(w, res); err != nil {
					return err
				}
			case !res.Issued:
				fmt.Fprintf(w, "no token: policy %s did not pass for %s\n", policyName, art.ResourceURI)
				fmt.Fprintln(w, string(bytes.TrimSpace(resp.GetVerdict())))
			case attach || out != "":
				fmt.Fprintf(w, "token %s for %s (policy %s), expires %s\nstored at %s%s\n", res.TokenID, res.Digest, policyName, res.Expires, res.Attached, res.Written)
			default:
				fmt.Fprintln(w, string(resp.GetToken()))
			}
			if !res.Issued {
				return cliutil.Negative(fmt.Errorf("policy %s did not pass; no token issued", policyName))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyName, "policy", "", "name of a policy trustd holds (its --token-policy-dir / --token-policy files), such as production")
	f.StringSliceVarP(&algs, "algorithm", "a", nil, "digest algorithms to compute besides sha256, comma-separated: those the policy lists under digests (default none)")
	f.BoolVar(&attach, "attach", false, "store the token beside the bytes (FILE.trust.json or an OCI referrer)")
	f.StringVar(&out, "out", "", "write the token to this file")
	ref.add(f)
	_ = cmd.MarkFlagRequired("policy")
	return cmd
}

// checkHeldPolicyName refuses a --policy that is not a policy name, such
// as the policy file 'trustctl verify' takes: trustd signs tokens only for
// policies it holds.
func checkHeldPolicyName(name string) error {
	if fileExists(name) || !policy.ValidName(name) {
		return fmt.Errorf("--policy: %q is not a policy name: trustd issues tokens only for the policies it holds (trustd --token-policy-dir), never for a policy file sent to it; name one, such as --policy production", name)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func newTokenAttachCmd(g *globals) *cobra.Command {
	var (
		tokenFile string
		ref       refFlags
	)
	cmd := &cobra.Command{
		Use:   "attach REF --token FILE",
		Short: "Store a token beside the bytes: FILE.trust.json or an OCI referrer",
		Long: `attach stores a token where 'trustctl verify --offline' looks for it: beside a
file as FILE.trust.json, or in the image's registry as an OCI 1.1 referrer
artifact (artifactType ` + client.TokenArtifactType + `, one layer of
type ` + client.DSSEMediaType + `, subject = the image manifest), through
the referrers API or, for registries without it, the referrers tag
fallback (tag sha256-HEX). The token must name the artifact's digest.

` + refHelp,
		Example: `  trustctl token attach registry.example/acme/app:1.4 --token app.token.json
  trustctl token attach dist/app.tar.gz --token app.token.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(tokenFile, token.MaxTokenBytes)
			if err != nil {
				return fmt.Errorf("--token: %w", err)
			}
			art, err := client.Resolve(cmd.Context(), args[0], ref.options(cmd))
			if err != nil {
				return resolveError(err)
			}
			var env struct{ Payload []byte }
			if err := json.Unmarshal(data, &env); err != nil || !bytes.Contains(env.Payload, []byte(art.SHA256().Hex())) {
				return fmt.Errorf("--token: %s is not a token for %s (%s)", tokenFile, args[0], art.SHA256())
			}
			where, err := client.AttachToken(cmd.Context(), art, data)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]string{"tokenId": token.ID(data), "attached": where})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s stored at %s\n", token.ID(data), where)
			return nil
		},
	}
	cmd.Flags().StringVar(&tokenFile, "token", "", "the token file (from 'token issue --out')")
	ref.add(cmd.Flags())
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

func newTokenKeyCmd(g *globals) *cobra.Command {
	var (
		out, rootFile, tufURL string
		cf                    cacheFlags
	)
	cmd := &cobra.Command{
		Use:   "key [--root ROOT.json] [--out FILE]",
		Short: "Print trustd's token public key, for offline verifiers to pin",
		Long: `key prints the public key trustd signs tokens with. With --root it reads the
key the way an offline verifier trusts it: as target ` + token.KeyTarget + ` of trustd's
trustd/keys TUF repository, through go-tuf's updater from the pinned root
(the repository's 1.root.json, checked out of band), and keeps the verified
metadata in the cache (--cache DIR/tuf) where 'trustctl verify --offline
--trust-root ROOT.json' reads it with no network. Without --root the key is
trusted as far as the connection to trustd is.

While trustd rotates its token key, trustd/keys also publishes the keys
accepted beside the one in use (the next key, or the previous one whose
tokens have not expired); verify --trust-root accepts tokens signed by any
of them, and each run of this command or of 'revocations sync' refreshes
them from the pinned root. --out writes the key in use only; -o json lists
the others as accepted_public_keys.`,
		Example: `  curl -o keys-root.json http://trustd.example:7401/tuf/trustd/keys/1.root.json   # once, then check it out of band
  trustctl token key --root keys-root.json --tuf-url http://trustd.example:7401/tuf/trustd/keys
  trustctl verify app.tar.gz --policy deploy.yaml --offline --trust-root keys-root.json
  trustctl token key --out token.pub
  trustctl verify app.tar.gz --policy deploy.yaml --offline --token-key token.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pinned []byte
			if rootFile != "" {
				var err error
				if pinned, err = readBounded(rootFile, 1<<20); err != nil {
					return fmt.Errorf("--root: %w", err)
				}
			}
			var resp *trustv1.GetTokenKeyResponse
			if err := g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				var err error
				// Asking for the key makes trustd publish it in trustd/keys.
				if resp, err = c.Tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{}); err != nil || pinned == nil {
					return err
				}
				keys, err := client.TUFTokenKey{RepoURL: tufURL, Root: pinned, MetadataDir: filepath.Join(cf.dir, "tuf")}.TokenKeys(ctx)
				if err != nil {
					return err
				}
				resp = &trustv1.GetTokenKeyResponse{KeyId: keys[0].ID, KeyType: keys[0].Type, PublicKey: keys[0].Encode()}
				for _, k := range keys[1:] {
					resp.AcceptedPublicKeys = append(resp.AcceptedPublicKeys, k.Encode())
				}
				return nil
			}); err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "" {
				if err := os.WriteFile(out, resp.GetPublicKey(), 0o644); err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), tokenKeyWritten{File: out, KeyID: resp.GetKeyId(), Type: resp.GetKeyType(), Accepted: len(resp.GetAcceptedPublicKeys())})
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "token key %s (%s) written to %s\n", resp.GetKeyId(), resp.GetKeyType(), out)
				if n := len(resp.GetAcceptedPublicKeys()); n > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "trustd is rotating its token key: %d more key(s) are accepted beside it; verify with --trust-root to follow the rotation\n", n)
				}
				return nil
			}
			if g.output == "json" {
				return printJSON(w, resp)
			}
			_, err := w.Write(resp.GetPublicKey())
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the PEM public key to this file")
	cmd.Flags().StringVar(&rootFile, "root", "", "pinned root.json of the trustd/keys TUF repository: read the key through TUF")
	cmd.Flags().StringVar(&tufURL, "tuf-url", defaultTUFURL, "URL of the trustd/keys TUF repository (trustd's HTTP address + /tuf/trustd/keys)")
	cf.register(cmd)
	return cmd
}
