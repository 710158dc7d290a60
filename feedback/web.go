package feedback

import (
	"context"
	"fmt"
	"sort"
)

// levelStrength is the weight a trust level gives a path: a path is as
// strong as its weakest statement, and the strongest path wins.
var levelStrength = map[int]float64{3: 1, 2: 0.5, 1: 0.25}

// node is an identity reached from the trust roots.
type node struct {
	root bool
	// weight is the strength of the strongest path from a root within the
	// depth (1 for roots).
	weight float64
	// introducers are the reached identities that trust it directly (an
	// identity may repeat when a stronger path re-reaches it).
	introducers []string
}

// distinctIntroducers counts n's introducers once each.
func (n *node) distinctIntroducers() int {
	seen := make(map[string]bool, len(n.introducers))
	for _, k := range n.introducers {
		seen[k] = true
	}
	return len(seen)
}

// edgeCache keeps the trust edges read while answering one query.
type edgeCache struct {
	s     *Service
	edges map[string][]edge
}

type edge struct {
	to    string
	level int
}

func (c *edgeCache) load(ctx context.Context, keys []string) error {
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
	es, err := c.s.store.TrustEdges(ctx, want)
	if err != nil {
		return fmt.Errorf("feedback: trust edges: %w", err)
	}
	for _, e := range es {
		if e.Level != 0 {
			c.edges[e.TrusterKeyID] = append(c.edges[e.TrusterKeyID], edge{e.TrusteeKeyID, e.Level})
		}
	}
	return nil
}

// web walks trust statements from roots for at most depth hops. The
// strongest path to each identity wins (a path's strength is its weakest
// level); cycles end the walk where they add nothing. An identity
// distrusted by any reached identity is cut off with everything reached
// only through it; roots are never cut. The walk repeats until the cut set
// is stable, as cutting can unreach a distruster.
func (s *Service) web(ctx context.Context, roots []string, depth int) (map[string]*node, error) {
	cache := &edgeCache{s: s, edges: map[string][]edge{}}
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	cut := map[string]bool{}
	for {
		reached, err := s.walk(ctx, cache, roots, depth, cut)
		if err != nil {
			return nil, err
		}
		grew := false
		for k := range reached {
			for _, e := range cache.edges[k] {
				if e.level < 0 && !isRoot[e.to] && !cut[e.to] {
					cut[e.to], grew = true, true
				}
			}
		}
		if !grew {
			return reached, nil
		}
	}
}

// walk is one bounded relaxation from roots avoiding cut: round r extends
// the paths of round r-1 by one statement, so weights are those of the
// strongest path within depth.
func (s *Service) walk(ctx context.Context, cache *edgeCache, roots []string, depth int, cut map[string]bool) (map[string]*node, error) {
	reached := map[string]*node{}
	var frontier []string
	for _, r := range roots {
		if reached[r] == nil {
			reached[r] = &node{root: true, weight: 1}
			frontier = append(frontier, r)
		}
	}
	for hop := 1; hop <= depth && len(frontier) > 0; hop++ {
		sort.Strings(frontier)
		if err := cache.load(ctx, frontier); err != nil {
			return nil, err
		}
		snapshot := make(map[string]float64, len(frontier))
		for _, k := range frontier {
			snapshot[k] = reached[k].weight
		}
		next := map[string]bool{}
		for _, from := range frontier {
			for _, e := range cache.edges[from] {
				strength, ok := levelStrength[e.level]
				if !ok || cut[e.to] || e.to == from {
					continue
				}
				w := min(snapshot[from], strength)
				n := reached[e.to]
				if n == nil {
					n = &node{}
					reached[e.to] = n
				}
				n.introducers = append(n.introducers, from)
				if w > n.weight {
					n.weight = w
					next[e.to] = true
				}
			}
		}
		frontier = frontier[:0]
		for k := range next {
			frontier = append(frontier, k)
		}
	}
	return reached, nil
}
