package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// maxKeptErrors bounds how many error messages a run keeps; the rest are
// only counted.
const maxKeptErrors = 5

// call issues one request. rng is the calling worker's own generator.
type call func(ctx context.Context, rng *rand.Rand) error

// loadConfig shapes one closed-loop run.
type loadConfig struct {
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	callTimeout time.Duration
	// onMeasure, when set, runs as the measured phase starts and the
	// function it returns as it ends (for a CPU profile of that phase).
	onMeasure func() (stop func())
}

// loadResult is what a run measured. Requests and Hist cover the measured
// phase only; Errors counts failures in warm-up and measurement alike.
type loadResult struct {
	Hist     *Histogram
	Requests uint64
	Errors   uint64
	// FirstErrors holds the first few error messages.
	FirstErrors []string
	// Elapsed is the length of the measured phase.
	Elapsed time.Duration
}

// Rate returns completed requests per second in the measured phase.
func (r loadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// runLoad drives calls in a closed loop: cfg.concurrency workers each issue
// one request, wait for its answer and issue the next, for cfg.warmup and
// then cfg.duration. Worker i calls calls[i]. A request counts when it
// starts and ends within the measured phase. Every loop stops at the end of
// the phase or when ctx is done, and every request carries a deadline.
func runLoad(ctx context.Context, cfg loadConfig, calls []call) (loadResult, error) {
	if len(calls) != cfg.concurrency || cfg.concurrency < 1 {
		return loadResult{}, fmt.Errorf("load: %d callers for concurrency %d", len(calls), cfg.concurrency)
	}
	start := time.Now()
	measureStart := start.Add(cfg.warmup)
	end := measureStart.Add(cfg.duration)

	type workerResult struct {
		hist   *Histogram
		errors uint64
		msgs   []string
	}
	results := make([]workerResult, cfg.concurrency)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		results[w].hist = NewHistogram()
		wg.Go(func() {
			res := &results[w]
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, cfg.callTimeout)
				err := calls[w](cctx, rng)
				cancel()
				t1 := time.Now()
				if err != nil {
					res.errors++
					if len(res.msgs) < maxKeptErrors {
						res.msgs = append(res.msgs, err.Error())
					}
					continue
				}
				if !t0.Before(measureStart) && !t1.After(end) {
					res.hist.Record(t1.Sub(t0))
				}
			}
		})
	}

	stopProfile := func() {}
	if cfg.onMeasure != nil {
		timer := time.NewTimer(time.Until(measureStart))
		select {
		case <-timer.C:
			stopProfile = cfg.onMeasure()
		case <-ctx.Done():
			timer.Stop()
		}
	}
	wg.Wait()
	stopProfile()
	if err := ctx.Err(); err != nil {
		return loadResult{}, fmt.Errorf("load: interrupted: %w", err)
	}

	out := loadResult{Hist: NewHistogram(), Elapsed: cfg.duration}
	for _, r := range results {
		out.Hist.Merge(r.hist)
		out.Errors += r.errors
		for _, m := range r.msgs {
			if len(out.FirstErrors) < maxKeptErrors {
				out.FirstErrors = append(out.FirstErrors, m)
			}
		}
	}
	out.Requests = out.Hist.Count()
	return out, nil
}
