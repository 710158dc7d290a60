package fetch

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/digest"
)

// Errors callers branch on. Every error Get returns for a failed location
// wraps one of them; ErrAllLocationsFailed wraps every location's error.
var (
	// ErrNoLocations: nobody claims to hold the artifact (or only mirrors
	// do and mirrors were not asked for).
	ErrNoLocations = errors.New("no location holds the artifact")
	// ErrAllLocationsFailed: every location was tried and none delivered
	// bytes that validate.
	ErrAllLocationsFailed = errors.New("no location delivered the artifact")
	// ErrMismatch: the bytes a location served do not have the digest
	// asked for, a digest the publisher asserts, or the publisher's length.
	ErrMismatch = errors.New("bytes do not match")
	// ErrTooLarge: a location served more bytes than the publisher's
	// length or the size cap.
	ErrTooLarge = errors.New("artifact larger than allowed")
	// ErrForbiddenAddress: a location (or a redirect from one) resolves to
	// an address that is not public: loopback, private, link-local.
	ErrForbiddenAddress = errors.New("address not allowed")
	// ErrBadLocation: a location is not an https URL or an OCI blob
	// reference (oci://registry/repo@sha256:…), or is plain http when
	// that is not allowed.
	ErrBadLocation = errors.New("location not accepted")
	// ErrUnavailable: the location could not be read (connection,
	// HTTP status, registry error, a transfer that could not be resumed).
	ErrUnavailable = errors.New("location unavailable")
	// ErrBadRequest: Get was called wrongly (no digest, no destination,
	// no location source).
	ErrBadRequest = errors.New("bad fetch request")
)

// Kind tells the publisher's own copies from anyone else's.
type Kind string

// Location kinds.
const (
	// Authoritative: claimed by a key that publishes the artifact.
	Authoritative Kind = "authoritative"
	// Mirror: claimed by anyone else; tried only with Options.Mirrors.
	Mirror Kind = "mirror"
)

// Location is one place that is claimed to hold the artifact.
type Location struct {
	// URL is https://host/path (http:// only with AllowHTTPUnsafe) or
	// oci://registry/repository@sha256:HEX (a blob by digest).
	URL string
	// Kind says whose claim it is.
	Kind Kind
	// Claimer names the key that claimed it (for messages and reports).
	Claimer string
	// Length is the publisher's length of the artifact (its TUF target
	// length), 0 when none is known: the bytes must have exactly this
	// length, and no more are read.
	Length int64
	// Digests are further digests the bytes must have (those the
	// publisher asserts); each is checked when its algorithm is computed,
	// which Get arranges.
	Digests []digest.Digest
}

// LocationSource answers where an artifact is claimed to be stored. The
// client's trustd connection is one; a static list is another.
type LocationSource interface {
	Locations(ctx context.Context, d digest.Digest) ([]Location, error)
}

// StaticLocations is a LocationSource that answers the same list for any
// digest.
type StaticLocations []Location

// Locations returns the list.
func (s StaticLocations) Locations(context.Context, digest.Digest) ([]Location, error) {
	return slices.Clone(s), nil
}

// Progress reports a download: Start with a label and the expected size
// (-1 if unknown), Add as bytes arrive, Done at the end
// (client.TerminalProgress draws one on a terminal).
type Progress interface {
	Start(label string, size int64)
	Add(n int64)
	Done()
}

// Limits and defaults.
const (
	// DefaultMaxBytes caps an artifact whose publisher states no length.
	DefaultMaxBytes = 64 << 30
	// DefaultMaxRedirects is how many redirects one request may follow.
	DefaultMaxRedirects = 5
	// DefaultMaxResumes is how many times a broken transfer is resumed on
	// the same location before the next location is tried.
	DefaultMaxResumes = 3
	// MaxLocations is how many locations one Get tries at most.
	MaxLocations = 32
)

// Options configure Get.
type Options struct {
	// Source answers where the artifact is (required).
	Source LocationSource
	// Out is the file the validated bytes are written to (required). It is
	// written only once the bytes validate: they go to a temporary file
	// beside it, which is synced and renamed over it.
	Out string
	// Mirrors also tries locations of kind Mirror, after every
	// authoritative one.
	Mirrors bool
	// Algorithms are further digests to compute in the same pass
	// (reported in Result.Digests); the digest asked for and sha256 are
	// always computed.
	Algorithms []digest.Algorithm
	// MaxBytes caps the artifact when the publisher states no length; 0
	// means DefaultMaxBytes.
	MaxBytes int64
	// RootCAs are the roots https locations and registries are checked
	// against; nil means the system's.
	RootCAs *x509.CertPool
	// ExtraRootCAs are trusted besides the system's roots (a private
	// mirror's CA). A chain is checked against them first; the system's
	// roots, about 4 MiB once parsed, are loaded only for a server whose
	// chain these do not verify. Ignored when RootCAs is set.
	ExtraRootCAs *x509.CertPool
	// AllowHTTPUnsafe accepts plain http locations (and registries over
	// http): for loopback tests only, since anyone on the path can then
	// change the bytes (they are still validated) or see what is fetched.
	AllowHTTPUnsafe bool
	// AllowNetworksUnsafe lets connections reach these non-public
	// networks (a test's loopback address, a private registry). Nothing
	// else that is not a public address is ever dialled.
	AllowNetworksUnsafe []netip.Prefix
	// MaxRedirects caps redirects per request; 0 means
	// DefaultMaxRedirects.
	MaxRedirects int
	// MaxResumes caps Range resumptions per location; 0 means
	// DefaultMaxResumes, negative disables resuming.
	MaxResumes int
	// Progress, when set, is told each location's transfer.
	Progress Progress
	// Check, when set, runs on the validated temporary file before it is
	// renamed to Out (a policy verdict, for example); an error leaves Out
	// untouched and is returned.
	Check func(ctx context.Context, path string, r *Result) error
	// Remote are extra go-containerregistry options (authentication) for
	// OCI locations; the transport is always Get's guarded one.
	Remote []remote.Option
}

// Failure is a location that was tried and why it was given up.
type Failure struct {
	Location Location
	Err      error
}

// Result describes the artifact Get wrote.
type Result struct {
	// Path is Out.
	Path string
	Size int64
	// Digests are the digests computed over the bytes written: the one
	// asked for first, then sha256, then Options.Algorithms.
	Digests []digest.Digest
	// Location is where the bytes came from.
	Location Location
	// Failures are the locations tried before it, in order.
	Failures []Failure
	// Resumes counts the Range requests that continued a broken transfer.
	Resumes int
}

// Get fetches the artifact with digest want into opts.Out, from the
// locations opts.Source names: authoritative ones first, then (with
// opts.Mirrors) mirrors, moving to the next on any error. Each location's
// bytes are streamed once through digest.Sum and must have the digest
// asked for, every digest the location lists, and its length; bytes that
// do not are refused and the next location is tried. Nothing is written
// to opts.Out unless they do (and opts.Check passes).
func Get(ctx context.Context, want digest.Digest, opts Options) (*Result, error) {
	switch {
	case want.IsZero():
		return nil, fmt.Errorf("fetch: %w: no digest", ErrBadRequest)
	case opts.Out == "":
		return nil, fmt.Errorf("fetch %s: %w: no destination file", want, ErrBadRequest)
	case opts.Source == nil:
		return nil, fmt.Errorf("fetch %s: %w: no location source", want, ErrBadRequest)
	}
	all, err := opts.Source.Locations(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: locations: %w", want, err)
	}
	locs := Order(all, opts.Mirrors)
	for i := range locs {
		locs[i] = withOCIDigest(locs[i])
	}
	if len(locs) == 0 {
		if len(all) > 0 {
			return nil, fmt.Errorf("fetch %s: %w: only mirrors claim it (%d); ask for them with --mirrors", want, ErrNoLocations, len(all))
		}
		return nil, fmt.Errorf("fetch %s: %w", want, ErrNoLocations)
	}
	algs := []digest.Algorithm{want.Algorithm()}
	add := func(a digest.Algorithm) {
		if a.Valid() && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	add(digest.SHA256)
	for _, a := range opts.Algorithms {
		add(a)
	}
	for _, l := range locs {
		for _, d := range l.Digests {
			add(d.Algorithm())
		}
	}
	f := &fetcher{opts: opts, want: want, algs: algs, guard: guard{allow: opts.AllowNetworksUnsafe}}
	f.hc = f.httpClient()
	return f.run(ctx, locs)
}

// Order returns the locations Get tries, in order: authoritative ones as
// given, then, when mirrors is set, the mirrors; at most MaxLocations, and
// each URL once.
func Order(locs []Location, mirrors bool) []Location {
	var out []Location
	seen := map[string]bool{}
	for _, k := range []Kind{Authoritative, Mirror} {
		if k == Mirror && !mirrors {
			break
		}
		for _, l := range locs {
			if l.Kind == k && !seen[l.URL] && len(out) < MaxLocations {
				seen[l.URL] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// chunkSize is the unit bytes are hashed and written in: small enough that
// the chunks in flight (four, see digest.Sum) stay a fraction of a
// megabyte, large enough that per-chunk costs vanish.
const chunkSize = 256 << 10

type fetcher struct {
	opts  Options
	want  digest.Digest
	algs  []digest.Algorithm
	guard guard
	hc    *http.Client
}

func (f *fetcher) transport() *http.Transport {
	tr := &http.Transport{
		// No proxy: the dial check must see the real destination.
		Proxy:       nil,
		DialContext: f.guard.dialer(),
		// Raw bytes only: a transparently decompressed body would not be
		// the bytes the digest names, and Range offsets would not match.
		DisableCompression: true,
		// HTTP/1.1: one stream per location, read straight from the
		// connection (an HTTP/2 stream buffers up to 4 MiB ahead).
		TLSClientConfig:     f.tlsConfig(),
		MaxIdleConnsPerHost: 2,
	}
	return tr
}

// tlsConfig checks servers against RootCAs, or against ExtraRootCAs and
// then the system's roots. The second case verifies in VerifyConnection
// (the standard library's own verification, with the same name check)
// because tls.Config takes only one pool.
func (f *fetcher) tlsConfig() *tls.Config {
	extra := f.opts.ExtraRootCAs
	if f.opts.RootCAs != nil || extra == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: f.opts.RootCAs}
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is not skipped: VerifyConnection below does it for
		// every connection, resumed ones included.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs, extra)
		},
	}
}

// verifyChain verifies the server's chain for its name against extra,
// then against the system's roots (nil Roots).
func verifyChain(cs tls.ConnectionState, extra *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool(), Roots: extra}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err == nil {
		return nil
	}
	opts.Roots = nil
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

func (f *fetcher) httpClient() *http.Client {
	maxRedirects := f.opts.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = DefaultMaxRedirects
	}
	return &http.Client{
		Transport: f.transport(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrUnavailable, maxRedirects)
			}
			return f.checkScheme(req.URL)
		},
	}
}

// checkScheme accepts https, and http when allowed.
func (f *fetcher) checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.opts.AllowHTTPUnsafe:
	case u.Scheme == "http":
		return fmt.Errorf("%w: plain http (%s) is not accepted; use https", ErrBadLocation, u.Redacted())
	default:
		return fmt.Errorf("%w: scheme %q is not accepted (https or oci)", ErrBadLocation, u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: %s: want a host and no user information", ErrBadLocation, u.Redacted())
	}
	return nil
}

func (f *fetcher) run(ctx context.Context, locs []Location) (*Result, error) {
	dir, base := filepath.Split(f.opts.Out)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return nil, fmt.Errorf("fetch %s: --out: %w", f.want, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res := &Result{Path: f.opts.Out}
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", f.want, err)
		}
		if err := tmp.Truncate(0); err != nil {
			return nil, fmt.Errorf("fetch %s: temporary file: %w", f.want, err)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("fetch %s: temporary file: %w", f.want, err)
		}
		sum, resumes, err := f.fetchOne(ctx, l, tmp)
		res.Resumes += resumes
		if err == nil {
			err = f.validate(l, sum)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("fetch %s from %s: %w", f.want, l.URL, err)
			}
			res.Failures = append(res.Failures, Failure{Location: l, Err: err})
			continue
		}
		res.Size, res.Digests, res.Location = sum.Size, sum.Digests, l
		if err := tmp.Sync(); err != nil {
			return nil, fmt.Errorf("fetch %s: temporary file: %w", f.want, err)
		}
		if f.opts.Check != nil {
			if err := f.opts.Check(ctx, tmp.Name(), res); err != nil {
				return res, err
			}
		}
		if err := tmp.Chmod(0o644); err != nil {
			return nil, fmt.Errorf("fetch %s: temporary file: %w", f.want, err)
		}
		if err := tmp.Close(); err != nil {
			return nil, fmt.Errorf("fetch %s: temporary file: %w", f.want, err)
		}
		if err := os.Rename(tmp.Name(), f.opts.Out); err != nil {
			return nil, fmt.Errorf("fetch %s: --out: %w", f.want, err)
		}
		committed = true
		syncDir(dir)
		return res, nil
	}
	errs := make([]error, 0, len(res.Failures))
	for _, fl := range res.Failures {
		errs = append(errs, fmt.Errorf("%s (%s %s): %w", fl.Location.URL, fl.Location.Kind, fl.Location.Claimer, fl.Err))
	}
	return res, fmt.Errorf("fetch %s: %w: %w", f.want, ErrAllLocationsFailed, errors.Join(errs...))
}

// syncDir makes the rename durable; a failure only weakens durability,
// the file is complete either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// fetchOne streams one location's bytes into w, hashing them on the way.
func (f *fetcher) fetchOne(ctx context.Context, l Location, w io.Writer) (digest.Result, int, error) {
	limit := l.Length
	if limit <= 0 {
		limit = f.opts.MaxBytes
		if limit <= 0 {
			limit = DefaultMaxBytes
		}
	}
	var (
		body io.ReadCloser
		size int64 = -1
		hr   *httpReader
		err  error
	)
	switch {
	case strings.HasPrefix(l.URL, "oci://"):
		body, size, err = f.openOCI(ctx, l)
	default:
		u, perr := url.Parse(l.URL)
		if perr != nil {
			return digest.Result{}, 0, fmt.Errorf("%w: %q is not a URL", ErrBadLocation, l.URL)
		}
		if err := f.checkScheme(u); err != nil {
			return digest.Result{}, 0, err
		}
		hr, err = f.openHTTP(ctx, u.String(), l.Length)
		if hr != nil {
			body, size = hr, hr.total
		}
	}
	if err != nil {
		return digest.Result{}, 0, err
	}
	defer body.Close()
	switch {
	case size >= 0 && l.Length > 0 && size != l.Length:
		return digest.Result{}, 0, fmt.Errorf("%w: the location serves %d bytes, the publisher's length is %d", ErrMismatch, size, l.Length)
	case size > limit:
		return digest.Result{}, 0, fmt.Errorf("%w: the location serves %d bytes, the cap is %d", ErrTooLarge, size, limit)
	}
	bw := bufio.NewWriterSize(w, chunkSize)
	var r io.Reader = &capReader{r: body, left: limit}
	r = io.TeeReader(r, writerOnly{bw})
	sumOpts := []digest.SumOption{digest.WithBufferSize(chunkSize)}
	if p := f.opts.Progress; p != nil {
		p.Start(f.want.Algorithm().String()+":"+f.want.Hex()[:12]+" "+l.URL, size)
		defer p.Done()
		var last int64
		sumOpts = append(sumOpts, digest.WithProgress(func(n int64) { p.Add(n - last); last = n }))
	}
	sum, err := digest.Sum(ctx, r, f.algs, sumOpts...)
	resumes := 0
	if hr != nil {
		resumes = hr.resumes
	}
	if err != nil {
		return digest.Result{}, resumes, err
	}
	if err := bw.Flush(); err != nil {
		return digest.Result{}, resumes, fmt.Errorf("temporary file: %w", err)
	}
	return sum, resumes, nil
}

// writerOnly hides bufio.Writer's ReadFrom so TeeReader writes through
// the buffer.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// validate checks the bytes' digests and length against what was asked
// and what the location lists.
func (f *fetcher) validate(l Location, sum digest.Result) error {
	got, _ := sum.Get(f.want.Algorithm())
	if got != f.want {
		return fmt.Errorf("%w: asked for %s, the bytes are %s", ErrMismatch, f.want, got)
	}
	if l.Length > 0 && sum.Size != l.Length {
		return fmt.Errorf("%w: the publisher's length is %d, got %d bytes", ErrMismatch, l.Length, sum.Size)
	}
	for _, d := range l.Digests {
		if g, ok := sum.Get(d.Algorithm()); ok && g != d {
			return fmt.Errorf("%w: the location names %s, the bytes are %s", ErrMismatch, d, g)
		}
	}
	return nil
}

// capReader fails once more than left bytes arrive.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		return 0, fmt.Errorf("%w: more bytes than the cap", ErrTooLarge)
	}
	c.left -= int64(n)
	return n, err
}
