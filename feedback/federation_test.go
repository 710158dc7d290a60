package feedback_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/teststore"
)

func TestExportImport(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			src := newFixture(t, b.Open(t), feedback.Options{})
			app := artifact("app.tar")
			root, a, c := src.identity(t), src.identity(t), src.identity(t)
			src.trust(t, root, a, feedback.LevelHigh, t0.Add(-time.Hour))
			src.trust(t, a, c, feedback.LevelMedium, t0.Add(-time.Hour))
			src.submit(t, voteEnv(t, a, app, feedback.Like, t0.Add(-50*time.Minute)))
			src.submit(t, voteEnv(t, c, app, feedback.Distrust, t0.Add(-40*time.Minute)))
			src.submit(t, voteEnv(t, c, app, feedback.Dislike, t0.Add(-30*time.Minute)))
			src.submit(t, voteEnv(t, a, app, feedback.Dislike, t0.Add(-20*time.Minute)))
			// Not feedback: never exported.
			other, _ := envelope.NewStatement("https://example.com/other/v1", []byte(`{}`), app)
			src.submit(t, signEnv(t, other, a))

			doc, err := src.svc.Export(ctx, src.log, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Entries) != 4 || doc.Next != doc.Entries[3].Seq || doc.Origin != "feedback-test" {
				t.Fatalf("first page: %d entries, next %d, origin %q", len(doc.Entries), doc.Next, doc.Origin)
			}
			rest, err := src.svc.Export(ctx, src.log, doc.Next, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest.Entries) != 2 {
				t.Fatalf("second page: %d entries", len(rest.Entries))
			}
			doc.Entries = append(doc.Entries, rest.Entries...)

			// Both forms round trip.
			for _, write := range []func(*bytes.Buffer) error{
				func(w *bytes.Buffer) error { return feedback.WriteJSON(w, doc) },
				func(w *bytes.Buffer) error { return feedback.WriteJSONLines(w, doc) },
			} {
				var buf bytes.Buffer
				if err := write(&buf); err != nil {
					t.Fatal(err)
				}
				back, err := feedback.ParseExport(&buf, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if len(back.Entries) != 6 || !bytes.Equal(back.Entries[0].Envelope, doc.Entries[0].Envelope) {
					t.Fatalf("round trip lost entries: %d", len(back.Entries))
				}
			}

			dst := newFixture(t, b.Open(t), feedback.Options{RateLimit: feedback.RateLimit{N: 1, Per: time.Hour}})
			res, err := dst.svc.Import(ctx, dst.log, doc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Imported != 6 || res.Present != 0 {
				t.Fatalf("import: %+v", res)
			}
			again, err := dst.svc.Import(ctx, dst.log, doc)
			if err != nil || again.Imported != 0 || again.Present != 6 {
				t.Fatalf("second import: %+v, %v", again, err)
			}
			for _, q := range []feedback.Query{
				{Digest: app.Digests[0]},
				{Digest: app.Digests[1], TrustRoots: []string{root.id}},
			} {
				want, got := src.reputation(t, q), dst.reputation(t, q)
				if want.Quality != got.Quality || want.Trust != got.Trust || want.Voters != got.Voters || !want.LastVoteAt.Equal(got.LastVoteAt) {
					t.Fatalf("reputation differs after import:\n src %+v\n dst %+v", want, got)
				}
			}
			st, err := dst.log.Get(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			prov, err := dst.store.FeedbackProvenance(ctx, st.Seq)
			if err != nil || len(prov) != 1 || prov[0].Origin != "feedback-test" || prov[0].SourceSeq != doc.Entries[0].Seq || prov[0].VerifierKey != src.log.VerifierKey() {
				t.Fatalf("provenance %+v, %v", prov, err)
			}
		})
	}
}

func TestImportRejects(t *testing.T) {
	ctx := context.Background()
	src := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{})
	a := src.identity(t)
	app := artifact("app.tar")
	src.submit(t, voteEnv(t, a, app, feedback.Like, t0))
	good, err := src.svc.Export(ctx, src.log, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := envelope.NewStatement("https://example.com/other/v1", []byte(`{}`), app)
	tests := []struct {
		name    string
		edit    func(d *feedback.Export)
		wantErr error
	}{
		{"wrong format", func(d *feedback.Export) { d.Format = "x" }, feedback.ErrInvalidExport},
		{"origin mismatch", func(d *feedback.Export) { d.Origin = "elsewhere" }, feedback.ErrInvalidExport},
		{"not feedback", func(d *feedback.Export) { d.Entries[0].PredicateType = "https://example.com/other/v1" }, feedback.ErrInvalidExport},
		{"smuggled statement", func(d *feedback.Export) { d.Entries[0].Envelope = signEnv(t, other, a) }, feedback.ErrInvalidExport},
		{"tampered envelope", func(d *feedback.Export) { d.Entries[0].Envelope = flipSignature(t, d.Entries[0].Envelope) }, envelope.ErrBadSignature},
		{"signer key missing", func(d *feedback.Export) { d.Entries[0].Keys = nil }, envelope.ErrUnknownKey},
		{"key id lies", func(d *feedback.Export) { d.Entries[0].Keys[0].ID = "feed" }, feedback.ErrInvalidExport},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := newFixture(t, teststore.Backends()[0].Open(t), feedback.Options{})
			doc := good
			doc.Entries = append([]feedback.ExportEntry(nil), good.Entries...)
			doc.Entries[0].Keys = append([]feedback.ExportedKey(nil), good.Entries[0].Keys...)
			tc.edit(&doc)
			if _, err := dst.svc.Import(ctx, dst.log, doc); !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if n, _ := dst.store.LogSize(ctx); n != 0 {
				t.Fatalf("log size %d after a rejected import", n)
			}
		})
	}
	if _, err := feedback.ParseExport(strings.NewReader(`{"format":"`+feedback.ExportFormat+`"} trailing`), 1<<10); !errors.Is(err, feedback.ErrInvalidExport) {
		t.Fatalf("garbage line: %v", err)
	}
	if _, err := feedback.ParseExport(strings.NewReader(strings.Repeat(" ", 2048)), 1<<10); !errors.Is(err, feedback.ErrInvalidExport) {
		t.Fatalf("oversized: %v", err)
	}
}

// flipSignature returns the envelope with one bit of its first signature
// flipped.
func flipSignature(t *testing.T, raw []byte) []byte {
	var env dsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	env.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
