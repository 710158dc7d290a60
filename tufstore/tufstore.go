// Package tufstore implements tuf.State on a trustd store: published TUF
// metadata and pending proposals live in the store's TUF tables, and every
// published file and every stored state of a pending proposal (each new
// signature of a ceremony) is appended to the verifiable statement log in
// the same transaction, so a metadata version is never served without its
// log entry nor logged without being published, and who signed what when is
// auditable.
//
// Each published file becomes one log entry whose leaf is the metadata
// bytes verbatim (payload type PayloadType, predicate type PredicateType),
// signed by the key ids of its signatures (the tuf package verified every
// one before publishing). A targets role's entry lists, as subjects, every
// target it adds or changes relative to the role's previous version, with
// its sha256 and sha512 digests, so a lookup of either digest shows the
// entry as evidence and the two digests are linked by an alias claim whose
// provenance is that entry.
package tufstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
)

// Log entry types of published TUF metadata.
const (
	// PayloadType is the payload type of a TUF metadata log entry.
	PayloadType = recordtype.TUFPayloadType
	// PredicateType is the predicate type of a TUF metadata log entry.
	PredicateType = recordtype.TUFMetadata
	// PendingPredicateType is the predicate type of the log entry of a
	// pending proposal (under-signed metadata collecting signatures), logged
	// each time it is stored or gains signatures.
	PendingPredicateType = recordtype.TUFPending
)

// Descriptor is the payload stored beside a TUF metadata log entry: which
// repository, role and version its bytes are (the metadata itself does not
// name its repository). It is not part of the signed leaf.
type Descriptor struct {
	Repo    string `json:"repo"`
	Role    string `json:"role"`
	Version int64  `json:"version"`
	Pending bool   `json:"pending,omitempty"` // a proposal, not published metadata
}

// ErrNotTUF is returned by Describe for a log entry that holds no TUF
// metadata.
var ErrNotTUF = errors.New("not a TUF metadata log entry")

// Describe tells which repository, role and version the TUF metadata in log
// entry e is (published or pending), from the descriptor stored beside it.
func Describe(e store.Statement) (Descriptor, error) {
	if e.PayloadType != PayloadType || (e.PredicateType != PredicateType && e.PredicateType != PendingPredicateType) {
		return Descriptor{}, fmt.Errorf("tufstore: log entry %d (%s): %w", e.Seq, e.PredicateType, ErrNotTUF)
	}
	var d Descriptor
	if err := json.Unmarshal(e.Payload, &d); err != nil || d.Repo == "" || d.Role == "" || d.Version < 1 {
		return Descriptor{}, fmt.Errorf("tufstore: log entry %d: descriptor %q: %w", e.Seq, e.Payload, ErrNotTUF)
	}
	return d, nil
}

// State is a tuf.State on a store.Store that logs every publish.
type State struct {
	st  store.Store
	log *statement.Log
}

var _ tuf.State = (*State)(nil)

// New returns a State over st appending published files to log.
func New(st store.Store, log *statement.Log) (*State, error) {
	if st == nil || log == nil {
		return nil, errors.New("tufstore: a store and a statement log are required")
	}
	return &State{st: st, log: log}, nil
}

// Repos returns every repository's name, for the background refresher.
func (s *State) Repos(ctx context.Context) ([]string, error) {
	repos, err := s.st.TUFRepos(ctx)
	if err != nil {
		return nil, fmt.Errorf("tufstore: list repositories: %w", err)
	}
	return repos, nil
}

// Get implements tuf.State.
func (s *State) Get(ctx context.Context, repo, role string, version int64) ([]byte, error) {
	data, err := s.st.TUFMetadata(ctx, repo, role, version)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get %s %s v%d", repo, role, version), err)
	}
	return data, nil
}

// Pending implements tuf.State.
func (s *State) Pending(ctx context.Context, repo string) ([]tuf.Pending, error) {
	ps, err := s.st.TUFPending(ctx, repo)
	if err != nil {
		return nil, mapErr("pending "+repo, err)
	}
	out := make([]tuf.Pending, len(ps))
	for i, p := range ps {
		out[i] = tuf.Pending{Role: p.Role, Version: p.Version, Digest: p.Digest, Data: p.Data}
		if p.Digest == "" {
			// Stored before proposals were keyed by digest: compute it; the
			// next update of the proposal stores it.
			if out[i].Digest, err = tuf.ProposalDigest(p.Data); err != nil {
				return nil, fmt.Errorf("tufstore: pending %s %s v%d: %w", repo, p.Role, p.Version, err)
			}
		}
	}
	return out, nil
}

// Apply implements tuf.State: the TUF writes and the log entries of every
// published file in one transaction.
func (s *State) Apply(ctx context.Context, c tuf.Change) error {
	err := s.st.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if len(c.Publish) == 0 {
			if _, err := w.TUFMetadata(ctx, c.Repo, metadata.ROOT, 1); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("repository %q: %w", c.Repo, tuf.ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		for _, k := range c.DropPending {
			if err := w.DropTUFPending(ctx, c.Repo, k.Role, k.Version); err != nil {
				return err
			}
		}
		for _, p := range c.PutPending {
			if err := w.PutTUFPending(ctx, c.Repo, store.TUFPending{Role: p.Role, Version: p.Version, Digest: p.Digest, Data: p.Data}, p.Expect); err != nil {
				return err
			}
		}
		recs, err := PendingRecords(c.Repo, c.PutPending)
		if err != nil {
			return err
		}
		if len(c.Publish) > 0 {
			files := make([]store.TUFFile, len(c.Publish))
			for i, f := range c.Publish {
				files[i] = store.TUFFile{Role: f.Role, Version: f.Version, Data: f.Data}
			}
			if err := w.PublishTUF(ctx, c.Repo, files); err != nil {
				return err
			}
			pub, err := Records(ctx, w, c.Repo, c.Publish)
			if err != nil {
				return err
			}
			recs = append(recs, pub...)
		}
		if len(recs) == 0 {
			return nil
		}
		_, _, err = s.log.AppendVerifiedIn(ctx, w, recs)
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tuf.ErrNotFound), errors.Is(err, store.ErrConflict):
		return mapErr("apply "+c.Repo, err)
	case errors.Is(err, store.ErrNotFound):
		// Something the publish relies on is missing (a log node): an
		// internal fault, not a missing repository or file.
		return fmt.Errorf("tufstore: apply %s: %v", c.Repo, err)
	}
	return fmt.Errorf("tufstore: apply %s: %w", c.Repo, err)
}

// mapErr turns store sentinels into the tuf ones the tuf package branches
// on; other errors (unavailable, invalid) keep their store sentinel.
func mapErr(op string, err error) error {
	switch {
	case errors.Is(err, tuf.ErrNotFound):
		return fmt.Errorf("tufstore: %s: %w", op, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("tufstore: %s: %w (%v)", op, tuf.ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("tufstore: %s: %w (%v)", op, tuf.ErrConflict, err)
	}
	return fmt.Errorf("tufstore: %s: %w", op, err)
}

// PendingRecords builds the log entries of pending proposals being stored:
// one per proposal, its bytes verbatim with every signature collected so far
// (each verified by the tuf package), predicate type PendingPredicateType and
// no subjects, since a proposal vouches for nothing until it is published.
// Together they record which key holder signed which proposal when.
func PendingRecords(repo string, ps []tuf.PendingWrite) ([]store.Statement, error) {
	recs := make([]store.Statement, 0, len(ps))
	for _, p := range ps {
		rec, _, err := record(repo, p.Role, p.Version, p.Data, true)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// record builds the log entry of one metadata document (published or
// pending) without subjects, and returns the parsed document.
func record(repo, role string, version int64, data []byte, pending bool) (store.Statement, *document, error) {
	desc, err := json.Marshal(Descriptor{Repo: repo, Role: role, Version: version, Pending: pending})
	if err != nil {
		return store.Statement{}, nil, fmt.Errorf("tufstore: %s %s v%d: %w", repo, role, version, err)
	}
	doc, err := parseDoc(data)
	if err != nil {
		return store.Statement{}, nil, fmt.Errorf("tufstore: %s %s v%d: %w", repo, role, version, err)
	}
	rec := store.Statement{PayloadType: PayloadType, PredicateType: PredicateType, Envelope: data, Payload: desc}
	if pending {
		rec.PredicateType = PendingPredicateType
	}
	seen := map[string]bool{}
	for _, sg := range doc.Signatures {
		if !seen[sg.KeyID] {
			seen[sg.KeyID] = true
			rec.SignerKeyIDs = append(rec.SignerKeyIDs, sg.KeyID)
		}
	}
	sort.Strings(rec.SignerKeyIDs)
	return rec, doc, nil
}

// Records builds the log entries of published files of repo: one per file,
// with the targets each targets role adds or changes relative to its
// previous version (read through r) as subjects.
func Records(ctx context.Context, r store.TUFReader, repo string, files []tuf.File) ([]store.Statement, error) {
	recs := make([]store.Statement, 0, len(files))
	for _, f := range files {
		rec, doc, err := record(repo, f.Role, f.Version, f.Data, false)
		if err != nil {
			return nil, err
		}
		if doc.Signed.Type == metadata.TARGETS {
			var old map[string]target
			if f.Version > 1 {
				raw, err := r.TUFMetadata(ctx, repo, f.Role, f.Version-1)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				if err == nil {
					prev, err := parseDoc(raw)
					if err != nil {
						return nil, fmt.Errorf("tufstore: %s %s v%d: %w", repo, f.Role, f.Version-1, err)
					}
					old = prev.Signed.Targets
				}
			}
			if rec.Subjects, err = changedTargets(old, doc.Signed.Targets); err != nil {
				return nil, fmt.Errorf("tufstore: %s %s v%d: %w", repo, f.Role, f.Version, err)
			}
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

type target struct {
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
}

type document struct {
	Signed struct {
		Type    string            `json:"_type"`
		Targets map[string]target `json:"targets"`
	} `json:"signed"`
	Signatures []struct {
		KeyID string `json:"keyid"`
	} `json:"signatures"`
}

func parseDoc(data []byte) (*document, error) {
	var d document
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse metadata: %w", err)
	}
	return &d, nil
}

// changedTargets lists the targets of cur that are new or differ from old
// (length or hashes), by name, each with its sha256 and sha512 digests.
func changedTargets(old, cur map[string]target) ([]store.StatementSubject, error) {
	names := make([]string, 0, len(cur))
	for name, t := range cur {
		if o, ok := old[name]; ok && sameTarget(o, t) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var out []store.StatementSubject
	for _, name := range names {
		subj := store.StatementSubject{Name: name}
		for _, alg := range tuf.TargetAlgorithms {
			h, ok := cur[name].Hashes[string(alg)]
			if !ok {
				continue
			}
			raw, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("target %q: hash %s: %w", name, alg, err)
			}
			d, err := digest.New(alg, raw)
			if err != nil {
				return nil, fmt.Errorf("target %q: %w", name, err)
			}
			subj.Digests = append(subj.Digests, d)
		}
		if len(subj.Digests) > 0 {
			out = append(out, subj)
		}
	}
	return out, nil
}

func sameTarget(a, b target) bool {
	if a.Length != b.Length || len(a.Hashes) != len(b.Hashes) {
		return false
	}
	for alg, h := range a.Hashes {
		if !strings.EqualFold(b.Hashes[alg], h) {
			return false
		}
	}
	return true
}
