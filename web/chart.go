package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/feedback"
)

// chart is the reputation chart: inline SVG the server renders from
// numbers alone (no string of a statement enters it), so it needs no
// script and no external resource.
type chart struct {
	SVG   template.HTML
	Votes int
}

// wilson is the 95% Wilson score interval of the positive share of pos
// out of pos+neg (0, 0 with no votes).
func wilson(pos, neg float64) (lo, hi float64) {
	n := pos + neg
	if n == 0 {
		return 0, 0
	}
	const z = 1.96
	p := pos / n
	den := 1 + z*z/n
	mid := p + z*z/(2*n)
	spread := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n))
	return max(0, (mid-spread)/den), min(1, (mid+spread)/den)
}

const (
	chartW, chartH = 640, 200
	padL, padR     = 58, 12
	padT, padB     = 14, 28
	scoreH         = 68
)

// voteChart draws, per axis, each voter's standing vote summed over time
// (a later vote of the same voter on the axis replaces the earlier one),
// and below it each axis's score with its confidence interval.
func voteChart(vs []vote, quality, trust axisView) chart {
	var b strings.Builder
	h := chartH + scoreH
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="votes over time per axis and score with confidence interval">`, chartW, h, chartW, h)
	series := map[string][]point{}
	var t0, t1 time.Time
	standing := map[string]map[string]int{feedback.AxisQuality: {}, feedback.AxisTrust: {}}
	sum := map[string]int{}
	for _, v := range vs {
		m, ok := standing[v.Axis]
		if !ok {
			continue
		}
		sum[v.Axis] += v.Sign() - m[v.Key]
		m[v.Key] = v.Sign()
		series[v.Axis] = append(series[v.Axis], point{v.Timestamp, sum[v.Axis]})
		if t0.IsZero() || v.Timestamp.Before(t0) {
			t0 = v.Timestamp
		}
		if v.Timestamp.After(t1) {
			t1 = v.Timestamp
		}
	}
	lo, hi := 0, 1
	for _, ps := range series {
		for _, p := range ps {
			lo, hi = min(lo, p.n), max(hi, p.n)
		}
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	x := func(t time.Time) float64 {
		return padL + float64(t.Sub(t0))/float64(span)*float64(chartW-padL-padR)
	}
	y := func(n int) float64 {
		return padT + float64(hi-n)/float64(hi-lo)*float64(chartH-padT-padB)
	}
	// Axes, zero line, labels (numbers and dates only).
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, padT, padL, chartH-padB)
	fmt.Fprintf(&b, `<line class="zero" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padL, y(0), chartW-padR, y(0))
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick">%d</text><text x="%d" y="%.1f" class="tick">%d</text>`, 4, y(hi)+4, hi, 4, y(lo)+4, lo)
	if len(vs) > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick">%s</text>`, padL, chartH-8, t0.UTC().Format("2006-01-02 15:04"))
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">%s</text>`, chartW-padR, chartH-8, t1.UTC().Format("2006-01-02 15:04"))
	} else {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick">no votes</text>`, chartW/2-30, chartH/2)
	}
	for _, axis := range []string{feedback.AxisQuality, feedback.AxisTrust} {
		ps := series[axis]
		if len(ps) == 0 {
			continue
		}
		var pts []string
		prev := 0
		for i, p := range ps {
			if i == 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(t0), y(0)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(p.t), y(prev), x(p.t), y(p.n)))
			prev = p.n
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(chartW-padR), y(prev)))
		fmt.Fprintf(&b, `<polyline class="series series-%s" points="%s"/>`, axis, strings.Join(pts, " "))
		for _, p := range ps {
			fmt.Fprintf(&b, `<circle class="dot series-%s" cx="%.1f" cy="%.1f" r="3"/>`, axis, x(p.t), y(p.n))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="legend series-quality-text">— quality</text><text x="%d" y="%d" class="legend series-trust-text">— trust</text>`, chartW/2-70, chartH-8, chartW/2+10, chartH-8)
	// Scores: the interval as a bar on [0, 1], the score (its lower bound)
	// as a mark.
	for i, a := range []axisView{quality, trust} {
		yy := chartH + 4 + i*30
		w := float64(chartW - padL - padR)
		fmt.Fprintf(&b, `<text x="4" y="%d" class="tick">%s</text>`, yy+10, []string{"quality", "trust"}[i])
		fmt.Fprintf(&b, `<rect class="range" x="%d" y="%d" width="%.1f" height="12"/>`, padL, yy, w)
		if a.Positive+a.Negative > 0 {
			fmt.Fprintf(&b, `<rect class="interval series-%s" x="%.1f" y="%d" width="%.1f" height="12"/>`, []string{"quality", "trust"}[i], padL+a.Low*w, yy, max(1, (a.High-a.Low)*w))
			fmt.Fprintf(&b, `<line class="score" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, padL+a.Score*w, yy-2, padL+a.Score*w, yy+14)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">%.2f [%.2f, %.2f]</text>`, chartW-padR, yy+24, a.Score, a.Low, a.High)
	}
	b.WriteString(`</svg>`)
	return chart{SVG: template.HTML(b.String()), Votes: len(vs)}
}

type point struct {
	t time.Time
	n int
}
