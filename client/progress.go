package client

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressMinBytes is the smallest download that gets a progress bar.
const progressMinBytes = 8 << 20

// WriterProgress returns a progress bar drawn on w whatever w is (for
// --progress always).
func WriterProgress(w io.Writer) Progress { return &bar{w: w} }

// TerminalProgress returns a progress bar drawn on f when f is a terminal
// and the CI environment variable is unset, else nil (quiet).
func TerminalProgress(f *os.File) Progress {
	if os.Getenv("CI") != "" || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &bar{w: f}
}

// bar draws "label [=====>    ] 42% 120 MiB/s" in place, at most ten
// times a second, for downloads of at least progressMinBytes.
type bar struct {
	w           io.Writer
	label       string
	size, done  int64
	start, last time.Time
	drawn       bool
}

func (b *bar) Start(label string, size int64) {
	*b = bar{w: b.w, label: label, size: size, start: time.Now()}
}

func (b *bar) Add(n int64) {
	b.done += n
	if (b.size >= 0 && b.size < progressMinBytes) || (b.size < 0 && b.done < progressMinBytes) {
		return
	}
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond {
		b.last = now
		b.draw()
	}
}

func (b *bar) Done() {
	if b.drawn {
		b.draw()
		fmt.Fprintln(b.w)
	}
}

func (b *bar) draw() {
	b.drawn = true
	rate := float64(b.done) / max(time.Since(b.start).Seconds(), 1e-3) / (1 << 20)
	if b.size <= 0 {
		fmt.Fprintf(b.w, "\r%s %d MiB %.0f MiB/s", b.label, b.done>>20, rate)
		return
	}
	const width = 30
	frac := min(float64(b.done)/float64(b.size), 1)
	n := int(frac * width)
	fill := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	fmt.Fprintf(b.w, "\r%s [%s] %3.0f%% %.0f MiB/s", b.label, fill, frac*100, rate)
}
