package feedback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// ExportFormat identifies an export document (and the header line of the
// JSON lines form).
const ExportFormat = recordtype.FeedbackExport

// Export bounds.
const (
	DefaultExportPage = 500
	MaxExportPage     = 5000
	// MaxImportEntries bounds the entries of one export document.
	MaxImportEntries = 1_000_000
)

// Export is a page of an instance's feedback log entries, carried verbatim
// to another instance, with what proves where they come from: the
// exporting log's verifier key, a checkpoint it signed, and each entry's
// inclusion proof in that checkpoint's tree.
type Export struct {
	Format string `json:"format"`
	// Origin is the exporting log's name, for people reading the file. An
	// importer ignores it: it records VerifierKey and Checkpoint, which it
	// verified, never a name the file states.
	Origin string `json:"origin,omitempty"`
	// VerifierKey is the exporting log's note verifier key.
	VerifierKey string `json:"verifierKey"`
	// Checkpoint is a checkpoint of the exporting log signed by
	// VerifierKey (a signed note), whose tree holds every entry.
	Checkpoint string `json:"checkpoint"`
	// Since is the sequence number the export starts after; Next is the
	// last one included (0 when there was nothing to export).
	Since   int64         `json:"since"`
	Next    int64         `json:"next,omitempty"`
	Entries []ExportEntry `json:"entries,omitempty"`
}

// ExportEntry is one feedback log entry: its envelope bytes exactly as
// signed and stored (the log leaf), the proof that it is entry Seq of the
// checkpoint's tree, and the public keys of its signers the first time the
// export names them, so the importer can register them.
type ExportEntry struct {
	Seq            int64         `json:"seq"`
	PredicateType  string        `json:"predicateType"`
	Envelope       []byte        `json:"envelope"`
	InclusionProof [][]byte      `json:"inclusionProof"`
	Keys           []ExportedKey `json:"keys,omitempty"`
}

// ExportedKey is a registered key as the registry stores it.
type ExportedKey struct {
	ID        string `json:"id"`
	PublicKey []byte `json:"publicKey"`
}

// Origin returns the origin line of a note verifier key ("origin+hash+key").
func Origin(verifierKey string) string {
	o, _, _ := strings.Cut(verifierKey, "+")
	return o
}

// Export returns up to limit feedback entries of l with sequence numbers
// above since, oldest first, from the log's tree of size treeSize (0: the
// latest), with a checkpoint of that tree and each entry's inclusion proof
// in it. Pages of one export ask for the same tree size, so one checkpoint
// covers them all.
func (s *Service) Export(ctx context.Context, l *statement.Log, since int64, limit int, treeSize uint64) (Export, error) {
	if since < 0 {
		return Export{}, inputerr.New("feedback: export", "since", ErrInvalidQuery, "negative")
	}
	if limit <= 0 {
		limit = DefaultExportPage
	}
	limit = min(limit, MaxExportPage)
	cp, size, err := l.Checkpoint(ctx, treeSize)
	if err != nil {
		return Export{}, fmt.Errorf("feedback: export: %w", err)
	}
	doc := Export{Format: ExportFormat, Origin: Origin(l.VerifierKey()), VerifierKey: l.VerifierKey(), Checkpoint: string(cp), Since: since}
	var all []store.Statement
	for _, pt := range PredicateTypes {
		sts, err := s.store.StatementsByPredicate(ctx, pt, since, limit)
		if err != nil {
			return Export{}, fmt.Errorf("feedback: export: %w", err)
		}
		for _, st := range sts {
			if uint64(st.Seq) <= size {
				all = append(all, st)
			}
		}
	}
	slices.SortFunc(all, func(a, b store.Statement) int { return int(a.Seq - b.Seq) })
	if len(all) > limit {
		all = all[:limit]
	}
	sent := map[string]bool{}
	for _, st := range all {
		if !recordtype.Genuine(st.PayloadType, st.PredicateType) {
			// Not a DSSE envelope that went through Submit (a row an older
			// trustd let in by another path): not feedback to pass on.
			doc.Next = st.Seq
			continue
		}
		proof, err := tlog.InclusionProof(ctx, s.store, uint64(st.Seq-1), size)
		if err != nil {
			return Export{}, fmt.Errorf("feedback: export: entry %d: inclusion proof: %w", st.Seq, err)
		}
		e := ExportEntry{Seq: st.Seq, PredicateType: st.PredicateType, Envelope: st.Envelope, InclusionProof: proof}
		ids := st.SignerKeyIDs
		if st.PredicateType == TrustPredicateType {
			// The trusted key must be registered for the statement to verify
			// at the importer.
			raw, err := predicateOf(st)
			if err != nil {
				return Export{}, err
			}
			p, err := ParseTrust(raw)
			if err != nil {
				return Export{}, fmt.Errorf("feedback: export: entry %d: %w", st.Seq, err)
			}
			ids = append(slices.Clone(ids), p.KeyID)
		}
		for _, id := range ids {
			if sent[id] {
				continue
			}
			k, err := s.store.Key(ctx, id)
			if err != nil {
				return Export{}, fmt.Errorf("feedback: export: key %s of entry %d: %w", id, st.Seq, err)
			}
			sent[id] = true
			e.Keys = append(e.Keys, ExportedKey{ID: k.ID, PublicKey: k.PublicKey})
		}
		doc.Entries = append(doc.Entries, e)
		doc.Next = st.Seq
	}
	return doc, nil
}

// WriteJSON writes doc as one JSON document.
func WriteJSON(w io.Writer, doc Export) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteJSONLines writes doc as JSON lines: a header (the document without
// entries), then one entry per line.
func WriteJSONLines(w io.Writer, doc Export) error {
	enc := json.NewEncoder(w)
	entries := doc.Entries
	doc.Entries = nil
	if err := enc.Encode(doc); err != nil {
		return err
	}
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

const opParseExport = "feedback: parse export"

// ParseExport reads an export in either form WriteJSON and WriteJSONLines
// write, reading at most limit bytes, and checks its shape.
func ParseExport(r io.Reader, limit int64) (Export, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Export{}, fmt.Errorf("%s: %w", opParseExport, err)
	}
	if int64(len(data)) > limit {
		return Export{}, inputerr.New(opParseExport, "", ErrInvalidExport, fmt.Sprintf("more than %d bytes", limit))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Export
	if err := dec.Decode(&doc); err != nil {
		return Export{}, inputerr.Wrap(opParseExport, "", ErrInvalidExport, "not an export document or header", err)
	}
	for i := 0; dec.More(); i++ {
		if len(doc.Entries) >= MaxImportEntries {
			return Export{}, inputerr.New(opParseExport, "entries", ErrInvalidExport, fmt.Sprintf("more than %d entries", MaxImportEntries))
		}
		var e ExportEntry
		if err := dec.Decode(&e); err != nil {
			return Export{}, inputerr.Wrap(opParseExport, fmt.Sprintf("line %d", i+2), ErrInvalidExport, "not an export entry", err)
		}
		doc.Entries = append(doc.Entries, e)
	}
	if err := doc.Check(); err != nil {
		return Export{}, err
	}
	return doc, nil
}

// maxProofHashes bounds an inclusion proof: one hash per tree level.
const maxProofHashes = 64

// Check verifies the shape of doc (not its signatures, checkpoint or
// proofs: Import does).
func (doc Export) Check() error {
	bad := func(field, reason string) error { return inputerr.New(opParseExport, field, ErrInvalidExport, reason) }
	switch {
	case doc.Format != ExportFormat:
		return bad("format", fmt.Sprintf("%q is not %s", doc.Format, ExportFormat))
	case len(doc.Origin) > 256:
		return bad("origin", "at most 256 characters")
	case doc.VerifierKey == "" || len(doc.VerifierKey) > 1024:
		return bad("verifierKey", "required: the exporting log's note verifier key, at most 1024 characters")
	case doc.Checkpoint == "" || len(doc.Checkpoint) > tlog.MaxCheckpointSize:
		return bad("checkpoint", fmt.Sprintf("required: a checkpoint signed by verifierKey, at most %d bytes", tlog.MaxCheckpointSize))
	case len(doc.Entries) > MaxImportEntries:
		return bad("entries", fmt.Sprintf("more than %d entries", MaxImportEntries))
	}
	for i, e := range doc.Entries {
		f := fmt.Sprintf("entries[%d]", i)
		switch {
		case e.Seq <= 0:
			return bad(f+".seq", "must be positive")
		case !slices.Contains(PredicateTypes, e.PredicateType):
			return bad(f+".predicateType", fmt.Sprintf("%q is not a feedback predicate type", e.PredicateType))
		case len(e.Envelope) == 0:
			return bad(f+".envelope", "required")
		case len(e.InclusionProof) > maxProofHashes:
			return bad(f+".inclusionProof", fmt.Sprintf("more than %d hashes", maxProofHashes))
		}
		for j, k := range e.Keys {
			if k.ID == "" || len(k.PublicKey) == 0 {
				return bad(fmt.Sprintf("%s.keys[%d]", f, j), "id and publicKey are required")
			}
		}
	}
	return nil
}

// ImportResult counts what an import did.
type ImportResult struct {
	// Imported entries were new here; Present ones were already in the
	// log (their provenance is recorded all the same).
	Imported, Present int
	// Skipped are responses whose signer published nothing here about
	// their subject (the publisher's own evidence was not imported), with
	// the first such reason in SkipReason.
	Skipped    int
	SkipReason string
}

// Import verifies where doc comes from and appends its entries. It
// opens the checkpoint with the verifier key the export names and checks
// every entry's inclusion proof in that checkpoint's tree, so the entries
// are provably entries of the log whose key it is (refused with
// ErrInvalidExport, and tlog.ErrBadCheckpoint for a checkpoint that key
// did not sign, before anything is stored). It then registers the keys the
// export carries and appends each entry through l.Submit: the same checks
// as any submission, the signer's rate limit included (imported entries
// count against it as direct ones do). Entries already in the log are not
// submitted again. Each entry's provenance is the verified key, the
// checkpoint's size and root hash, and its sequence number there; a name
// the file states is never recorded. Import is idempotent. Responses whose
// signer is not known here as a publisher of their subject are skipped
// and counted; any other failure stops the import, naming the entry;
// entries before it stay imported.
func (s *Service) Import(ctx context.Context, l *statement.Log, doc Export) (ImportResult, error) {
	var res ImportResult
	if err := doc.Check(); err != nil {
		return res, err
	}
	cp, err := doc.verify()
	if err != nil {
		return res, err
	}
	source := keyName(doc.VerifierKey)
	reg := keys.NewRegistry(s.store)
	for i, e := range doc.Entries {
		for j, k := range e.Keys {
			// No label: a label names a key uniquely, and the origin
			// the export claims is recorded as the entries' provenance.
			got, _, err := reg.Add(ctx, k.PublicKey, "")
			if err != nil {
				return res, fmt.Errorf("feedback: import: entries[%d].keys[%d]: %w", i, j, err)
			}
			if got.ID != k.ID {
				return res, inputerr.New("feedback: import", fmt.Sprintf("entries[%d].keys[%d].id", i, j), ErrInvalidExport,
					fmt.Sprintf("%s is not the id of the key given (%s)", k.ID, got.ID))
			}
		}
		if err := checkEnvelopeType(e.Envelope, e.PredicateType); err != nil {
			return res, fmt.Errorf("feedback: import: entries[%d]: %w", i, err)
		}
		seq, created, err := s.submitOnce(ctx, l, e.Envelope)
		if errors.Is(err, ErrNotPublisher) {
			if res.Skipped++; res.SkipReason == "" {
				res.SkipReason = fmt.Sprintf("entries[%d]: %v", i, err)
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("feedback: import: entries[%d] (seq %d of log %s): %w", i, e.Seq, source, err)
		}
		err = s.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
			return w.AddFeedbackProvenance(ctx, store.FeedbackProvenance{Seq: seq, VerifierKey: doc.VerifierKey,
				CheckpointSize: cp.Size, CheckpointHash: cp.Hash, SourceSeq: e.Seq})
		})
		if err != nil {
			return res, fmt.Errorf("feedback: import: entries[%d]: provenance: %w", i, err)
		}
		if created {
			res.Imported++
		} else {
			res.Present++
		}
	}
	return res, nil
}

// submitOnce submits raw unless its envelope is already in the log, and
// returns its sequence number and whether it is new.
func (s *Service) submitOnce(ctx context.Context, l *statement.Log, raw []byte) (int64, bool, error) {
	sum := sha256.Sum256(raw)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		return 0, false, err
	}
	switch seq, err := s.store.StatementSeqByEnvelope(ctx, d); {
	case err == nil:
		return seq, false, nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, false, err
	}
	rec, created, err := l.Submit(ctx, raw)
	return rec.Seq, created, err
}

// verify opens doc's checkpoint with its verifier key and checks every
// entry's inclusion proof in the checkpoint's tree.
func (doc Export) verify() (tlog.Checkpoint, error) {
	const op = "feedback: import"
	if _, err := note.NewVerifier(doc.VerifierKey); err != nil {
		return tlog.Checkpoint{}, inputerr.Wrap(op, "verifierKey", ErrInvalidExport, "not a note verifier key", err)
	}
	cp, err := tlog.OpenCheckpoint([]byte(doc.Checkpoint), doc.VerifierKey)
	if err != nil {
		return tlog.Checkpoint{}, inputerr.Wrap(op, "checkpoint", ErrInvalidExport,
			fmt.Sprintf("not a checkpoint signed by verifierKey %s", keyName(doc.VerifierKey)), err)
	}
	for i, e := range doc.Entries {
		f := fmt.Sprintf("entries[%d]", i)
		if uint64(e.Seq) > cp.Size {
			return tlog.Checkpoint{}, inputerr.New(op, f+".seq", ErrInvalidExport,
				fmt.Sprintf("%d is beyond the checkpoint's tree of %d entries", e.Seq, cp.Size))
		}
		if len(e.InclusionProof) == 0 && cp.Size > 1 {
			return tlog.Checkpoint{}, inputerr.New(op, f+".inclusionProof", ErrInvalidExport, "required: the entry's inclusion proof in the checkpoint's tree")
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(e.Envelope), uint64(e.Seq-1), cp.Size, e.InclusionProof, cp.Hash); err != nil {
			return tlog.Checkpoint{}, inputerr.Wrap(op, f, ErrInvalidExport,
				fmt.Sprintf("the envelope is not entry %d of the checkpoint's tree", e.Seq), err)
		}
	}
	return cp, nil
}

// keyName is the "origin+hash" name of a note verifier key, which
// identifies the key (the hash covers the key), for messages and labels.
func keyName(vkey string) string {
	origin, rest, _ := strings.Cut(vkey, "+")
	hash, _, _ := strings.Cut(rest, "+")
	return origin + "+" + hash
}

// checkEnvelopeType makes sure an imported envelope holds a statement of
// the feedback predicate type its entry declares, so an import can only
// ever append feedback.
func checkEnvelopeType(raw []byte, want string) error {
	lim := envelope.DefaultLimits()
	env, err := envelope.Decode(raw, lim)
	if err != nil {
		return err
	}
	payload, err := env.DecodeB64Payload()
	if err != nil {
		return inputerr.Wrap("feedback: import", "envelope.payload", ErrInvalidExport, "not base64", err)
	}
	st, err := envelope.ParseStatement(env.PayloadType, payload, lim)
	if err != nil {
		return err
	}
	if st.PredicateType != want {
		return inputerr.New("feedback: import", "predicateType", ErrInvalidExport,
			fmt.Sprintf("the envelope holds %s, not %s", st.PredicateType, want))
	}
	return nil
}
