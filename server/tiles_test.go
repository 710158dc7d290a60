package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/testwitness"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/witness"
)

// tileFixture is a trustd HTTP front over SQLite with two in-process
// witnesses.
type tileFixture struct {
	store     store.Store
	log       *statement.Log
	pusher    *witness.Pusher
	url       string
	witnesses []*testwitness.Witness
	wkeys     []string
}

func newTileFixture(t *testing.T) *tileFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := newLog(t, st)
	f := &tileFixture{store: st, log: l}
	var ws []witness.Witness
	for i, name := range []string{"witness.example/a", "witness.example/b"} {
		w, err := testwitness.New(name, bytes.Repeat([]byte{byte(i + 1)}, 32), l.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(w)
		t.Cleanup(hs.Close)
		pw, err := witness.Parse(w.VerifierKey() + "=" + hs.URL)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, pw)
		f.witnesses = append(f.witnesses, w)
		f.wkeys = append(f.wkeys, w.VerifierKey())
	}
	if f.pusher, err = witness.New(ctx, l, st, witness.Options{Witnesses: ws}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Witnesses: f.pusher})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.HTTPHandler())
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

// add appends n entries of the given size (at least 40 bytes) to the log.
func (f *tileFixture) add(t *testing.T, n, size int) {
	t.Helper()
	ctx := context.Background()
	before, _ := f.store.LogSize(ctx)
	for i := range n {
		env := fmt.Appendf(nil, `{"entry":%d,"pad":"`, int(before)+i)
		env = append(env, bytes.Repeat([]byte{'x'}, max(0, size-len(env)-2))...)
		env = append(env, `"}`...)
		teststore.AppendUnchecked(t, f.store, store.Statement{PayloadType: envelope.PayloadTypeInToto,
			PredicateType: "https://example.com/tiles/v1", Envelope: env, Payload: []byte("{}")})
	}
}

func (f *tileFixture) get(t *testing.T, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(f.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// checkpoint fetches /checkpoint and opens it with the log key, returning
// it as an x/mod tree.
func (f *tileFixture) checkpoint(t *testing.T) ([]byte, sumtlog.Tree) {
	t.Helper()
	code, h, body := f.get(t, "/checkpoint")
	if code != 200 || h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("/checkpoint = %d %v %q", code, h, body)
	}
	v, err := note.NewVerifier(f.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(body, note.VerifierList(v))
	if err != nil {
		t.Fatalf("open /checkpoint: %v", err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		t.Fatal(err)
	}
	return body, cp.Tree
}

// TestTileClient: torchwood's tile client and x/mod/sumdb/tlog, reading
// only /checkpoint and the tile endpoints, verify every entry's inclusion
// and the consistency of each checkpoint with the previous one while the
// log grows across tile boundaries, and an entry too large for a bundle
// is served, verified, at /log/entry/<seq>.
func TestTileClient(t *testing.T) {
	ctx := context.Background()
	f := newTileFixture(t)
	tf, err := torchwood.NewTileFetcher(f.url)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := torchwood.NewPermanentCache(tf, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := torchwood.NewClient(cache)
	if err != nil {
		t.Fatal(err)
	}
	var prev sumtlog.Tree
	big := map[int64]bool{}
	for _, step := range []struct{ n, size int }{{1, 100}, {254, 200}, {1, 100}, {1, 70000}, {300, 64}, {256, 64}} {
		f.add(t, step.n, step.size)
		if step.size > tlog.MaxBundleEntry {
			size, _ := f.store.LogSize(ctx)
			big[int64(size)-1] = true
		}
		if err := f.pusher.Push(ctx); err != nil {
			t.Fatalf("Push: %v", err)
		}
		signed, tree := f.checkpoint(t)
		if size, _ := f.store.LogSize(ctx); tree.N != int64(size) {
			t.Fatalf("/checkpoint size %d, log size %d", tree.N, size)
		}
		if _, err := tlog.RequireWitnesses(signed, f.wkeys, 2); err != nil {
			t.Fatalf("checkpoint of %d: %v", tree.N, err)
		}
		hr := torchwood.TileHashReaderWithContext(ctx, tree, tf)
		if prev.N > 0 {
			proof, err := sumtlog.ProveTree(tree.N, prev.N, hr)
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", tree.N, prev.N, err)
			}
			if err := sumtlog.CheckTree(proof, tree.N, tree.Hash, prev.N, prev.Hash); err != nil {
				t.Fatalf("CheckTree(%d, %d): %v", tree.N, prev.N, err)
			}
		}
		for i := prev.N; i < tree.N; i++ {
			var entry []byte
			if bundleHasBig(big, i) {
				entry = f.entryByURL(t, i)
				proof, err := sumtlog.ProveRecord(tree.N, i, hr)
				if err != nil {
					t.Fatal(err)
				}
				if err := sumtlog.CheckRecord(proof, tree.N, tree.Hash, i, sumtlog.RecordHash(entry)); err != nil {
					t.Fatalf("entry %d from /log/entry: %v", i, err)
				}
			} else if entry, _, err = client.Entry(ctx, tree, i); err != nil {
				t.Fatalf("tile client: entry %d of %d: %v", i, tree.N, err)
			}
			if !bytes.HasPrefix(entry, fmt.Appendf(nil, `{"entry":%d,`, i)) {
				t.Fatalf("entry %d = %.40q", i, entry)
			}
		}
		prev = tree
	}
	// The bundle holding the large entry names the per-entry URL.
	for i := range big {
		path := tlog.Tile{Level: -1, Index: uint64(i / 256), Width: 256}.Path()
		if code, h, body := f.get(t, "/"+path); code != 404 || !strings.Contains(string(body), "/log/entry/<seq>") || h.Get("Cache-Control") != "no-store" {
			t.Errorf("/%s = %d %q, want 404 naming /log/entry/<seq>", path, code, body)
		}
	}
}

// bundleHasBig reports whether entry i's bundle holds an oversized entry.
func bundleHasBig(big map[int64]bool, i int64) bool {
	for b := range big {
		if b/256 == i/256 {
			return true
		}
	}
	return false
}

func (f *tileFixture) entryByURL(t *testing.T, index int64) []byte {
	t.Helper()
	code, h, body := f.get(t, fmt.Sprintf("/log/entry/%d", index+1))
	if code != 200 || h.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("/log/entry/%d = %d %v", index+1, code, h)
	}
	return body
}

// TestTileRequests: tiles carry the immutable cache header; malformed
// paths are 400 and tiles beyond the tree 404, each saying why and never
// cached.
func TestTileRequests(t *testing.T) {
	f := newTileFixture(t)
	f.add(t, 300, 50)
	code, h, body := f.get(t, "/tile/0/000")
	if code != 200 || len(body) != 256*32 || h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("/tile/0/000 = %d %v, %d bytes", code, h, len(body))
	}
	if code, _, body := f.get(t, "/tile/0/001.p/44"); code != 200 || len(body) != 44*32 {
		t.Fatalf("/tile/0/001.p/44 = %d, %d bytes", code, len(body))
	}
	if code, _, body := f.get(t, "/tile/entries/001.p/44"); code != 200 || len(body) != 44*(2+50) {
		t.Fatalf("/tile/entries/001.p/44 = %d, %d bytes", code, len(body))
	}
	for _, tc := range []struct {
		path   string
		code   int
		reason string
	}{
		{"/tile/0/1", 400, "not three decimal digits"},
		{"/tile/0/000.p/0", 400, "partial width: 0"},
		{"/tile/0/000.p/99999999999999999999", 400, "partial width"},
		{"/tile/64/000", 400, "above 63"},
		{"/tile/0/x000/001", 400, "leading all-zero"},
		{"/tile/0/" + strings.Repeat("x123/", 30) + "000", 400, "longer than"},
		{"/tile/0/x018/x446/x744/x073/x709/x551/616", 400, "larger than 2^64-1"},
		{"/tile/0/001", 404, "beyond the tree"},
		{"/tile/0/001.p/45", 404, "beyond the tree"},
		{"/tile/1/000", 404, "beyond the tree"},
		{"/tile/1/000.p/2", 404, "beyond the tree"},
		{"/tile/entries/002", 404, "beyond the tree"},
		{"/tile/0/x018/x446/x744/x073/x709/x551/615", 404, "beyond the tree"},
		{"/log/entry/0", 400, "not a sequence number"},
		{"/log/entry/01", 400, "not a sequence number"},
		{"/log/entry/301", 404, "no entry has seq 301"},
	} {
		code, h, body := f.get(t, tc.path)
		if code != tc.code || !strings.Contains(string(body), tc.reason) || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s = %d %q (Cache-Control %q), want %d saying %q, not cached", tc.path, code, body, h.Get("Cache-Control"), tc.code, tc.reason)
		}
	}
}

// TestWitnessQuorum: with one witness down the checkpoint still advances,
// cosigned by the other; a client requiring both fails naming the missing
// witness, one requiring one of them passes; the earlier checkpoint keeps
// both cosignatures.
func TestWitnessQuorum(t *testing.T) {
	ctx := context.Background()
	f := newTileFixture(t)
	f.add(t, 3, 50)
	if err := f.pusher.Push(ctx); err != nil {
		t.Fatal(err)
	}
	f.witnesses[1].SetDown(true)
	f.add(t, 2, 50)
	if err := f.pusher.Push(ctx); err == nil || !strings.Contains(err.Error(), "witness.example/b") {
		t.Fatalf("Push with witness b down = %v, want its error", err)
	}
	signed, tree := f.checkpoint(t)
	if tree.N != 5 {
		t.Fatalf("served size %d, want 5", tree.N)
	}
	_, err := tlog.RequireWitnesses(signed, f.wkeys, 2)
	if !errors.Is(err, tlog.ErrWitnessQuorum) || !strings.Contains(err.Error(), "missing: witness.example/b+") || !strings.Contains(err.Error(), "cosigned by 1 of the 2") {
		t.Fatalf("RequireWitnesses(2 of 2) = %v, want ErrWitnessQuorum naming witness b", err)
	}
	if names, err := tlog.RequireWitnesses(signed, f.wkeys, 1); err != nil || len(names) != 1 {
		t.Fatalf("RequireWitnesses(1 of 2) = %v, %v", names, err)
	}
	old, _, err := witness.Cosigned(ctx, f.pusher, f.log, f.store, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.RequireWitnesses(old, f.wkeys, 2); err != nil {
		t.Fatalf("checkpoint of 3: %v", err)
	}
	// Back up, the witness catches up from the size it cosigned.
	f.witnesses[1].SetDown(false)
	if err := f.pusher.Push(ctx); err != nil {
		t.Fatal(err)
	}
	signed, _ = f.checkpoint(t)
	if _, err := tlog.RequireWitnesses(signed, f.wkeys, 2); err != nil || f.witnesses[1].Latest("test-log") != 5 {
		t.Fatalf("after witness b is back: %v, it cosigned %d", err, f.witnesses[1].Latest("test-log"))
	}
}
