package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/witness"
)

// tokenLog gives issued tokens their log proof (token.Claims.Log): the
// checkpoint trustd serves, with its witnesses' cosignatures, and each log
// input's inclusion proof in it, so an offline verifier can require k of
// n witnesses with no network.
type tokenLog struct {
	log       *statement.Log
	store     store.Reader
	witnesses *witness.Pusher // nil without witnesses
}

// proof returns the log proof of inputs, the inputs of a token whose
// evidence is bundle; nil when trustd has no log. The checkpoint is the
// one last pushed to the witnesses, with their cosignatures, when its tree
// holds every log input; otherwise (an input logged since the last
// witness round, or no witnesses) the latest, with whatever cosignatures
// are stored for its size. Inputs naming a log entry (policy.Input's
// Statement) are proven when the entry is in the bundle or, for
// trustd:log/N, in the log; the leaf hash is the entry's RFC 6962 hash.
func (t *tokenLog) proof(ctx context.Context, bundle *evidence.Bundle, inputs []token.Input) (*token.LogProof, error) {
	if t == nil || t.log == nil {
		return nil, nil
	}
	byDigest := map[string]*evidence.Entry{}
	for i := range bundle.Entries {
		byDigest[bundle.Entries[i].EnvelopeDigest().String()] = &bundle.Entries[i]
	}
	type leaf struct {
		uri  string
		seq  uint64
		hash []byte
	}
	var leaves []leaf
	var maxSeq uint64
	for _, in := range inputs {
		if len(leaves) == token.MaxLogInclusions {
			break
		}
		if _, ok := (policy.Input{URI: in.URI, Digest: in.Digest}).Statement(); !ok {
			continue
		}
		seq, isLog := inputSeq(in.URI)
		var env []byte
		if e, ok := byDigest[in.Digest.String()]; ok && (!isLog || e.Seq == seq) {
			seq, env = e.Seq, e.Envelope
		} else if isLog {
			rec, err := t.log.Get(ctx, int64(seq))
			if err != nil {
				return nil, fmt.Errorf("token: log proof of %s: %w", in.URI, err)
			}
			env = rec.Envelope
		} else {
			continue
		}
		if (evidence.Entry{Envelope: env}).EnvelopeDigest() != in.Digest {
			return nil, fmt.Errorf("token: log proof of %s: the logged entry is not the one the input names (%s)", in.URI, in.Digest)
		}
		if slices.ContainsFunc(leaves, func(l leaf) bool { return l.uri == in.URI }) {
			continue
		}
		leaves = append(leaves, leaf{uri: in.URI, seq: seq, hash: tlog.LeafHash(env)})
		maxSeq = max(maxSeq, seq)
	}
	signed, size, err := witness.Cosigned(ctx, t.witnesses, t.log, t.store, 0)
	if err == nil && size < maxSeq {
		signed, size, err = witness.Cosigned(ctx, nil, t.log, t.store, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("token: checkpoint: %w", err)
	}
	if size < maxSeq {
		return nil, fmt.Errorf("token: checkpoint of size %d does not hold input entry %d", size, maxSeq)
	}
	p := &token.LogProof{Checkpoint: signed}
	if len(leaves) == 0 {
		return p, nil
	}
	seqs := make([]int64, len(leaves))
	for i, l := range leaves {
		seqs[i] = int64(l.seq)
	}
	proofs, err := t.log.InclusionProofsAt(ctx, seqs, size)
	if err != nil {
		return nil, fmt.Errorf("token: log proofs: %w", err)
	}
	for i, l := range leaves {
		p.Inclusions = append(p.Inclusions, token.Inclusion{URI: l.uri, LeafIndex: l.seq - 1, LeafHash: l.hash, Hashes: proofs[i]})
	}
	return p, nil
}

// inputSeq returns N of a "trustd:log/N" input URI.
func inputSeq(uri string) (uint64, bool) {
	s, ok := strings.CutPrefix(uri, "trustd:log/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}
