package feedback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// maxWebs bounds the webs of trust remembered per compiled graph (one per
// set of roots, depth and revoked keys); past it the memo starts over.
const maxWebs = 1024

// graph is the current web of trust compiled for walking in memory: every
// standing edge (none withdrawn) by truster, as of log size at. A graph is
// never changed once published; a refresh makes a new one that shares the
// trusters' edge lists that did not change.
type graph struct {
	at  int64
	adj map[string][]edge
	// webs remembers the webs walked over adj; graphs with the same adj
	// share it.
	webs *webMemo
}

// webMemo remembers walked webs by webKey.
type webMemo struct {
	mu   sync.Mutex
	webs map[string]walked
}

// walked is a web and the edges its walk saw.
type walked struct {
	web  map[string]*node
	view *graphView
}

// graphView is the part of a graph one walk has loaded: a walk sees the
// edges of the identities it expanded (those of each hop's frontier), as
// when it read them from the store hop by hop, so distrust and
// independent paths are judged over the same edges as before.
type graphView struct {
	g      *graph
	loaded map[string]bool
}

func (g *graph) view() *graphView { return &graphView{g: g, loaded: map[string]bool{}} }

func (v *graphView) load(_ context.Context, keys []string) error {
	for _, k := range keys {
		v.loaded[k] = true
	}
	return nil
}

func (v *graphView) out(keyID string) []edge {
	if !v.loaded[keyID] {
		return nil
	}
	return v.g.adj[keyID]
}

// walked returns the walk remembered under key.
func (g *graph) walked(key string) (walked, bool) {
	g.webs.mu.Lock()
	defer g.webs.mu.Unlock()
	w, ok := g.webs.webs[key]
	return w, ok
}

// remember keeps w, the walk under key; nobody changes it after.
func (g *graph) remember(key string, w walked) {
	g.webs.mu.Lock()
	defer g.webs.mu.Unlock()
	if g.webs.webs == nil || len(g.webs.webs) >= maxWebs {
		g.webs.webs = map[string]walked{}
	}
	g.webs.webs[key] = w
}

// webKey names a walk: its roots, depth and the keys cut from the start.
func webKey(roots []string, depth int, cut map[string]bool) string {
	rs := slices.Clone(roots)
	slices.Sort(rs)
	cs := make([]string, 0, len(cut))
	for k := range cut {
		cs = append(cs, k)
	}
	slices.Sort(cs)
	h := sha256.New()
	for _, part := range [][]string{rs, {strconv.Itoa(depth)}, cs} {
		h.Write([]byte(strings.Join(part, "\x00")))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// apply returns the graph with the current edges es applied over g (nil:
// an empty graph), as of log size at.
func (g *graph) apply(es []store.TrustEdge, at int64) *graph {
	out := &graph{at: at, adj: map[string][]edge{}, webs: &webMemo{}}
	if g != nil {
		if len(es) == 0 {
			out.adj, out.webs = g.adj, g.webs
			return out
		}
		out.adj = make(map[string][]edge, len(g.adj))
		for k, v := range g.adj {
			out.adj[k] = v
		}
	}
	copied := map[string]bool{}
	for _, e := range es {
		list := out.adj[e.TrusterKeyID]
		if !copied[e.TrusterKeyID] {
			list = slices.Clone(list)
			copied[e.TrusterKeyID] = true
		}
		list = slices.DeleteFunc(list, func(x edge) bool { return x.to == e.TrusteeKeyID })
		if e.Level != 0 {
			list = append(list, edge{to: e.TrusteeKeyID, level: e.Level})
		}
		if len(list) == 0 {
			delete(out.adj, e.TrusterKeyID)
		} else {
			out.adj[e.TrusterKeyID] = list
		}
	}
	return out
}

// graphCache holds the compiled current web of trust, brought up to date
// with the log when it grew: only the edges stated since are read.
type graphCache struct {
	mu sync.Mutex // serialises refreshes
	g  atomic.Pointer[graph]
}

// current returns the graph as of the log's size now.
func (c *graphCache) current(ctx context.Context, st Store) (*graph, error) {
	n, err := st.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("feedback: log size: %w", err)
	}
	size := int64(n)
	if g := c.g.Load(); g != nil && g.at >= size {
		return g, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.g.Load()
	if g != nil && g.at >= size {
		return g, nil
	}
	var after int64
	if g != nil {
		after = g.at
	}
	// Edges stated after size may be read too (appended meanwhile): they
	// are current, and read again, harmlessly, by the next refresh.
	es, err := st.TrustEdgesSince(ctx, after)
	if err != nil {
		return nil, fmt.Errorf("feedback: trust edges: %w", err)
	}
	next := g.apply(es, size)
	c.g.Store(next)
	return next, nil
}

// graphAt compiles the web of trust as it stood after log entry seq, from
// the versioned edges: "as of log size N" questions.
func graphAt(ctx context.Context, st Store, seq int64) (*graph, error) {
	es, err := st.TrustEdgesAt(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("feedback: trust edges at %d: %w", seq, err)
	}
	return (*graph)(nil).apply(es, seq), nil
}

// maxCachedVotes bounds the vote rows the vote cache holds in all; past
// it the cache starts over.
const maxCachedVotes = 1 << 20

// voteCache keeps the vote rows reputation queries read, by the digests
// and voters asked and the log size they were read at: vote rows change
// only when the log grows, so a query at the same size reads none.
type voteCache struct {
	mu      sync.Mutex
	at      int64
	entries map[string][]store.Vote
	rows    int
}

// votes returns the current votes (currentVotes) among the vote rows on
// ds (of voters, when not nil) as of the log's size now.
func (s *Service) votes(ctx context.Context, ds []digest.Digest, voters []string) ([]store.Vote, error) {
	n, err := s.store.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("feedback: log size: %w", err)
	}
	size := int64(n)
	h := sha256.New()
	for _, d := range ds {
		h.Write([]byte(d.String()))
		h.Write([]byte{0})
	}
	if voters != nil {
		h.Write([]byte{0xff})
		h.Write([]byte(strings.Join(voters, "\x00")))
	}
	key := hex.EncodeToString(h.Sum(nil))
	c := s.voteCache
	c.mu.Lock()
	if c.at == size {
		if vs, ok := c.entries[key]; ok {
			c.mu.Unlock()
			return vs, nil
		}
	}
	c.mu.Unlock()
	vs, err := s.store.Votes(ctx, ds, voters)
	if err != nil {
		return nil, err
	}
	vs = currentVotes(vs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at < size || c.entries == nil || c.rows+len(vs) > maxCachedVotes {
		if c.at > size {
			return vs, nil // a newer size is cached: keep it
		}
		c.at, c.entries, c.rows = size, map[string][]store.Vote{}, 0
	}
	if c.at == size && len(vs) <= maxCachedVotes {
		c.entries[key] = vs
		c.rows += len(vs)
	}
	return vs, nil
}
