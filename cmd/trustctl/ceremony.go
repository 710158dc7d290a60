package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tuf"
)

// The root rotation ceremony: root N+1 is proposed, key holders sign it on
// their own machines, and trustd publishes it once it carries a threshold of
// root N's root keys and a threshold of its own.

func newCeremonyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ceremony",
		Short: "Rotate a TUF repository's root: propose root N+1, collect signatures, publish",
		Long: `A root rotation replaces a TUF repository's root keys (and picks up trustd's
current online keys). Root N+1 is published only when it is signed by a
threshold of root N's root keys (so clients that trust root N accept it) AND
by a threshold of its own root keys (so it can sign root N+2). Clients that
trusted root 1 walk 1→2→3… and keep working.

Who runs what, in order:

  1. One root key holder (or the release manager) proposes root N+1, naming
     the new root keys by their public halves, and signs it with any private
     key at hand (an old or a new root key):
       trustctl ceremony propose REPO --root-key new1.pem.pub --root-key new2.pem.pub \
           --root-threshold 2 --key old1.pem
     trustd keeps it pending until both thresholds are met.
  2. Anyone checks who has signed and who is missing, per threshold:
       trustctl ceremony status REPO
  3. Each other holder, old root keys and new ones alike, signs on their own
     machine (the private key never leaves it):
       trustctl ceremony sign REPO --key old2.pem
       trustctl ceremony sign REPO --key new1.pem
  4. trustd publishes root N+1 (with a new snapshot and timestamp) the moment
     the last needed signature arrives. Confirm it (exit 1 while pending):
       trustctl ceremony publish REPO

Air-gapped: 'propose --out FILE' writes the proposal instead of uploading it;
holders sign the file with 'ceremony sign REPO --file FILE --key KEY' on their
offline machines; 'ceremony publish REPO --file FILE' uploads it from a
connected one (pending if thresholds are still short, then continue at 2).`,
	}
	cmd.AddCommand(newCeremonyProposeCmd(g), newCeremonySignCmd(g), newCeremonyStatusCmd(g), newCeremonyPublishCmd(g))
	return cmd
}

func newCeremonyProposeCmd(g *globals) *cobra.Command {
	var (
		rootKeys, targetsKeys, signKeys []string
		rootThreshold, targetsThreshold int
		expires                         time.Duration
		out                             string
		keyOpts                         signingKey
		snapIDs, tsIDs                  []string
	)
	cmd := &cobra.Command{
		Use:   "propose REPO --root-key PUB... --root-threshold N [--targets-key PUB... --targets-threshold N] [--key PRIV...] [--out FILE]",
		Short: "Propose root N+1: new root keys and threshold, trustd's current online keys",
		Long: `propose fetches REPO's current root N and builds root N+1: the given root keys
and threshold, the targets keys and threshold of root N or new ones
(--targets-key), and trustd's current snapshot and timestamp keys (so a
rotation of trustd's online keys is picked up here; --snapshot-key-id and
--timestamp-key-id name only some of them, to retire old ones). A root that changes
the targets keys is published together with the next targets version signed
by the new targets keys (e.g. 'trustctl sign ... --key NEW_TARGETS_KEY'),
since clients would reject the published targets under the new keys.
Each --key (a private key file of root N or of root N+1) signs it on this
machine. It is uploaded and stays pending until a threshold of root N's root
keys and a threshold of its own have signed; with --out it is written to
FILE instead, for signers on air-gapped machines.`,
		Example: `  trustctl ceremony propose acme/images --root-key new1.pem.pub --root-key new2.pem.pub \
      --root-threshold 2 --key old1.pem

  # retire trustd's old timestamp key once its new one is in the keys directory
  trustctl ceremony propose acme/images --root-key root.pem --key root.pem \
      --timestamp-key-id NEW_TIMESTAMP_KEY_ID`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := args[0]
			if err := tuf.ValidRepoName(repo); err != nil {
				return fmt.Errorf("REPO: %w", err)
			}
			roots, targets, err := loadRootKeys(rootKeys, rootThreshold, targetsKeys, targetsThreshold, false, expires, keyOpts)
			if err != nil {
				return err
			}
			signers, err := loadKeyFiles("--key", signKeys, keyOpts)
			if err != nil {
				return err
			}
			for i, s := range signers {
				if s.signer == nil {
					return fmt.Errorf("--key %s: a public key cannot sign; give the private key file", signKeys[i])
				}
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				cur, err := currentRoot(ctx, c, repo)
				if err != nil {
					return err
				}
				n := cur.Signed.Version
				tks := roleKeySet(cur, metadata.TARGETS)
				if len(targets) > 0 {
					tks = keySet(targets, targetsThreshold)
				}
				snap, ts, err := onlineKeys(ctx, c)
				if err != nil {
					return err
				}
				if snap, err = pickKeys("--snapshot-key-id", snap, snapIDs); err != nil {
					return err
				}
				if ts, err = pickKeys("--timestamp-key-id", ts, tsIDs); err != nil {
					return err
				}
				md, err := tuf.NewRoot(tuf.RootSpec{Version: n + 1, Expires: time.Now().Add(expires),
					Root: keySet(roots, rootThreshold), Targets: tks, Snapshot: snap, Timestamp: ts})
				if err != nil {
					return err
				}
				var ss []signature.Signer
				for i, s := range signers {
					if !slices.Contains(cur.Signed.Roles[metadata.ROOT].KeyIDs, s.id) && !slices.Contains(md.Signed.Roles[metadata.ROOT].KeyIDs, s.id) {
						return fmt.Errorf("--key %s: key %s is a root key of neither root v%d nor the proposed root v%d", signKeys[i], s.id, n, n+1)
					}
					ss = append(ss, s.signer)
				}
				doc, err := tuf.Sign(md, ss...)
				if err != nil {
					return err
				}
				if out != "" {
					if err := os.WriteFile(out, doc, 0o644); err != nil {
						return fmt.Errorf("--out: %w", err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "wrote root v%d of %s to %s, signed by %d key(s); sign it with 'trustctl ceremony sign %s --file %s --key KEY', send it with 'trustctl ceremony publish %s --file %s'\n",
						n+1, repo, out, len(ss), repo, out, repo, out)
					return nil
				}
				resp, err := c.TUF.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: repo, Role: metadata.ROOT, Metadata: doc})
				if err != nil {
					return err
				}
				return g.printResult(cmd, resp.GetResult())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&rootKeys, "root-key", nil, "root key of the new root (public half, or private); repeatable")
	fl.IntVar(&rootThreshold, "root-threshold", 1, "root signatures the new root requires")
	fl.StringArrayVar(&targetsKeys, "targets-key", nil, "targets key of the new root (default: root N's, unchanged); repeatable")
	fl.IntVar(&targetsThreshold, "targets-threshold", 1, "targets signatures required, with --targets-key")
	fl.DurationVar(&expires, "expires", 365*24*time.Hour, "lifetime of the new root")
	fl.StringArrayVar(&signKeys, "key", nil, "private root key (of root N or N+1) signing the proposal here: a file or a pkcs11: URI; repeatable")
	fl.StringVar(&out, "out", "", "write the proposal here instead of uploading it (air-gapped signing)")
	fl.StringArrayVar(&snapIDs, "snapshot-key-id", nil, "name only this one of trustd's snapshot keys (key id) in the new root, e.g. to retire an old one; repeatable (default: all)")
	fl.StringArrayVar(&tsIDs, "timestamp-key-id", nil, "name only this one of trustd's timestamp keys (key id) in the new root; repeatable (default: all)")
	fl.StringVar(&keyOpts.passwordEnv, "key-password-env", "", "environment variable holding the private keys' password")
	keyOpts.pkcs11.flags(cmd)
	_ = cmd.MarkFlagRequired("root-key")
	return cmd
}

// currentRoot fetches and parses the latest published root of repo.
func currentRoot(ctx context.Context, c *client.Client, repo string) (*metadata.Metadata[metadata.RootType], error) {
	raw, err := currentMetadata(ctx, c, repo, metadata.ROOT)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, cliutil.Negative(fmt.Errorf("repository %s has no root; create it with 'trustctl tuf init'", repo))
	}
	md, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("current root of %s: %w", repo, err)
	}
	return md, nil
}

// roleKeySet returns the keys and threshold root gives role.
func roleKeySet(root *metadata.Metadata[metadata.RootType], role string) tuf.KeySet {
	r := root.Signed.Roles[role]
	ks := tuf.KeySet{Threshold: r.Threshold}
	for _, id := range r.KeyIDs {
		ks.Keys = append(ks.Keys, root.Signed.Keys[id])
	}
	return ks
}

// pickKeys keeps the keys of ks whose ids are in ids (all if ids is empty);
// each id must be one of them.
func pickKeys(flag string, ks tuf.KeySet, ids []string) (tuf.KeySet, error) {
	if len(ids) == 0 {
		return ks, nil
	}
	out := tuf.KeySet{Threshold: ks.Threshold}
	var have []string
	for _, k := range ks.Keys {
		id, err := k.ID()
		if err != nil {
			return ks, fmt.Errorf("%s: %w", flag, err)
		}
		have = append(have, id)
		if slices.Contains(ids, id) {
			out.Keys = append(out.Keys, k)
		}
	}
	for _, id := range ids {
		if !slices.Contains(have, id) {
			return ks, fmt.Errorf("%s: %s is not one of trustd's keys for the role (%s)", flag, id, strings.Join(have, ", "))
		}
	}
	return out, nil
}

func newCeremonySignCmd(g *globals) *cobra.Command {
	var (
		version int64
		file    string
		key     signingKey
	)
	cmd := &cobra.Command{
		Use:   "sign REPO --key PRIV [--version N] [--file FILE]",
		Short: "Add your signature (old or new root key) to the pending root proposal",
		Long: `sign fetches REPO's pending root proposal (the only one, or --version N),
signs its signed part with --key on this machine and sends the signature.
Holders of root N's keys and of root N+1's keys each run it; trustd publishes
root N+1 when both thresholds are met. With --file, it signs a proposal
written by 'ceremony propose --out' in place, without contacting trustd.`,
		Example: `  trustctl ceremony sign acme/images --key old2.pem
  trustctl ceremony sign acme/images --file root-v2.json --key new1.pem   # offline`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := args[0]
			signer, _, err := key.tufSigner()
			if err != nil {
				return err
			}
			if file != "" {
				doc, err := readBounded(file, maxMetadataFile)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				merged, err := addSignature(doc, signer)
				if err != nil {
					return fmt.Errorf("--file %s: %w", file, err)
				}
				if err := os.WriteFile(file, merged, 0o644); err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signed %s\n", file)
				return nil
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				v := version
				if v == 0 {
					st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: repo})
					if err != nil {
						return err
					}
					ps := pendingRoots(st)
					switch len(ps) {
					case 0:
						return cliutil.Negative(fmt.Errorf("no root proposal of %s is pending (root v%d is published); start one with 'trustctl ceremony propose'", repo, st.GetRoot().GetVersion()))
					case 1:
						v = ps[0].GetVersion()
					default:
						return errors.New("--version: several root proposals are pending; name one (see 'trustctl ceremony status')")
					}
				}
				res, err := signPending(ctx, c, repo, metadata.ROOT, v, signer)
				if err != nil {
					return err
				}
				return g.printResult(cmd, res)
			})
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "version of the pending root (default: the only pending one)")
	cmd.Flags().StringVar(&file, "file", "", "sign this proposal file in place instead of the pending proposal on trustd")
	key.flags(cmd)
	return cmd
}

// pendingRoots returns the pending root proposals of a repository status.
func pendingRoots(st *trustv1.GetStatusResponse) []*trustv1.TUFPendingStatus {
	var out []*trustv1.TUFPendingStatus
	for _, p := range st.GetPending() {
		if p.GetRole() == metadata.ROOT {
			out = append(out, p)
		}
	}
	return out
}

// ceremonyStatus is the JSON form of 'ceremony status'.
type ceremonyStatus struct {
	Repo        string             `json:"repo"`
	RootVersion int64              `json:"root_version"`
	Proposals   []ceremonyProposal `json:"proposals"`
}

type ceremonyProposal struct {
	Version      int64               `json:"version"`
	SignedDigest string              `json:"signed_digest"`
	Expires      string              `json:"expires,omitempty"`
	Problem      string              `json:"problem,omitempty"`
	Thresholds   []ceremonyThreshold `json:"thresholds"`
}

type ceremonyThreshold struct {
	Authority string   `json:"authority"`
	Threshold int32    `json:"threshold"`
	Met       bool     `json:"met"`
	KeyIDs    []string `json:"key_ids"`
	Signed    []string `json:"signed"`
	Missing   []string `json:"missing"`
}

func ceremonyStatusOf(st *trustv1.GetStatusResponse) ceremonyStatus {
	cs := ceremonyStatus{Repo: st.GetRepo(), RootVersion: st.GetRoot().GetVersion(), Proposals: []ceremonyProposal{}}
	for _, p := range pendingRoots(st) {
		cp := ceremonyProposal{Version: p.GetVersion(), SignedDigest: p.GetSignedDigest(), Problem: p.GetProblem()}
		if p.GetExpires() != nil {
			cp.Expires = ts(p.GetExpires().AsTime())
		}
		for _, th := range p.GetThresholds() {
			cp.Thresholds = append(cp.Thresholds, ceremonyThreshold{Authority: th.GetAuthority(), Threshold: th.GetThreshold(),
				Met: int32(len(th.GetSigned())) >= th.GetThreshold(), KeyIDs: nonNil(th.GetKeyIds()), Signed: nonNil(th.GetSigned()), Missing: nonNil(th.GetMissing())})
		}
		cs.Proposals = append(cs.Proposals, cp)
	}
	return cs
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printCeremony(w io.Writer, cs ceremonyStatus) {
	fmt.Fprintf(w, "repository %s: root v%d published\n", cs.Repo, cs.RootVersion)
	if len(cs.Proposals) == 0 {
		fmt.Fprintln(w, "no root proposal pending")
	}
	for _, p := range cs.Proposals {
		fmt.Fprintf(w, "root v%d pending, signed part sha256 %s", p.Version, p.SignedDigest)
		if p.Expires != "" {
			fmt.Fprintf(w, ", expires %s", p.Expires)
		}
		fmt.Fprintln(w)
		if p.Problem != "" {
			fmt.Fprintf(w, "  problem: %s\n", p.Problem)
		}
		for _, th := range p.Thresholds {
			state := "met"
			if !th.Met {
				state = "NOT met"
			}
			fmt.Fprintf(w, "  %s: %d of %d needed (%s)\n", th.Authority, len(th.Signed), th.Threshold, state)
			for _, id := range th.Signed {
				fmt.Fprintf(w, "    signed  %s\n", id)
			}
			for _, id := range th.Missing {
				fmt.Fprintf(w, "    missing %s\n", id)
			}
		}
	}
}

func newCeremonyStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status REPO",
		Short: "Show the pending root proposal and, per threshold, who has signed and who is missing",
		Long: `status shows REPO's published root version and each pending root proposal
with its two thresholds: the current root N's root keys and the proposed root
N+1's own. For each it lists the key ids that have signed and those missing.
It exits 0 whether or not a proposal is pending; -o json for scripts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: args[0]})
				if err != nil {
					return err
				}
				cs := ceremonyStatusOf(st)
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), cs)
				}
				printCeremony(cmd.OutOrStdout(), cs)
				return nil
			})
		},
	}
}

func newCeremonyPublishCmd(g *globals) *cobra.Command {
	var (
		version int64
		file    string
	)
	cmd := &cobra.Command{
		Use:   "publish REPO [--version N] [--file FILE]",
		Short: "Confirm the new root is published (exit 1 while pending, naming the missing signatures)",
		Long: `trustd publishes a proposed root by itself the moment it carries both
thresholds of signatures. publish reports whether that has happened: exit 0
when root vN (--version, default the pending proposal's) is published, exit 1
while it is still pending, naming the thresholds and keys still missing.
With --file, it first uploads a proposal signed offline ('propose --out',
'sign --file').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := args[0]
			var doc []byte
			if file != "" {
				var err error
				if doc, err = readBounded(file, maxMetadataFile); err != nil {
					return fmt.Errorf("--file: %w", err)
				}
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				if doc != nil {
					resp, err := c.TUF.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: repo, Role: metadata.ROOT, Metadata: doc})
					if err != nil {
						return err
					}
					if version == 0 {
						version = resp.GetResult().GetVersion()
					}
				}
				st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: repo})
				if err != nil {
					return err
				}
				cs := ceremonyStatusOf(st)
				want := version
				if want == 0 {
					switch len(cs.Proposals) {
					case 0:
						want = cs.RootVersion
					case 1:
						want = cs.Proposals[0].Version
					default:
						return errors.New("--version: several root proposals are pending; name one (see 'trustctl ceremony status')")
					}
				}
				if cs.RootVersion >= want {
					if g.output == "json" {
						return printJSON(cmd.OutOrStdout(), cs)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "root v%d of %s is published\n", cs.RootVersion, repo)
					return nil
				}
				for _, p := range cs.Proposals {
					if p.Version != want {
						continue
					}
					if g.output == "json" {
						if err := printJSON(cmd.OutOrStdout(), cs); err != nil {
							return err
						}
					}
					var short []string
					for _, th := range p.Thresholds {
						if !th.Met {
							short = append(short, fmt.Sprintf("%s has %d of %d signatures (missing: %s)", th.Authority, len(th.Signed), th.Threshold, strings.Join(th.Missing, ", ")))
						}
					}
					msg := fmt.Sprintf("root v%d of %s is still pending: %s", want, repo, strings.Join(short, "; "))
					if p.Problem != "" {
						msg += "; problem: " + p.Problem
					}
					return cliutil.Negative(errors.New(msg))
				}
				return cliutil.Negative(fmt.Errorf("root v%d of %s is neither published (root v%d is) nor pending; start it with 'trustctl ceremony propose'", want, repo, cs.RootVersion))
			})
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "root version to check (default: the pending proposal, else the published root)")
	cmd.Flags().StringVar(&file, "file", "", "upload this offline-signed proposal first")
	return cmd
}
