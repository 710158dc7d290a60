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

  1. One holder of a root key of root N proposes root N+1, naming the new
     root keys by their public halves, and signs it with that key (trustd
     keeps a proposal only when a key of root N signs it):
       trustctl ceremony propose REPO --root-key new1.pem.pub --root-key new2.pem.pub \
           --root-threshold 2 --key old1.pem
     trustd keeps it pending until both thresholds are met. Another holder
     may propose a different root N+1 meanwhile: both stay pending, each
     known by its signed digest, and the first to meet both thresholds is
     published (the others become void).
  2. Anyone checks who has signed and who is missing, per threshold:
       trustctl ceremony status REPO
  3. Each other holder, old root keys and new ones alike, signs on their own
     machine (the private key never leaves it):
       trustctl ceremony sign REPO --key old2.pem
       trustctl ceremony sign REPO --key new1.pem
  4. trustd publishes root N+1 (with a new snapshot and timestamp) the moment
     the last needed signature arrives. Confirm it (exit 1 while pending):
       trustctl ceremony publish REPO
When several proposals are pending, 'sign' and 'publish' need --proposal
DIGEST (the signed digest 'status' shows, or its first 8+ hex digits).

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
machine; trustd keeps it only if at least one of them is a root key of root
N. It is uploaded and stays pending until a threshold of root N's root keys
and a threshold of its own have signed; with --out it is written to FILE
instead, for signers on air-gapped machines.`,
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
					if g.output == "json" {
						return printJSON(cmd.OutOrStdout(), rootWritten{Repo: repo, Version: int(n + 1), File: out, Signatures: len(ss)})
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
		// An unknown repository named in a write is bad input (exit 2),
		// like every NotFound outside a lookup.
		return nil, &cliutil.ExitError{Code: cliutil.ExitFailure, Err: fmt.Errorf("REPO: repository %s has no root; create it with 'trustctl tuf init'", repo)}
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
		version  int64
		file     string
		proposal string
		key      signingKey
	)
	cmd := &cobra.Command{
		Use:   "sign REPO --key PRIV [--proposal DIGEST] [--version N] [--file FILE]",
		Short: "Add your signature (old or new root key) to the pending root proposal",
		Long: `sign fetches REPO's pending root proposal (the only one, or the one --proposal
names by its signed digest or a prefix of 8+ hex digits, or --version N),
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
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), fileWritten{File: file, Bytes: len(merged)})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signed %s\n", file)
				return nil
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: repo})
				if err != nil {
					return err
				}
				p, err := pickProposal(ceremonyStatusOf(st), version, proposal)
				if err != nil {
					return err
				}
				res, err := signPending(ctx, c, repo, metadata.ROOT, p.Version, p.SignedDigest, signer)
				if err != nil {
					return err
				}
				return g.printResult(cmd, res)
			})
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "version of the pending root (default: the only pending one)")
	cmd.Flags().StringVar(&proposal, "proposal", "", "signed digest, or a prefix of 8+ hex digits, of the proposal to sign (default: the only pending one)")
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

// pickProposal selects the pending root proposal of cs that version (0:
// any) and proposal (a signed digest or a prefix of one; empty: any) name:
// the only match, or an error that lists the candidates.
func pickProposal(cs ceremonyStatus, version int64, proposal string) (ceremonyProposal, error) {
	proposal = strings.ToLower(proposal)
	if err := checkProposalFlag(proposal); err != nil {
		return ceremonyProposal{}, err
	}
	var match []ceremonyProposal
	for _, p := range cs.Proposals {
		if (version == 0 || p.Version == version) && strings.HasPrefix(p.SignedDigest, proposal) {
			match = append(match, p)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(cs.Proposals) == 0:
		return ceremonyProposal{}, cliutil.Negative(fmt.Errorf("no root proposal of %s is pending (root v%d is published); start one with 'trustctl ceremony propose'", cs.Repo, cs.RootVersion))
	case len(match) == 0:
		return ceremonyProposal{}, cliutil.Negative(fmt.Errorf("no pending root proposal of %s matches --version/--proposal; pending: %s", cs.Repo, describeProposals(cs.Proposals)))
	}
	return ceremonyProposal{}, fmt.Errorf("--proposal: %d root proposals of %s are pending; name one by its signed digest (or its first %d+ hex digits): %s",
		len(match), cs.Repo, tuf.MinProposalPrefix, describeProposals(match))
}

// checkProposalFlag checks --proposal: empty, or 8 to 64 hex digits.
func checkProposalFlag(proposal string) error {
	if proposal != "" && (len(proposal) < tuf.MinProposalPrefix || len(proposal) > 64 || strings.Trim(strings.ToLower(proposal), "0123456789abcdef") != "") {
		return fmt.Errorf("--proposal: %q: want a signed digest or a prefix of at least %d hex digits (see 'trustctl ceremony status')", proposal, tuf.MinProposalPrefix)
	}
	return nil
}

// describeProposals lists proposals on one line: version, signed digest and
// how far each threshold is.
func describeProposals(ps []ceremonyProposal) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		var ths []string
		for _, th := range p.Thresholds {
			ths = append(ths, fmt.Sprintf("%s %d/%d", th.Authority, len(th.Signed), th.Threshold))
		}
		parts[i] = fmt.Sprintf("root v%d %s (%s)", p.Version, p.SignedDigest, strings.Join(ths, ", "))
	}
	return strings.Join(parts, "; ")
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
	Expires      string              `json:"expires"`
	Problem      string              `json:"problem"`
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
	switch len(cs.Proposals) {
	case 0:
		fmt.Fprintln(w, "no root proposal pending")
	case 1:
	default:
		fmt.Fprintf(w, "%d root proposals pending: the first to meet both thresholds is published, the others become void; name one with --proposal DIGEST (8+ hex digits) in 'ceremony sign' and 'ceremony publish'\n", len(cs.Proposals))
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
		Short: "Show the pending root proposals and, per threshold, who has signed and who is missing",
		Long: `status shows REPO's published root version and each pending root proposal
(by its signed digest, which 'sign --proposal' and 'publish --proposal' take)
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
		version  int64
		file     string
		proposal string
	)
	cmd := &cobra.Command{
		Use:   "publish REPO [--proposal DIGEST] [--version N] [--file FILE]",
		Short: "Confirm the new root is published (exit 1 while pending, naming the missing signatures)",
		Long: `trustd publishes a proposed root by itself the moment it carries both
thresholds of signatures. publish reports whether that has happened: exit 0
when root vN (--version, default the pending proposal's) is published, exit 1
while it is still pending, naming the thresholds and keys still missing.
When several proposals are pending, --proposal DIGEST (or its first 8+ hex
digits) names the one to check; once another proposal was published instead,
publish exits 1 saying so. With --file, it first uploads a proposal signed
offline ('propose --out', 'sign --file') and checks that one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := args[0]
			if err := checkProposalFlag(proposal); err != nil {
				return err
			}
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
					if proposal == "" {
						if proposal, err = tuf.ProposalDigest(doc); err != nil {
							return fmt.Errorf("--file: %w", err)
						}
					}
				}
				st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: repo})
				if err != nil {
					return err
				}
				cs := ceremonyStatusOf(st)
				p, err := pickProposal(cs, version, proposal)
				switch {
				case err == nil:
					return stillPending(cmd, g, cs, p)
				case len(cs.Proposals) > 0 && (version != 0 || proposal != "") && errors.As(err, new(*cliutil.ExitError)):
					// Nothing pending matches: published, or void.
				case len(cs.Proposals) > 0:
					return err
				}
				want := version
				if want == 0 {
					want = cs.RootVersion
				}
				if cs.RootVersion < want {
					return cliutil.Negative(fmt.Errorf("root v%d of %s is neither published (root v%d is) nor pending; start it with 'trustctl ceremony propose'", want, repo, cs.RootVersion))
				}
				if proposal != "" {
					raw, err := c.TUF.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: repo, Name: fmt.Sprintf("%d.root.json", want)})
					if err != nil {
						return err
					}
					d, err := tuf.ProposalDigest(raw.GetData())
					if err != nil {
						return fmt.Errorf("published root v%d of %s: %w", want, repo, err)
					}
					if !strings.HasPrefix(d, strings.ToLower(proposal)) {
						return cliutil.Negative(fmt.Errorf("root v%d of %s was published from another proposal (signed digest %s); proposal %s is void", want, repo, d, proposal))
					}
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), cs)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "root v%d of %s is published\n", want, repo)
				return nil
			})
		},
	}
	cmd.Flags().Int64Var(&version, "version", 0, "root version to check (default: the pending proposal, else the published root)")
	cmd.Flags().StringVar(&proposal, "proposal", "", "signed digest, or a prefix of 8+ hex digits, of the proposal to check (default: the only pending one)")
	cmd.Flags().StringVar(&file, "file", "", "upload this offline-signed proposal first")
	return cmd
}

// stillPending reports proposal p as pending (exit 1), naming the
// thresholds not met and the keys missing, on one line.
func stillPending(cmd *cobra.Command, g *globals, cs ceremonyStatus, p ceremonyProposal) error {
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
	msg := fmt.Sprintf("root v%d of %s (proposal %s) is still pending: %s", p.Version, cs.Repo, p.SignedDigest[:min(len(p.SignedDigest), 16)], strings.Join(short, "; "))
	if p.Problem != "" {
		msg += "; problem: " + p.Problem
	}
	return cliutil.Negative(errors.New(msg))
}
