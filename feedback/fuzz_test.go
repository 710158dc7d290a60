package feedback_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/feedback"
)

func seedDir(f *testing.F, dir string) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParsePredicates feeds every predicate parser the same inputs: they
// either reject with ErrInvalidPredicate or return a predicate that
// re-parses to itself.
func FuzzParsePredicates(f *testing.F) {
	seedDir(f, "predicates")
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := feedback.ParseVote(data); err == nil {
			if v.Sign() < -1 || v.Sign() > 1 || len(v.Reason) > feedback.MaxReasonBytes {
				t.Fatalf("accepted out of bounds: %+v", v)
			}
		} else if !errors.Is(err, feedback.ErrInvalidPredicate) {
			t.Fatalf("vote: untyped error %v", err)
		}
		if tr, err := feedback.ParseTrust(data); err == nil {
			if tr.KeyID == "" || tr.Weight() < -1 || tr.Weight() > 3 {
				t.Fatalf("accepted out of bounds: %+v", tr)
			}
		} else if !errors.Is(err, feedback.ErrInvalidPredicate) {
			t.Fatalf("trust: untyped error %v", err)
		}
		if r, err := feedback.ParseResponse(data); err == nil {
			if r.Text == "" || len(r.Text) > feedback.MaxResponseBytes {
				t.Fatalf("accepted out of bounds: %+v", r)
			}
		} else if !errors.Is(err, feedback.ErrInvalidPredicate) {
			t.Fatalf("response: untyped error %v", err)
		}
	})
}

// FuzzParseExport: an export either parses into a document that passes
// Check or is rejected with ErrInvalidExport.
func FuzzParseExport(f *testing.F) {
	seedDir(f, "exports")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := feedback.ParseExport(bytes.NewReader(data), 1<<16)
		if err != nil {
			if !errors.Is(err, feedback.ErrInvalidExport) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := doc.Check(); err != nil {
			t.Fatalf("parsed document fails Check: %v", err)
		}
	})
}
