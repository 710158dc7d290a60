package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
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
// to another instance, with the exporting instance's identity.
type Export struct {
	Format string `json:"format"`
	// Origin and VerifierKey identify the exporting instance: its log's
	// origin and checkpoint verifier key.
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifierKey"`
	// Since is the sequence number the export starts after; Next is the
	// last one included (0 when there was nothing to export).
	Since   int64         `json:"since"`
	Next    int64         `json:"next,omitempty"`
	Entries []ExportEntry `json:"entries,omitempty"`
}

// ExportEntry is one feedback log entry: its envelope bytes exactly as
// signed and stored, and the public keys of its signers the first time the
// export names them, so the importer can register them.
type ExportEntry struct {
	Seq           int64         `json:"seq"`
	PredicateType string        `json:"predicateType"`
	Envelope      []byte        `json:"envelope"`
	Keys          []ExportedKey `json:"keys,omitempty"`
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
// above since, oldest first.
func (s *Service) Export(ctx context.Context, l *statement.Log, since int64, limit int) (Export, error) {
	if since < 0 {
		return Export{}, inputerr.New("feedback: export", "since", ErrInvalidQuery, "negative")
	}
	if limit <= 0 {
		limit = DefaultExportPage
	}
	limit = min(limit, MaxExportPage)
	doc := Export{Format: ExportFormat, Origin: Origin(l.VerifierKey()), VerifierKey: l.VerifierKey(), Since: since}
	var all []store.Statement
	for _, pt := range PredicateTypes {
		sts, err := s.store.StatementsByPredicate(ctx, pt, since, limit)
		if err != nil {
			return Export{}, fmt.Errorf("feedback: export: %w", err)
		}
		all = append(all, sts...)
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
		e := ExportEntry{Seq: st.Seq, PredicateType: st.PredicateType, Envelope: st.Envelope}
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

// Check verifies the shape of doc (not its signatures: Import does).
func (doc Export) Check() error {
	bad := func(field, reason string) error { return inputerr.New(opParseExport, field, ErrInvalidExport, reason) }
	switch {
	case doc.Format != ExportFormat:
		return bad("format", fmt.Sprintf("%q is not %s", doc.Format, ExportFormat))
	case doc.Origin == "" || len(doc.Origin) > 256:
		return bad("origin", "required, at most 256 characters")
	case doc.VerifierKey == "" || Origin(doc.VerifierKey) != doc.Origin || len(doc.VerifierKey) > 1024:
		return bad("verifierKey", "required, a note verifier key whose origin is the document's origin")
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

// Import re-verifies and appends every entry of doc through l.Submit (the
// same checks as any submission, less the rate limit), registering the
// keys the export carries first, and records the exporting instance as
// each entry's provenance. It is idempotent. Responses whose signer is not
// known here as a publisher of their subject are skipped and counted; any
// other failure stops the import, naming the entry; entries before it stay
// imported.
func (s *Service) Import(ctx context.Context, l *statement.Log, doc Export) (ImportResult, error) {
	var res ImportResult
	if err := doc.Check(); err != nil {
		return res, err
	}
	reg := keys.NewRegistry(s.store)
	ictx := context.WithValue(ctx, importing{}, true)
	for i, e := range doc.Entries {
		for j, k := range e.Keys {
			got, _, err := reg.Add(ctx, k.PublicKey, "imported from "+doc.Origin)
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
		rec, created, err := l.Submit(ictx, e.Envelope)
		if errors.Is(err, ErrNotPublisher) {
			if res.Skipped++; res.SkipReason == "" {
				res.SkipReason = fmt.Sprintf("entries[%d]: %v", i, err)
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("feedback: import: entries[%d] (seq %d at %s): %w", i, e.Seq, doc.Origin, err)
		}
		err = s.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
			return w.AddFeedbackProvenance(ctx, store.FeedbackProvenance{Seq: rec.Seq, Origin: doc.Origin, VerifierKey: doc.VerifierKey, SourceSeq: e.Seq})
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
