package feedback

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// mapEdges is a web held in memory.
type mapEdges map[string][]edge

func (m mapEdges) load(context.Context, []string) error { return nil }
func (m mapEdges) out(k string) []edge                  { return m[k] }

// strongestWithin is the reference walk: the strength of the strongest
// path of at most depth statements from a root to each identity, by
// dynamic programming over path lengths, with no frontier to get wrong.
func strongestWithin(es mapEdges, roots []string, depth int, cut map[string]bool) map[string]float64 {
	best := map[string]float64{}
	cur := map[string]float64{}
	for _, r := range roots {
		best[r], cur[r] = 1, 1
	}
	for range depth {
		next := map[string]float64{}
		for from, w := range cur {
			for _, e := range es[from] {
				s, ok := levelStrength[e.level]
				if !ok || cut[e.to] || e.to == from {
					continue
				}
				next[e.to] = max(next[e.to], min(w, s))
			}
		}
		for k, w := range next {
			best[k] = max(best[k], w)
		}
		cur = next
	}
	return best
}

// TestWalkStrongestPaths holds walk to the reference on random webs with
// cycles, all levels (distrust among them, which walk does not follow),
// self-statements and cut identities.
func TestWalkStrongestPaths(t *testing.T) {
	levels := []int{3, 2, 1, -1}
	for seed := range 200 {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			n := 2 + rng.IntN(40)
			id := func(i int) string { return fmt.Sprint("k", i) }
			es := mapEdges{}
			for range rng.IntN(4 * n) {
				from, to := id(rng.IntN(n)), id(rng.IntN(n))
				es[from] = append(es[from], edge{to: to, level: levels[rng.IntN(len(levels))]})
			}
			roots := []string{id(0)}
			if rng.IntN(2) == 0 {
				roots = append(roots, id(rng.IntN(n)))
			}
			cut := map[string]bool{}
			for range rng.IntN(3) {
				if k := id(1 + rng.IntN(n-1)); k != roots[len(roots)-1] {
					cut[k] = true
				}
			}
			depth := 1 + rng.IntN(4)
			got, err := walk(context.Background(), es, roots, depth, cut)
			if err != nil {
				t.Fatal(err)
			}
			want := strongestWithin(es, roots, depth, cut)
			for k, w := range want {
				if got[k] == nil || got[k].weight != w {
					t.Errorf("depth %d: %s weighs %v, want %v", depth, k, got[k], w)
				}
			}
			for k, nd := range got {
				if _, ok := want[k]; !ok && nd.weight > 0 {
					t.Errorf("depth %d: %s reached with weight %v, want unreached", depth, k, nd.weight)
				}
			}
		})
	}
}
