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
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
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

			doc, err := src.svc.Export(ctx, src.log, 0, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Entries) != 4 || doc.Next != doc.Entries[3].Seq || doc.Origin != "feedback-test" {
				t.Fatalf("first page: %d entries, next %d, origin %q", len(doc.Entries), doc.Next, doc.Origin)
			}
			cp := openCheckpoint(t, doc)
			queries := []feedback.Query{
				{Digest: app.Digests[0]},
				{Digest: app.Digests[1], TrustRoots: []string{root.id}},
			}
			var wants []feedback.Reputation
			for _, q := range queries {
				wants = append(wants, src.reputation(t, q))
			}
			// Entries logged after the first page are not in its tree: the
			// next page, asked for the same tree size, leaves them out.
			src.submit(t, voteEnv(t, root, app, feedback.Like, t0.Add(-10*time.Minute)))
			rest, err := src.svc.Export(ctx, src.log, doc.Next, 0, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest.Entries) != 2 || rest.Checkpoint != doc.Checkpoint {
				t.Fatalf("second page: %d entries, checkpoint %q (first page's %q)", len(rest.Entries), rest.Checkpoint, doc.Checkpoint)
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

			dst := newFixture(t, b.Open(t), feedback.Options{RateLimit: feedback.RateLimit{N: 3, Per: time.Hour}})
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
			for i, q := range queries {
				want, got := wants[i], dst.reputation(t, q)
				if want.Quality != got.Quality || want.Trust != got.Trust || want.Voters != got.Voters || !want.LastVoteAt.Equal(got.LastVoteAt) {
					t.Fatalf("reputation differs after import:\n src %+v\n dst %+v", want, got)
				}
			}
			st, err := dst.log.Get(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			prov, err := dst.store.FeedbackProvenance(ctx, st.Seq)
			if err != nil || len(prov) != 1 || prov[0].SourceSeq != doc.Entries[0].Seq || prov[0].VerifierKey != src.log.VerifierKey() ||
				prov[0].CheckpointSize != cp.Size || !bytes.Equal(prov[0].CheckpointHash, cp.Hash) {
				t.Fatalf("provenance %+v, %v; want key %s, checkpoint %d %x", prov, err, src.log.VerifierKey(), cp.Size, cp.Hash)
			}
		})
	}
}

func TestImportRejects(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) { testImportRejects(t, b.Open) })
	}
}

func testImportRejects(t *testing.T, open func(testing.TB) store.Store) {
	ctx := context.Background()
	src := newFixture(t, open(t), feedback.Options{})
	a := src.identity(t)
	app := artifact("app.tar")
	src.submit(t, voteEnv(t, a, app, feedback.Like, t0))
	src.submit(t, voteEnv(t, a, artifact("tool.tar"), feedback.Like, t0))
	good, err := src.svc.Export(ctx, src.log, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp := openCheckpoint(t, good)
	// Another log's key, and a checkpoint of the same tree signed by a key
	// that bears the exporting log's name but is not its key.
	_, otherKey, err := tlog.GenerateLogKey("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	impostor, _, err := tlog.GenerateLogKey(cp.Origin)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := tlog.SignCheckpoint(cp, impostor)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := envelope.NewStatement("https://example.com/other/v1", []byte(`{}`), app)
	tests := []struct {
		name    string
		edit    func(d *feedback.Export)
		wantErr error
		early   bool // refused before any key is registered
	}{
		{"wrong format", func(d *feedback.Export) { d.Format = "x" }, feedback.ErrInvalidExport, true},
		{"not feedback", func(d *feedback.Export) { d.Entries[0].PredicateType = "https://example.com/other/v1" }, feedback.ErrInvalidExport, true},
		{"smuggled statement", func(d *feedback.Export) { d.Entries[0].Envelope = signEnv(t, other, a) }, feedback.ErrInvalidExport, true},
		{"tampered envelope", func(d *feedback.Export) { d.Entries[0].Envelope = flipSignature(t, d.Entries[0].Envelope) }, feedback.ErrInvalidExport, true},
		{"signer key missing", func(d *feedback.Export) { d.Entries[0].Keys = nil }, envelope.ErrUnknownKey, false},
		{"key id lies", func(d *feedback.Export) { d.Entries[0].Keys[0].ID = "feed" }, feedback.ErrInvalidExport, false},
		{"no checkpoint", func(d *feedback.Export) { d.Checkpoint = "" }, feedback.ErrInvalidExport, true},
		{"checkpoint not signed by the claimed key", func(d *feedback.Export) { d.VerifierKey = otherKey }, tlog.ErrBadCheckpoint, true},
		{"checkpoint signed by an impostor of the claimed key", func(d *feedback.Export) { d.Checkpoint = string(forged) }, tlog.ErrBadCheckpoint, true},
		{"not a verifier key", func(d *feedback.Export) { d.VerifierKey = "feedback-test+00000000+AQID" }, feedback.ErrInvalidExport, true},
		{"no inclusion proof", func(d *feedback.Export) { d.Entries[1].InclusionProof = nil }, feedback.ErrInvalidExport, true},
		{"inclusion proof of another entry", func(d *feedback.Export) { d.Entries[1].InclusionProof = d.Entries[0].InclusionProof }, feedback.ErrInvalidExport, true},
		{"entries swapped", func(d *feedback.Export) {
			d.Entries[0].Envelope, d.Entries[1].Envelope = d.Entries[1].Envelope, d.Entries[0].Envelope
		}, feedback.ErrInvalidExport, true},
		{"entry beyond the checkpoint", func(d *feedback.Export) { d.Entries[1].Seq = int64(cp.Size) + 1 }, feedback.ErrInvalidExport, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := newFixture(t, open(t), feedback.Options{})
			doc := good
			doc.Entries = append([]feedback.ExportEntry(nil), good.Entries...)
			doc.Entries[0].Keys = append([]feedback.ExportedKey(nil), good.Entries[0].Keys...)
			tc.edit(&doc)
			_, err := dst.svc.Import(ctx, dst.log, doc)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, tlog.ErrBadCheckpoint) && !errors.Is(err, feedback.ErrInvalidExport) {
				t.Fatalf("%v does not match ErrInvalidExport", err)
			}
			if n, _ := dst.store.LogSize(ctx); n != 0 {
				t.Fatalf("log size %d after a rejected import", n)
			}
			if _, err := dst.store.Key(ctx, a.id); tc.early && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the signer's key was registered by a rejected import: %v", err)
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

// TestImportRecordsVerifiedOrigin: whatever origin name an export claims,
// the importer records the exporting log's verified key and the checkpoint
// it verified the entries against, and names that key in the labels of
// the keys it registers.
func TestImportRecordsVerifiedOrigin(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			src := newFixture(t, b.Open(t), feedback.Options{})
			a := src.identity(t)
			src.submit(t, voteEnv(t, a, artifact("app.tar"), feedback.Like, t0))
			doc, err := src.svc.Export(ctx, src.log, 0, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			cp := openCheckpoint(t, doc)
			doc.Origin = "sigstore.dev"
			dst := newFixture(t, b.Open(t), feedback.Options{})
			if res, err := dst.svc.Import(ctx, dst.log, doc); err != nil || res.Imported != 1 {
				t.Fatalf("import: %+v, %v", res, err)
			}
			prov, err := dst.store.FeedbackProvenance(ctx, 1)
			if err != nil || len(prov) != 1 {
				t.Fatalf("provenance %+v, %v", prov, err)
			}
			p := prov[0]
			if p.VerifierKey != src.log.VerifierKey() || p.CheckpointSize != cp.Size || !bytes.Equal(p.CheckpointHash, cp.Hash) || p.SourceSeq != 1 {
				t.Fatalf("provenance %+v; want key %s, checkpoint %d %x, source seq 1", p, src.log.VerifierKey(), cp.Size, cp.Hash)
			}
			k, err := dst.store.Key(ctx, a.id)
			if err != nil {
				t.Fatal(err)
			}
			if k.Label != "" {
				t.Fatalf("imported key labelled %q; want no label: the claimed origin must not name a key, and its provenance is the verified log key", k.Label)
			}
		})
	}
}

// TestImportRateLimit: imported statements count against their signer's
// rate limit exactly as direct submissions do, and one over it is refused
// with the same error, nothing stored for it.
func TestImportRateLimit(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			src := newFixture(t, b.Open(t), feedback.Options{})
			a := src.identity(t)
			for _, name := range []string{"one.tar", "two.tar", "three.tar"} {
				src.submit(t, voteEnv(t, a, artifact(name), feedback.Like, t0.Add(-time.Hour)))
			}
			doc, err := src.svc.Export(ctx, src.log, 0, 0, 0)
			if err != nil {
				t.Fatal(err)
			}

			dst := newFixture(t, b.Open(t), feedback.Options{RateLimit: feedback.RateLimit{N: 2, Per: time.Hour}})
			if _, _, err := keys.NewRegistry(dst.store).Add(ctx, a.key.PublicKey, ""); err != nil {
				t.Fatal(err)
			}
			dst.submit(t, voteEnv(t, a, artifact("direct.tar"), feedback.Like, t0)) // one direct write
			res, err := dst.svc.Import(ctx, dst.log, doc)
			if !errors.Is(err, feedback.ErrRateLimited) || res.Imported != 1 {
				t.Fatalf("import over the rate limit: %+v, %v; want 1 imported, then ErrRateLimited", res, err)
			}
			if n, _ := dst.store.LogSize(ctx); n != 2 {
				t.Fatalf("log size %d; want the direct write and one imported entry", n)
			}
			// The imported entry counts against direct writes too.
			_, _, err = dst.log.Submit(ctx, voteEnv(t, a, artifact("direct-2.tar"), feedback.Like, t0))
			if !errors.Is(err, feedback.ErrRateLimited) {
				t.Fatalf("direct write after the import = %v, want ErrRateLimited", err)
			}
			// Importing again: what is present costs nothing, the rest is
			// still refused.
			res, err = dst.svc.Import(ctx, dst.log, doc)
			if !errors.Is(err, feedback.ErrRateLimited) || res.Present != 1 || res.Imported != 0 {
				t.Fatalf("second import: %+v, %v", res, err)
			}
			if n, _ := dst.store.LogSize(ctx); n != 2 {
				t.Fatalf("log size %d after the second import", n)
			}
		})
	}
}

// openCheckpoint opens an export's checkpoint with its verifier key.
func openCheckpoint(t *testing.T, doc feedback.Export) tlog.Checkpoint {
	t.Helper()
	cp, err := tlog.OpenCheckpoint([]byte(doc.Checkpoint), doc.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	return cp
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
