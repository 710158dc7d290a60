package feedback

import (
	"context"
	"fmt"
	"slices"
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
	// hop is the last round of walk that put the node in the next
	// round's frontier.
	hop int
}

// edges gives the trust edges of the web a walk runs over: the compiled
// current graph, or one as of a log size.
type edges interface {
	// load makes the edges stated by keys available to out.
	load(ctx context.Context, keys []string) error
	// out returns the edges keyID states (none withdrawn).
	out(keyID string) []edge
}

type edge struct {
	to    string
	level int
}

// web walks trust statements from roots for at most depth hops. The
// strongest path to each identity wins (a path's strength is its weakest
// level); cycles end the walk where they add nothing. Depth bounds whose
// statements count, distrust as much as trust: an identity distrusted by
// a reached identity whose statements the walk follows (one reached
// within depth-1 hops) is cut off with everything reached only through
// it; one first reached at the last hop votes but cuts nobody, as it
// vouches for nobody. Roots are never cut. The walk repeats until the cut set
// is stable, as cutting can unreach a distruster. Revoked keys are cut
// from the start.
func (s *Service) web(ctx context.Context, roots []string, depth int) (map[string]*node, edges, error) {
	cut, err := s.revokedCut(ctx, roots)
	if err != nil {
		return nil, nil, err
	}
	g, err := s.graphs.current(ctx, s.store)
	if err != nil {
		return nil, nil, err
	}
	key := webKey(roots, depth, cut)
	if w, ok := g.walked(key); ok {
		return w.web, w.view, nil
	}
	v := g.view()
	w, err := walkWeb(ctx, v, roots, depth, cut)
	if err != nil {
		return nil, nil, err
	}
	g.remember(key, walked{web: w, view: v})
	return w, v, nil
}

// revokedCut returns the keys cut from the web from the start: revoked
// keys speak for nobody, their trust statements stop counting once the
// revocation is in effect (roots are never cut).
func (s *Service) revokedCut(ctx context.Context, roots []string) (map[string]bool, error) {
	cut := map[string]bool{}
	if s.opts.Revocations == nil {
		return cut, nil
	}
	revoked, err := s.opts.Revocations.RevokedKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("feedback: revoked keys: %w", err)
	}
	now := s.opts.Now()
	for k, at := range revoked {
		if !slices.Contains(roots, k) && voids(at, now) {
			cut[k] = true
		}
	}
	return cut, nil
}

// walkWeb is the web of trust from roots within depth over es, with the
// keys of cut (which it extends) cut from the start.
func walkWeb(ctx context.Context, es edges, roots []string, depth int, cut map[string]bool) (map[string]*node, error) {
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	for {
		reached, err := walk(ctx, es, roots, depth, cut)
		if err != nil {
			return nil, err
		}
		grew := false
		for k := range reached {
			for _, e := range es.out(k) {
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
// strongest path within depth. A query walks thousands of identities, so
// their nodes come from slabs and each round's frontier is a slice the
// nodes mark themselves into (node.hop), not a set: allocated one by one,
// and as a map a round, they were most of a query's garbage.
func walk(ctx context.Context, es edges, roots []string, depth int, cut map[string]bool) (map[string]*node, error) {
	reached := map[string]*node{}
	var slab []node
	newNode := func(n node) *node {
		if len(slab) == cap(slab) {
			slab = make([]node, 0, min(max(2*cap(slab), 64), 4096))
		}
		slab = append(slab, n)
		return &slab[len(slab)-1]
	}
	var frontier []string
	for _, r := range roots {
		if reached[r] == nil {
			reached[r] = newNode(node{root: true, weight: 1})
			frontier = append(frontier, r)
		}
	}
	var (
		weights []float64
		next    []string
	)
	for hop := 1; hop <= depth && len(frontier) > 0; hop++ {
		sort.Strings(frontier)
		if err := es.load(ctx, frontier); err != nil {
			return nil, err
		}
		// The weights the round extends, before it raises any.
		weights = weights[:0]
		for _, k := range frontier {
			weights = append(weights, reached[k].weight)
		}
		next = next[:0]
		for i, from := range frontier {
			for _, e := range es.out(from) {
				strength, ok := levelStrength[e.level]
				if !ok || cut[e.to] || e.to == from {
					continue
				}
				w := min(weights[i], strength)
				n := reached[e.to]
				if n == nil {
					n = newNode(node{})
					reached[e.to] = n
				}
				if w > n.weight {
					n.weight = w
					if n.hop != hop {
						n.hop = hop
						next = append(next, e.to)
					}
				}
			}
		}
		frontier, next = next, frontier
	}
	return reached, nil
}

// pathCounter counts trust paths from the roots to an identity that share
// no identity but the roots, over the reached, uncut part of the web
// (Menger: the maximum flow with unit vertex capacities), so that K
// independent paths cannot all pass through one identity a Sybil attacker
// controls.
type pathCounter struct {
	index map[string]int
	roots []int
	// residual graph over split vertices: in(i) = 2i, out(i) = 2i+1,
	// source = 2n.
	head []int
	arcs []arc
}

type arc struct {
	to, next, capacity int
}

func newPathCounter(web map[string]*node, es edges) *pathCounter {
	pc := &pathCounter{index: make(map[string]int, len(web))}
	keys := make([]string, 0, len(web))
	for k := range web {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		pc.index[k] = i
	}
	n := len(keys)
	pc.head = make([]int, 2*n+1)
	for i := range pc.head {
		pc.head[i] = -1
	}
	// Roots are the caller's own trust: paths may share them, so they
	// (and the arcs into them) are not capacity-bound; every other
	// identity carries one path.
	unbounded := n + 1
	for i, k := range keys {
		if web[k].root {
			pc.roots = append(pc.roots, i)
			pc.add(2*n, 2*i, unbounded)
			pc.add(2*i, 2*i+1, unbounded)
		} else {
			pc.add(2*i, 2*i+1, 1)
		}
		for _, e := range es.out(k) {
			if j, ok := pc.index[e.to]; ok && e.level > 0 && j != i {
				pc.add(2*i+1, 2*j, 1)
			}
		}
	}
	return pc
}

// add adds an arc and its residual twin.
func (pc *pathCounter) add(from, to, capacity int) {
	pc.arcs = append(pc.arcs, arc{to: to, next: pc.head[from], capacity: capacity})
	pc.head[from] = len(pc.arcs) - 1
	pc.arcs = append(pc.arcs, arc{to: from, next: pc.head[to], capacity: 0})
	pc.head[to] = len(pc.arcs) - 1
}

// atLeast reports whether at least k vertex-disjoint paths lead from the
// roots to keyID (a root has as many as asked).
func (pc *pathCounter) atLeast(keyID string, k int) bool {
	t, ok := pc.index[keyID]
	if !ok {
		return false
	}
	for _, r := range pc.roots {
		if r == t {
			return true
		}
	}
	capacity := make([]int, len(pc.arcs))
	for i, a := range pc.arcs {
		capacity[i] = a.capacity
	}
	source, sink := len(pc.head)-1, 2*t
	prev := make([]int, len(pc.head))
	for flow := 0; flow < k; flow++ {
		for i := range prev {
			prev[i] = -1
		}
		queue := []int{source}
		prev[source] = -2
		for len(queue) > 0 && prev[sink] == -1 {
			v := queue[0]
			queue = queue[1:]
			for a := pc.head[v]; a != -1; a = pc.arcs[a].next {
				if w := pc.arcs[a].to; capacity[a] > 0 && prev[w] == -1 {
					prev[w] = a
					queue = append(queue, w)
				}
			}
		}
		if prev[sink] == -1 {
			return false
		}
		for v := sink; v != source; {
			a := prev[v]
			capacity[a]--
			capacity[a^1]++
			v = pc.arcs[a^1].to
		}
	}
	return true
}
