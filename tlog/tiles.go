package tlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
)

// C2SP tlog-tiles (c2sp.org/tlog-tiles) serves a log as static resources:
// hash tiles at tile/<L>/<N>[.p/<W>], each up to 256 consecutive tree
// hashes of tree level 8L, and entry bundles at tile/entries/<N>[.p/<W>],
// each up to 256 consecutive entries. trustd's tree is the RFC 6962 tree
// those tiles describe, and it stores every complete node, so a tile is a
// read of stored nodes (TileHashes).

const (
	// TileHeight is the number of tree levels one tile spans (8).
	TileHeight = 8
	// TileWidth is the number of hashes (or entries) in a full tile (256).
	TileWidth = 1 << TileHeight
	// MaxTileLevel is the highest tile level a path may name (63).
	MaxTileLevel = 63
	// MaxBundleEntry is the largest entry an entry bundle can hold: its
	// length prefix is a big-endian uint16.
	MaxBundleEntry = 1<<16 - 1
	// maxTilePath bounds the length of a tile path accepted by
	// ParseTilePath; the longest valid one is far shorter.
	maxTilePath = 128
)

var (
	// ErrBadTilePath reports a tile request path that is not in the
	// tlog-tiles form (servers answer 400 Bad Request).
	ErrBadTilePath = errors.New("malformed tile path")
	// ErrTileBeyondTree reports a tile that the tree of the given size does
	// not (yet) contain (servers answer 404 Not Found).
	ErrTileBeyondTree = errors.New("tile beyond the tree")
	// ErrEntryTooLarge reports an entry longer than MaxBundleEntry bytes,
	// which an entry bundle cannot hold.
	ErrEntryTooLarge = errors.New("entry too large for an entry bundle")
)

// Tile names one tlog-tiles resource: a hash tile (Level >= 0) or an entry
// bundle (Level == -1), its Index within the level, and its Width, the
// number of hashes or entries it holds (TileWidth for a full tile, 1 to
// 255 for a partial one).
type Tile struct {
	Level int
	Index uint64
	Width int
}

// Entries reports whether t is an entry bundle rather than a hash tile.
func (t Tile) Entries() bool { return t.Level == -1 }

// Full reports whether t is a full tile (TileWidth wide).
func (t Tile) Full() bool { return t.Width == TileWidth }

// Path returns t's path relative to the log prefix, such as
// "tile/0/x001/234.p/17" or "tile/entries/005".
func (t Tile) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries() {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
		b.WriteByte('/')
	}
	s := strconv.FormatUint(t.Index, 10)
	for len(s)%3 != 0 {
		s = "0" + s
	}
	for i := 0; i < len(s); i += 3 {
		if i+3 < len(s) {
			b.WriteString("x" + s[i:i+3] + "/")
		} else {
			b.WriteString(s[i:])
		}
	}
	if !t.Full() {
		b.WriteString(".p/" + strconv.Itoa(t.Width))
	}
	return b.String()
}

// ParseTilePath parses a tlog-tiles resource path relative to the log
// prefix ("tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]"), accepting
// only the one canonical encoding of each tile: L in 0..63 and W in 1..255
// without leading zeros, N in 3-digit groups, all but the last prefixed
// with 'x', and no leading all-zero group. Errors wrap ErrBadTilePath and
// name the part that is wrong.
func ParseTilePath(path string) (Tile, error) {
	t, err := parseTilePath(path)
	if err != nil {
		if len(path) > maxTilePath {
			path = path[:maxTilePath] + "…"
		}
		return Tile{}, fmt.Errorf("tlog: tile path %q: %w: %s", path, ErrBadTilePath, err)
	}
	return t, nil
}

func parseTilePath(path string) (Tile, error) {
	if len(path) > maxTilePath {
		return Tile{}, fmt.Errorf("longer than %d bytes", maxTilePath)
	}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return Tile{}, errors.New(`does not start with "tile/"`)
	}
	t := Tile{Width: TileWidth}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		t.Level, rest = -1, r
	} else {
		l, r, _ := strings.Cut(rest, "/")
		level, err := smallDecimal(l, MaxTileLevel)
		if err != nil {
			return Tile{}, fmt.Errorf("level: %w", err)
		}
		t.Level, rest = level, r
	}
	if before, w, ok := strings.Cut(rest, ".p/"); ok {
		width, err := smallDecimal(w, TileWidth-1)
		if err != nil {
			return Tile{}, fmt.Errorf("partial width: %w", err)
		}
		if width == 0 {
			return Tile{}, errors.New("partial width: 0, want 1 to 255")
		}
		t.Width, rest = width, before
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 7 { // 7 groups of 3 digits exceed 2^64
		return Tile{}, fmt.Errorf("index: %d path elements, at most 7", len(groups))
	}
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			d, ok := strings.CutPrefix(g, "x")
			if !ok {
				return Tile{}, fmt.Errorf("index: element %q does not start with 'x' (only the last one may not)", g)
			}
			g = d
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return Tile{}, fmt.Errorf("index: element %q is not three decimal digits", groups[i])
		}
		if i == 0 && !last && g == "000" {
			return Tile{}, errors.New("index: leading all-zero element")
		}
		n, _ := strconv.ParseUint(g, 10, 64)
		if t.Index > (^uint64(0)-n)/1000 {
			return Tile{}, errors.New("index: larger than 2^64-1")
		}
		t.Index = t.Index*1000 + n
	}
	return t, nil
}

// smallDecimal parses a decimal in 0..max with no sign and no leading zero.
func smallDecimal(s string, max int) (int, error) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("%d is above %d", n, max)
	}
	return n, nil
}

// tileSpan returns the first node index and the tree level of the hashes
// of t (for an entry bundle, those of the level 0 tile), checking that the
// tree of size leaves contains all of them.
func tileSpan(t Tile, size uint64) (first uint64, level uint, err error) {
	if t.Width < 1 || t.Width > TileWidth || t.Level < -1 || t.Level > MaxTileLevel {
		return 0, 0, fmt.Errorf("tlog: tile %+v: %w: level or width out of range", t, ErrBadTilePath)
	}
	if t.Level > 0 {
		level = uint(t.Level) * TileHeight
	}
	var complete uint64 // complete nodes at this level in the tree
	if level < 64 {
		complete = size >> level
	}
	if t.Index > (^uint64(0))/TileWidth || t.Index*TileWidth > complete || complete-t.Index*TileWidth < uint64(t.Width) {
		return 0, 0, fmt.Errorf("tlog: %s: %w of size %d", t.Path(), ErrTileBeyondTree, size)
	}
	return t.Index * TileWidth, level, nil
}

// TileHashes returns the content of hash tile t of the tree of size leaves:
// its Width hashes of tree level 8*t.Level, concatenated, read from the
// stored nodes in one call. A tile the tree does not contain in full
// (including a partial tile wider than the tree's edge) wraps
// ErrTileBeyondTree.
func TileHashes(ctx context.Context, r NodeReader, t Tile, size uint64) ([]byte, error) {
	if t.Entries() {
		return nil, fmt.Errorf("tlog: %s: %w: an entry bundle has no hashes", t.Path(), ErrBadTilePath)
	}
	first, level, err := tileSpan(t, size)
	if err != nil {
		return nil, err
	}
	ids := make([]compact.NodeID, t.Width)
	for i := range ids {
		ids[i] = compact.NewNodeID(level, first+uint64(i))
	}
	hashes, err := readNodes(ctx, r, ids)
	if err != nil {
		return nil, fmt.Errorf("tlog: %s: %w", t.Path(), err)
	}
	out := make([]byte, 0, len(hashes)*HashSize)
	for _, h := range hashes {
		out = append(out, h...)
	}
	return out, nil
}

// BundleRange returns the 0-based index of the first entry of entry bundle
// t and how many it holds, checking that the tree of size leaves contains
// them all (else ErrTileBeyondTree).
func BundleRange(t Tile, size uint64) (first uint64, n int, err error) {
	if !t.Entries() {
		return 0, 0, fmt.Errorf("tlog: %s: %w: not an entry bundle", t.Path(), ErrBadTilePath)
	}
	first, _, err = tileSpan(t, size)
	return first, t.Width, err
}

// AppendBundleEntry appends entry to an entry bundle with its big-endian
// uint16 length prefix. An entry over MaxBundleEntry bytes wraps
// ErrEntryTooLarge.
func AppendBundleEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxBundleEntry {
		return nil, fmt.Errorf("tlog: %w: %d bytes, a bundle entry holds at most %d", ErrEntryTooLarge, len(entry), MaxBundleEntry)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}
