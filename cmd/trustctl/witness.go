package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tlog"
)

// witnessFlags require k of n named witnesses' cosignatures (C2SP
// tlog-cosignature) on the log's checkpoints: a log that shows this client
// a history those witnesses did not see fails.
type witnessFlags struct {
	keys      []string
	threshold int
}

func (w *witnessFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&w.keys, "witness", nil, "require cosignatures by this witness: its cosignature/v1 verifier key (name+hash+key); repeatable; default none")
	fs.IntVar(&w.threshold, "witness-threshold", 0, "how many of the --witness witnesses must have cosigned the checkpoint (default: all of them)")
}

// check validates the flags.
func (w *witnessFlags) check() error {
	if len(w.keys) == 0 {
		if w.threshold != 0 {
			return errors.New("--witness-threshold: name the witnesses with --witness")
		}
		return nil
	}
	for _, k := range w.keys {
		if _, err := tlog.ParseWitnessKey(k); err != nil {
			return fmt.Errorf("--witness: %w", err)
		}
	}
	if w.threshold < 0 || w.threshold > len(w.keys) {
		return fmt.Errorf("--witness-threshold: %d, want 1 to the number of --witness keys (%d)", w.threshold, len(w.keys))
	}
	return nil
}

// require checks that the signed checkpoint carries the cosignatures the
// flags require; a shortfall is a negative answer (exit 1) naming the
// witnesses missing.
func (w *witnessFlags) require(signed []byte) error {
	if len(w.keys) == 0 {
		return nil
	}
	k := w.threshold
	if k == 0 {
		k = len(w.keys)
	}
	if _, err := tlog.RequireWitnesses(signed, w.keys, k); err != nil {
		return cliutil.Negative(fmt.Errorf("checkpoint: %w", err))
	}
	return nil
}

// requireWitnessed checks that evidence proven under the checkpoint cp
// (opened with the pinned key) is vouched for by the witnesses: the
// latest checkpoint trustd serves (the one last pushed to its witnesses)
// must carry their cosignatures and extend cp, proven by a consistency
// proof. Evidence proven under a tree newer than the witnesses cosigned
// fails, saying so: trustd pushes a new checkpoint every
// --witness-interval.
func (w *witnessFlags) requireWitnessed(ctx context.Context, c *client.Client, logKey string, cp tlog.Checkpoint) error {
	if len(w.keys) == 0 {
		return nil
	}
	resp, err := c.Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
	if err != nil {
		return err
	}
	if logKey == "" {
		logKey = resp.GetVerifierKey()
	}
	wcp, _, err := tlog.FollowCheckpoint(resp.GetCheckpoint(), logKey)
	if err != nil {
		return cliutil.Negative(fmt.Errorf("witnessed checkpoint: %w", err))
	}
	if err := w.require(resp.GetCheckpoint()); err != nil {
		return err
	}
	if cp.Size > wcp.Size {
		return cliutil.Negative(fmt.Errorf("%w: the evidence is proven under the log of size %d, newer than the newest checkpoint the witnesses cosigned (size %d); try again after trustd's next witness round", tlog.ErrWitnessQuorum, cp.Size, wcp.Size))
	}
	var proof [][]byte
	if cp.Size > 0 && cp.Size < wcp.Size {
		p, err := c.Log.GetConsistencyProof(ctx, &trustv1.GetConsistencyProofRequest{FromSize: cp.Size, ToSize: wcp.Size})
		if err != nil {
			return err
		}
		proof = p.GetHashes()
	}
	if err := tlog.CheckConsistent(cp, wcp, proof); err != nil {
		return cliutil.Negative(fmt.Errorf("the evidence's checkpoint of size %d is not part of the history the witnesses cosigned (size %d): %w", cp.Size, wcp.Size, err))
	}
	return nil
}
