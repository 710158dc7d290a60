package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/trustd-dev/trustd/tlog"
)

// TestParseTilePath: every canonical tlog-tiles path parses and prints
// back unchanged; every other form is ErrBadTilePath naming the part that
// is wrong.
func TestParseTilePath(t *testing.T) {
	good := []struct {
		path string
		want tlog.Tile
	}{
		{"tile/0/000", tlog.Tile{Level: 0, Index: 0, Width: 256}},
		{"tile/0/001.p/5", tlog.Tile{Level: 0, Index: 1, Width: 5}},
		{"tile/3/x001/x234/067", tlog.Tile{Level: 3, Index: 1234067, Width: 256}},
		{"tile/63/x001/234.p/255", tlog.Tile{Level: 63, Index: 1234, Width: 255}},
		{"tile/entries/000", tlog.Tile{Level: -1, Index: 0, Width: 256}},
		{"tile/entries/x012/345.p/1", tlog.Tile{Level: -1, Index: 12345, Width: 1}},
		{"tile/0/x018/x446/x744/x073/x709/x551/615", tlog.Tile{Level: 0, Index: 18446744073709551615, Width: 256}},
	}
	for _, tc := range good {
		got, err := tlog.ParseTilePath(tc.path)
		if err != nil {
			t.Errorf("ParseTilePath(%q) = %v", tc.path, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseTilePath(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
		if p := got.Path(); p != tc.path {
			t.Errorf("%+v.Path() = %q, want %q", got, p, tc.path)
		}
	}
	bad := []struct {
		path, reason string
	}{
		{"", `does not start with "tile/"`},
		{"tiles/0/000", `does not start with "tile/"`},
		{"tile/", "level"},
		{"tile/64/000", "level: 64 is above 63"},
		{"tile/01/000", "leading zero"},
		{"tile/-1/000", "not a decimal"},
		{"tile/0/0", "not three decimal digits"},
		{"tile/0/0000", "not three decimal digits"},
		{"tile/0/x000/001", "leading all-zero element"},
		{"tile/0/001/002", "does not start with 'x'"},
		{"tile/0/x001", "not three decimal digits"},
		{"tile/0/000.p/0", "partial width: 0"},
		{"tile/0/000.p/256", "partial width: 256 is above 255"},
		{"tile/0/000.p/1000000", "partial width"},
		{"tile/0/000.p/05", "leading zero"},
		{"tile/0/000.p/", "partial width"},
		{"tile/0/000/", "does not start with 'x'"},
		{"tile/0/x018/x446/x744/x073/x709/x551/616", "larger than 2^64-1"},
		{"tile/0/x001/x001/x001/x001/x001/x001/x001/001", "at most 7"},
		{"tile/entries/abc", "not three decimal digits"},
		{"tile/data/000", "level"},
		{"tile/0/" + strings.Repeat("x001/", 40) + "001", "longer than 128 bytes"},
	}
	for _, tc := range bad {
		_, err := tlog.ParseTilePath(tc.path)
		if !errors.Is(err, tlog.ErrBadTilePath) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseTilePath(%q) = %v, want ErrBadTilePath saying %q", tc.path, err, tc.reason)
		}
	}
}

// TestTileHashesMatchSumDB: the hash tiles read from trustd's stored nodes
// equal the tiles golang.org/x/mod/sumdb/tlog (an independent tiling
// implementation of the same RFC 6962 tree) computes, for every tile of
// trees of several sizes, and tiles the tree does not contain are
// ErrTileBeyondTree.
func TestTileHashesMatchSumDB(t *testing.T) {
	ctx := context.Background()
	const n = 256*256 + 3*256 + 17
	leaves := leafHashes("tiles", n)
	var nodes tlog.MemNodes
	// Grow in uneven batches, as the server does.
	for size := uint64(0); size < n; {
		k := min(uint64(997), n-size)
		if _, err := tlog.AppendBatch(ctx, &nodes, size, leaves[size:size+k]); err != nil {
			t.Fatal(err)
		}
		size += k
	}
	// The sumdb hash storage for the same leaves.
	var stored []sumtlog.Hash
	hr := sumtlog.HashReaderFunc(func(idx []int64) ([]sumtlog.Hash, error) {
		out := make([]sumtlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := int64(0); i < n; i++ {
		hs, err := sumtlog.StoredHashesForRecordHash(i, sumtlog.Hash(leaves[i]), hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	for _, size := range []int64{1, 255, 256, 257, 256 * 256, n} {
		for _, want := range sumtlog.NewTiles(tlog.TileHeight, 0, size) {
			tile := tlog.Tile{Level: want.L, Index: uint64(want.N), Width: want.W}
			wantData, err := sumtlog.ReadTileData(want, hr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tlog.TileHashes(ctx, &nodes, tile, uint64(size))
			if err != nil {
				t.Fatalf("size %d: %s: %v", size, tile.Path(), err)
			}
			if !bytes.Equal(got, wantData) {
				t.Errorf("size %d: %s differs from sumdb's tile", size, tile.Path())
			}
		}
	}
	beyond := []struct {
		tile tlog.Tile
		size uint64
	}{
		{tlog.Tile{Level: 0, Index: 0, Width: 256}, 255},
		{tlog.Tile{Level: 0, Index: 0, Width: 2}, 1},
		{tlog.Tile{Level: 0, Index: 1, Width: 1}, 256},
		{tlog.Tile{Level: 1, Index: 0, Width: 2}, 511},
		{tlog.Tile{Level: 2, Index: 0, Width: 1}, 65535},
		{tlog.Tile{Level: 63, Index: 0, Width: 1}, n},
		{tlog.Tile{Level: 0, Index: 1 << 62, Width: 1}, n},
		{tlog.Tile{Level: 0, Index: 1<<64 - 1, Width: 256}, n},
		{tlog.Tile{Level: 0, Index: 0, Width: 1}, 0},
	}
	for _, tc := range beyond {
		if _, err := tlog.TileHashes(ctx, &nodes, tc.tile, tc.size); !errors.Is(err, tlog.ErrTileBeyondTree) {
			t.Errorf("TileHashes(%s, size %d) = %v, want ErrTileBeyondTree", tc.tile.Path(), tc.size, err)
		}
	}
}

// TestBundle: entry bundles are uint16 length-prefixed entries; an entry
// over 65,535 bytes is refused, and a bundle range past the tree is
// ErrTileBeyondTree.
func TestBundle(t *testing.T) {
	b, err := tlog.AppendBundleEntry(nil, []byte("ab"))
	if err != nil || !bytes.Equal(b, []byte{0, 2, 'a', 'b'}) {
		t.Fatalf("AppendBundleEntry = %x, %v", b, err)
	}
	if b, err = tlog.AppendBundleEntry(b, make([]byte, tlog.MaxBundleEntry)); err != nil || len(b) != 4+2+tlog.MaxBundleEntry {
		t.Fatalf("AppendBundleEntry of the largest entry = %d bytes, %v", len(b), err)
	}
	if _, err := tlog.AppendBundleEntry(b, make([]byte, tlog.MaxBundleEntry+1)); !errors.Is(err, tlog.ErrEntryTooLarge) {
		t.Fatalf("AppendBundleEntry of %d bytes = %v, want ErrEntryTooLarge", tlog.MaxBundleEntry+1, err)
	}
	first, n, err := tlog.BundleRange(tlog.Tile{Level: -1, Index: 2, Width: 7}, 2*256+7)
	if err != nil || first != 512 || n != 7 {
		t.Fatalf("BundleRange = %d, %d, %v; want 512, 7", first, n, err)
	}
	if _, _, err := tlog.BundleRange(tlog.Tile{Level: -1, Index: 2, Width: 8}, 2*256+7); !errors.Is(err, tlog.ErrTileBeyondTree) {
		t.Fatalf("BundleRange past the tree = %v, want ErrTileBeyondTree", err)
	}
}

// FuzzParseTilePath: the parser never panics, and whatever it accepts is
// canonical (prints back to the same path) and within the bounds.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/1/x001/234.p/17", "tile/entries/x999/999", "tile/63/x018/x446/x744/x073/x709/x551/615.p/255",
		"tile/0/000.p/0", "tile/01/000", "tile/entries/", "tile/0/x000/000", "tile//000", "tile/0/000.p/1.p/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := tlog.ParseTilePath(path)
		if err != nil {
			if !errors.Is(err, tlog.ErrBadTilePath) {
				t.Fatalf("ParseTilePath(%q) = %v, not ErrBadTilePath", path, err)
			}
			return
		}
		if tile.Level < -1 || tile.Level > tlog.MaxTileLevel || tile.Width < 1 || tile.Width > tlog.TileWidth {
			t.Fatalf("ParseTilePath(%q) = %+v, out of bounds", path, tile)
		}
		if p := tile.Path(); p != path {
			t.Fatalf("ParseTilePath(%q).Path() = %q", path, p)
		}
	})
}
