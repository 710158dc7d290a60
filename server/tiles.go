package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/witness"
)

// C2SP tlog-tiles endpoints (c2sp.org/tlog-tiles), with the HTTP port as
// the log's prefix, beside trustd's own /log endpoints:
//
//	GET /checkpoint                    the latest checkpoint (with witnesses,
//	                                   the one last pushed, cosigned), text/plain
//	GET /tile/<L>/<N>[.p/<W>]          hash tiles, read from the stored tree
//	GET /tile/entries/<N>[.p/<W>]      entry bundles: uint16-length-prefixed
//	                                   envelopes; only when every entry of the
//	                                   bundle is at most 65,535 bytes
//	GET /log/entry/<seq>               one entry (log index seq-1): the
//	                                   envelope bytes exactly as hashed
//
// The tree is RFC 6962 and entry i of the log (0-based) is the envelope of
// the statement with sequence number i+1, so a tile client verifies
// inclusion and consistency from the hash tiles alone. Entries can be up
// to the envelope limit (1 MiB by default), more than a bundle's 16-bit
// length prefix holds: a bundle holding such an entry is not served (404
// naming /log/entry/<seq>), and clients fetch those entries one by one
// from /log/entry/<seq>, checking each against its leaf hash in the level
// 0 tile. The decision is per bundle and never changes, since a bundle's
// entries never do.
//
// Every tile, partial or full, and every bundle and entry is immutable
// (its content is fixed by the tree) and served with a year-long
// immutable Cache-Control; the checkpoint and every error are not cached.

// immutable is the Cache-Control of resources that never change.
const immutable = "public, max-age=31536000, immutable"

func (s *Server) registerTileHTTP(mux *http.ServeMux, ls *logService) {
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, r *http.Request) {
		signed, _, err := witness.Cosigned(r.Context(), ls.witnesses, ls.log, ls.store, 0)
		if err != nil {
			s.tileError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(signed)
	})
	mux.HandleFunc("GET /tile/{path...}", func(w http.ResponseWriter, r *http.Request) {
		t, err := tlog.ParseTilePath("tile/" + r.PathValue("path"))
		if err != nil {
			s.tileError(w, r, err)
			return
		}
		var body []byte
		err = s.standbyHTTP(r, func(ctx context.Context) error {
			size, err := ls.store.LogSize(ctx)
			if err != nil {
				return err
			}
			if t.Entries() {
				body, err = s.entryBundle(ctx, ls.store, t, size)
			} else {
				body, err = tlog.TileHashes(ctx, ls.store, t, size)
			}
			return err
		})
		if err != nil {
			s.tileError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", immutable)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /log/entry/{seq}", func(w http.ResponseWriter, r *http.Request) {
		v := r.PathValue("seq")
		seq, err := strconv.ParseInt(v, 10, 64)
		if err != nil || seq <= 0 || strconv.FormatInt(seq, 10) != v {
			s.tileError(w, r, invalidField("seq", fmt.Errorf("%q is not a sequence number (a decimal from 1, no leading zeros)", v)))
			return
		}
		var st []store.Statement
		err = s.standbyHTTP(r, func(ctx context.Context) error {
			var err error
			st, err = ls.store.StatementsBySeq(ctx, []int64{seq}, true)
			if err == nil && len(st) != 1 {
				err = fmt.Errorf("log entry seq %d: %w", seq, statementBeyond(seq))
			}
			return err
		})
		if err != nil {
			s.tileError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", immutable)
		_, _ = w.Write(st[0].Envelope)
	})
}

// statementBeyond is the error of a sequence number past the log's end.
func statementBeyond(seq int64) error {
	return fmt.Errorf("%w: no entry has seq %d", store.ErrNotFound, seq)
}

// entryBundle builds entry bundle t of the tree of size from the stored
// envelopes.
func (s *Server) entryBundle(ctx context.Context, st store.Reader, t tlog.Tile, size uint64) ([]byte, error) {
	first, n, err := tlog.BundleRange(t, size)
	if err != nil {
		return nil, err
	}
	seqs := make([]int64, n)
	for i := range seqs {
		seqs[i] = int64(first) + int64(i) + 1
	}
	entries, err := st.StatementsBySeq(ctx, seqs, true)
	if err != nil {
		return nil, err
	}
	if len(entries) != n {
		return nil, fmt.Errorf("%s: %d of its %d entries are stored: %w", t.Path(), len(entries), n, tlog.ErrTileBeyondTree)
	}
	var bundle []byte
	for _, e := range entries {
		if bundle, err = tlog.AppendBundleEntry(bundle, e.Envelope); err != nil {
			return nil, fmt.Errorf("%s holds entry seq %d: %w; fetch the entries of this bundle one by one at /log/entry/<seq>", t.Path(), e.Seq, err)
		}
	}
	return bundle, nil
}

// tileError answers a tile request's error, never cached: a tile beyond
// the tree now may exist later.
func (s *Server) tileError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	if errors.Is(err, tlog.ErrBadTilePath) {
		err = invalidField("path", err)
	}
	s.httpError(w, r, err)
}
