package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tlog"
)

// TestLogStateAcrossRotation: after following a rotation, the state still
// opens the checkpoint it remembered under the old key, and --log-key may
// still name the old key (the state followed from it); any other key is
// refused.
func TestLogStateAcrossRotation(t *testing.T) {
	oldSKey, oldVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	_, newVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	_, otherVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	remembered, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: "test-log", Size: 0, Hash: tlog.EmptyRoot()}, oldSKey)
	if err != nil {
		t.Fatal(err)
	}
	st := logState{Server: "s", VerifierKey: newVKey, Checkpoint: string(remembered), RetiredKeys: []string{otherVKey, oldVKey}}
	if cp, err := openRemembered(&st); err != nil || cp.Size != 0 {
		t.Errorf("openRemembered: %+v, %v", cp, err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := saveState(path, st); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{oldVKey, otherVKey, newVKey, ""} {
		f := logFlags{state: path, key: key}
		got, _, err := f.load("s")
		if err != nil || got.VerifierKey != newVKey || f.changed {
			t.Errorf("--log-key %q: %+v, %v, changed %v; want the followed key kept", key, got, err, f.changed)
		}
	}
	_, strangerVKey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	f := logFlags{state: path, key: strangerVKey}
	if _, _, err := f.load("s"); err == nil || !strings.Contains(err.Error(), "differs from the key pinned") {
		t.Errorf("--log-key of a key never pinned: %v", err)
	}
	st.RetiredKeys = nil
	if _, err := openRemembered(&st); err == nil {
		t.Error("openRemembered without the key that signed the checkpoint succeeded")
	}
}

// treeLog is a log of n leaves in memory answering consistency proofs as
// trustd does (OutOfRange beyond its size); only GetConsistencyProof is
// used by followEvidence.
type treeLog struct {
	trustv1.LogServiceClient
	nodes *tlog.MemNodes
	size  uint64
}

func (l *treeLog) GetConsistencyProof(ctx context.Context, in *trustv1.GetConsistencyProofRequest, _ ...grpc.CallOption) (*trustv1.GetConsistencyProofResponse, error) {
	if in.GetToSize() > l.size || in.GetFromSize() > in.GetToSize() {
		return nil, status.Errorf(codes.OutOfRange, "to_size %d: beyond the log (size %d)", in.GetToSize(), l.size)
	}
	p, err := tlog.ConsistencyProof(ctx, l.nodes, in.GetFromSize(), in.GetToSize())
	if err != nil {
		return nil, err
	}
	return &trustv1.GetConsistencyProofResponse{FromSize: in.GetFromSize(), ToSize: in.GetToSize(), Hashes: p}, nil
}

// newTreeLog appends n leaves named prefix-i and returns the log and its
// checkpoint at each size, signed with skey.
func newTreeLog(t *testing.T, skey, prefix string, n int) (*treeLog, map[uint64][]byte) {
	t.Helper()
	ctx := context.Background()
	l := &treeLog{nodes: &tlog.MemNodes{}}
	cps := map[uint64][]byte{}
	for i := range n {
		root, err := tlog.Append(ctx, l.nodes, l.size, tlog.LeafHash(fmt.Appendf(nil, "%s-%d", prefix, i)))
		if err != nil {
			t.Fatal(err)
		}
		l.size++
		if cps[l.size], err = tlog.SignCheckpoint(tlog.Checkpoint{Origin: "test-log", Size: l.size, Hash: root}, skey); err != nil {
			t.Fatal(err)
		}
	}
	return l, cps
}

// TestFollowEvidence: online verify remembers the checkpoint its evidence
// was proven under when it extends the one remembered, keeps the
// remembered one when the evidence comes from a tree the remembered one
// extends (a replica behind), and refuses with exit code 1 a tree that
// shrank without the log proving it a prefix (rollback), a fork of the
// same size and a larger tree that does not extend the remembered one.
func TestFollowEvidence(t *testing.T) {
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	log, cps := newTreeLog(t, skey, "a", 6)
	_, forked := newTreeLog(t, skey, "b", 6)
	rolledBack := &treeLog{nodes: log.nodes, size: 3}
	for _, tc := range []struct {
		name       string
		log        *treeLog
		remembered []byte
		evidence   []byte
		refused    bool
		want       []byte // the checkpoint remembered afterwards
	}{
		{"first checkpoint", log, nil, cps[4], false, cps[4]},
		{"the log grew", log, cps[4], cps[6], false, cps[6]},
		{"the same checkpoint", log, cps[6], cps[6], false, cps[6]},
		{"a replica behind", log, cps[6], cps[3], false, cps[6]},
		{"rolled back", rolledBack, cps[6], cps[3], true, cps[6]},
		{"forked, same size", log, cps[4], forked[4], true, cps[4]},
		{"forked, larger", log, cps[3], forked[5], true, cps[3]},
		{"forked, smaller", log, cps[5], forked[3], true, cps[5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			st := logState{Server: "s", VerifierKey: vkey, Checkpoint: string(tc.remembered)}
			if err := saveState(path, st); err != nil {
				t.Fatal(err)
			}
			cp, err := tlog.OpenCheckpoint(tc.evidence, vkey)
			if err != nil {
				t.Fatal(err)
			}
			cmd := &cobra.Command{}
			cmd.SetErr(io.Discard)
			err = followEvidence(context.Background(), cmd, &client.Client{Log: tc.log}, &st, path, &evidence.Checkpoint{Signed: tc.evidence, VerifierKey: vkey, Size: cp.Size})
			var exit *cliutil.ExitError
			if refused := errors.As(err, &exit) && exit.Code == cliutil.ExitNegative; refused != tc.refused || (!tc.refused && err != nil) {
				t.Fatalf("followEvidence = %v, want refused %v", err, tc.refused)
			}
			f := logFlags{state: path}
			saved, _, err := f.load("s")
			if err != nil {
				t.Fatal(err)
			}
			if saved.Checkpoint != string(tc.want) {
				t.Errorf("remembered %q, want %q", saved.Checkpoint, tc.want)
			}
		})
	}
}
