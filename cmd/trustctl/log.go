package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/tlog"
)

// logState is what trustctl remembers about a server's log between runs:
// the verifier key pinned on first use (or followed to through a planned
// rotation) and the newest checkpoint seen.
type logState struct {
	Server      string `json:"server"`
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint,omitempty"`
	// RetiredKeys are the keys pinned before, newest last: the remembered
	// checkpoint may be signed by one of them, and --log-key may still
	// name one.
	RetiredKeys []string `json:"retired_keys,omitempty"`
}

// maxRetiredKeys bounds logState.RetiredKeys.
const maxRetiredKeys = 8

type logFlags struct {
	state     string
	key       string
	trustRoot string
	tufURL    string
	cache     string
	witnesses witnessFlags
	// changed says the pinned key changed this run (first use, or a
	// rotation followed), so the state is saved.
	changed bool
}

func (f *logFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.state, "state", "", "file remembering the pinned log key and last checkpoint (default: per server, under $XDG_STATE_HOME/trustctl)")
	cmd.PersistentFlags().StringVar(&f.key, "log-key", "", "pin this note verifier key instead of trusting the server's on first use (env TRUSTCTL_LOG_KEY)")
	cmd.PersistentFlags().StringVar(&f.trustRoot, "trust-root", "", "pinned root.json of trustd's trustd/keys TUF repository: pin the log key it publishes instead of the server's on first use, and re-pin to it when the pinned key no longer signs (a rotation missed)")
	cmd.PersistentFlags().StringVar(&f.tufURL, "tuf-url", defaultTUFURL, "URL of the trustd/keys TUF repository, with --trust-root")
	cmd.PersistentFlags().StringVar(&f.cache, "cache", defaultCacheDir(), "directory whose tuf/ holds the trustd/keys metadata, with --trust-root")
	f.witnesses.register(cmd.PersistentFlags())
}

// publishedKeys reads the log keys trustd/keys publishes (the key in use
// first) from the root pinned with --trust-root; nil without it.
func (f *logFlags) publishedKeys() ([]string, error) {
	if f.trustRoot == "" {
		return nil, nil
	}
	pinned, err := readBounded(f.trustRoot, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("--trust-root: %w", err)
	}
	keys, err := revocation.FetchLogKeys(f.tufURL, pinned, filepath.Join(f.cache, "tuf"))
	if err != nil {
		return nil, fmt.Errorf("--trust-root: log keys from %s: %w", revocation.KeysRepo, err)
	}
	return keys, nil
}

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (f *logFlags) statePath(server string) (string, error) {
	if f.state != "" {
		return f.state, nil
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("--state: no home directory to keep log state in: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "trustctl", "log-"+unsafePathChars.ReplaceAllString(server, "_")+".json"), nil
}

func (f *logFlags) load(server string) (logState, string, error) {
	path, err := f.statePath(server)
	if err != nil {
		return logState{}, "", err
	}
	st := logState{Server: server}
	data, err := readBounded(path, 1<<20)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return logState{}, "", fmt.Errorf("--state: %w", err)
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return logState{}, "", fmt.Errorf("--state: %s: %w", path, err)
		}
	}
	if f.key == "" {
		f.key = os.Getenv("TRUSTCTL_LOG_KEY")
	}
	switch {
	case f.key == "" || f.key == st.VerifierKey:
	case slices.Contains(st.RetiredKeys, f.key):
		// The state followed a planned rotation from that key.
	case st.VerifierKey != "":
		return logState{}, "", fmt.Errorf("--log-key differs from the key pinned in %s; remove the file to re-pin", path)
	default:
		st.VerifierKey, f.changed = f.key, true
	}
	return st, path, nil
}

// save writes st when its pinned key changed this run.
func (f *logFlags) save(path string, st logState) error {
	if !f.changed {
		return nil
	}
	return saveState(path, st)
}

// saveState writes st to path atomically (a temporary file in the same
// directory, synced, then renamed over it), mode 0600: a reader never
// sees half a state, and two runs at once each leave a whole one.
func saveState(path string, st logState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("--state: %s: %w", path, err)
	}
	return nil
}

// latestCheckpoint fetches the log's latest checkpoint and opens it with
// the pinned key, pinning a key first if none is pinned yet (the one
// trustd/keys publishes with --trust-root, else the server's). It follows
// a planned rotation of the log key: a checkpoint the pinned key signed
// that announces a new key, signed by that key too, moves the pin to it
// (tlog.FollowCheckpoint). With --trust-root, a checkpoint the pinned key
// no longer signs is accepted when a key trustd/keys publishes signs it,
// and the pin moves to that key.
func latestCheckpoint(ctx context.Context, cmd *cobra.Command, c *client.Client, st *logState, f *logFlags) ([]byte, tlog.Checkpoint, error) {
	if err := f.witnesses.check(); err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	resp, err := c.Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	published, err := f.publishedKeys()
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	if st.VerifierKey == "" {
		if len(published) > 0 {
			st.VerifierKey = published[0]
			fmt.Fprintf(cmd.ErrOrStderr(), "trusting log key %s, published in %s\n", st.VerifierKey, revocation.KeysRepo)
		} else {
			st.VerifierKey = resp.GetVerifierKey()
			fmt.Fprintf(cmd.ErrOrStderr(), "trusting log key %s on first use\n", st.VerifierKey)
		}
		f.changed = true
	}
	cp, key, err := tlog.FollowCheckpoint(resp.GetCheckpoint(), st.VerifierKey)
	if err != nil {
		for _, k := range published {
			if k == st.VerifierKey {
				continue
			}
			if cp2, key2, err2 := tlog.FollowCheckpoint(resp.GetCheckpoint(), k); err2 == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "log key %s no longer signs checkpoints; %s publishes %s, which does\n", st.VerifierKey, revocation.KeysRepo, k)
				cp, key, err = cp2, key2, nil
				break
			}
		}
	}
	if err != nil {
		return nil, tlog.Checkpoint{}, cliutil.Negative(fmt.Errorf("checkpoint: %w", err))
	}
	// With --witness, a checkpoint the named witnesses did not cosign is
	// not believed: nothing is pinned or remembered from it.
	if err := f.witnesses.require(resp.GetCheckpoint()); err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	if key != st.VerifierKey {
		if cp.NewKey == key {
			fmt.Fprintf(cmd.ErrOrStderr(), "log key rotated: the checkpoint of size %d, signed by the pinned key %s, announces %s; trusting it from now on\n", cp.Size, st.VerifierKey, key)
		}
		st.RetiredKeys = append(st.RetiredKeys, st.VerifierKey)
		if n := len(st.RetiredKeys); n > maxRetiredKeys {
			st.RetiredKeys = st.RetiredKeys[n-maxRetiredKeys:]
		}
		st.VerifierKey, f.changed = key, true
	}
	return resp.GetCheckpoint(), cp, nil
}

// openRemembered opens the remembered checkpoint with the pinned key, or
// with a key pinned before a rotation that may have signed it.
func openRemembered(st *logState) (tlog.Checkpoint, error) {
	cp, err := tlog.OpenCheckpoint([]byte(st.Checkpoint), st.VerifierKey)
	for i := len(st.RetiredKeys) - 1; err != nil && i >= 0; i-- {
		var err2 error
		if cp, err2 = tlog.OpenCheckpoint([]byte(st.Checkpoint), st.RetiredKeys[i]); err2 == nil {
			err = nil
		}
	}
	return cp, err
}

func newLogCmd(g *globals) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Check the verifiable statement log: checkpoints, inclusion, consistency",
		Long: `trustd appends every accepted statement to an RFC 6962 Merkle tree and signs
checkpoints of it (signed notes, as Go's checksum database does). These
commands let anyone check that an entry is in the log and that the log only
ever grew: a server that rewrites history, or shows different users
different histories, is caught.

The log's key is pinned on first use (or with --log-key, or as trustd/keys
publishes it with --trust-root) in a state file that also remembers the
newest checkpoint seen. When trustd rotates its log key, its checkpoints
announce the new key and carry the signatures of both; a checkpoint the
pinned key signed moves the pin to the key it announces. With --witness
(repeatable) and --witness-threshold K, a checkpoint must also carry the
cosignatures (C2SP tlog-cosignature) of at least K of the named witnesses,
which trustd gathers when run with --witness: a log cannot show you a
history those witnesses did not see. Exit code 1 means the check failed:
the log is not what it claims, or too few witnesses vouch for it.`,
	}
	f.register(cmd)
	cmd.AddCommand(newLogCheckpointCmd(g, &f), newLogVerifyInclusionCmd(g, &f), newLogWatchCmd(g, &f))
	return cmd
}

func newLogCheckpointCmd(g *globals, f *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the log's latest signed checkpoint, after checking its signature",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, path, err := f.load(g.server)
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				signed, cp, err := latestCheckpoint(ctx, cmd, c, &st, f)
				if err != nil {
					return err
				}
				if err := f.save(path, st); err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), map[string]any{"origin": cp.Origin, "size": cp.Size, "root_hash": cp.Hash, "note": string(signed)})
				}
				_, err = cmd.OutOrStdout().Write(signed)
				return err
			})
		},
	}
}

func newLogVerifyInclusionCmd(g *globals, f *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify-inclusion SEQ",
		Short: "Check that entry SEQ, as served, is in the log under a signed checkpoint",
		Long: `verify-inclusion fetches entry SEQ and an inclusion proof, checks the
checkpoint's signature with the pinned log key, hashes the entry's envelope
itself and checks the proof against the checkpoint's root. A server that
altered the stored entry, or serves a proof that does not hold, fails
with exit code 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			st, path, err := f.load(g.server)
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				if _, _, err := latestCheckpoint(ctx, cmd, c, &st, f); err != nil {
					return err
				}
				if err := f.save(path, st); err != nil {
					return err
				}
				entry, err := c.Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq})
				if err != nil {
					return err
				}
				proof, err := c.Log.GetInclusionProof(ctx, &trustv1.GetInclusionProofRequest{Seq: seq})
				if err != nil {
					return err
				}
				cp, err := tlog.OpenCheckpoint(proof.GetCheckpoint(), st.VerifierKey)
				if err != nil {
					return cliutil.Negative(fmt.Errorf("checkpoint: %w", err))
				}
				if cp.Size != proof.GetTreeSize() {
					return cliutil.Negative(fmt.Errorf("proof is for tree size %d but the checkpoint signs size %d", proof.GetTreeSize(), cp.Size))
				}
				leaf := tlog.LeafHash(entry.GetEntry().GetEnvelope())
				if err := tlog.VerifyInclusion(leaf, seq-1, cp.Size, proof.GetHashes(), cp.Hash); err != nil {
					return cliutil.Negative(fmt.Errorf("entry %d is not in the log as served: %w", seq, err))
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), map[string]any{"seq": seq, "tree_size": cp.Size, "root_hash": cp.Hash, "verified": true})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "entry %d is in the log of size %d (checkpoint signed by %s)\n", seq, cp.Size, cp.Origin)
				return nil
			})
		},
	}
}

func newLogWatchCmd(g *globals, f *logFlags) *cobra.Command {
	var (
		once     bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow the log's checkpoints, checking each is consistent with the last",
		Long: `watch fetches the latest checkpoint, checks its signature with the pinned key,
and proves it consistent with the last checkpoint remembered in the state
file, then remembers the new one. A log that shrank, or forked (two
checkpoints that cannot both be true), fails with exit code 1. With --once it
checks once and exits; otherwise it polls every --interval until stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, path, err := f.load(g.server)
			if err != nil {
				return err
			}
			for {
				if err := g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
					return watchOnce(ctx, cmd, c, &st, f, path, g.output)
				}); err != nil {
					return err
				}
				if once {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "check once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between checks")
	return cmd
}

func watchOnce(ctx context.Context, cmd *cobra.Command, c *client.Client, st *logState, f *logFlags, path, output string) error {
	signed, next, err := latestCheckpoint(ctx, cmd, c, st, f)
	if err != nil {
		return err
	}
	verdict, err := advance(ctx, c, st, signed, next)
	if err != nil {
		return err
	}
	if err := saveState(path, *st); err != nil {
		return err
	}
	if output == "json" {
		return printJSON(cmd.OutOrStdout(), map[string]any{"size": next.Size, "root_hash": next.Hash, "verdict": verdict})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "size %d: %s\n", next.Size, verdict)
	return nil
}

// advance proves the checkpoint next (its signed note, already opened with
// the pinned key) consistent with the checkpoint st remembers, asking the
// log for a consistency proof when it grew, and remembers it; it says how
// it relates to the one before. A log that shrank or forked fails with
// exit code 1 (cliutil.Negative), and st is left as it was.
func advance(ctx context.Context, c *client.Client, st *logState, signed []byte, next tlog.Checkpoint) (string, error) {
	verdict := "first checkpoint"
	if st.Checkpoint != "" {
		prev, err := openRemembered(st)
		if err != nil {
			return "", fmt.Errorf("--state: remembered checkpoint: %w", err)
		}
		var proof [][]byte
		if prev.Size > 0 && prev.Size < next.Size {
			p, err := c.Log.GetConsistencyProof(ctx, &trustv1.GetConsistencyProofRequest{FromSize: prev.Size, ToSize: next.Size})
			if err != nil {
				return "", err
			}
			proof = p.GetHashes()
		}
		if err := tlog.CheckConsistent(prev, next, proof); err != nil {
			return "", cliutil.Negative(fmt.Errorf("log at %s is inconsistent with the checkpoint of size %d seen before: %w", st.Server, prev.Size, err))
		}
		verdict = fmt.Sprintf("consistent with size %d", prev.Size)
	}
	st.Checkpoint = string(signed)
	return verdict, nil
}

// followEvidence is what online verify does with the checkpoint its
// evidence was proven under (evidence.Verify opened it with the pinned key
// or followed a planned rotation from it): it moves the pin as
// latestCheckpoint would (trusting the key the evidence was proven under
// on first use, following a rotation), proves the checkpoint consistent
// with the one remembered (advance), and saves the state, so a later
// rollback or fork of the log is caught by the next verify or 'trustctl
// log watch'.
func followEvidence(ctx context.Context, cmd *cobra.Command, c *client.Client, st *logState, path string, cp *evidence.Checkpoint) error {
	if st.VerifierKey == "" {
		st.VerifierKey = cp.VerifierKey
		fmt.Fprintf(cmd.ErrOrStderr(), "trusting log key %s on first use\n", st.VerifierKey)
	}
	next, key, err := tlog.FollowCheckpoint(cp.Signed, st.VerifierKey)
	if err != nil {
		return cliutil.Negative(fmt.Errorf("evidence checkpoint: %w", err))
	}
	if key != st.VerifierKey {
		fmt.Fprintf(cmd.ErrOrStderr(), "log key rotated: the checkpoint of size %d, signed by the pinned key %s, announces %s; trusting it from now on\n", next.Size, st.VerifierKey, key)
		st.RetiredKeys = append(st.RetiredKeys, st.VerifierKey)
		if n := len(st.RetiredKeys); n > maxRetiredKeys {
			st.RetiredKeys = st.RetiredKeys[n-maxRetiredKeys:]
		}
		st.VerifierKey = key
	}
	if older, err := olderPrefix(ctx, c, st, next); err != nil {
		return err
	} else if older {
		// Evidence proven under an older tree that the remembered one
		// extends (a replica behind the one seen before): it stands, and
		// the newer checkpoint stays remembered (a followed key moves).
		return saveState(path, *st)
	}
	if _, err := advance(ctx, c, st, cp.Signed, next); err != nil {
		return err
	}
	return saveState(path, *st)
}

// olderPrefix reports whether checkpoint next is smaller than the one st
// remembers and the log proves the remembered tree extends it. A smaller
// tree the log cannot prove so (entries lost: a rollback) fails with exit
// code 1 (cliutil.Negative); an unreachable server is an error of its own.
func olderPrefix(ctx context.Context, c *client.Client, st *logState, next tlog.Checkpoint) (bool, error) {
	if st.Checkpoint == "" {
		return false, nil
	}
	prev, err := openRemembered(st)
	if err != nil {
		return false, fmt.Errorf("--log-state: remembered checkpoint: %w", err)
	}
	if next.Size >= prev.Size {
		return false, nil
	}
	inconsistent := func(err error) error {
		return cliutil.Negative(fmt.Errorf("log at %s is inconsistent with the checkpoint of size %d seen before: the evidence is proven under size %d, which the log cannot prove the larger tree extends: %w",
			st.Server, prev.Size, next.Size, err))
	}
	p, err := c.Log.GetConsistencyProof(ctx, &trustv1.GetConsistencyProofRequest{FromSize: next.Size, ToSize: prev.Size})
	switch status.Code(err) {
	case codes.OK:
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return false, err
	default:
		return false, inconsistent(err)
	}
	if p.GetToSize() != prev.Size {
		return false, inconsistent(fmt.Errorf("the log proves consistency up to size %d only", p.GetToSize()))
	}
	if err := tlog.CheckConsistent(next, prev, p.GetHashes()); err != nil {
		return false, inconsistent(err)
	}
	return true, nil
}
