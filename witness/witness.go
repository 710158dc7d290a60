// Package witness gets the statement log's checkpoints cosigned by
// transparency-log witnesses (c2sp.org/tlog-witness) and serves them with
// those cosignatures (c2sp.org/tlog-cosignature).
//
// A Pusher submits each new checkpoint to every configured witness with
// the add-checkpoint call and a consistency proof from the size that
// witness last cosigned, verifies the cosignatures it answers with, and
// stores them (store.Writer.PutLogCosignature). A witness is a third party
// that refuses to cosign a checkpoint inconsistent with one it cosigned
// before, so a client that requires k of n witnesses' cosignatures
// (tlog.RequireWitnesses) knows the log showed it the history those
// witnesses saw: the log cannot fork it off alone.
//
// The checkpoint a Pusher serves (Checkpoint) is the one of its last
// completed round with the cosignatures stored for it: cosigned by the
// witnesses that answered, a round interval behind the newest entries at
// most. A witness that is down costs its cosignature, never the
// checkpoint's freshness; clients that require it fail precisely.
package witness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// Witness is one configured witness: its cosignature/v1 verifier key
// (whose name is the witness's name) and its add-checkpoint URL.
type Witness struct {
	// Key is the witness's verifier key, "name+hash+base64".
	Key string
	// URL is the witness's add-checkpoint endpoint: its submission prefix
	// followed by "/add-checkpoint".
	URL string

	v *tlog.WitnessVerifier
}

// Name is the witness's name, from its key.
func (w Witness) Name() string { return w.v.Name() }

// Parse parses a witness given as "VKEY=URL": the witness's cosignature/v1
// verifier key and its submission prefix, an absolute http or https URL
// ("/add-checkpoint" is appended).
func Parse(spec string) (Witness, error) {
	vkey, u, ok := strings.Cut(strings.TrimSpace(spec), "=")
	if !ok {
		return Witness{}, fmt.Errorf("witness %q: want VKEY=URL", spec)
	}
	v, err := tlog.ParseWitnessKey(vkey)
	if err != nil {
		return Witness{}, fmt.Errorf("witness: %w", err)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
		return Witness{}, fmt.Errorf("witness %s: URL %q is not an absolute http or https URL without query or fragment", v.Name(), u)
	}
	return Witness{Key: vkey, URL: strings.TrimSuffix(u, "/") + "/add-checkpoint", v: v}, nil
}

// ParseAll parses several witnesses and refuses the same name or key twice.
func ParseAll(specs []string) ([]Witness, error) {
	var out []Witness
	var errs []error
	seen := map[string]bool{}
	for _, s := range specs {
		w, err := Parse(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[w.Name()] || seen[w.Key] {
			errs = append(errs, fmt.Errorf("witness %s: named twice", w.Name()))
			continue
		}
		seen[w.Name()], seen[w.Key] = true, true
		out = append(out, w)
	}
	return out, errors.Join(errs...)
}

// Log is what a Pusher needs of the statement log (statement.Log).
type Log interface {
	// Checkpoint signs a checkpoint of the tree of size (0 = latest).
	Checkpoint(ctx context.Context, size uint64) ([]byte, uint64, error)
	// ConsistencyProof proves the tree of size from a prefix of the tree
	// of size to.
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, []byte, uint64, error)
	// VerifierKey is the log's checkpoint verifier key.
	VerifierKey() string
}

// Options configure a Pusher.
type Options struct {
	// Witnesses to push checkpoints to.
	Witnesses []Witness
	// Interval between checks for a new checkpoint; default 5s.
	Interval time.Duration
	// Timeout of one add-checkpoint call; default 10s.
	Timeout time.Duration
	// Client makes the calls; default a plain http.Client.
	Client *http.Client
	// Logger reports failures of witnesses.
	Logger *slog.Logger
}

// Pusher pushes the log's checkpoints to witnesses and serves them
// cosigned.
type Pusher struct {
	log    Log
	store  store.Store
	opts   Options
	served atomic.Uint64 // size of the last completed round, 0 before one

	mu    sync.Mutex
	known map[string]uint64 // per witness key: the size it last cosigned
}

// New returns a Pusher for log, storing cosignatures in st. It starts
// serving the largest size any witness cosigned before (so a restart
// serves cosigned checkpoints at once).
func New(ctx context.Context, log Log, st store.Store, opts Options) (*Pusher, error) {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pusher{log: log, store: st, opts: opts, known: map[string]uint64{}}
	for _, w := range opts.Witnesses {
		c, err := st.LatestLogCosignature(ctx, w.Key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("witness %s: %w", w.Name(), err)
		default:
			p.known[w.Key] = c.TreeSize
			if c.TreeSize > p.served.Load() {
				p.served.Store(c.TreeSize)
			}
		}
	}
	return p, nil
}

// Served returns the tree size whose checkpoint the Pusher serves: that
// of its last completed round; 0 before any.
func (p *Pusher) Served() uint64 { return p.served.Load() }

// Run pushes a new checkpoint every Interval when the log grew, until ctx
// is done. Witness failures are logged, not returned.
func (p *Pusher) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		if err := p.Push(ctx); err != nil && ctx.Err() == nil {
			p.opts.Logger.Warn("witness round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Push runs one round: it signs the latest checkpoint and, unless every
// witness already cosigned its size, submits it to each witness that has
// not, in parallel, stores the cosignatures that verify, and then serves
// that size. It returns the witnesses' errors joined (the round completes
// all the same) or an error of the log or store, which leaves the served
// size as it was.
func (p *Pusher) Push(ctx context.Context) error {
	signed, size, err := p.log.Checkpoint(ctx, 0)
	if err != nil {
		return fmt.Errorf("witness: checkpoint: %w", err)
	}
	cp, err := tlog.OpenCheckpoint(signed, p.log.VerifierKey())
	if err != nil {
		return fmt.Errorf("witness: checkpoint: %w", err)
	}
	if size == 0 {
		return nil // witnesses cosign no empty tree
	}
	var wg sync.WaitGroup
	errs := make([]error, len(p.opts.Witnesses))
	for i, w := range p.opts.Witnesses {
		p.mu.Lock()
		done := p.known[w.Key] == size
		p.mu.Unlock()
		if done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.pushOne(ctx, w, signed, cp); err != nil {
				errs[i] = fmt.Errorf("witness %s: %w", w.Name(), err)
				p.opts.Logger.Warn("witness did not cosign", "witness", w.Name(), "size", size, "err", err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if size > p.served.Load() {
		p.served.Store(size)
	}
	return errors.Join(errs...)
}

// pushOne submits the checkpoint to one witness, once more from the size
// the witness names if it is not the one remembered, and stores its
// verified cosignatures.
func (p *Pusher) pushOne(ctx context.Context, w Witness, signed []byte, cp tlog.Checkpoint) error {
	p.mu.Lock()
	old := p.known[w.Key]
	p.mu.Unlock()
	var lines []byte
	for attempt := 0; ; attempt++ {
		if old > cp.Size {
			return fmt.Errorf("the witness cosigned size %d, beyond the log's size %d: the log lost entries, or the witness saw another history", old, cp.Size)
		}
		proof, _, _, err := p.log.ConsistencyProof(ctx, old, cp.Size)
		if err != nil {
			return fmt.Errorf("consistency proof %d to %d: %w", old, cp.Size, err)
		}
		cctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
		lines, err = tlog.AddCheckpoint(cctx, p.opts.Client, w.URL, old, proof, signed)
		cancel()
		var conflict *tlog.WitnessConflictError
		if errors.As(err, &conflict) && attempt == 0 && conflict.Size != old {
			old = conflict.Size
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	cos, err := tlog.OpenCosignatures(signed, lines, w.v)
	if err != nil {
		return err
	}
	err = p.store.Update(ctx, func(ctx context.Context, tx store.Writer) error {
		for _, c := range cos {
			if err := tx.PutLogCosignature(ctx, store.LogCosignature{Witness: w.Key, TreeSize: cp.Size, RootHash: cp.Hash, Line: c.Line, SignedAt: c.Time}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store cosignature: %w", err)
	}
	p.mu.Lock()
	if cp.Size > p.known[w.Key] {
		p.known[w.Key] = cp.Size
	}
	p.mu.Unlock()
	return nil
}

// Cosigned returns the signed checkpoint of the tree of size (0 = the size
// the Pusher serves, or the latest when p is nil or before its first
// round) with the cosignatures stored for that size and root appended as
// extra signature lines, and the size.
func Cosigned(ctx context.Context, p *Pusher, log Log, st store.Reader, size uint64) ([]byte, uint64, error) {
	if size == 0 && p != nil {
		size = p.Served()
	}
	signed, size, err := log.Checkpoint(ctx, size)
	if err != nil {
		return nil, 0, err
	}
	if size == 0 {
		return signed, 0, nil
	}
	cos, err := st.LogCosignatures(ctx, size)
	if err != nil {
		return nil, 0, fmt.Errorf("witness: cosignatures of size %d: %w", size, err)
	}
	if len(cos) == 0 {
		return signed, size, nil
	}
	cp, err := tlog.OpenCheckpoint(signed, log.VerifierKey())
	if err != nil {
		return nil, 0, fmt.Errorf("witness: %w", err)
	}
	var lines []string
	for _, c := range cos {
		if string(c.RootHash) == string(cp.Hash) {
			lines = append(lines, c.Line)
		}
	}
	return tlog.AddSignatures(signed, lines...), size, nil
}
