package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/trustd-dev/trustd/internal/testpg"
	"github.com/trustd-dev/trustd/internal/testwitness"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
)

// TestTileClientAndWitnesses: through the real trustd binary on both
// backends, an independent C2SP tile client (torchwood's, with
// x/mod/sumdb/tlog proofs) reads only /checkpoint and /tile/... and
// verifies every entry's inclusion and each checkpoint's consistency with
// the one before, across growth past tile boundaries and across a
// restart; trustd pushes every new checkpoint to two in-process C2SP
// witnesses and serves their cosignatures, 'trustctl log watch --witness'
// requires them, and fails, naming the witness, when one is down.
func TestTileClientAndWitnesses(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) ([]string, func() store.Store)
	}{
		{"sqlite", func(t *testing.T) ([]string, func() store.Store) {
			dir := t.TempDir()
			return []string{"--data-dir", dir}, func() store.Store {
				s, err := sqlite.Open(context.Background(), filepath.Join(dir, "trustd.db"))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}},
		{"postgres", func(t *testing.T) ([]string, func() store.Store) {
			url := testpg.URL(t)
			return []string{"--db", url}, func() store.Store {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			flags, open := b.open(t)
			work := t.TempDir()
			flags = append(flags, "--log-key", filepath.Join(work, "log.key"))
			// Entries past the first full tile, written while trustd is
			// stopped (the tree nodes are stored with them).
			s := open()
			seedEvidence(t, s, 300)
			s.Close()

			// The first start creates the log key the witnesses must know.
			d := startTrustd(t, flags...)
			vkey := httpHeader(t, "http://"+d.httpAddr+"/log/checkpoint", "X-Log-Verifier-Key")
			d.stop(t)
			var wflags, wkeys []string
			var ws []*testwitness.Witness
			for i, name := range []string{"witness.example/a", "witness.example/b"} {
				w, err := testwitness.New(name, bytes.Repeat([]byte{byte(i + 1)}, 32), vkey)
				if err != nil {
					t.Fatal(err)
				}
				hs := httptest.NewServer(w)
				t.Cleanup(hs.Close)
				ws = append(ws, w)
				wkeys = append(wkeys, w.VerifierKey())
				wflags = append(wflags, "--witness", w.VerifierKey()+"="+hs.URL)
			}
			flags = append(flags, append(wflags, "--witness-interval", "200ms")...)
			witnessArgs := []string{"--witness", wkeys[0], "--witness", wkeys[1]}

			d = startTrustd(t, flags...)
			tree := waitWitnessed(t, d, vkey, wkeys, 2)
			checkTiles(t, d, sumtlog.Tree{}, tree)
			if r := trustctl(t, d.grpcAddr, append([]string{"log", "watch", "--once", "--state", filepath.Join(work, "watch.json")}, witnessArgs...)...); r.code != 0 {
				t.Fatalf("log watch --witness a --witness b: %d %s", r.code, r.stderr)
			}

			// Growth through the real write path.
			key := filepath.Join(work, "k.pem")
			mustSucceed(t, trustctl(t, d.grpcAddr, "key", "generate", "--out", key), "key generate")
			mustSucceed(t, trustctl(t, d.grpcAddr, "key", "add", key+".pub"), "key add")
			for _, n := range []string{"one", "two", "three"} {
				signOne(t, d.grpcAddr, work, key, n)
			}
			grown := waitWitnessed(t, d, vkey, wkeys, 2)
			if grown.N <= tree.N {
				t.Fatalf("witnessed size %d did not grow from %d", grown.N, tree.N)
			}
			checkTiles(t, d, tree, grown)
			d.stop(t)

			// After a restart the cosigned checkpoint is served at once,
			// from the stored cosignatures, and the tiles still prove it.
			d = startTrustd(t, flags...)
			signed := httpGet(t, "http://"+d.httpAddr+"/checkpoint")
			again := openTree(t, signed, vkey)
			if again != grown {
				t.Fatalf("after restart /checkpoint serves %d, want the cosigned %d", again.N, grown.N)
			}
			if n := strings.Count(string(signed), "\n— witness.example/"); n != 2 {
				t.Fatalf("after restart /checkpoint carries %d cosignatures, want 2:\n%s", n, signed)
			}
			checkTiles(t, d, grown, again)
			if r := trustctl(t, d.grpcAddr, append([]string{"log", "watch", "--once", "--state", filepath.Join(work, "watch.json")}, witnessArgs...)...); r.code != 0 {
				t.Fatalf("log watch after restart: %d %s", r.code, r.stderr)
			}

			// Witness b goes down: the log grows, cosigned by a alone.
			ws[1].SetDown(true)
			signOne(t, d.grpcAddr, work, key, "four")
			last := waitWitnessed(t, d, vkey, wkeys, 1)
			checkTiles(t, d, again, last)
			r := trustctl(t, d.grpcAddr, append([]string{"log", "watch", "--once", "--state", filepath.Join(work, "watch.json")}, witnessArgs...)...)
			if r.code != 1 || !strings.Contains(r.stderr, "witness quorum not met") || !strings.Contains(r.stderr, "missing: witness.example/b+") {
				t.Fatalf("log watch requiring both with b down: exit %d %q, want 1 naming witness b", r.code, r.stderr)
			}
			if r := trustctl(t, d.grpcAddr, append([]string{"log", "watch", "--once", "--witness-threshold", "1", "--state", filepath.Join(work, "watch.json")}, witnessArgs...)...); r.code != 0 {
				t.Fatalf("log watch requiring 1 of 2: %d %s", r.code, r.stderr)
			}
			d.stop(t)
		})
	}
}

// tlogWriter sends the tile fetcher's log lines to the test log, but
// for the line of every fetch.
type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("fetched resource")) {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// httpHeader fetches url and returns one response header.
func httpHeader(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get(name)
}

// openTree opens a checkpoint note with the log key, as an x/mod tree.
func openTree(t *testing.T, signed []byte, vkey string) sumtlog.Tree {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("open checkpoint: %v\n%s", err, signed)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Tree
}

// waitWitnessed waits until /checkpoint serves the log's full size
// cosigned by at least k of the witnesses (checked with x/mod's note
// verifier and torchwood's cosignature verifier), and returns it.
func waitWitnessed(t *testing.T, d *daemon, vkey string, wkeys []string, k int) sumtlog.Tree {
	t.Helper()
	var vs []note.Verifier
	for _, wk := range wkeys {
		v, err := testwitness.NewVerifier(wk)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var latest struct {
			ToSize int64 `json:"to_size"`
		}
		if err := json.Unmarshal(httpGet(t, "http://"+d.httpAddr+"/log/proof/consistency?from=0"), &latest); err != nil {
			t.Fatal(err)
		}
		signed := httpGet(t, "http://"+d.httpAddr+"/checkpoint")
		tree := openTree(t, signed, vkey)
		cosigned := 0
		if n, err := note.Open(signed, note.VerifierList(vs...)); err == nil {
			cosigned = len(n.Sigs)
		}
		if tree.N == latest.ToSize && cosigned >= k {
			return tree
		}
		if time.Now().After(deadline) {
			t.Fatalf("/checkpoint serves size %d with %d cosignatures; log size %d, want %d cosignatures:\n%s\n%s", tree.N, cosigned, latest.ToSize, k, signed, d.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkTiles verifies, with torchwood's tile client over trustd's HTTP
// port, that tree is consistent with prev (when prev is not empty) and
// that every entry added since prev is included in tree.
func checkTiles(t *testing.T, d *daemon, prev, tree sumtlog.Tree) {
	t.Helper()
	ctx := context.Background()
	tf, err := torchwood.NewTileFetcher("http://"+d.httpAddr, torchwood.WithConcurrencyLimit(2),
		torchwood.WithTileFetcherLogger(slog.New(slog.NewTextHandler(tlogWriter{t}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	hr := torchwood.TileHashReaderWithContext(ctx, tree, tf)
	if prev.N > 0 {
		proof, err := sumtlog.ProveTree(tree.N, prev.N, hr)
		if err != nil {
			t.Fatalf("consistency %d to %d from tiles: %v", prev.N, tree.N, err)
		}
		if err := sumtlog.CheckTree(proof, tree.N, tree.Hash, prev.N, prev.Hash); err != nil {
			t.Fatalf("consistency %d to %d: %v", prev.N, tree.N, err)
		}
	}
	c, err := torchwood.NewClient(tf)
	if err != nil {
		t.Fatal(err)
	}
	for i := prev.N; i < tree.N; i++ {
		entry, _, err := c.Entry(ctx, tree, i)
		if err != nil {
			t.Fatalf("entry %d of %d through the tile client: %v", i, tree.N, err)
		}
		if len(entry) == 0 {
			t.Fatalf("entry %d is empty", i)
		}
	}
	t.Logf("tile client verified entries %d..%d of %d", prev.N, tree.N-1, tree.N)
}
