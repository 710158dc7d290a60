package feedback

import (
	"context"

	"github.com/trustd-dev/trustd/store"
)

// WebResult is a web of trust as the differential test compares it: each
// reached identity's weight, and whether it has at least two independent
// paths from the roots.
type WebResult struct {
	Weights  map[string]float64
	TwoPaths map[string]bool
}

func result(w map[string]*node, es edges) WebResult {
	out := WebResult{Weights: map[string]float64{}, TwoPaths: map[string]bool{}}
	pc := newPathCounter(w, es)
	for k, n := range w {
		out.Weights[k] = n.weight
		out.TwoPaths[k] = pc.atLeast(k, 2)
	}
	return out
}

// storeEdges is how trustd read the web before the compiled graph: the
// current edges of each hop's frontier, read from trust_edges per query.
type storeEdges struct {
	st    Store
	edges map[string][]edge
}

func (c *storeEdges) load(ctx context.Context, keys []string) error {
	var want []string
	for _, k := range keys {
		if _, ok := c.edges[k]; !ok {
			want = append(want, k)
			c.edges[k] = nil
		}
	}
	if len(want) == 0 {
		return nil
	}
	es, err := c.st.TrustEdges(ctx, want)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Level != 0 {
			c.edges[e.TrusterKeyID] = append(c.edges[e.TrusterKeyID], edge{e.TrusteeKeyID, e.Level})
		}
	}
	return nil
}

func (c *storeEdges) out(k string) []edge { return c.edges[k] }

// OldWeb is the web as trustd computed it before: edges read hop by hop.
func OldWeb(ctx context.Context, s *Service, roots []string, depth int) (WebResult, error) {
	cut, err := s.revokedCut(ctx, roots)
	if err != nil {
		return WebResult{}, err
	}
	es := &storeEdges{st: s.store, edges: map[string][]edge{}}
	w, err := walkWeb(ctx, es, roots, depth, cut)
	if err != nil {
		return WebResult{}, err
	}
	return result(w, es), nil
}

// NewWeb is the web the reputation query uses: the compiled current graph
// and its memo of webs.
func NewWeb(ctx context.Context, s *Service, roots []string, depth int) (WebResult, error) {
	w, es, err := s.web(ctx, roots, depth)
	if err != nil {
		return WebResult{}, err
	}
	return result(w, es), nil
}

// WebAt is the web as of log size seq, from the versioned edges.
func WebAt(ctx context.Context, s *Service, roots []string, depth int, seq int64) (WebResult, error) {
	cut, err := s.revokedCut(ctx, roots)
	if err != nil {
		return WebResult{}, err
	}
	g, err := graphAt(ctx, s.store, seq)
	if err != nil {
		return WebResult{}, err
	}
	v := g.view()
	w, err := walkWeb(ctx, v, roots, depth, cut)
	if err != nil {
		return WebResult{}, err
	}
	return result(w, v), nil
}

// ReplayWeb is the web as of log size seq computed from the logged trust
// statements themselves, not from any derived table: the reference.
func ReplayWeb(ctx context.Context, s *Service, roots []string, depth int, seq int64) (WebResult, error) {
	cut, err := s.revokedCut(ctx, roots)
	if err != nil {
		return WebResult{}, err
	}
	current := map[[2]string]store.TrustEdge{}
	for after := int64(0); ; {
		entries, err := s.store.StatementsByPredicate(ctx, TrustPredicateType, after, 100)
		if err != nil {
			return WebResult{}, err
		}
		for _, e := range entries {
			if e.Seq > seq {
				continue
			}
			te, err := trustEdgeOf(e)
			if err != nil {
				return WebResult{}, err
			}
			k := [2]string{te.TrusterKeyID, te.TrusteeKeyID}
			if old, ok := current[k]; !ok || edgeNewer(te, old) {
				current[k] = te
			}
		}
		if len(entries) < 100 {
			break
		}
		after = entries[len(entries)-1].Seq
	}
	es := make([]store.TrustEdge, 0, len(current))
	for _, e := range current {
		es = append(es, e)
	}
	g := (*graph)(nil).apply(es, seq)
	v := g.view()
	w, err := walkWeb(ctx, v, roots, depth, cut)
	if err != nil {
		return WebResult{}, err
	}
	return result(w, v), nil
}

// IndexTrustUnversioned indexes a trust statement as a trustd from before
// the versioned web did: the current edge only.
func (s *Service) IndexTrustUnversioned(ctx context.Context, w store.Writer, e store.Statement) error {
	edge, err := trustEdgeOf(e)
	if err != nil {
		return err
	}
	cur, err := w.TrustEdges(ctx, []string{edge.TrusterKeyID})
	if err != nil {
		return err
	}
	for _, old := range cur {
		if old.TrusteeKeyID == edge.TrusteeKeyID && !edgeNewer(edge, old) {
			return nil
		}
	}
	return w.PutTrustEdge(ctx, edge)
}
