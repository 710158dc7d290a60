package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/timerule"
)

// defaultTUFURL is where a local trustd serves the trustd/keys repository.
const defaultTUFURL = "http://127.0.0.1:7401/tuf/" + revocation.KeysRepo

// maxListBytes bounds a downloaded revocation list body by default.
const maxListBytes = 1 << 30

func newRevocationsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revocations",
		Short: "List revocations, and keep a signed offline copy for checks without the server",
		Long: `revocations reads what trustd revoked (list, lookup) and keeps a local, signed
copy of every revocation in force for offline checks (sync, check).

sync fetches the revocation list key through trustd's own TUF repository
(trustd/keys) with go-tuf's updater, trusting a root you pinned (--root, the
repository's 1.root.json obtained out of band; later syncs trust the root
stored in the cache), then fetches the signed list: the delta since the list
it holds, or a full snapshot the first time. It refuses a list signed by a
key trustd/keys does not publish (while trustd rotates its list key it
publishes the new and the old one, and a list signed by either verifies),
a list older than the one it holds (rollback) and a list older than
--max-staleness. check answers from that copy alone.

` + timerule.Help,
	}
	cmd.AddCommand(newRevocationsListCmd(g), newRevocationsLookupCmd(g), newRevocationsSyncCmd(g), newRevocationsCheckCmd(g))
	return cmd
}

func newRevocationsListCmd(g *globals) *cobra.Command {
	var (
		since uint64
		limit uint32
	)
	cmd := &cobra.Command{
		Use:   "list [--since SEQ]",
		Short: "List revocations and reinstatements in log order",
		Example: `  trustctl revocations list
  trustctl revocations list --since 1200 --limit 500 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Revocations().ListRevocations(ctx, &trustv1.ListRevocationsRequest{SinceSeq: since, PageSize: limit})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				for _, r := range resp.GetRevocations() {
					fmt.Fprintln(cmd.OutOrStdout(), formatRevocation(r))
				}
				if n := resp.GetNextSinceSeq(); n > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "more: --since %d\n", n)
				}
				return nil
			})
		},
	}
	cmd.Flags().Uint64Var(&since, "since", 0, "only entries after this log sequence number")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many (default 100, at most 1000)")
	return cmd
}

func newRevocationsLookupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lookup key|statement|digest|token ID",
		Short: "Ask trustd whether one target is revoked (exit 1: revoked)",
		Example: `  trustctl revocations lookup digest sha256:ff7a5e64…
  trustctl revocations lookup key 3e63ed31… --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				id, err := g.targetID(ctx, c, kind, args[1], false)
				if err != nil {
					return err
				}
				resp, err := c.Revocations().LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: string(kind), Id: id})
				if err != nil {
					return err
				}
				if g.output == "json" {
					err = printJSON(cmd.OutOrStdout(), resp)
				} else if r := resp.GetRevocation(); r == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%s is not revoked\n", kind, id)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), formatRevocation(r))
				}
				if err == nil && resp.GetInForce() {
					return cliutil.Negative(fmt.Errorf("%s:%s is revoked", kind, id))
				}
				return err
			})
		},
	}
}

func parseKind(s string) (revocation.Kind, error) {
	for _, k := range revocation.Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("KIND: %q is not key, statement, digest or token", s)
}

// defaultCacheDir is the user cache dir's trustctl/revocations.
func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "trustctl", "revocations")
	}
	return filepath.Join(".trustctl-cache", "revocations")
}

// cacheFlags are the flags of the offline cache.
type cacheFlags struct {
	dir          string
	maxStaleness time.Duration
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "cache", defaultCacheDir(), "directory of the offline revocation cache")
	cmd.Flags().DurationVar(&f.maxStaleness, "max-staleness", revocation.DefaultMaxStaleness, "refuse lists (and answers from a cache) older than this")
}

func (f *cacheFlags) open() (*revocation.Cache, error) {
	c, err := revocation.OpenCache(f.dir, f.maxStaleness)
	if err != nil {
		return nil, fmt.Errorf("--cache: %w", err)
	}
	return c, nil
}

// syncResult is what sync reports.
type syncResult struct {
	Number     int64     `json:"number"`
	Since      int64     `json:"since"`
	Issued     time.Time `json:"issued"`
	Entries    int       `json:"entries"`
	InForce    int       `json:"in_force"`
	Bytes      int       `json:"bytes"`
	ListKey    string    `json:"list_key"`
	CacheBytes int64     `json:"cache_bytes"`
}

func newRevocationsSyncCmd(g *globals) *cobra.Command {
	var (
		cf       cacheFlags
		rootFile string
		tufURL   string
		full     bool
		maxBytes int
	)
	cmd := &cobra.Command{
		Use:   "sync [--root ROOT.json] [--cache DIR]",
		Short: "Fetch and verify the signed revocation list into the offline cache",
		Long: `sync updates the offline cache: it refreshes trustd's trustd/keys TUF repository
with go-tuf's updater (pin its root with --root the first time), takes the
revocation list key from it, downloads the delta since the cached list (or a
full snapshot with --full or on first use), verifies the signature, the
body's digest and freshness, and saves the result. The TUF metadata it
keeps (in CACHE/tuf) also holds trustd's token key, which 'trustctl verify
--offline --trust-root' reads from there.`,
		Example: `  curl -o keys-root.json http://trustd.example:7401/tuf/trustd/keys/1.root.json   # once, then check it out of band
  trustctl revocations sync --root keys-root.json --tuf-url http://trustd.example:7401/tuf/trustd/keys
  trustctl revocations sync                 # later: a delta, trusting the cached root
  trustctl revocations check digest sha256:ff7a5e64…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pinned []byte
			if rootFile != "" {
				var err error
				if pinned, err = readBounded(rootFile, 1<<20); err != nil {
					return fmt.Errorf("--root: %w", err)
				}
			}
			cache, err := cf.open()
			if err != nil {
				return err
			}
			var res syncResult
			err = g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				// Asking for the key makes trustd publish it in trustd/keys
				// on first use; the key itself comes only through TUF.
				if _, err := c.Revocations().GetRevocationListKey(ctx, &trustv1.GetRevocationListKeyRequest{}); err != nil {
					return err
				}
				// The token key too, so the cached TUF metadata lets
				// 'verify --offline --trust-root' read it (a server without
				// the token service has none to publish).
				if _, err := c.Tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{}); err != nil && status.Code(err) != codes.Unimplemented {
					return err
				}
				// Every list key trustd publishes: during a rotation a list
				// signed by the next key, or still by the previous one,
				// verifies.
				keys, err := revocation.FetchKeys(tufURL, pinned, filepath.Join(cf.dir, "tuf"), revocation.ListKeyTarget)
				if err != nil {
					return err
				}
				since, has := cache.Number()
				if !has || full {
					since = 0
				}
				v, n, err := fetchList(ctx, c, keys, since, maxBytes)
				if err != nil {
					return err
				}
				err = cache.Apply(v)
				if errors.Is(err, revocation.ErrDeltaBase) {
					if v, n, err = fetchList(ctx, c, keys, 0, maxBytes); err != nil {
						return err
					}
					err = cache.Apply(v)
				}
				if err != nil {
					return err
				}
				res = syncResult{Number: v.Info.Number, Since: v.Info.Since, Issued: v.Info.Issued, Entries: v.Len(), Bytes: n, ListKey: v.KeyID}
				return nil
			})
			if err != nil {
				return err
			}
			if err := cache.Save(); err != nil {
				return err
			}
			res.InForce, res.CacheBytes = cache.Len(), cache.SizeOnDisk()
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			kind := "snapshot"
			if res.Since > 0 {
				kind = fmt.Sprintf("delta since %d", res.Since)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revocation list %d (%s, %d entries, %d bytes) issued %s, signed by %s\n",
				res.Number, kind, res.Entries, res.Bytes, res.Issued.Format(time.RFC3339), res.ListKey)
			fmt.Fprintf(cmd.OutOrStdout(), "cache %s: %d revocations in force, %d bytes\n", cf.dir, res.InForce, res.CacheBytes)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&rootFile, "root", "", "pinned root.json of the trustd/keys TUF repository (needed on the first sync)")
	cmd.Flags().StringVar(&tufURL, "tuf-url", defaultTUFURL, "URL of the trustd/keys TUF repository (trustd's HTTP address + /tuf/trustd/keys)")
	cmd.Flags().BoolVar(&full, "full", false, "fetch a full snapshot even when the cache could take a delta")
	cmd.Flags().IntVar(&maxBytes, "max-bytes", maxListBytes, "refuse a list larger than this")
	return cmd
}

// fetchList downloads and verifies the list since a number, signed by one
// of keys; it returns the verified list and its size in bytes.
func fetchList(ctx context.Context, c *client.Client, keys []envelope.PublicKey, since int64, maxBytes int) (*revocation.Verified, int, error) {
	stream, err := c.Revocations().FetchRevocationList(ctx, &trustv1.FetchRevocationListRequest{Since: uint64(since)})
	if err != nil {
		return nil, 0, err
	}
	var l revocation.List
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if len(msg.GetEnvelope()) > 0 {
			l.Envelope = msg.GetEnvelope()
		}
		if len(l.Body)+len(msg.GetBody()) > maxBytes {
			return nil, 0, fmt.Errorf("revocation list larger than --max-bytes %d", maxBytes)
		}
		l.Body = append(l.Body, msg.GetBody()...)
	}
	v, err := revocation.Verify(ctx, l, keys...)
	if err != nil {
		return nil, 0, err
	}
	return v, len(l.Envelope) + len(l.Body), nil
}

func newRevocationsCheckCmd(g *globals) *cobra.Command {
	var cf cacheFlags
	cmd := &cobra.Command{
		Use:   "check key|statement|digest|token ID",
		Short: "Check a target against the offline cache (exit 1: revoked, 2: no fresh cache)",
		Long: `check answers from the cache that 'trustctl revocations sync' keeps, without
contacting the server. A statement is named by its envelope digest
(sha256:…). When the cached list is older than --max-staleness the answer is
an error (exit 2): absence from a stale list proves nothing.`,
		Example: `  trustctl revocations check digest sha256:ff7a5e64…
  trustctl revocations check key 3e63ed31… --max-staleness 6h --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := parseKind(args[0])
			if err != nil {
				return err
			}
			id, err := revocation.CanonicalID(kind, args[1])
			if err != nil {
				return fmt.Errorf("ID: %w", err)
			}
			cache, err := cf.open()
			if err != nil {
				return err
			}
			e, err := cache.Check(kind, id)
			if err != nil {
				return err
			}
			number, _ := cache.Number()
			revoked := e != nil && e.InForce(time.Now())
			out := map[string]any{"kind": kind, "id": id, "revoked": revoked, "list": number, "list_issued": cache.Issued()}
			if e != nil {
				out["reason"], out["effective"], out["revoker"], out["seq"] = e.Reason, e.Effective, e.Revoker, e.Seq
			}
			if g.output == "json" {
				err = printJSON(cmd.OutOrStdout(), out)
			} else if e == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%s is not revoked (list %d issued %s)\n", kind, id, number, cache.Issued().Format(time.RFC3339))
			} else if !revoked {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%s will be revoked (%s) from %s by %s, log entry %d\n", kind, id, e.Reason, e.Effective.Format(time.RFC3339), e.Revoker, e.Seq)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%s revoked (%s) effective %s by %s, log entry %d\n", kind, id, e.Reason, e.Effective.Format(time.RFC3339), e.Revoker, e.Seq)
			}
			if err == nil && revoked {
				return cliutil.Negative(fmt.Errorf("%s:%s is revoked", kind, id))
			}
			return err
		},
	}
	cf.register(cmd)
	return cmd
}
